import Atomics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every position (SKU x location) and every group total (SKU x group), in memory, read without
/// ever waiting for a writer.
///
/// ## Reads
/// ``position(sku:location:nowUnixMs:excludeStale:)`` and ``group(sku:group:nowUnixMs:excludeStale:)``
/// take no lock, allocate nothing and touch no reference count: they probe a lock-free key table
/// (``PublishedTable``) and copy one slot under its seqlock (``SeqlockSlot``, whose doc comment
/// holds the memory-ordering argument), so they never observe a half-applied change to a key. A
/// batch of reads is not one snapshot: each key is read atomically.
///
/// ## Sharding
/// Positions and group totals are spread over 2^k shards **by SKU** (a hash of the SKU id), each
/// shard with its own writer mutex. Sharding by SKU rather than by (SKU, location) is deliberate:
/// a write to a position also moves the totals of every group its location belongs to, and those
/// totals are keyed by the same SKU, so one write takes exactly one lock, and group totals stay
/// exact without cross-shard locking. Writers of different SKUs proceed in parallel.
///
/// ## Group totals
/// Maintained on every write (so a group read is one slot read) over the group's *active* members.
/// Staleness is decided by time alone, with no write, so it is applied at read time: when the
/// read must exclude stale members (the group says so, or the read asks), the contributions of
/// the members that are stale at that instant are subtracted from the maintained totals (one
/// position read per stale member). Membership and location-setting changes rebuild the affected
/// totals under all shard locks (writers wait; readers never do).
///
/// ## Interning
/// SKU, location and group strings map to dense ids once, at the edge (``skus``, ``locations``,
/// ``groups``); growth never blocks readers.
///
/// `@unchecked Sendable`: the stored pointers and shard references are immutable after `init`;
/// shared memory is read through atomics and written only under a shard's lock;
/// `locationGroups` is read by writers holding a shard lock and written only while holding every
/// shard lock; `administration` is a mutex. Memory is freed only in `deinit`.
public final class StockIndex: @unchecked Sendable {
  /// Sizes and limits.
  public struct Configuration: Sendable {
    /// log2 of the number of shards.
    public var shardCountLog2: Int
    /// Initial key-table capacity per shard (grows by doubling).
    public var initialShardCapacity: Int

    public init(shardCountLog2: Int = 6, initialShardCapacity: Int = 1024) {
      precondition((0...12).contains(shardCountLog2))
      self.shardCountLog2 = shardCountLog2
      self.initialShardCapacity = initialShardCapacity
    }

    /// Sizes the key tables for `expectedSlots` positions plus group totals, so they never grow
    /// (growth keeps the outgrown tables until the index is destroyed: about 13 bytes a position).
    public init(shardCountLog2: Int = 6, expectedSlots: Int) {
      let perShard = (expectedSlots >> shardCountLog2) + 1
      self.init(shardCountLog2: shardCountLog2, initialShardCapacity: max(1024, perShard * 4 / 3 + 1))
    }
  }

  /// Most SKUs, locations and groups, from the packed key layout (``IndexKey``).
  public static let maxSKUs = IndexKey.maxSKUs
  public static let maxLocations = IndexKey.maxTargets
  public static let maxGroups = IndexKey.maxTargets

  /// A SKU id that is never assigned: reads with it see an empty position / zero totals.
  public static let unknownSKU = UInt32(IndexKey.maxSKUs)

  public let skus: StringInterner
  public let locations: StringInterner
  public let groups: StringInterner

  let views: UnsafeMutableBufferPointer<ShardView>
  let shards: [IndexShard]
  let shardMask: Int
  let locationTable: LocationTable
  private let groupTable: GroupTable
  private let appliedLSN: UnsafeAtomic<UInt64>
  private(set) var locationGroups: [[UInt32]]
  private let administration = Mutex(Administration())

  private struct Administration {
    var members: [UInt32: [UInt32]] = [:]
    var retiredGroupBlocks: [AtomicWords] = []
  }

  public init(configuration: Configuration = Configuration()) {
    let shardCount = 1 << configuration.shardCountLog2
    shards = (0..<shardCount).map { _ in IndexShard(initialCapacity: configuration.initialShardCapacity) }
    views = .allocate(capacity: shardCount)
    for (index, shard) in shards.enumerated() { (views.baseAddress! + index).initialize(to: shard.view) }
    shardMask = shardCount - 1
    skus = StringInterner(capacity: Self.maxSKUs, initialTableCapacity: 4096)
    locations = StringInterner(capacity: Self.maxLocations)
    groups = StringInterner(capacity: Self.maxGroups)
    locationTable = LocationTable(capacity: Self.maxLocations + 1)
    groupTable = GroupTable(capacity: Self.maxGroups + 1)
    appliedLSN = .create(0)
    locationGroups = Array(repeating: [], count: Self.maxLocations + 1)
  }

