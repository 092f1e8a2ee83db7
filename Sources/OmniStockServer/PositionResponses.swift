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

  static func freshness(
    locationID: String, lastUpdateUnixMs: Int64, stale: Bool, staleAfterSeconds: Int64, included: Bool, nowUnixMs: Int64
  ) -> Omnistock_V1_LocationFreshness {
    var freshness = Omnistock_V1_LocationFreshness()
    freshness.locationID = locationID
    freshness.lastUpdateUnixMs = lastUpdateUnixMs
    freshness.ageMs = lastUpdateUnixMs > 0 ? max(0, nowUnixMs - lastUpdateUnixMs) : 0
    freshness.stale = stale
    freshness.staleAfterSeconds = UInt32(clamping: staleAfterSeconds)
    freshness.included = included
    return freshness
  }

  static func position(
    sku: String, locationID: String, reading: PositionReading, settings: LocationSettings, nowUnixMs: Int64
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
      freshness(
        locationID: locationID, lastUpdateUnixMs: reading.locationUpdatedAtUnixMs, stale: reading.stale,
        staleAfterSeconds: settings.staleAfterSeconds, included: reading.contributes, nowUnixMs: nowUnixMs)
    ]
    return result
  }
}
