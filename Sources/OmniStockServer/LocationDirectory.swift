public import GRPCNGHTTP2
public import OmniStockAPI
public import StockIndex
import Synchronization

/// The declared locations and groups, as configured (the full `Location` / `LocationGroup`
/// records), kept in step with the index (which holds what reads need: settings and membership).
///
/// Changes go through the write-ahead log (``validate(_:)`` before logging, ``apply(_:lsn:nowUnixMs:)``
/// after, and again on replay). Events and snapshots for a location not declared here are refused
/// (`NOT_FOUND`).
public final class LocationDirectory: Sendable {
  /// Default `stale_after` (the industry's 15-minute batch cadence).
  public static let defaultStaleAfterSeconds: UInt32 = 900
  public static let maxStaleAfterSeconds: UInt32 = 604_800
  public static let maxGroupMembers = 10_000
  public static let maxDisplayNameBytes = 256

  private struct State {
    var locations: [String: Omnistock_V1_Location] = [:]
    var groups: [String: Omnistock_V1_LocationGroup] = [:]
  }

  private let state = Mutex(State())
  let index: StockIndex

  public init(index: StockIndex) {
    self.index = index
  }

  /// A declared location's record.
  public func location(_ id: String) -> Omnistock_V1_Location? {
    state.withLock { $0.locations[id] }
  }

  /// A group's record.
  public func group(_ id: String) -> Omnistock_V1_LocationGroup? {
    state.withLock { $0.groups[id] }
  }

  /// All locations, ordered by id.
  public func allLocations() -> [Omnistock_V1_Location] {
    state.withLock { $0.locations.values.sorted { $0.locationID < $1.locationID } }
  }

  /// All groups, ordered by id.
  public func allGroups() -> [Omnistock_V1_LocationGroup] {
    state.withLock { $0.groups.values.sorted { $0.groupID < $1.groupID } }
  }

  /// Checks a location before it is logged: `INVALID_ARGUMENT` naming the bad field, or
  /// `RESOURCE_EXHAUSTED` when the index holds the maximum of locations.
  public func validate(_ location: Omnistock_V1_Location) throws(GRPCStatus) {
    try Self.validate(location)
    if index.locations.id(of: location.locationID) == nil && index.locations.count >= StockIndex.maxLocations {
      throw GRPCStatus(.resourceExhausted, "the server holds the maximum of \(StockIndex.maxLocations) locations")
    }
  }

  /// Declares or replaces a validated location (also on replay of the log).
  @discardableResult
  public func apply(_ location: Omnistock_V1_Location, lsn: UInt64, nowUnixMs: Int64)
    -> (location: Omnistock_V1_Location, created: Bool)
  {
    var stored = Self.normalized(location)
    return state.withLock { state in
      let previous = state.locations[location.locationID]
      stored.createdAtUnixMs = previous?.createdAtUnixMs ?? nowUnixMs
      stored.updatedAtUnixMs = nowUnixMs
      stored.lsn = lsn
      let settings = LocationSettings(
        defaultSafetyStock: stored.defaultSafetyStock, lowStockThreshold: stored.lowStockThreshold,
        staleAfterSeconds: Int64(stored.staleAfterSeconds), active: stored.active)
      guard index.declareLocation(stored.locationID, settings: settings, nowUnixMs: nowUnixMs) != nil else {
        return (stored, false)
      }
      state.locations[stored.locationID] = stored
      return (stored, previous == nil)
    }
  }

  /// `location` as it is stored: defaults filled in, capabilities without repeats.
  static func normalized(_ location: Omnistock_V1_Location) -> Omnistock_V1_Location {
    var stored = location
    if stored.staleAfterSeconds == 0 { stored.staleAfterSeconds = Self.defaultStaleAfterSeconds }
    var unique: [Omnistock_V1_FulfillmentCapability] = []
    for capability in stored.capabilities where !unique.contains(capability) { unique.append(capability) }
    stored.capabilities = unique
    return stored
  }

  /// Whether declaring `location` would change what is stored (output-only fields aside).
  public func differs(_ location: Omnistock_V1_Location) -> Bool {
    guard var stored = self.location(location.locationID) else { return true }
    var wanted = Self.normalized(location)
    for record in [\Omnistock_V1_Location.createdAtUnixMs, \.updatedAtUnixMs] {
      stored[keyPath: record] = 0
      wanted[keyPath: record] = 0
    }
    stored.lsn = 0
    wanted.lsn = 0
    return stored != wanted
  }

  /// Whether declaring `group` would change what is stored (output-only fields aside).
  public func differs(_ group: Omnistock_V1_LocationGroup) -> Bool {
    guard var stored = self.group(group.groupID) else { return true }
    var wanted = group
    stored.createdAtUnixMs = 0
    stored.updatedAtUnixMs = 0
    stored.lsn = 0
    wanted.createdAtUnixMs = 0
    wanted.updatedAtUnixMs = 0
    wanted.lsn = 0
    return stored != wanted
  }

  /// Puts back a location exactly as a checkpoint holds it (times and LSN kept).
  func restore(_ location: Omnistock_V1_Location) {
    let settings = LocationSettings(
      defaultSafetyStock: location.defaultSafetyStock, lowStockThreshold: location.lowStockThreshold,
      staleAfterSeconds: Int64(location.staleAfterSeconds), active: location.active)
    state.withLock { state in
      guard index.declareLocation(location.locationID, settings: settings, nowUnixMs: location.createdAtUnixMs) != nil
      else { return }
      state.locations[location.locationID] = location
    }
  }