  deinit {
    views.deallocate()
    locationTable.deallocate()
    administration.withLock { admin in
      for block in admin.retiredGroupBlocks { block.deallocate() }
    }
    for group in 0...Self.maxGroups {
      let members = groupTable.members(UInt32(group))
      if let base = members.base { AtomicWords(base: base).deallocate() }
    }
    groupTable.directory.deallocate()
    appliedLSN.destroy()
  }

  /// The highest LSN applied so far.
  public var lsn: UInt64 { appliedLSN.load(ordering: .acquiring) }

  // MARK: - Reads

  @inline(__always)
  private func view(forSKU sku: UInt32) -> ShardView {
    views[IndexKey.shard(sku: sku, mask: shardMask)]
  }

  /// The stored state of a position, or `nil` if it was never written. Lock-free, allocation-free.
  @inline(__always)
  public func state(sku: UInt32, location: UInt32) -> PositionState? {
    guard let slot = view(forSKU: sku).find(IndexKey.position(sku: sku, location: location)) else { return nil }
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { words in
      slot.read(into: words.baseAddress!, count: ShardView.payloadWords)
      return PositionState(words: words.baseAddress!)
    }
  }

  /// A position with everything derived from it. Lock-free, allocation-free.
  public func position(sku: UInt32, location: UInt32, nowUnixMs: Int64, excludeStale: Bool = false) -> PositionReading {
    let stored = state(sku: sku, location: location)
    return derive(stored, location: location, settings: locationTable.settings(location), nowUnixMs: nowUnixMs, excludeStale: excludeStale)
  }

  /// A position by strings: `nil` if the location is not declared. An unknown SKU reads as an
  /// empty position.
  public func position(sku: String, location: String, nowUnixMs: Int64, excludeStale: Bool = false) -> PositionReading? {
    guard let locationID = locations.id(of: location), locationTable.isDeclared(locationID) else { return nil }
    guard let skuID = skus.id(of: sku) else {
      return derive(nil, location: locationID, settings: locationTable.settings(locationID), nowUnixMs: nowUnixMs, excludeStale: excludeStale)
    }
    return position(sku: skuID, location: locationID, nowUnixMs: nowUnixMs, excludeStale: excludeStale)
  }

  private func derive(
    _ stored: PositionState?, location: UInt32, settings: LocationSettings, nowUnixMs: Int64, excludeStale: Bool
  ) -> PositionReading {
    let state = stored ?? PositionState()
    let safety = state.safetyStockOverride ?? settings.defaultSafetyStock
    let stale = locationTable.isStale(location, nowUnixMs: nowUnixMs)
    let contributes = settings.active && !(excludeStale && stale)
    let available = contributes ? max(0, state.onHand &- state.reserved &- safety) : 0
    return PositionReading(
      state: state, exists: stored != nil, safetyStock: safety, available: available,
      status: StockStatus(available: available, lowStockThreshold: settings.lowStockThreshold),
      lowStockThreshold: settings.lowStockThreshold, contributes: contributes, stale: stale,
      locationUpdatedAtUnixMs: locationTable.lastUpdateUnixMs(location))
  }

  /// A SKU across a group, or `nil` if the group does not exist. Lock-free and allocation-free;
  /// one slot read, plus one position read per member that is stale when stale members must be
  /// excluded (the group's `includeStale` is false, or `excludeStale`).
  public func group(sku: UInt32, group: UInt32, nowUnixMs: Int64, excludeStale: Bool = false) -> GroupReading? {
    let members = groupTable.members(group)
    guard members.exists else { return nil }
    var totals = GroupTotals()
    var exists = false
    if let slot = view(forSKU: sku).find(IndexKey.group(sku: sku, group: group)) {
      exists = true
      withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { words in
        slot.read(into: words.baseAddress!, count: ShardView.payloadWords)
        totals = GroupTotals(words: words.baseAddress!)
      }
    }
    let dropStale = excludeStale || !members.includeStale
    var contributing = 0
    var threshold: Int64 = 0
    var anyStale = false
    for index in 0..<members.count {
      let member = members[index]
      let settings = locationTable.settings(member)
      guard settings.active else { continue }
      let stale = locationTable.isStale(member, nowUnixMs: nowUnixMs)
      anyStale = anyStale || stale
      if stale && dropStale {
        if let state = state(sku: sku, location: member) {
          totals.add(Self.contribution(of: state, settings: settings), sign: -1)
        }
        continue
      }
      contributing += 1
      threshold &+= settings.lowStockThreshold
    }
    return GroupReading(
      totals: totals, status: StockStatus(available: totals.available, lowStockThreshold: threshold),
      lowStockThreshold: threshold, contributingLocations: contributing, anyStale: anyStale, exists: exists)
  }

