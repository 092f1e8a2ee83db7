/// The JSON documents of the dashboard's API (`GET /api/...`), exactly as the page reads them.
/// Kinds and statuses are the proto enum names without prefix (`STORE`, `IN_STOCK`); times are
/// Unix milliseconds of the server's clock.
enum DashboardJSON {
  /// `/api/overview`: every location by kind, with its freshness and recent activity.
  struct Overview: Codable, Equatable, Sendable {
    var serverTimeUnixMs: Int64
    var summary: Summary
    /// Kinds in a fixed order (warehouses first, stores last); kinds without locations left out.
    var kinds: [KindSection]
  }

  /// The network at a glance.
  struct Summary: Codable, Equatable, Sendable {
    var version: String
    var startedAtUnixMs: Int64
    var locations: Int
    var activeLocations: Int
    var freshLocations: Int
    var staleLocations: Int
    var eventsLastMinute: UInt64
    var eventsPerSecond: Double
    var positions: UInt64
    var skus: UInt64
    var devices: UInt64
    var activeReservations: UInt64
    var exceptions: UInt64
    var appliedLsn: UInt64
  }

  /// The locations of one kind.
  struct KindSection: Codable, Equatable, Sendable {
    var kind: String
    /// For people, e.g. "Dark stores".
    var label: String
    var fresh: Int
    var stale: Int
    var inactive: Int
    var locations: [LocationTile]
  }

  /// One location on the overview.
  struct LocationTile: Codable, Equatable, Sendable {
    var id: String
    var name: String
    var active: Bool
    var stale: Bool
    /// Since the last update (since declaration if it never had one).
    var ageMs: Int64
    /// 0: never updated.
    var lastUpdateUnixMs: Int64
    var staleAfterSeconds: UInt32
    var eventsLastMinute: UInt64
    var devicesLastHour: UInt32
  }

  /// `/api/availability?sku=`: one SKU in every group and at every location that has a record of it.
  struct Availability: Codable, Equatable, Sendable {
    var sku: String
    var serverTimeUnixMs: Int64
    var indexLsn: UInt64
    var groups: [AvailabilityRow]
    /// Locations with a position for the SKU, by kind (as the overview) then id.
    var locations: [AvailabilityRow]
    /// Declared locations without any record of the SKU (not listed).
    var unrecordedLocations: Int
  }

  /// A SKU at a location, or across a group (then sums over its contributing members).
  struct AvailabilityRow: Codable, Equatable, Sendable {
    var id: String
    var name: String
    /// The location's kind, or `GROUP`.
    var kind: String
    var onHand: Int64
    var reserved: Int64
    var safetyStock: Int64
    var available: Int64
    var status: String
    var stale: Bool
    /// Locations with available > 0 (1 or 0 for a location).
    var locationsWithStock: UInt32
    /// Locations counted (a group leaves out inactive and, if it says so, stale members).
    var contributingLocations: UInt32
    /// A location's position: server time of its last change (0: none).
    var updatedAtUnixMs: Int64?
  }

  /// `/api/exceptions`: what needs a person's attention, with counts per kind.
  struct Exceptions: Codable, Equatable, Sendable {
    var serverTimeUnixMs: Int64
    /// Rows listed per kind at most (newest first); the counts are complete.
    var limit: Int
    var counts: ExceptionCounts
    var negativeStock: [ExceptionRow]
    var countVariances: [ExceptionRow]
    var staleLocations: [ExceptionRow]
    var sequenceGaps: [ExceptionRow]
    var invariantViolations: [ExceptionRow]
  }

  /// How many exceptions of each kind there are now.
  struct ExceptionCounts: Codable, Equatable, Sendable {
    var negativeStock: Int
    var countVariances: Int
    var staleLocations: Int
    var sequenceGaps: Int
    var invariantViolations: Int
    var total: Int
  }

  /// One exception; the fields that do not apply to its kind are absent.
  struct ExceptionRow: Codable, Equatable, Sendable {
    var detectedAtUnixMs: Int64
    var message: String
    var sku: String?
    var locationId: String?
    var locationName: String?
    var deviceId: String?
    /// Negative stock: on hand now. Count variance: on hand expected before the count.
    var onHand: Int64?
    var counted: Int64?
    var variance: Int64?
    var gapFrom: UInt64?
    var gapTo: UInt64?
    var ageMs: Int64?
    var staleAfterSeconds: UInt32?
  }

  /// `/api/throughput`: one sample a second, oldest first, as parallel columns.
  struct Throughput: Codable, Equatable, Sendable {
    var serverTimeUnixMs: Int64
    var intervalSeconds: Int
    /// Samples kept at most (the history's length in seconds).
    var capacity: Int
    var times: [Int64]
    var eventsPerSecond: [Double]
    var lookupsPerSecond: [Double]
    /// `null` for a second without lookups.
    var lookupP99Ms: [Double?]
  }
}