  /// Puts back a group exactly as a checkpoint holds it (times and LSN kept).
  func restore(_ group: Omnistock_V1_LocationGroup) {
    state.withLock { state in
      let members = group.locationIds.compactMap { id in state.locations[id] == nil ? nil : index.locations.id(of: id) }
      _ = index.setGroup(group.groupID, members: members, includeStale: group.includeStale)
      state.groups[group.groupID] = group
    }
  }

  /// Checks a group before it is logged: `INVALID_ARGUMENT` / `NOT_FOUND` naming the problem.
  public func validate(_ group: Omnistock_V1_LocationGroup) throws(GRPCStatus) {
    if let problem = IdentifierRules.problem(with: group.groupID, field: "group_id") {
      throw GRPCStatus(.invalidArgument, problem)
    }
    guard group.displayName.utf8.count <= Self.maxDisplayNameBytes else {
      throw GRPCStatus(.invalidArgument, "display_name is longer than \(Self.maxDisplayNameBytes) bytes")
    }
    guard group.locationIds.count <= Self.maxGroupMembers else {
      throw GRPCStatus(.invalidArgument, "a group has at most \(Self.maxGroupMembers) members; got \(group.locationIds.count)")
    }
    if Set(group.locationIds).count != group.locationIds.count {
      throw GRPCStatus(.invalidArgument, "location_ids lists a location more than once")
    }
    try state.withLock { state throws(GRPCStatus) in
      for id in group.locationIds where state.locations[id] == nil {
        throw GRPCStatus(.notFound, "unknown location '\(id)' in location_ids: declare it with UpsertLocation first")
      }
    }
    if index.groups.id(of: group.groupID) == nil && index.groups.count >= StockIndex.maxGroups {
      throw GRPCStatus(.resourceExhausted, "the server holds the maximum of \(StockIndex.maxGroups) groups")
    }
  }

  /// Declares or replaces a validated group (also on replay; unknown members are skipped).
  @discardableResult
  public func apply(_ group: Omnistock_V1_LocationGroup, lsn: UInt64, nowUnixMs: Int64)
    -> (group: Omnistock_V1_LocationGroup, created: Bool)
  {
    state.withLock { state in
      let members = group.locationIds.compactMap { id in state.locations[id] == nil ? nil : index.locations.id(of: id) }
      _ = index.setGroup(group.groupID, members: members, includeStale: group.includeStale)
      let previous = state.groups[group.groupID]
      var stored = group
      stored.createdAtUnixMs = previous?.createdAtUnixMs ?? nowUnixMs
      stored.updatedAtUnixMs = nowUnixMs
      stored.lsn = lsn
      state.groups[group.groupID] = stored
      return (stored, previous == nil)
    }
  }

  static func validate(_ location: Omnistock_V1_Location) throws(GRPCStatus) {
    if let problem = IdentifierRules.problem(with: location.locationID, field: "location_id") {
      throw GRPCStatus(.invalidArgument, problem)
    }
    switch location.kind {
    case .store, .darkStore, .warehouse, .thirdPartyLogistics, .dropshipVendor: break
    case .unspecified, .UNRECOGNIZED:
      throw GRPCStatus(.invalidArgument, "kind is missing or unknown: STORE, DARK_STORE, WAREHOUSE, THIRD_PARTY_LOGISTICS or DROPSHIP_VENDOR")
    }
    guard location.displayName.utf8.count <= maxDisplayNameBytes else {
      throw GRPCStatus(.invalidArgument, "display_name is longer than \(maxDisplayNameBytes) bytes")
    }
    guard location.defaultSafetyStock >= 0, location.defaultSafetyStock <= EventValidation.maxQuantity else {
      throw GRPCStatus(.invalidArgument, "default_safety_stock must be 0...1,000,000,000")
    }
    guard location.lowStockThreshold >= 0, location.lowStockThreshold <= EventValidation.maxQuantity else {
      throw GRPCStatus(.invalidArgument, "low_stock_threshold must be 0...1,000,000,000")
    }
    guard location.staleAfterSeconds <= maxStaleAfterSeconds else {
      throw GRPCStatus(.invalidArgument, "stale_after_seconds must be at most \(maxStaleAfterSeconds) (7 days)")
    }
    if location.hasCoordinates {
      let point = location.coordinates
      guard (-90...90).contains(point.latitude), (-180...180).contains(point.longitude) else {
        throw GRPCStatus(.invalidArgument, "coordinates out of range: latitude -90...90, longitude -180...180")
      }
    }
    guard location.countVarianceUnits >= 0, location.countVariancePercent >= 0 else {
      throw GRPCStatus(.invalidArgument, "count variance thresholds must be >= 0")
    }
    for capability in location.capabilities {
      switch capability {
      case .ship, .pickup, .sameDay: break
      case .unspecified, .UNRECOGNIZED:
        throw GRPCStatus(.invalidArgument, "capabilities holds an unknown value; use SHIP, PICKUP or SAME_DAY")
      }
    }
  }
}
