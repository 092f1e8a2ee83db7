import OmniStockAPI

/// The messages codec-bench measures, built the same way for swift-protobuf and protobuf-c.
///
/// Values are deterministic (no randomness) and shaped like real traffic: a POS terminal's batch of
/// sales, and a storefront's batch read answered from many stores.
enum SampleData {
  /// One StockEvent's field values, passed verbatim to both encoders.
  struct Event {
    var deviceID: String
    var deviceSeq: UInt64
    var locationID: String
    var sku: String
    var type: Omnistock_V1_EventType
    var quantity: Int64
    var eventTimeUnixMs: Int64
    var reason: Omnistock_V1_AdjustmentReason
    var reference: String
  }

  /// One PositionAvailability's field values.
  struct Position {
    var sku: String
    var locationID: String
    var onHand: Int64
    var reserved: Int64
    var safetyStock: Int64
    var available: Int64
    var status: Omnistock_V1_StockStatus
    var lsn: UInt64
    var updatedAtUnixMs: Int64
    var sourceTimeUnixMs: Int64
    var exists: Bool
  }

  static let batchID = "batch-000042"
  static let baseTimeUnixMs: Int64 = 1_764_300_000_000
  static let indexLSN: UInt64 = 1_250_000

  /// `count` SALE events from a handful of tills of one store: device ids "pos-0040"..."pos-0047",
  /// SKUs "SKU-000xxxxx", quantity 1-3, event times a second or so apart, POS transaction ids.
  static func events(count: Int) -> [Event] {
    (0..<count).map { i in
      Event(
        deviceID: "pos-" + pad(40 + i % 8, 4),
        deviceSeq: UInt64(10_000 + i / 8),
        locationID: "store-017",
        sku: "SKU-" + pad(12_345 + (i * 7_919) % 90_000, 8),
        type: .sale,
        quantity: Int64(1 + (i * 7) % 3),
        eventTimeUnixMs: baseTimeUnixMs + Int64(i) * 1_137,
        reason: .unspecified,
        reference: "txn-" + pad(880_000 + i / 2, 8) + "-" + pad(i % 2 + 1, 2)
      )
    }
  }

  /// `count` positions of SKUs across stores "store-000"..."store-019", with stock, reservations,
  /// safety stock and a status derived the way the server derives it (low-stock threshold 5).
  static func positions(count: Int) -> [Position] {
    (0..<count).map { i in
      let onHand = Int64((i * 37) % 240)
      let reserved = Int64(i % 4)
      let safetyStock: Int64 = 2
      let available = max(0, onHand - reserved - safetyStock)
      let status: Omnistock_V1_StockStatus = available == 0 ? .outOfStock : (available <= 5 ? .lowStock : .inStock)
      return Position(
        sku: "SKU-" + pad(12_345 + (i * 104_729) % 900_000, 8),
        locationID: "store-" + pad(i % 20, 3),
        onHand: onHand,
        reserved: reserved,
        safetyStock: safetyStock,
        available: available,
        status: status,
        lsn: indexLSN - UInt64((i * 131) % 50_000),
        updatedAtUnixMs: baseTimeUnixMs + Int64(i) * 911,
        sourceTimeUnixMs: baseTimeUnixMs + Int64(i) * 911 - 350,
        exists: true
      )
    }
  }

  static func eventBatch(_ events: [Event]) -> Omnistock_V1_EventBatch {
    var batch = Omnistock_V1_EventBatch()
    batch.batchID = batchID
    batch.events = events.map { e in
      var event = Omnistock_V1_StockEvent()
      event.deviceID = e.deviceID
      event.deviceSeq = e.deviceSeq
      event.locationID = e.locationID
      event.sku = e.sku
      event.type = e.type
      event.quantity = e.quantity
      event.eventTimeUnixMs = e.eventTimeUnixMs
      event.reason = e.reason
      event.reference = e.reference
      return event
    }
    return batch
  }

  static func availabilityResponse(_ positions: [Position]) -> Omnistock_V1_BatchGetAvailabilityResponse {
    var response = Omnistock_V1_BatchGetAvailabilityResponse()
    response.indexLsn = indexLSN
    response.results = positions.map { p in
      var availability = Omnistock_V1_PositionAvailability()
      availability.sku = p.sku
      availability.locationID = p.locationID
      availability.onHand = p.onHand
      availability.reserved = p.reserved
      availability.safetyStock = p.safetyStock
      availability.available = p.available
      availability.status = p.status
      availability.lsn = p.lsn
      availability.updatedAtUnixMs = p.updatedAtUnixMs
      availability.sourceTimeUnixMs = p.sourceTimeUnixMs
      availability.exists = p.exists
      var result = Omnistock_V1_AvailabilityResult()
      result.availability = availability
      return result
    }
    return response
  }

  /// `value` in decimal, left-padded with zeros to `width` digits.
  static func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
  }
}
