import Dispatch
import Foundation
import GRPCNGHTTP2
import OmniStockAPI
import SwiftProtobuf
@testable import WriteAheadLog

/// The seed corpus of each target, made by the real code (`fuzz-driver seeds DIR` writes it to
/// `DIR/<target>/<name>`; the committed copy is `tools/Fuzz/corpus/`).
public enum FuzzSeeds {
  public typealias Seed = (name: String, bytes: [UInt8])

  // MARK: gRPC server

  /// Whole client conversations: preface, SETTINGS, then calls.
  public static func grpcServer() throws -> [Seed] {
    typealias F = HTTP2Frames
    var seeds: [Seed] = []
    let paths = FuzzRouter.Path.self

    var batch = Omnistock_V1_EventBatch()
    batch.batchID = "batch-1"
    for (index, sku) in ["SKU-1", "SKU-2"].enumerated() {
      var event = Omnistock_V1_StockEvent()
      event.deviceID = "pos-1"
      event.deviceSeq = UInt64(index + 1)
      event.locationID = "store-1"
      event.sku = sku
      event.type = .sale
      event.quantity = index == 0 ? 1 : -1
      event.eventTimeUnixMs = 1_700_000_000_000
      batch.events.append(event)
    }
    let batchBytes: [UInt8] = try batch.serializedBytes()

    var query = Omnistock_V1_AvailabilityQuery()
    query.sku = "SKU-1"
    query.locationID = "store-1"
    var get = Omnistock_V1_GetAvailabilityRequest()
    get.query = query
    let getBytes: [UInt8] = try get.serializedBytes()

    var batchGet = Omnistock_V1_BatchGetAvailabilityRequest()
    batchGet.queries = [query, query]
    batchGet.queries[1].groupID = "region-north"
    let batchGetBytes: [UInt8] = try batchGet.serializedBytes()

    var reserve = Omnistock_V1_ReserveRequest()
    reserve.reservationID = "cart-1"
    var line = Omnistock_V1_ReservationLine()
    line.sku = "SKU-1"
    line.groupID = "region-north"
    line.quantity = 2
    reserve.lines = [line]
    reserve.ttlSeconds = 60
    let reserveBytes: [UInt8] = try reserve.serializedBytes()

    // 1. One unary call, the way grpc clients send it.
    var f = F()
    f.settingsAck()
    f.headers(stream: 1, F.requestHeaderBlock(path: paths.applyEvents.path))
    f.data(stream: 1, F.grpcMessage(batchBytes))
    seeds.append(("apply-events", f.bytes))

    // 2. Deadline and token headers; a call whose handler answers through a deferred responder.
    f = F()
    f.headers(
      stream: 1,
      F.requestHeaderBlock(
        path: paths.getAvailability.path,
        extra: [("grpc-timeout", "100m"), ("authorization", "Bearer storefront-token"), ("user-agent", "fuzz/1")]))
    f.data(stream: 1, F.grpcMessage(getBytes))
    seeds.append(("get-availability-deadline", f.bytes))

    // 3. A message split over two DATA frames, then flow control and a ping.
    f = F()
    f.headers(stream: 1, F.requestHeaderBlock(path: paths.batchGetAvailability.path))
    let message = F.grpcMessage(batchGetBytes)
    f.data(stream: 1, Array(message[0..<3]), endStream: false)
    f.windowUpdate(stream: 0, increment: 65_535)
    f.ping()
    f.data(stream: 1, Array(message[3...]), endStream: true)
    seeds.append(("split-message", f.bytes))

    // 4. Several calls on one connection, one of them ended by client trailers.
    f = F()
    f.headers(stream: 1, F.requestHeaderBlock(path: paths.healthCheck.path))
    f.headers(stream: 3, F.requestHeaderBlock(path: paths.reserve.path))
    f.data(stream: 1, F.grpcMessage([]))
    f.data(stream: 3, F.grpcMessage(reserveBytes), endStream: false)
    f.headers(stream: 3, [], endStream: true)
    f.headers(stream: 5, F.requestHeaderBlock(path: paths.commit.path))
    f.data(stream: 5, F.grpcMessage([0x0a, 0x01, 0x41]))
    seeds.append(("several-calls", f.bytes))

    // 5. Malformed gRPC: a length prefix larger than the body; invalid protobuf; compressed flag;
    //    an oversize prefix; a bad flag; two messages on a unary call; no message at all.
    f = F()
    f.headers(stream: 1, F.requestHeaderBlock(path: paths.applyEvents.path))
    f.data(stream: 1, F.grpcMessage(Array(batchBytes.prefix(10)), declaredLength: batchBytes.count))
    f.headers(stream: 3, F.requestHeaderBlock(path: paths.applyEvents.path))
    f.data(stream: 3, F.grpcMessage([0xff, 0xff, 0xff, 0x0f, 0x12]))
    f.headers(stream: 5, F.requestHeaderBlock(path: paths.upsertLocation.path))
    f.data(stream: 5, F.grpcMessage([0x0a, 0x00], compressed: true))
    f.headers(stream: 7, F.requestHeaderBlock(path: paths.whereAvailable.path))
    f.data(stream: 7, [0, 0x00, 0x10, 0x00, 0x01])
    f.headers(stream: 9, F.requestHeaderBlock(path: paths.whereAvailable.path))
    f.data(stream: 9, [7, 0, 0, 0, 0])
    f.headers(stream: 11, F.requestHeaderBlock(path: paths.healthCheck.path))
    f.data(stream: 11, F.grpcMessage([]) + F.grpcMessage([]))
    f.headers(stream: 13, F.requestHeaderBlock(path: paths.healthCheck.path), endStream: true)
    seeds.append(("malformed-messages", f.bytes))

    // 6. Requests refused from their headers: unknown method, GET, wrong content type, bad
    //    timeout, unsupported encoding, denied token, an unimplemented method.
    f = F()
    f.headers(stream: 1, F.requestHeaderBlock(path: "/omnistock.v1.Nope/Nothing"), endStream: true)
    f.headers(stream: 3, F.requestHeaderBlock(path: paths.healthCheck.path, method: "GET"), endStream: true)
    f.headers(
      stream: 5,
      F.requestHeaderBlock(path: paths.healthCheck.path, extra: [("grpc-timeout", "99999999999H")]), endStream: true)
    f.headers(
      stream: 7, F.requestHeaderBlock(path: paths.healthCheck.path, extra: [("grpc-encoding", "gzip")]), endStream: true)
    f.headers(
      stream: 9,
      F.requestHeaderBlock(path: paths.healthCheck.path, extra: [("authorization", FuzzRouter.deniedAuthorization)]),
      endStream: true)
    f.headers(stream: 11, F.requestHeaderBlock(path: paths.syncSnapshot.path), endStream: true)
    f.headers(stream: 13, F.requestHeaderBlock(path: paths.healthCheck.path, extra: [("grpc-timeout", "0n")]))
    f.data(stream: 13, F.grpcMessage([]))
    seeds.append(("refused-calls", f.bytes))

    // 7. A header block split into HEADERS + CONTINUATION, a reset mid-request, a priority frame.
    f = F()
    let fullBlock = F.requestHeaderBlock(path: paths.getAvailability.path, extra: [("x-request-id", "abc-123")])
    f.frame(.headers, flags: 0, stream: 1, Array(fullBlock[0..<20]))
    f.frame(.continuation, flags: F.Flag.endHeaders, stream: 1, Array(fullBlock[20...]))
    f.data(stream: 1, Array(F.grpcMessage(getBytes).prefix(4)), endStream: false)
    f.rstStream(stream: 1)
    f.frame(.priority, flags: 0, stream: 3, [0, 0, 0, 1, 16])
    f.headers(stream: 3, F.requestHeaderBlock(path: paths.getAvailability.path))
    f.data(stream: 3, F.grpcMessage(getBytes))
    seeds.append(("continuation-and-reset", f.bytes))

    // 8. The client goes away in the middle of a call.
    f = F()
    f.headers(stream: 1, F.requestHeaderBlock(path: paths.reserve.path, extra: [("grpc-timeout", "1S")]))
    f.data(stream: 1, Array(F.grpcMessage(reserveBytes).prefix(8)), endStream: false)
    f.goaway(lastStream: 0)
    seeds.append(("client-goaway", f.bytes))

    // 9. Without the preface (the harness adds it): a bare call.
    var bare = F(preface: false)
    bare.frame(.settings, flags: 0, stream: 0, [0, 4, 0, 0, 0xff, 0xff])  // INITIAL_WINDOW_SIZE
    bare.headers(stream: 1, F.requestHeaderBlock(path: paths.healthCheck.path))
    bare.data(stream: 1, F.grpcMessage([0x0a, 0x03, 0x66, 0x6f, 0x6f]))
    seeds.append(("no-preface", bare.bytes))
    return seeds
  }

