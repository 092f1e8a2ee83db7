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

  static func get(sku: String, location: String = "store-1") -> Omnistock_V1_GetAvailabilityRequest {
    var request = Omnistock_V1_GetAvailabilityRequest()
    request.query = query(sku: sku, location: location)
    return request
  }
}
