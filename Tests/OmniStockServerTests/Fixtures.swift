import Foundation
import OmniStockAPI

/// Builders for the messages the tests send.
enum Fixtures {
  static func uniqueSKU(_ prefix: String = "SKU") -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8))"
  }

  static func event(
    device: String = "pos-1", seq: UInt64, location: String = "store-1", sku: String,
    type: Omnistock_V1_EventType, quantity: Int64, time: Int64 = 1_700_000_000_000
  ) -> Omnistock_V1_StockEvent {
    var event = Omnistock_V1_StockEvent()
    event.deviceID = device
    event.deviceSeq = seq
    event.locationID = location
    event.sku = sku
    event.type = type
    event.quantity = quantity
    event.eventTimeUnixMs = time
    return event
  }

  static func batch(_ id: String, _ events: [Omnistock_V1_StockEvent]) -> Omnistock_V1_EventBatch {
    var batch = Omnistock_V1_EventBatch()
    batch.batchID = id
    batch.events = events
    return batch
  }

  static func query(sku: String, location: String) -> Omnistock_V1_AvailabilityQuery {
    var query = Omnistock_V1_AvailabilityQuery()
    query.sku = sku
    query.locationID = location
    return query
  }

  static func location(
    _ id: String, kind: Omnistock_V1_LocationKind = .store, safety: Int64 = 0, lowStock: Int64 = 0,
    coordinates: (Double, Double)? = nil, capabilities: [Omnistock_V1_FulfillmentCapability] = [.ship]
  ) -> Omnistock_V1_UpsertLocationRequest {
    var request = Omnistock_V1_UpsertLocationRequest()
    request.location.locationID = id
    request.location.kind = kind
    request.location.displayName = "Location \(id)"
    request.location.active = true
    request.location.defaultSafetyStock = safety
    request.location.lowStockThreshold = lowStock
    request.location.capabilities = capabilities
    if let (latitude, longitude) = coordinates {
      request.location.coordinates.latitude = latitude
      request.location.coordinates.longitude = longitude
    }
    return request
  }

  static func group(_ id: String, members: [String], includeStale: Bool = true) -> Omnistock_V1_UpsertGroupRequest {
    var request = Omnistock_V1_UpsertGroupRequest()
    request.group.groupID = id
    request.group.locationIds = members
    request.group.includeStale = includeStale
    return request
  }

  static func get(sku: String, location: String = "store-1") -> Omnistock_V1_GetAvailabilityRequest {
    var request = Omnistock_V1_GetAvailabilityRequest()
    request.query = query(sku: sku, location: location)
    return request
  }
}
