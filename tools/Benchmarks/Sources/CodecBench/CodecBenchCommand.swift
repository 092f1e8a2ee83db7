import ArgumentParser
import CProtobufBench
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OmniStockAPI
import SwiftProtobuf

/// `codec-bench`: swift-protobuf vs protobuf-c, nanoseconds per message.
///
/// ## What is measured
/// Decode and encode of an `EventBatch` of N `StockEvent`s (a POS terminal's batch of sales) and of
/// a `BatchGetAvailabilityResponse` of N `AvailabilityResult`s (a storefront's batch read). Both
/// libraries get the same field values (``SampleData``); before timing, the tool checks that they
/// produce byte-identical encodings and that each decodes the other's bytes.
///
/// ## How
/// Per operation and library: a warm-up, then the number of iterations per sample is calibrated so
/// one sample takes about `--sample-ms`. A round takes `--samples` samples and keeps their median;
/// the reported figure is the best (lowest) of `--rounds` round medians. Rounds alternate between
/// the libraries so both see the same machine noise. Timing is `ContinuousClock` around a whole
/// sample; the protobuf-c loop runs entirely in C (`cpb_bench_*`).
///
/// ## Other job
/// `--write-request FILE` writes a gRPC-framed `GetAvailabilityRequest` (1 byte compressed flag, 4
/// bytes big-endian length, the protobuf) for `h2load -d FILE`, and exits.
/// `--write-upsert-location FILE` likewise writes an `Admin/UpsertLocation` request that declares the
/// location the benchmark reads (OmniStock answers NOT_FOUND for an undeclared location).
@main
struct CodecBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "codec-bench",
    abstract: "swift-protobuf vs protobuf-c: ns per message for OmniStock's bulk messages."
  )

  @Option(help: "Events per EventBatch and results per BatchGetAvailabilityResponse.")
  var count: Int = 100

  @Option(help: "Rounds; the best round median is reported.")
  var rounds: Int = 5

  @Option(help: "Samples per round.")
  var samples: Int = 11

  @Option(name: .customLong("sample-ms"), help: "Target duration of one sample, in milliseconds.")
  var sampleMilliseconds: Int = 5

  @Option(name: .customLong("warmup-ms"), help: "Warm-up per operation and library, in milliseconds.")
  var warmupMilliseconds: Int = 100

  @Option(
    name: .customLong("write-request"),
    help: "Write a gRPC-framed GetAvailabilityRequest to this file and exit (no benchmark).")
  var requestFile: String?

  @Option(
    name: .customLong("write-upsert-location"),
    help: "Write a gRPC-framed Admin UpsertLocationRequest declaring --location-id (an active STORE) to this file and exit.")
  var upsertLocationFile: String?

  @Option(help: "With --write-request: the query's sku.")
  var sku: String = "SKU-1"

  @Option(name: .customLong("location-id"), help: "With --write-request / --write-upsert-location: the location_id.")
  var locationID: String = "store-1"

  func validate() throws {
    guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    guard rounds >= 1, samples >= 1 else { throw ValidationError("--rounds and --samples must be at least 1") }
    guard sampleMilliseconds >= 1, warmupMilliseconds >= 0 else {
      throw ValidationError("--sample-ms must be at least 1 and --warmup-ms at least 0")
    }
  }

  func run() throws {
    if requestFile != nil || upsertLocationFile != nil {
      if let requestFile {
        var request = Omnistock_V1_GetAvailabilityRequest()
        request.query.sku = sku
        request.query.locationID = locationID
        try writeFrame(request, to: requestFile)
      }
      if let upsertLocationFile {
        var request = Omnistock_V1_UpsertLocationRequest()
        request.location.locationID = locationID
        request.location.kind = .store
        request.location.displayName = "benchmark store"
        request.location.active = true
        try writeFrame(request, to: upsertLocationFile)
      }
      return
    }
    let cases = try CodecCases(count: count)
    print("codec-bench: protobuf-c \(String(cString: cpb_protobuf_c_version())), swift-protobuf \(Version.versionString)")
    for line in cases.checks { print("check: \(line)") }
    fflush(nil)
    let runner = Runner(
      rounds: rounds, samples: samples, sampleNanoseconds: Double(sampleMilliseconds) * 1e6,
      warmupNanoseconds: Double(warmupMilliseconds) * 1e6)
    var rows: [(name: String, swift: Runner.Result, c: Runner.Result)] = []
    for operation in cases.operations {
      let (swift, c) = try runner.compare(swift: operation.swift, c: operation.c)
      rows.append((operation.name, swift, c))
    }
    print()
    print("| operation | swift-protobuf ns/msg | protobuf-c ns/msg | ratio swift/c |")
    print("|---|---:|---:|---:|")
    for row in rows {
      print("| \(row.name) | \(format(row.swift.best, 0)) | \(format(row.c.best, 0)) | \(format(row.swift.best / row.c.best, 2))x |")
    }
    print()
    print(
      "best of \(rounds) round medians (\(samples) samples of ~\(sampleMilliseconds) ms each per round); "
        + "round-median spread: "
        + rows.map { "\($0.name.split(separator: " ").prefix(2).joined(separator: " ")): swift \(format($0.swift.best, 0))-\(format($0.swift.worst, 0)), c \(format($0.c.best, 0))-\(format($0.c.worst, 0))" }
        .joined(separator: "; "))
    fflush(nil)
  }

  /// Writes `request` as one gRPC length-prefixed message (uncompressed).
  private func writeFrame<M: SwiftProtobuf.Message>(_ request: M, to path: String) throws {
    let message: [UInt8] = try request.serializedBytes()
    let length = UInt32(message.count)
    var frame: [UInt8] = [0, UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)]
    frame += message
    guard let file = fopen(path, "wb") else { throw ValidationError("cannot open \(path) for writing") }
    defer { fclose(file) }
    let written = frame.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    guard written == frame.count else { throw ValidationError("short write to \(path)") }
    print("wrote \(frame.count) bytes (5-byte gRPC prefix + \(message.count)-byte \(M.protoMessageName)) to \(path)")
  }
}

/// `value` with `decimals` digits after the point, without Foundation.
func format(_ value: Double, _ decimals: Int) -> String {
  guard value.isFinite else { return "\(value)" }
  var scale = 1.0
  for _ in 0..<decimals { scale *= 10 }
  let scaled = (value * scale).rounded()
  if decimals == 0 { return String(Int64(scaled)) }
  let integer = Int64(scaled / scale)
  let fraction = Int64(abs(scaled) - abs(Double(integer)) * scale)
  let digits = String(fraction)
  return "\(integer).\(String(repeating: "0", count: max(0, decimals - digits.count)))\(digits)"
}
