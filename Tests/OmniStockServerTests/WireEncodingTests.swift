import Foundation
import OmniStockAPI
import OmniStockLoad
import SwiftProtobuf
import Testing

@testable import OmniStockServer

/// The hand-written encoder of the availability answers must produce exactly what swift-protobuf
/// produces, for every field and every edge of the wire format: seeded random messages with every
/// field set (or not), negative and huge numbers, empty and non-ASCII strings, nested messages
/// longer than 127 bytes, unknown fields.
@Suite("Availability wire encoding")
struct WireEncodingTests {
  /// The same seed gives the same messages on every run and machine.
  typealias Seeded = SplitMix64

  /// Where two encodings part, for a failure message a person can read.
  static func difference(_ actual: [UInt8], _ expected: [UInt8]) -> String {
    let offset = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(actual.count, expected.count)
    return "\(actual.count) bytes written, \(expected.count) expected; first difference at byte \(offset): "
      + "\(actual[offset...].prefix(8)) vs \(expected[offset...].prefix(8))"
  }

  static func int64(_ random: inout Seeded) -> Int64 {
    switch Int.random(in: 0..<6, using: &random) {
    case 0: 0
    case 1: Int64.random(in: -1_000...1_000, using: &random)
    case 2: Int64.min
    case 3: Int64.max
    case 4: -1
    default: Int64.random(in: Int64.min...Int64.max, using: &random)
    }
  }

  static func string(_ random: inout Seeded) -> String {
    let pieces = ["", "SKU-1", "store-17", "dc:east/2", "é", "店舗-東京", String(repeating: "x", count: 200)]
    return pieces[Int.random(in: 0..<pieces.count, using: &random)]
  }

  static func freshness(_ random: inout Seeded) -> Omnistock_V1_LocationFreshness {
    var freshness = Omnistock_V1_LocationFreshness()
    freshness.locationID = string(&random)
    freshness.lastUpdateUnixMs = int64(&random)
    freshness.ageMs = int64(&random)
    freshness.stale = Bool.random(using: &random)
    freshness.staleAfterSeconds = [0, 1, 300, UInt32.max][Int.random(in: 0..<4, using: &random)]
    freshness.included = Bool.random(using: &random)
    return freshness
  }

  static func position(_ random: inout Seeded) -> Omnistock_V1_PositionAvailability {
    var position = Omnistock_V1_PositionAvailability()
    position.sku = string(&random)
    switch Int.random(in: 0..<3, using: &random) {
    case 0: position.locationID = string(&random)
    case 1: position.groupID = string(&random)
    default: break
    }
    position.onHand = int64(&random)
    position.reserved = int64(&random)
    position.safetyStock = int64(&random)
    position.available = int64(&random)
    let statuses: [Omnistock_V1_StockStatus] = [.unspecified, .outOfStock, .lowStock, .inStock, .UNRECOGNIZED(9)]
    position.status = statuses[Int.random(in: 0..<statuses.count, using: &random)]
    position.lsn = [0, 1, 127, 128, UInt64.max][Int.random(in: 0..<5, using: &random)]
    position.updatedAtUnixMs = int64(&random)
    position.sourceTimeUnixMs = int64(&random)
    position.lastAbsoluteTimeUnixMs = int64(&random)
    position.lowStockThreshold = int64(&random)
    position.locationsWithStock = UInt32.random(in: 0...UInt32.max, using: &random) >> Int.random(in: 0..<32, using: &random)
    position.contributingLocations = UInt32.random(in: 0...3, using: &random)
    position.stale = Bool.random(using: &random)
    // 0 to 40 members: group answers past 127 and 16,383 bytes.
    position.freshness = (0..<Int.random(in: 0...40, using: &random)).map { _ in freshness(&random) }
    position.exists = Bool.random(using: &random)
    return position
  }

  @Test("GetAvailabilityResponse: 2,000 seeded random messages encode byte for byte as swift-protobuf does")
  func singleAnswers() throws {
    var random = Seeded(seed: 7)
    for round in 0..<2_000 {
      var response = Omnistock_V1_GetAvailabilityResponse()
      if round % 10 != 0 { response.availability = Self.position(&random) }
      response.indexLsn = [0, 5, UInt64.max][round % 3]
      let expected: [UInt8] = try response.serializedBytes()
      let actual = AvailabilityWireEncoding.encode(response)
      try #require(actual == expected, "round \(round): \(Self.difference(actual, expected))")
    }
  }

  @Test("BatchGetAvailabilityResponse: results, errors (negative codes too) and empty results")
  func batchAnswers() throws {
    var random = Seeded(seed: 11)
    for round in 0..<300 {
      var response = Omnistock_V1_BatchGetAvailabilityResponse()
      response.results = (0..<Int.random(in: 0...30, using: &random)).map { _ in
        var result = Omnistock_V1_AvailabilityResult()
        switch Int.random(in: 0..<4, using: &random) {
        case 0, 1: result.availability = Self.position(&random)
        case 2:
          var error = Omnistock_V1_QueryError()
          error.code = [0, 3, 5, -1, Int32.min][Int.random(in: 0..<5, using: &random)]
          error.message = Self.string(&random)
          result.error = error
        default: break
        }
        return result
      }
      response.indexLsn = UInt64(round)
      let expected: [UInt8] = try response.serializedBytes()
      let actual = AvailabilityWireEncoding.encode(response)
      try #require(actual == expected, "round \(round): \(Self.difference(actual, expected))")
    }
  }

  @Test("unknown fields a message carries are written after its known fields, as swift-protobuf writes them")
  func unknownFields() throws {
    // A response with an extra field 99 (varint 5) on the response and on the nested position.
    var source = Omnistock_V1_GetAvailabilityResponse()
    source.availability.sku = "SKU-1"
    source.indexLsn = 3
    var bytes: [UInt8] = try source.serializedBytes()
    bytes += [0x98, 0x06, 0x05]  // key of field 99, wire type 0; value 5
    let decoded = try Omnistock_V1_GetAvailabilityResponse(serializedBytes: bytes)
    #expect(!decoded.unknownFields.data.isEmpty)
    #expect(AvailabilityWireEncoding.encode(decoded) == (try decoded.serializedBytes()))
  }

  @Test("the server's own answers decode back to what was built")
  func roundTrip() throws {
    var random = Seeded(seed: 3)
    var response = Omnistock_V1_GetAvailabilityResponse()
    response.availability = Self.position(&random)
    response.indexLsn = 42
    let decoded = try Omnistock_V1_GetAvailabilityResponse(serializedBytes: AvailabilityWireEncoding.encode(response))
    #expect(decoded == response)
  }
}
