import OmniStockAPI

/// The availability answers (`GetAvailabilityResponse`, `BatchGetAvailabilityResponse`) in
/// protobuf binary form, written by ``ProtobufWireWriter`` instead of swift-protobuf's generic
/// encoder: these are the server's most frequent responses (see the writer for why).
///
/// Each function writes the fields of its message in field-number order, exactly as the generated
/// `traverse(visitor:)` visits them; the result equals `serializedBytes()` byte for byte. A field
/// added to these messages in `proto/` must be added here too (`WireEncodingTests` fails until it
/// is: it sets every field, and compares).
enum AvailabilityWireEncoding {
  static func encode(_ response: Omnistock_V1_GetAvailabilityResponse) -> [UInt8] {
    var writer = ProtobufWireWriter(capacity: 96 + 48 * response.availability.freshness.count)
    if response.hasAvailability {
      writer.message(1) { write(response.availability, into: &$0) }
    }
    writer.uint64(2, response.indexLsn)
    writer.unknown(response.unknownFields)
    return writer.bytes
  }

  static func encode(_ response: Omnistock_V1_BatchGetAvailabilityResponse) -> [UInt8] {
    var writer = ProtobufWireWriter(capacity: 16 + 112 * response.results.count)
    for result in response.results {
      writer.message(1) { writer in
        switch result.result {
        case .availability(let availability)?:
          writer.message(1) { write(availability, into: &$0) }
        case .error(let error)?:
          writer.message(2) { writer in
            writer.int32(1, error.code)
            writer.string(2, error.message)
            writer.unknown(error.unknownFields)
          }
        case nil:
          break
        }
        writer.unknown(result.unknownFields)
      }
    }
    writer.uint64(2, response.indexLsn)
    writer.unknown(response.unknownFields)
    return writer.bytes
  }

  static func write(_ position: Omnistock_V1_PositionAvailability, into writer: inout ProtobufWireWriter) {
    writer.string(1, position.sku)
    switch position.target {
    case .locationID(let locationID)?: writer.presentString(2, locationID)
    case .groupID(let groupID)?: writer.presentString(3, groupID)
    case nil: break
    }
    writer.int64(4, position.onHand)
    writer.int64(5, position.reserved)
    writer.int64(6, position.safetyStock)
    writer.int64(7, position.available)
    writer.enum(8, position.status)
    writer.uint64(9, position.lsn)
    writer.int64(10, position.updatedAtUnixMs)
    writer.int64(11, position.sourceTimeUnixMs)
    writer.int64(12, position.lastAbsoluteTimeUnixMs)
    writer.int64(13, position.lowStockThreshold)
    writer.uint32(14, position.locationsWithStock)
    writer.uint32(15, position.contributingLocations)
    writer.bool(16, position.stale)
    for freshness in position.freshness {
      writer.message(17) { writer in
        writer.string(1, freshness.locationID)
        writer.int64(2, freshness.lastUpdateUnixMs)
        writer.int64(3, freshness.ageMs)
        writer.bool(4, freshness.stale)
        writer.uint32(5, freshness.staleAfterSeconds)
        writer.bool(6, freshness.included)
        writer.unknown(freshness.unknownFields)
      }
    }
    writer.bool(18, position.exists)
    writer.unknown(position.unknownFields)
  }
}