  /// A group by strings, `nil` if unknown; an unknown SKU reads as zero totals.
  public func group(sku: String, group: String, nowUnixMs: Int64, excludeStale: Bool = false) -> GroupReading? {
    guard let groupID = groups.id(of: group) else { return nil }
    return self.group(sku: skus.id(of: sku) ?? Self.unknownSKU, group: groupID, nowUnixMs: nowUnixMs, excludeStale: excludeStale)
  }

  /// The members of a group in priority order, or `nil` for an unknown group.
  public func members(ofGroup group: UInt32) -> [UInt32]? {
    let members = groupTable.members(group)
    guard members.exists else { return nil }
    return (0..<members.count).map { members[$0] }
  }

  /// Whether the group keeps stale members in its totals.
  public func includesStale(group: UInt32) -> Bool { groupTable.members(group).includeStale }

  /// Settings of a declared location, or `nil`.
  public func settings(ofLocation location: UInt32) -> LocationSettings? {
    locationTable.isDeclared(location) ? locationTable.settings(location) : nil
  }

  /// Server time of the location's last change, Unix ms (0 = never).
  public func lastUpdateUnixMs(location: UInt32) -> Int64 {
    locationTable.lastUpdateUnixMs(location)
  }

  /// When the location was first declared, Unix ms (0 if never).
  public func declaredAtUnixMs(location: UInt32) -> Int64 {
    locationTable.declaredAtUnixMs(location)
  }

  /// Whether the location is stale at `nowUnixMs`.
  public func isStale(location: UInt32, nowUnixMs: Int64) -> Bool {
    locationTable.isStale(location, nowUnixMs: nowUnixMs)
  }

  // MARK: - Writes

  /// Applies `updates` in order under `lsn` (which must not go backwards across calls), each
  /// atomically for readers. Writers of different SKUs run in parallel.
  @discardableResult
  public func apply(_ updates: [StockUpdate], lsn: UInt64, nowUnixMs: Int64) -> [StockUpdateOutcome] {
    var outcomes: [StockUpdateOutcome] = []
    outcomes.reserveCapacity(updates.count)
    for update in updates {
      outcomes.append(apply(update, lsn: lsn, nowUnixMs: nowUnixMs))
    }
    return outcomes
  }

  /// Applies one update under `lsn`. Does not advance ``lsn``: the caller reports the record
  /// applied with ``noteApplied(_:)`` once all of its updates are, so that a reader never sees an
  /// LSN whose record is half applied.
  public func apply(_ update: StockUpdate, lsn: UInt64, nowUnixMs: Int64) -> StockUpdateOutcome {
    precondition(Int(update.location) <= Self.maxLocations && Int(update.sku) <= Self.maxSKUs)
    let outcome = modify(sku: update.sku, location: update.location, lsn: lsn) { before in
      guard var after = update.change.applied(to: before) else { return nil }
      after.lsn = max(before.lsn, lsn)
      after.updatedAtUnixSeconds = UInt32(clamping: nowUnixMs / 1000)
      if update.sourceTimeUnixMs > 0 {
        after.sourceTimeUnixSeconds = max(before.sourceTimeUnixSeconds, UInt32(clamping: update.sourceTimeUnixMs / 1000))
      }
      return after
    }
    if case .applied = outcome { locationTable.noteUpdate(update.location, atUnixMs: nowUnixMs) }
    return outcome
  }