  // MARK: Log decoder

  /// Segment files written by the real ``WriteAheadLog`` (segment size and payload limit as the
  /// fuzz target reads them), and two damaged copies.
  public static func logDecoder() throws -> [Seed] {
    let directory = NSTemporaryDirectory() + "omnistock-fuzz-seeds-\(getpid())"
    try? FileManager.default.removeItem(atPath: directory)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let configuration = WriteAheadLog.Configuration(
      directory: directory, segmentBytes: LogDecoderFuzzTarget.segmentBytes,
      maxPayloadBytes: LogDecoderFuzzTarget.maxPayloadBytes)
    let (log, _) = try WriteAheadLog.open(configuration, onFailure: { _ in }, replay: { _ in })
    let done = DispatchSemaphore(value: 0)
    // One group of three records, then groups of one, of growing payloads, until the log has
    // rotated into a second segment.
    for payload in ["a", "bb", "ccc"] {
      try log.append(type: 1, payload: Array(payload.utf8)) { _ in done.signal() }
    }
    for _ in 0..<3 { done.wait() }
    var size = 0
    while log.statistics.segments < 2 {
      size = (size * 3 + 17) % 700
      try log.append(type: UInt8(2 + size % 5), version: 1, payload: (0..<size).map { UInt8(truncatingIfNeeded: $0 * 7) }) {
        _ in done.signal()
      }
      done.wait()
    }
    try log.append(type: 3, payload: Array("tail".utf8)) { _ in done.signal() }
    done.wait()
    log.close()

    let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
    guard names.count >= 2 else { throw LogFailure("expected the seed log to rotate") }
    var seeds: [Seed] = []
    let first = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + names[0])))
    let second = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + names[1])))
    seeds.append(("segment-full", first))
    seeds.append(("segment-rotated", second))
    // Just the header and the first group, as a short file (a segment cut short).
    let firstGroupEnd = RecordFraming.segmentHeaderBytes + 3 * RecordFraming.encodedSize(payloadBytes: 3)
    seeds.append(("segment-short", Array(first.prefix(firstGroupEnd))))
    // A torn tail: the last record of the second segment half-written.
    var torn = second
    if let lastNonZero = torn.lastIndex(where: { $0 != 0 }) { torn[lastNonZero] ^= 0x5a }
    seeds.append(("segment-torn-tail", torn))
    // Corruption: a damaged record in the middle of the first segment, valid groups after it.
    var corrupt = first
    corrupt[RecordFraming.segmentHeaderBytes + RecordFraming.headerBytes] ^= 0xff
    seeds.append(("segment-corrupt-middle", corrupt))
    return seeds
  }
}
