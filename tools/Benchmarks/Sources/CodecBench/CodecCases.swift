import CProtobufBench
import OmniStockAPI
import SwiftProtobuf

/// The four measured operations, with both libraries' messages built from the same ``SampleData``
/// values, and the cross-checks made before anything is timed.
final class CodecCases {
  struct Operation {
    var name: String
    var swift: Runner.Body
    var c: Runner.Body
  }

  private let cEventBatch: OpaquePointer
  private let cResponse: OpaquePointer
  let eventBatch: Omnistock_V1_EventBatch
  let response: Omnistock_V1_BatchGetAvailabilityResponse
  let eventBatchBytes: [UInt8]
  let responseBytes: [UInt8]
  private(set) var checks: [String] = []

  init(count: Int) throws {
    let events = SampleData.events(count: count)
    let positions = SampleData.positions(count: count)
    eventBatch = SampleData.eventBatch(events)
    response = SampleData.availabilityResponse(positions)
    eventBatchBytes = try eventBatch.serializedBytes()
    responseBytes = try response.serializedBytes()

    guard let batch = cpb_event_batch_create(SampleData.batchID, count) else { throw BenchError("out of memory") }
    cEventBatch = batch
    for e in events {
      guard
        cpb_event_batch_add(
          batch, e.deviceID, e.deviceSeq, e.locationID, e.sku, Int32(e.type.rawValue), e.quantity,
          e.eventTimeUnixMs, Int32(e.reason.rawValue), e.reference)
      else { throw BenchError("cpb_event_batch_add failed") }
    }
    guard let resp = cpb_availability_response_create(SampleData.indexLSN, count) else {
      throw BenchError("out of memory")
    }
    cResponse = resp
    for p in positions {
      guard
        cpb_availability_response_add(
          resp, p.sku, p.locationID, p.onHand, p.reserved, p.safetyStock, p.available, Int32(p.status.rawValue),
          p.lsn, p.updatedAtUnixMs, p.sourceTimeUnixMs, p.exists)
      else { throw BenchError("cpb_availability_response_add failed") }
    }
    try crossCheck(count: count, events: events, positions: positions)
  }

  deinit {
    cpb_event_batch_destroy(cEventBatch)
    cpb_availability_response_destroy(cResponse)
  }

  /// Both libraries must encode the same bytes and decode each other's.
  private func crossCheck(count: Int, events: [SampleData.Event], positions: [SampleData.Position]) throws {
    var cBatchBytes = [UInt8](repeating: 0, count: cpb_event_batch_packed_size(cEventBatch))
    let batchWritten = cBatchBytes.withUnsafeMutableBufferPointer { cpb_event_batch_pack(cEventBatch, $0.baseAddress) }
    guard batchWritten == cBatchBytes.count, cBatchBytes == eventBatchBytes else {
      throw BenchError("EventBatch: protobuf-c wrote \(batchWritten) bytes, swift-protobuf \(eventBatchBytes.count); encodings differ")
    }
    var quantitySum: Int64 = 0
    let decodedEvents = eventBatchBytes.withUnsafeBufferPointer {
      cpb_event_batch_parse_check($0.baseAddress, $0.count, &quantitySum)
    }
    guard decodedEvents == count, quantitySum == events.reduce(0, { $0 + $1.quantity }) else {
      throw BenchError("EventBatch: protobuf-c decoded \(decodedEvents) events from swift-protobuf's bytes")
    }
    guard try Omnistock_V1_EventBatch(serializedBytes: cBatchBytes) == eventBatch else {
      throw BenchError("EventBatch: swift-protobuf decoded protobuf-c's bytes to a different message")
    }
    checks.append("EventBatch of \(count) StockEvents: \(eventBatchBytes.count) bytes, byte-identical in both libraries; each decodes the other's")

    var cResponseBytes = [UInt8](repeating: 0, count: cpb_availability_response_packed_size(cResponse))
    let responseWritten = cResponseBytes.withUnsafeMutableBufferPointer {
      cpb_availability_response_pack(cResponse, $0.baseAddress)
    }
    guard responseWritten == cResponseBytes.count, cResponseBytes == responseBytes else {
      throw BenchError(
        "BatchGetAvailabilityResponse: protobuf-c wrote \(responseWritten) bytes, swift-protobuf \(responseBytes.count); encodings differ")
    }
    var availableSum: Int64 = 0
    let decodedResults = responseBytes.withUnsafeBufferPointer {
      cpb_availability_response_parse_check($0.baseAddress, $0.count, &availableSum)
    }
    guard decodedResults == count, availableSum == positions.reduce(0, { $0 + $1.available }) else {
      throw BenchError("BatchGetAvailabilityResponse: protobuf-c decoded \(decodedResults) results from swift-protobuf's bytes")
    }
    guard try Omnistock_V1_BatchGetAvailabilityResponse(serializedBytes: cResponseBytes) == response else {
      throw BenchError("BatchGetAvailabilityResponse: swift-protobuf decoded protobuf-c's bytes to a different message")
    }
    checks.append("BatchGetAvailabilityResponse of \(count) results: \(responseBytes.count) bytes, byte-identical in both libraries; each decodes the other's")
  }

