@testable import StockIndex

/// The obvious, slow implementation of the index's semantics: dictionaries and full scans. The
/// property tests check the real index against it after every step.
struct ReferenceModel {
  struct Key: Hashable {
    let sku: UInt32
    let location: UInt32
  }

  var positions: [Key: PositionState] = [:]
  var settings: [UInt32: LocationSettings] = [:]
  var lastUpdate: [UInt32: Int64] = [:]
  var declaredAt: [UInt32: Int64] = [:]
  var groups: [UInt32: (members: [UInt32], includeStale: Bool)] = [:]

  mutating func apply(_ update: StockUpdate, lsn: UInt64, now: Int64) {
    let key = Key(sku: update.sku, location: update.location)
    let before = positions[key] ?? PositionState()
    var after = before
    switch update.change {
    case .adjust(let delta): after.onHand += delta
    case .delta(let delta, let eventTime):
      guard eventTime >= before.lastAbsoluteTimeUnixMs else {
        if positions[key] == nil { positions[key] = before }  // the index creates the slot anyway
        return
      }
      after.onHand += delta
    case .set(let onHand, let asOf):
      guard asOf >= before.lastAbsoluteTimeUnixMs else {
        if positions[key] == nil { positions[key] = before }  // the index creates the slot anyway
        return
      }
      after.onHand = onHand
      after.lastAbsoluteTimeUnixMs = asOf
    case .reserve(let delta): after.reserved += delta
    case .commit(let quantity):
      after.onHand -= quantity
      after.reserved -= quantity
    case .setSafetyStock(let safety): after.safetyStockOverride = safety
    }
    after.lsn = max(before.lsn, lsn)
    after.updatedAtUnixSeconds = UInt32(now / 1000)
    if update.sourceTimeUnixMs > 0 {
      after.sourceTimeUnixSeconds = max(before.sourceTimeUnixSeconds, UInt32(update.sourceTimeUnixMs / 1000))
    }
    positions[key] = after
    // The index keeps the first update time of each second (one-second freshness resolution).
    if (lastUpdate[update.location] ?? 0) / 1000 < now / 1000 { lastUpdate[update.location] = now }
  }

  func isStale(_ location: UInt32, now: Int64) -> Bool {
    let last = lastUpdate[location] ?? 0
    let reference = last > 0 ? last : declaredAt[location] ?? 0
    return now - reference > (settings[location]?.staleAfterSeconds ?? 0) * 1000
  }

  func available(_ state: PositionState, _ settings: LocationSettings) -> Int64 {
    max(0, state.onHand - state.reserved - (state.safetyStockOverride ?? settings.defaultSafetyStock))
  }

  func position(sku: UInt32, location: UInt32, now: Int64, excludeStale: Bool) -> (available: Int64, status: StockStatus, exists: Bool, state: PositionState) {
    let settings = self.settings[location]!
    let state = positions[Key(sku: sku, location: location)]
    let counts = settings.active && !(excludeStale && isStale(location, now: now))
    let available = counts ? self.available(state ?? PositionState(), settings) : 0
    return (available, StockStatus(available: available, lowStockThreshold: settings.lowStockThreshold), state != nil, state ?? PositionState())
  }

  struct GroupAnswer: Equatable {
    var onHand: Int64 = 0
    var reserved: Int64 = 0
    var available: Int64 = 0
    var safety: Int64 = 0
    var withStock: Int64 = 0
    var contributing = 0
    var threshold: Int64 = 0
  }

  func group(sku: UInt32, group: UInt32, now: Int64, excludeStale: Bool) -> GroupAnswer? {
    guard let (members, includeStale) = groups[group] else { return nil }
    var answer = GroupAnswer()
    for member in members {
      let settings = self.settings[member]!
      guard settings.active else { continue }
      if isStale(member, now: now) && (excludeStale || !includeStale) { continue }
      answer.contributing += 1
      answer.threshold += settings.lowStockThreshold
      guard let state = positions[Key(sku: sku, location: member)] else { continue }
      let safety = state.safetyStockOverride ?? settings.defaultSafetyStock
      let available = self.available(state, settings)
      answer.onHand += state.onHand
      answer.reserved += state.reserved
      answer.available += available
      answer.safety += safety
      answer.withStock += available > 0 ? 1 : 0
    }
    return answer
  }
}
