import OmniStockAPI
import StockIndex

/// Builds the wire form of index readings.
enum PositionResponses {
  static func status(_ status: StockStatus) -> Omnistock_V1_StockStatus {
    switch status {
    case .outOfStock: .outOfStock
    case .lowStock: .lowStock
    case .inStock: .inStock
    }
  }

  /// How current `location` is: age since its last update (since its declaration if it never had
  /// one), and whether that exceeds its `stale_after`.
  static func freshness(
    index: StockIndex, location: UInt32, locationID: String, included: Bool, nowUnixMs: Int64
  ) -> Omnistock_V1_LocationFreshness {
    let last = index.lastUpdateUnixMs(location: location)
    let reference = last > 0 ? last : index.declaredAtUnixMs(location: location)
    var freshness = Omnistock_V1_LocationFreshness()
    freshness.locationID = locationID
    freshness.lastUpdateUnixMs = last
    freshness.ageMs = max(0, nowUnixMs - reference)
    freshness.stale = index.isStale(location: location, nowUnixMs: nowUnixMs)
    freshness.staleAfterSeconds = UInt32(clamping: index.settings(ofLocation: location)?.staleAfterSeconds ?? 0)
    freshness.included = included
    return freshness
  }

  static func position(
    sku: String, locationID: String, location: UInt32, reading: PositionReading, index: StockIndex, nowUnixMs: Int64
  ) -> Omnistock_V1_PositionAvailability {
    var result = Omnistock_V1_PositionAvailability()
    result.sku = sku
    result.locationID = locationID
    let state = reading.state
    result.onHand = state.onHand
    result.reserved = state.reserved
    result.safetyStock = reading.safetyStock
    result.available = reading.available
    result.status = status(reading.status)
    result.lsn = state.lsn
    result.updatedAtUnixMs = Int64(state.updatedAtUnixSeconds) * 1000
    result.sourceTimeUnixMs = Int64(state.sourceTimeUnixSeconds) * 1000
    result.lastAbsoluteTimeUnixMs = state.lastAbsoluteTimeUnixMs
    result.lowStockThreshold = reading.lowStockThreshold
    result.locationsWithStock = reading.available > 0 ? 1 : 0
    result.contributingLocations = reading.contributes ? 1 : 0
    result.stale = reading.stale
    result.exists = reading.exists
    result.freshness = [
      freshness(index: index, location: location, locationID: locationID, included: reading.contributes, nowUnixMs: nowUnixMs)
    ]
    return result
  }

  static func group(
    sku: String, groupID: String, group: UInt32, reading: GroupReading, index: StockIndex, excludeStale: Bool,
    nowUnixMs: Int64
  ) -> Omnistock_V1_PositionAvailability {
    var result = Omnistock_V1_PositionAvailability()
    result.sku = sku
    result.groupID = groupID
    result.onHand = reading.totals.onHand
    result.reserved = reading.totals.reserved
    result.safetyStock = reading.totals.safetyStock
    result.available = reading.totals.available
    result.status = status(reading.status)
    result.lsn = reading.totals.lsn
    result.lowStockThreshold = reading.lowStockThreshold
    result.locationsWithStock = UInt32(clamping: reading.totals.locationsWithStock)
    result.contributingLocations = UInt32(clamping: reading.contributingLocations)
    result.stale = reading.anyStale
    result.exists = reading.exists
    let dropStale = excludeStale || !index.includesStale(group: group)
    for member in index.members(ofGroup: group) ?? [] {
      guard let settings = index.settings(ofLocation: member), let name = index.locations.string(for: member) else { continue }
      let stale = index.isStale(location: member, nowUnixMs: nowUnixMs)
      result.freshness.append(
        freshness(
          index: index, location: member, locationID: name, included: settings.active && !(stale && dropStale),
          nowUnixMs: nowUnixMs))
    }
    return result
  }
}
