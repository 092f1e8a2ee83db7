import GRPCNGHTTP2
import OmniStockAPI
import StockIndex
import Synchronization

/// One `WatchAvailability` stream: the current state of every key matching the filter, the
/// `INITIAL_STATE_COMPLETE` marker, then changes as they are applied.
///
/// ## Guarantees
/// - No change is missed: the watch is registered with the ``WatchHub``, then any write in
///   progress is waited for, *before* the initial state is read, so every change applied after
///   the initial read is reported after the marker.
/// - A slow consumer gets the latest state per key: while a message is being written, changed
///   keys accumulate in a set (``Watcher``) and are read from the index only when the next
///   message is built; `coalesced` counts the states skipped. Memory is bounded by the number of
///   keys the filter covers, and writers never wait for the stream.
/// - Every change mode: a key is reported when its state differs from what this stream last
///   reported for it. Status-transitions mode: only when its status differs.
struct AvailabilityWatch {
  /// Most filter entries (SKUs + locations + groups).
  static let maxFilterEntries = 10_000
  /// Most updates per message.
  static let updatesPerMessage = 1_000

  let writer: StockWriter
  var index: StockIndex { writer.index }
  var hub: WatchHub { writer.watches }
  var waiters: AppliedLSNWaiters { writer.appliedWaiters }

  private struct Reported: Equatable {
    var onHand: Int64
    var reserved: Int64
    var available: Int64
    var safetyStock: Int64
    var status: Omnistock_V1_StockStatus
  }

  func run(
    _ request: Omnistock_V1_WatchAvailabilityRequest, responses: ProtobufResponseWriter<Omnistock_V1_WatchAvailabilityResponse>,
    context: CallContext
  ) async throws {
    let filter = try resolve(request.filter)
    let watcher = Watcher(filter: filter)
    guard let id = hub.register(watcher) else {
      throw GRPCStatus(
        .resourceExhausted, "the server has \(WatchHub.maxWatches) watches open (or is shutting down): close one or retry later")
    }
    defer { hub.unregister(id) }
    // A write in progress decided whether to collect changes before this watch existed: wait for
    // it to finish, so every change after this point reaches the watch.
    writer.withWriteOrder { _ in }
    try await waitForMinimumLSN(request.options.minLsn, context: context)
    let excludeStale = request.options.excludeStale
    let statusOnly = request.mode == .statusTransitions
    var reported: [WatchKey: Reported] = [:]

    var message = Omnistock_V1_WatchAvailabilityResponse()
    message.kind = .initialState
    let now = WallClock.nowUnixMs()
    for key in initialKeys(request.filter, filter) {
      guard let availability = read(key, excludeStale: excludeStale, nowUnixMs: now) else { continue }
      reported[key] = Self.reported(availability)
      guard !request.skipInitialState else { continue }
      var update = Omnistock_V1_AvailabilityUpdate()
      update.availability = availability
      message.updates.append(update)
      message.lsn = max(message.lsn, index.lsn)
      if message.updates.count == Self.updatesPerMessage {
        try await responses.write(message)
        message.updates.removeAll(keepingCapacity: true)
      }
    }
    if !message.updates.isEmpty { try await responses.write(message) }
    var marker = Omnistock_V1_WatchAvailabilityResponse()
    marker.kind = .initialStateComplete
    marker.lsn = index.lsn
    try await responses.write(marker)

    for await _ in watcher.signals {
      let (keys, coalesced, lsn) = watcher.take()
      var change = Omnistock_V1_WatchAvailabilityResponse()
      change.kind = .change
      change.coalesced = coalesced
      change.lsn = max(lsn, index.lsn)
      let now = WallClock.nowUnixMs()
      for key in keys {
        guard let availability = read(key, excludeStale: excludeStale, nowUnixMs: now) else { continue }
        let current = Self.reported(availability)
        let previous = reported[key]
        guard previous != current, !statusOnly || previous?.status != current.status else { continue }
        reported[key] = current
        var update = Omnistock_V1_AvailabilityUpdate()
        update.availability = availability
        update.previousStatus = previous?.status ?? .unspecified
        change.updates.append(update)
        if change.updates.count == Self.updatesPerMessage {
          try await responses.write(change)
          change.updates.removeAll(keepingCapacity: true)
          change.coalesced = 0
        }
      }
      if !change.updates.isEmpty { try await responses.write(change) }
    }
    try Task.checkCancellation()
    throw GRPCStatus(.unavailable, "the server is shutting down; reconnect to another instance or retry")
  }