  /// The one way a position changes: under its shard's lock, `transform` maps the stored state
  /// to the new one (`nil`: keep it, `keptNewer`), which is published to readers in one seqlock
  /// write, and the totals of every group of the location move by the difference. During
  /// recovery an `lsn` at or below the shard's recovery floor is `alreadyIncluded` and changes
  /// nothing (see ``setRecoveryFloors(_:)``).
  func modify(
    sku: UInt32, location: UInt32, lsn: UInt64, _ transform: (PositionState) -> PositionState?
  ) -> StockUpdateOutcome {
    let shardIndex = IndexKey.shard(sku: sku, mask: shardMask)
    let view = views[shardIndex]
    return shards[shardIndex].lock.withLock { writer -> StockUpdateOutcome in
      if lsn > 0 && lsn <= writer.recoveryFloor { return .alreadyIncluded }
      guard let (slot, created) = writer.findOrInsert(IndexKey.position(sku: sku, location: location), in: view)
      else { return .indexFull }
      if created { writer.positionCount += 1 }
      return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { buffer in
        let words = buffer.baseAddress!
        slot.readAsWriter(into: words, count: ShardView.payloadWords)
        let before = PositionState(words: words)
        guard let after = transform(before) else { return .keptNewer(before) }
        after.store(into: words)
        slot.write(words, count: ShardView.payloadWords)
        let memberOf = locationGroups[Int(location)]
        if !memberOf.isEmpty {
          let settings = locationTable.settings(location)
          let old = created ? .none : Self.contribution(of: before, settings: settings)
          let new = Self.contribution(of: after, settings: settings)
          for group in memberOf {
            adjustGroup(group, sku: sku, remove: old, add: new, lsn: lsn, writer: &writer, view: view)
          }
        }
        return .applied(before: before, after: after)
      }
    }
  }

  /// Records that everything up to `lsn` is applied (also for LSNs that changed no position).
  public func noteApplied(_ lsn: UInt64) {
    var current = appliedLSN.load(ordering: .relaxed)
    while current < lsn {
      let (exchanged, original) = appliedLSN.weakCompareExchange(expected: current, desired: lsn, ordering: .releasing)
      if exchanged { return }
      current = original
    }
  }

  /// Marks a location as updated now without changing any position (e.g. an empty snapshot or
  /// a heartbeat), which keeps it fresh.
  public func touch(location: UInt32, nowUnixMs: Int64) {
    locationTable.noteUpdate(location, atUnixMs: nowUnixMs)
  }

  static func contribution(of state: PositionState, settings: LocationSettings) -> GroupTotals.Contribution {
    guard settings.active else { return .none }
    let safety = state.safetyStockOverride ?? settings.defaultSafetyStock
    let available = max(0, state.onHand &- state.reserved &- safety)
    return GroupTotals.Contribution(
      onHand: state.onHand, reserved: state.reserved, available: available, safetyStock: safety,
      withStock: available > 0 ? 1 : 0)
  }

  private func adjustGroup(
    _ group: UInt32, sku: UInt32, remove old: GroupTotals.Contribution, add new: GroupTotals.Contribution,
    lsn: UInt64, writer: inout IndexShard.Writer, view: ShardView
  ) {
    guard old != new || lsn > 0 else { return }
    guard let (slot, _) = writer.findOrInsert(IndexKey.group(sku: sku, group: group), in: view) else { return }
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { buffer in
      let words = buffer.baseAddress!
      slot.readAsWriter(into: words, count: ShardView.payloadWords)
      var totals = GroupTotals(words: words)
      totals.add(old, sign: -1)
      totals.add(new, sign: 1)
      totals.lsn = max(totals.lsn, lsn)
      totals.store(into: words)
      slot.write(words, count: ShardView.payloadWords)
    }
  }

  // MARK: - Configuration changes

  /// Declares a location (or changes its settings) and returns its id; `nil` when the index holds
  /// the maximum number of locations. Changing `active` or the default safety stock rebuilds the
  /// location's contributions to its groups' totals (writers wait meanwhile; readers do not).
  @discardableResult
  public func declareLocation(_ id: String, settings: LocationSettings, nowUnixMs: Int64 = StockIndex.systemClockUnixMs()) -> UInt32? {
    guard let location = locations.intern(id) else { return nil }
    administration.withLock { _ in
      let old = locationTable.isDeclared(location) ? locationTable.settings(location) : nil
      let contributionChanges =
        old != nil && (old!.active != settings.active || old!.defaultSafetyStock != settings.defaultSafetyStock)
      guard contributionChanges, !locationGroups[Int(location)].isEmpty else {
        locationTable.store(settings, for: location, nowUnixMs: nowUnixMs)
        return
      }
      withAllShardsLocked { writers in
        for shardIndex in 0..<shards.count {
          let view = views[shardIndex]
          var positions: [(sku: UInt32, state: PositionState)] = []
          view.table.forEachEntry { entry in
            guard !IndexKey.isGroup(entry), IndexKey.target(of: entry) == location else { return }
            let slot = view.slot(IndexKey.slot(of: entry))
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { words in
              slot.readAsWriter(into: words.baseAddress!, count: ShardView.payloadWords)
              positions.append((IndexKey.sku(of: entry), PositionState(words: words.baseAddress!)))
            }
          }
          for (sku, state) in positions {
            let before = Self.contribution(of: state, settings: old!)
            let after = Self.contribution(of: state, settings: settings)
            guard before != after else { continue }
            for group in locationGroups[Int(location)] {
              adjustGroup(group, sku: sku, remove: before, add: after, lsn: 0, writer: &writers[shardIndex].pointee, view: view)
            }
          }
        }
        locationTable.store(settings, for: location, nowUnixMs: nowUnixMs)
      }
    }
    return location
  }

