import Dispatch
import OmniStockAPI
import Synchronization
import WriteAheadLog

/// Traffic for the in-process benchmarks (``RestartBenchmark``, ``WatchBenchmark``): locations and
/// POS events sent straight to the engine, without the network.
enum BenchmarkTraffic {
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
        var stock = Omnistock_V1_StockEvent()
        stock.deviceID = device
        stock.deviceSeq = seq
        stock.locationID = "bench-store-\(location)"
        stock.sku = "SKU-\(sku)"
        stock.type = .receipt
        stock.quantity = quantity
        stock.eventTimeUnixMs = time + Int64(number)
        batch.events.append(stock)
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