  var operations: [Operation] {
    let count = eventBatch.events.count
    let batch = eventBatch
    let batchBytes = eventBatchBytes
    let response = self.response
    let responseBytes = self.responseBytes
    return [
      Operation(
        name: "decode EventBatch (\(count) StockEvent, \(batchBytes.count) B)",
        swift: { try swiftDecodeEventBatch(batchBytes, $0) },
        c: { n in batchBytes.withUnsafeBufferPointer { cpb_bench_event_batch_decode($0.baseAddress, $0.count, UInt64(n)) } }
      ),
      Operation(
        name: "encode EventBatch (\(count) StockEvent, \(batchBytes.count) B)",
        swift: { try swiftEncode(batch, $0) },
        c: { [self] n in cpb_bench_event_batch_encode(cEventBatch, UInt64(n)) }
      ),
      Operation(
        name: "decode BatchGetAvailabilityResponse (\(count) results, \(responseBytes.count) B)",
        swift: { try swiftDecodeAvailabilityResponse(responseBytes, $0) },
        c: { n in responseBytes.withUnsafeBufferPointer { cpb_bench_availability_response_decode($0.baseAddress, $0.count, UInt64(n)) } }
      ),
      Operation(
        name: "encode BatchGetAvailabilityResponse (\(count) results, \(responseBytes.count) B)",
        swift: { try swiftEncode(response, $0) },
        c: { [self] n in cpb_bench_availability_response_encode(cResponse, UInt64(n)) }
      ),
    ]
  }
}

// The swift-protobuf loops: the exact calls a server makes (decode from a byte array, encode to a
// fresh byte array). Kept out of line so each is one specialized loop.

@inline(never)
func swiftDecodeEventBatch(_ bytes: [UInt8], _ iterations: Int) throws -> UInt64 {
  var total: UInt64 = 0
  for _ in 0..<iterations {
    let batch = try Omnistock_V1_EventBatch(serializedBytes: bytes)
    total &+= UInt64(batch.events.count)
  }
  return total
}

@inline(never)
func swiftDecodeAvailabilityResponse(_ bytes: [UInt8], _ iterations: Int) throws -> UInt64 {
  var total: UInt64 = 0
  for _ in 0..<iterations {
    let response = try Omnistock_V1_BatchGetAvailabilityResponse(serializedBytes: bytes)
    total &+= UInt64(response.results.count)
  }
  return total
}

@inline(never)
func swiftEncode<M: SwiftProtobuf.Message>(_ message: M, _ iterations: Int) throws -> UInt64 {
  var total: UInt64 = 0
  for _ in 0..<iterations {
    let bytes: [UInt8] = try message.serializedBytes()
    total &+= UInt64(bytes.count) &+ UInt64(bytes[bytes.count - 1] & 1)
  }
  return total
}