  /// Creates or replaces a group (members in priority order, all declared locations) and returns
  /// its id; rebuilds the group's totals from the members' positions. `nil` when the index holds
  /// the maximum number of groups.
  @discardableResult
  public func setGroup(_ id: String, members: [UInt32], includeStale: Bool) -> UInt32? {
    guard let group = groups.intern(id) else { return nil }
    var unique: [UInt32] = []
    for member in members where !unique.contains(member) { unique.append(member) }
    administration.withLock { admin in
      withAllShardsLocked { writers in
        for member in admin.members[group] ?? [] {
          locationGroups[Int(member)].removeAll { $0 == group }
        }
        for member in unique { locationGroups[Int(member)].append(group) }
        let memberSet = Set(unique)
        for shardIndex in 0..<shards.count {
          let view = views[shardIndex]
          var rebuilt: [UInt32: GroupTotals] = [:]
          var existing: [UInt32] = []
          view.table.forEachEntry { entry in
            let target = IndexKey.target(of: entry)
            if IndexKey.isGroup(entry) {
              if target == group { existing.append(IndexKey.sku(of: entry)) }
              return
            }
            guard memberSet.contains(target) else { return }
            let slot = view.slot(IndexKey.slot(of: entry))
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { words in
              slot.readAsWriter(into: words.baseAddress!, count: ShardView.payloadWords)
              let state = PositionState(words: words.baseAddress!)
              var totals = rebuilt[IndexKey.sku(of: entry)] ?? GroupTotals()
              totals.add(Self.contribution(of: state, settings: locationTable.settings(target)), sign: 1)
              totals.lsn = max(totals.lsn, state.lsn)
              rebuilt[IndexKey.sku(of: entry)] = totals
            }
          }
          for sku in existing where rebuilt[sku] == nil { rebuilt[sku] = GroupTotals() }
          for (sku, totals) in rebuilt {
            guard let (slot, _) = writers[shardIndex].pointee.findOrInsert(IndexKey.group(sku: sku, group: group), in: view)
            else { continue }
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { words in
              totals.store(into: words.baseAddress!)
              slot.write(words.baseAddress!, count: ShardView.payloadWords)
            }
          }
        }
        if let old = groupTable.publish(group, members: unique, includeStale: includeStale) {
          admin.retiredGroupBlocks.append(old)
        }
        admin.members[group] = unique
      }
    }
    return group
  }

  /// Runs `body` holding every shard's writer lock (in shard order, so two callers cannot
  /// deadlock), with a pointer to each shard's writer state.
  private func withAllShardsLocked(_ body: ([UnsafeMutablePointer<IndexShard.Writer>]) -> Void) {
    func lock(from index: Int, _ held: [UnsafeMutablePointer<IndexShard.Writer>]) {
      guard index < shards.count else {
        body(held)
        return
      }
      shards[index].lock.withLock { writer in
        withUnsafeMutablePointer(to: &writer) { pointer in lock(from: index + 1, held + [pointer]) }
      }
    }
    lock(from: 0, [])
  }

  // MARK: - Introspection

  /// The system's wall clock in Unix ms (the default "now" of configuration calls).
  public static func systemClockUnixMs() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
  }

  /// The SKUs that have a position at `location` (a scan of every shard's key table; for
  /// administrative work such as REPLACE snapshots, not for the read path).
  public func skus(atLocation location: UInt32) -> [UInt32] {
    var result: [UInt32] = []
    for shardIndex in 0..<shards.count {
      views[shardIndex].table.forEachEntry { entry in
        if !IndexKey.isGroup(entry) && IndexKey.target(of: entry) == location { result.append(IndexKey.sku(of: entry)) }
      }
    }
    return result
  }

  /// Positions stored (SKU x location pairs ever written).
  public var positionCount: Int {
    shards.reduce(0) { total, shard in total + shard.lock.withLock { $0.positionCount } }
  }

  /// Positions and group totals stored, and bytes allocated for them (slots and key tables).
  public func statistics() -> (slots: Int, allocatedBytes: Int) {
    var slots = 0
    var bytes = 0
    for (index, shard) in shards.enumerated() {
      shard.lock.withLock { writer in
        slots += writer.slotCount
        bytes += writer.allocatedBytes(views[index])
      }
    }
    return (slots, bytes)
  }
}
