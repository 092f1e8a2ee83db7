import Dispatch
import GRPCNGHTTP2
import Logging
import OmniStockAPI
import Synchronization
import WriteAheadLog

/// Traffic for the in-process benchmarks (``RestartBenchmark``, ``WatchBenchmark``): locations and
/// POS events sent straight to the engine, without the network.
enum BenchmarkTraffic {
  /// A server for an in-process benchmark: recovered from `directory`, never listening, no
  /// periodic checkpoints, quiet logs.
  static func openServer(directory: String, expectedSlots: Int = 0, label: String) throws -> OmniStockServer {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return try OmniStockServer(
      configuration: .init(
        grpc: .init(host: "127.0.0.1", port: 0, threads: 1), dataDirectory: directory, expectedSlots: expectedSlots,
        checkpointIntervalSeconds: 0, checkpointLogBytes: 0),
      logger: logger)
  }

  /// A POS event of `device` (event time now-ish, in order of `seq`).
  static func event(
    device: String, seq: UInt64, location: Int, sku: Int, type: Omnistock_V1_EventType, quantity: Int64, timeUnixMs: Int64
  ) -> Omnistock_V1_StockEvent {
    var event = Omnistock_V1_StockEvent()
    event.deviceID = device
    event.deviceSeq = seq
    event.locationID = "bench-store-\(location)"
    event.sku = "SKU-\(sku)"
    event.type = type
    event.quantity = quantity
    event.eventTimeUnixMs = timeUnixMs
    return event
  }

  /// Declares locations `bench-store-0` ..< `bench-store-<count>`.
  static func declareLocations(_ count: Int, on server: OmniStockServer) async throws {
    var network = Omnistock_Config_V1_LocationNetwork()
    network.locations = (0..<count).map { number in
      var location = Omnistock_V1_Location()
      location.locationID = "bench-store-\(number)"
      location.kind = .store
      location.active = true
      return location
    }
    _ = try await NetworkDeclaration.declare(network, writer: server.writer, directory: server.directory)
  }

  /// Sends `count` RECEIPTs of `device` (sequence from 1) in batches, many batches in flight,
  /// through the engine without the network, and waits for every ack; throws if one was not
  /// fully applied. `event(n)` places the n-th event. Returns the log's write groups (one
  /// `fdatasync` each) meanwhile.
  @discardableResult
  static func send(
    to server: OmniStockServer, count: Int, eventsPerBatch: Int, device: String = "bench-build",
    event: @escaping @Sendable (Int) -> (location: Int, sku: Int, quantity: Int64)
  ) async throws -> UInt64 {
    let groupsBefore = server.log.statistics.groupsWritten
    let ingestion = EventIngestion(writer: server.writer, directory: server.directory)
    let window = DispatchSemaphore(value: 4_096)
    let failures = Mutex<[String]>([])
    let all = DispatchGroup()
    let time: Int64 = 1_700_000_000_000
    var next = 0
    var seq: UInt64 = 0
    while next < count {
      var batch = Omnistock_V1_EventBatch()
      for number in next..<min(count, next + eventsPerBatch) {
        let (location, sku, quantity) = event(number)
        seq += 1
        batch.events.append(
          Self.event(
            device: device, seq: seq, location: location, sku: sku, type: .receipt, quantity: quantity,
            timeUnixMs: time + Int64(number)))
      }
      next += batch.events.count
      window.wait()
      all.enter()
      ingestion.apply(batch) { result in
        if case .failure(let status) = result { failures.withLock { $0.append("\(status)") } }
        if case .success(let ack) = result, ack.applied != ack.received {
          failures.withLock { $0.append("batch not fully applied: \(ack.outcomes.first?.reason ?? "?")") }
        }
        window.signal()
        all.leave()
      }
    }
    all.wait()
    if let first = failures.withLock({ $0.first }) { throw BenchmarkFailure(first) }
    return server.log.statistics.groupsWritten - groupsBefore
  }
}
