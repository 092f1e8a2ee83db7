import OmniStockAPI
import StockIndex

/// Everything the server knows besides positions and configuration: device high-water marks,
/// recorded exceptions, positions with negative on-hand, counters and recent activity.
///
/// ## Guarantees
/// - It changes only under the write order (inside ``StockWriter``) or during recovery, and only
///   through the same functions in both, so a replay of the log rebuilds it exactly.
/// - A value type: a copy (for a checkpoint or a report) is cheap and never changes under its
///   reader.
public struct EngineState: Sendable {
  /// Totals since the data directory was created (restored from checkpoints).
  public struct Counters: Sendable, Equatable {
    public var events: UInt64 = 0
    public var duplicates: UInt64 = 0
    public var gaps: UInt64 = 0
    public var superseded: UInt64 = 0
    public var rejected: UInt64 = 0
  }

  /// When a position's on-hand went negative, and by which change.
  public struct NegativeSince: Sendable, Equatable {
    public var detectedAtUnixMs: Int64
    public var lsn: UInt64
  }

  /// Highest accepted `device_seq` per device.
  public var devices: [String: UInt64] = [:]
  public var exceptions = ExceptionJournal()
  /// Positions whose on-hand is below zero now.
  public var negative: [PositionKey: NegativeSince] = [:]
  public var counters = Counters()
  /// Per location id: recent events and devices.
  public var activity: [UInt32: LocationActivity] = [:]
  /// Events of all locations per second, last minute.
  public var events = RateWindow()
  /// Recently applied deltas with their event times (for late counts and snapshots).
  public var recentDeltas = RecentDeltas()
  /// Reservations, active and recently finished.
  public var reservations = ReservationBook()
  /// While watches are open: the positions changed by the write being applied (the writer hands
  /// them to the watches afterwards and empties this).
  var changed: [PositionKey] = []
  var collectsChanges = false

  public init() {}

  /// Keeps ``negative`` in step with a position change (for every applied change, also during
  /// recovery: it is a function of the positions).
  mutating func track(_ outcome: StockUpdateOutcome, position: PositionKey, lsn: UInt64, nowUnixMs: Int64) {
    guard case .applied(let before, let after) = outcome else { return }
    if collectsChanges { changed.append(position) }
    if after.onHand < 0 {
      if before.onHand >= 0 || negative[position] == nil {
        negative[position] = NegativeSince(detectedAtUnixMs: nowUnixMs, lsn: lsn)
      }
    } else if before.onHand < 0 {
      negative[position] = nil
    }
  }

  /// While watches are open: marks every position at `locations` changed (a location's settings
  /// or a group's members changed, which moves their availability and group totals).
  mutating func noteSettingsChanged(atLocations locations: [String], index: StockIndex) {
    guard collectsChanges else { return }
    for name in locations {
      guard let location = index.locations.id(of: name) else { continue }
      for sku in index.skus(atLocation: location) { changed.append(PositionKey(sku: sku, location: location)) }
    }
  }

  /// Records a COUNT_VARIANCE exception when an absolute update (count or snapshot) moved
  /// on-hand by at least the location's threshold.
  mutating func checkVariance(
    expected: Int64, counted: Int64, sku: String, location: Omnistock_V1_Location?, device: String, lsn: UInt64,
    nowUnixMs: Int64
  ) -> Bool {
    let variance = counted &- expected
    guard let location, VarianceRule.isException(variance: variance, expected: expected, location: location) else { return false }
    var exception = Omnistock_V1_StockException()
    exception.kind = .countVariance
    exception.sku = sku
    exception.locationID = location.locationID
    exception.deviceID = device
    exception.onHand = expected
    exception.counted = counted
    exception.variance = variance
    exception.lsn = lsn
    exception.detectedAtUnixMs = nowUnixMs
    exception.message =
      "count of \(counted) for '\(sku)' at '\(location.locationID)' differs from the expected \(expected) by \(variance)"
    exceptions.record(exception)
    return true
  }

  /// Records a SEQUENCE_GAP exception.
  mutating func recordGap(device: String, location: String, from: UInt64, to: UInt64, lsn: UInt64, nowUnixMs: Int64) {
    var exception = Omnistock_V1_StockException()
    exception.kind = .sequenceGap
    exception.deviceID = device
    exception.locationID = location
    exception.gapFrom = from
    exception.gapTo = to
    exception.lsn = lsn
    exception.detectedAtUnixMs = nowUnixMs
    exception.message =
      "device '\(device)' skipped device_seq \(from == to ? "\(from)" : "\(from)...\(to)"): those events never arrived"
    exceptions.record(exception)
  }

  /// Notes an event received (whatever its outcome) for the event rates; `location` is `nil`
  /// when the event names no declared location.
  mutating func noteReceived(location: UInt32?, device: String, atUnixMs unixMs: Int64) {
    if let location {
      activity[location, default: LocationActivity()].note(device: device, count: 1, atUnixMs: unixMs)
    }
    events.add(1, atUnixMs: unixMs)
  }
}
