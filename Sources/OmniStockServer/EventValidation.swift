import OmniStockAPI
import StockIndex

/// The rules a stock event must satisfy (SPEC section 3), as sentences a POS developer can act on.
enum EventValidation {
  /// The largest |quantity| of any event or snapshot entry.
  static let maxQuantity: Int64 = 1_000_000_000
  /// The longest `reference`, in bytes.
  static let maxReferenceBytes = 256

  /// `nil` if the event is well formed, else why it is rejected.
  static func problem(with event: Omnistock_V1_StockEvent) -> String? {
    if let problem = IdentifierRules.problem(with: event.deviceID, field: "device_id") { return problem }
    if event.deviceSeq == 0 { return "device_seq is 0; sequence numbers start at 1" }
    if let problem = IdentifierRules.problem(with: event.locationID, field: "location_id") { return problem }
    if let problem = IdentifierRules.problem(with: event.sku, field: "sku") { return problem }
    if event.eventTimeUnixMs <= 0 { return "event_time_unix_ms is missing; give the device time of the event" }
    if event.reference.utf8.count > maxReferenceBytes {
      return "reference is \(event.reference.utf8.count) bytes; the limit is \(maxReferenceBytes)"
    }
    let quantity = event.quantity
    guard quantity.magnitude <= UInt64(maxQuantity) else {
      return "quantity \(quantity) is beyond the limit of ±\(maxQuantity)"
    }
    switch event.type {
    case .sale, .return, .receipt:
      if quantity <= 0 { return "\(name(of: event.type)) needs quantity > 0, got \(quantity)" }
      if event.reason != .unspecified { return "reason is only allowed on ADJUSTMENT events" }
    case .adjustment:
      if quantity == 0 { return "ADJUSTMENT needs a non-zero quantity (a signed delta)" }
      if event.reason == .unspecified { return "ADJUSTMENT needs a reason (DAMAGE, SHRINK, FOUND, ...)" }
    case .count:
      if quantity < 0 { return "COUNT needs quantity >= 0 (the units counted), got \(quantity)" }
      if event.reason != .unspecified { return "reason is only allowed on ADJUSTMENT events" }
    case .unspecified, .UNRECOGNIZED:
      return "type is missing or unknown; use SALE, RETURN, RECEIPT, ADJUSTMENT or COUNT"
    }
    return nil
  }

  /// The wire name of an event type, as a POS developer reads it in the proto.
  static func name(of type: Omnistock_V1_EventType) -> String {
    switch type {
    case .sale: "SALE"
    case .return: "RETURN"
    case .receipt: "RECEIPT"
    case .adjustment: "ADJUSTMENT"
    case .count: "COUNT"
    case .unspecified: "EVENT_TYPE_UNSPECIFIED"
    case .UNRECOGNIZED(let value): "event type \(value)"
    }
  }

  /// The change an accepted event makes to its position.
  static func change(for event: Omnistock_V1_StockEvent) -> StockUpdate.Change {
    switch event.type {
    case .sale: .delta(-event.quantity, eventTimeUnixMs: event.eventTimeUnixMs)
    case .count: .set(onHand: event.quantity, asOfUnixMs: event.eventTimeUnixMs)
    default: .delta(event.quantity, eventTimeUnixMs: event.eventTimeUnixMs)
    }
  }
}