  /// Checks the filter and resolves its ids: `INVALID_ARGUMENT` / `NOT_FOUND` naming the entry.
  func resolve(_ filter: Omnistock_V1_WatchFilter) throws(GRPCStatus) -> Watcher.Filter {
    guard !filter.locationIds.isEmpty || !filter.groupIds.isEmpty || !filter.skus.isEmpty else {
      throw GRPCStatus(.invalidArgument, "filter is empty: list skus, location_ids or group_ids")
    }
    let entries = filter.skus.count + filter.locationIds.count + filter.groupIds.count
    guard entries <= Self.maxFilterEntries else {
      throw GRPCStatus(.invalidArgument, "filter has \(entries) entries; the limit is \(Self.maxFilterEntries)")
    }
    var skus: Set<UInt32>?
    if !filter.skus.isEmpty {
      var ids = Set<UInt32>()
      for sku in filter.skus {
        if let problem = IdentifierRules.problem(with: sku, field: "filter.skus") { throw GRPCStatus(.invalidArgument, problem) }
        guard let id = index.skus.intern(sku) else { throw GRPCStatus(.resourceExhausted, "the index holds the maximum of SKUs") }
        ids.insert(id)
      }
      skus = ids
    }
    let everyTarget = filter.locationIds.isEmpty && filter.groupIds.isEmpty
    var locations: Set<UInt32>? = everyTarget ? nil : []
    for location in filter.locationIds {
      if let problem = IdentifierRules.problem(with: location, field: "filter.location_ids") {
        throw GRPCStatus(.invalidArgument, problem)
      }
      guard let id = index.locations.id(of: location), index.settings(ofLocation: id) != nil else {
        throw GRPCStatus(.notFound, "unknown location '\(location)' in filter.location_ids")
      }
      locations?.insert(id)
    }
    var groups: [(group: UInt32, members: Set<UInt32>)] = []
    let groupIDs: [UInt32]
    if everyTarget {
      groupIDs = (0..<UInt32(index.groups.count)).filter { index.members(ofGroup: $0) != nil }
    } else {
      groupIDs = try filter.groupIds.map { group throws(GRPCStatus) in
        if let problem = IdentifierRules.problem(with: group, field: "filter.group_ids") {
          throw GRPCStatus(.invalidArgument, problem)
        }
        guard let id = index.groups.id(of: group), index.members(ofGroup: id) != nil else {
          throw GRPCStatus(.notFound, "unknown group '\(group)' in filter.group_ids")
        }
        return id
      }
    }
    for group in groupIDs { groups.append((group, Set(index.members(ofGroup: group) ?? []))) }
    return Watcher.Filter(skus: skus, locations: locations, groups: groups)
  }

  /// The keys of the initial state: every listed (SKU, target) pair when both are listed; else
  /// the existing positions (and group totals) that match.
  private func initialKeys(_ request: Omnistock_V1_WatchFilter, _ filter: Watcher.Filter) -> [WatchKey] {
    var keys: [WatchKey] = []
    let locationIDs = filter.locations.map { Array($0) } ?? []
    if let skus = filter.skus, filter.locations != nil {
      for sku in skus.sorted() {
        for location in locationIDs.sorted() { keys.append(.position(sku: sku, location: location)) }
        for (group, _) in filter.groups { keys.append(.group(sku: sku, group: group)) }
      }
      return keys
    }
    var skusByTarget: [WatchKey] = []
    var groupSKUs: [UInt32: Set<UInt32>] = [:]
    for shard in 0..<index.shardCount {
      let copy = index.positions(inShard: shard)
      for row in 0..<copy.count {
        let sku = copy.skus[row]
        let location = copy.locations[row]
        guard filter.matches(sku: sku) else { continue }
        if filter.locations?.contains(location) ?? true { skusByTarget.append(.position(sku: sku, location: location)) }
        for (group, members) in filter.groups where members.contains(location) { groupSKUs[group, default: []].insert(sku) }
      }
    }
    if let skus = filter.skus {
      for sku in skus { for (group, _) in filter.groups { groupSKUs[group, default: []].insert(sku) } }
    }
    keys = skusByTarget
    for (group, skus) in groupSKUs.sorted(by: { $0.key < $1.key }) {
      for sku in skus.sorted() { keys.append(.group(sku: sku, group: group)) }
    }
    return keys
  }

  private func read(_ key: WatchKey, excludeStale: Bool, nowUnixMs: Int64) -> Omnistock_V1_PositionAvailability? {
    switch key {
    case .position(let sku, let location):
      guard let skuName = index.skus.string(for: sku), let locationName = index.locations.string(for: location) else { return nil }
      let reading = index.position(sku: sku, location: location, nowUnixMs: nowUnixMs, excludeStale: excludeStale)
      return PositionResponses.position(
        sku: skuName, locationID: locationName, location: location, reading: reading, index: index, nowUnixMs: nowUnixMs)
    case .group(let sku, let group):
      guard let skuName = index.skus.string(for: sku), let groupName = index.groups.string(for: group),
        let reading = index.group(sku: sku, group: group, nowUnixMs: nowUnixMs, excludeStale: excludeStale)
      else { return nil }
      return PositionResponses.group(
        sku: skuName, groupID: groupName, group: group, reading: reading, index: index, excludeStale: excludeStale,
        nowUnixMs: nowUnixMs)
    }
  }

  private static func reported(_ availability: Omnistock_V1_PositionAvailability) -> Reported {
    Reported(
      onHand: availability.onHand, reserved: availability.reserved, available: availability.available,
      safetyStock: availability.safetyStock, status: availability.status)
  }

  private func waitForMinimumLSN(_ minimum: UInt64, context: CallContext) async throws {
    guard minimum > index.lsn else { return }
    let index = self.index
    let waiters = self.waiters
    let id = Mutex<Int?>(nil)
    let reached = await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let registered = waiters.wait(
          for: minimum, current: { index.lsn }, eventLoop: context.eventLoop, deadline: context.deadline
        ) { continuation.resume(returning: $0) }
        id.withLock { $0 = registered }
      }
    } onCancel: {
      // The caller went away: end the wait now (a wait not registered yet ends at its deadline).
      if let registered = id.withLock({ $0 }) { waiters.cancel(registered) }
    }
    guard reached else {
      throw GRPCStatus(
        .deadlineExceeded, "options.min_lsn \(minimum) was not applied before the deadline; the server has applied up to \(index.lsn)")
    }
  }
}
