import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One storefront client: a connection sending reads, paced closed- or open-loop:
/// `GetAvailability` of Zipf-popular SKUs at a location, and every n-th a `BatchGetAvailability`.
/// Requests are encoded once, up front, so the tool spends its CPU on the wire, not on protobuf.
final class StorefrontDriver: LoadDriver {
  struct State {
    var single = OperationStats()
    var batch = OperationStats()
    var sent = 0
  }

  let connection: GRPCClientConnection
  let state = Mutex(State())
  let failures = Atomic<Int>(0)
  private let configuration: LoadConfiguration
  private let singles: [[UInt8]]
  private let batches: [[UInt8]]
  private let pacer = Mutex<CallPacer?>(nil)

  init(run: LoadRun, number: Int, deadline: ContinuousClock.Instant) throws {
    let configuration = run.configuration
    self.configuration = configuration
    connection = try run.connect()
    var zipf = ZipfGenerator(count: configuration.skus, exponent: configuration.zipfExponent, seed: configuration.seed &+ 1_000 &+ UInt64(number))
    func query() -> Omnistock_V1_AvailabilityQuery {
      var query = Omnistock_V1_AvailabilityQuery()
      query.sku = run.skuName(zipf.next())
      query.locationID = run.locationName(zipf.uniform(configuration.locations))
      return query
    }
    singles = try (0..<4_096).map { _ in
      var request = Omnistock_V1_GetAvailabilityRequest()
      request.query = query()
      return try request.serializedBytes()
    }
    batches = try (0..<256).map { _ in
      var request = Omnistock_V1_BatchGetAvailabilityRequest()
      request.queries = (0..<configuration.batchReadSize).map { _ in query() }
      return try request.serializedBytes()
    }
    let pacer = CallPacer(
      schedule: configuration.storefrontSchedule, deadline: deadline, connection: connection,
      send: { [unowned self] due in send(due: due) })
    self.pacer.withLock { $0 = pacer }
  }

  var operations: [(name: String, stats: OperationStats)] {
    state.withLock { [("GetAvailability", $0.single), ("BatchGetAvailability (\(configuration.batchReadSize))", $0.batch)] }
  }
  var ledger: LoadLedger { LoadLedger() }
  var unsent: Int { pacer.withLock { $0?.unsent ?? 0 } }

  func start() { pacer.withLock { $0 }?.start() }

  private func send(due: ContinuousClock.Instant) {
    let sent = state.withLock { state -> Int in
      state.sent += 1
      return state.sent
    }
    let every = configuration.batchReadEvery
    let isBatch = every > 0 && sent % every == 0
    let path = isBatch ? "/omnistock.v1.Availability/BatchGetAvailability" : "/omnistock.v1.Availability/GetAvailability"
    let message = isBatch ? batches[sent % batches.count] : singles[sent % singles.count]
    connection.unaryFromIOThread(path: path, message: message) { [self] status, _, _ in
      state.withLock { state in
        if isBatch {
          state.batch.record(micros: LoadRun.micros(since: due), status: status)
        } else {
          state.single.record(micros: LoadRun.micros(since: due), status: status)
        }
      }
      if status != 0 { failures.add(1, ordering: .relaxed) }
      pacer.withLock { $0 }?.finished()
    }
  }
}
