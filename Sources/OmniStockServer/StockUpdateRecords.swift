import OmniStockAPI
import StockIndex

/// Turns changes into log records and log records into index updates: one function applies a
/// record both when it is first written and when the log is replayed at start, so both give the
/// same state.
enum StockUpdateRecords {
  typealias Record = Omnistock_Log_V1_StockUpdateRecord

  static func record(sku: String, location: String, change: StockUpdate.Change, sourceTimeUnixMs: Int64) -> Record {
    var record = Record()
    record.sku = sku
    record.locationID = location
    record.sourceTimeUnixMs = sourceTimeUnixMs
    switch change {
    case .adjust(let delta):
      record.kind = .adjust
      record.amount = delta
    case .delta(let delta, _):
      // Device deltas travel in EventsRecord; here a delta is unconditional.
      record.kind = .adjust
      record.amount = delta
    case .set(let onHand, let asOf):
      record.kind = .set
      record.amount = onHand
      record.asOfUnixMs = asOf
    case .reserve(let delta):
      record.kind = .reserve
      record.amount = delta
    case .commit(let quantity):
      record.kind = .commit
      record.amount = quantity
    case .setSafetyStock(let safety):
      record.kind = .setSafetyStock
      record.amount = safety ?? 0
      record.removeSafetyStockOverride = safety == nil
    }
    return record
  }

  static func change(of record: Record) -> StockUpdate.Change? {
    switch record.kind {
    case .adjust: .adjust(delta: record.amount)
    case .set: .set(onHand: record.amount, asOfUnixMs: record.asOfUnixMs)
    case .reserve: .reserve(delta: record.amount)
    case .commit: .commit(quantity: record.amount)
    case .setSafetyStock: .setSafetyStock(record.removeSafetyStockOverride ? nil : record.amount)
    case .unspecified, .UNRECOGNIZED: nil
    }
  }

  /// What applying a record did.
  struct Applied: Sendable {
    /// One outcome per update, in order (`indexFull` when a SKU or location cannot be interned).
    var updates: [StockUpdateOutcome] = []
    /// Per update: whether it was a count variance recorded as an exception.
    var variances: [Bool] = []
    /// Positions set to 0 by each REPLACE scope, in order.
    var zeroed: [Int] = []
  }

  /// Applies `batch` under `lsn`: its updates, then its REPLACE scopes. Absolute updates (`SET`)
  /// whose on-hand moves by the location's variance threshold are recorded as COUNT_VARIANCE
  /// exceptions. `recordsEngineState` as in ``EventRecords/apply(_:lsn:index:directory:state:recordsEngineState:)``.
  @discardableResult
  static func apply(
    _ batch: Omnistock_Log_V1_StockUpdatesRecord, lsn: UInt64, index: StockIndex, directory: LocationDirectory,
    state: inout EngineState, recordsEngineState: Bool
  ) -> Applied {
    let now = batch.serverTimeUnixMs
    var applied = Applied()
    applied.updates.reserveCapacity(batch.updates.count)
    var setAt: [UInt32: Set<UInt32>] = [:]
    var locations: [String: Omnistock_V1_Location] = [:]
    func apply(_ update: StockUpdate, sku skuName: String, location locationName: String) -> (StockUpdateOutcome, Bool) {
      let outcome = index.apply(update, lsn: lsn, nowUnixMs: now)
      state.track(outcome, position: PositionKey(sku: update.sku, location: update.location), lsn: lsn, nowUnixMs: now)
      guard recordsEngineState, case .applied(let before, let after) = outcome, case .set(_, let asOf) = update.change else {
        return (outcome, false)
      }
      state.recentDeltas.forget(PositionKey(sku: update.sku, location: update.location), through: asOf)
      if locations[locationName] == nil { locations[locationName] = directory.location(locationName) }
      let variance = state.checkVariance(
        expected: before.onHand, counted: after.onHand, sku: skuName, location: locations[locationName], device: "",
        lsn: lsn, nowUnixMs: now)
      return (outcome, variance)
    }
    for record in batch.updates {
      guard let change = change(of: record), let location = index.locations.id(of: record.locationID),
        let sku = index.skus.intern(record.sku)
      else {
        applied.updates.append(.indexFull)
        applied.variances.append(false)
        continue
      }
      let (outcome, variance) = apply(
        StockUpdate(sku: sku, location: location, change: change, sourceTimeUnixMs: record.sourceTimeUnixMs),
        sku: record.sku, location: record.locationID)
      if case .set = change { setAt[location, default: []].insert(sku) }
      applied.updates.append(outcome)
      applied.variances.append(variance)
    }
    if recordsEngineState {
      for record in batch.updates where record.kind == .set {
        guard let location = index.locations.id(of: record.locationID) else { continue }
        state.activity[location, default: LocationActivity()].noteSnapshot(asOf: record.asOfUnixMs)
      }
    }
    for scope in batch.replace {
      var zeroed = 0
      if let location = index.locations.id(of: scope.locationID) {
        let kept = setAt[location] ?? []
        for sku in index.skus(atLocation: location) where !kept.contains(sku) {
          let (outcome, _) = apply(
            StockUpdate(sku: sku, location: location, change: .set(onHand: 0, asOfUnixMs: scope.asOfUnixMs)),
            sku: index.skus.string(for: sku) ?? "", location: scope.locationID)
          if case .applied = outcome { zeroed += 1 }
        }
        index.touch(location: location, nowUnixMs: now)
      }
      applied.zeroed.append(zeroed)
    }
    return applied
  }
}
