import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One storefront client: a connection sending reads closed-loop (a fixed number in flight),
/// `GetAvailability` of Zipf-popular SKUs at a location, and every n-th a `BatchGetAvailability`.
/// Requests are encoded once, up front, so the tool spends its CPU on the wire, not on protobuf.
final class StorefrontDriver: Sendable {
  struct State {
    var single = OperationStats()
    var batch = OperationStats()
    var sent = 0
  }

  let connection: GRPCClientConnection
  let state = Mutex(State())
  let readsDone = Atomic<Int>(0)
  let failures = Atomic<Int>(0)
  private let run: LoadRun
  private let deadline: ContinuousClock.Instant
  private let singles: [[UInt8]]
  private let batches: [[UInt8]]

  init(run: LoadRun, number: Int, deadline: ContinuousClock.Instant) throws {
    self.run = run
    self.deadline = deadline
    connection = try GRPCClientConnection(host: run.configuration.host, port: run.configuration.port)
    let configuration = run.configuration
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
  }

  func start() {
    for _ in 0..<run.configuration.readsInFlight { sendNext(fromIOThread: false) }
  }

  private func sendNext(fromIOThread: Bool) {
    guard ContinuousClock.now < deadline else { return }
    let sent = state.withLock { state -> Int in
      state.sent += 1
      return state.sent
    }
    let every = run.configuration.batchReadEvery
    let isBatch = every > 0 && sent % every == 0
    let path = isBatch ? "/omnistock.v1.Availability/BatchGetAvailability" : "/omnistock.v1.Availability/GetAvailability"
    let message = isBatch ? batches[sent % batches.count] : singles[sent % singles.count]
    let started = ContinuousClock.now
    let completion: GRPCClientConnection.Completion = { [self] status, _, _ in
      state.withLock { state in
        if isBatch {
          state.batch.record(micros: LoadRun.micros(since: started), status: status)
        } else {
          state.single.record(micros: LoadRun.micros(since: started), status: status)
        }
      }
      if status == 0 { readsDone.add(1, ordering: .relaxed) } else { failures.add(1, ordering: .relaxed) }
      sendNext(fromIOThread: true)
    }
    if fromIOThread {
      connection.unaryFromIOThread(path: path, message: message, completion: completion)
    } else {
      connection.unary(path: path, message: message, completion: completion)
    }
  }
}
