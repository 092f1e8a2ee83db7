import Dispatch
import Foundation
import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One run of `omnistock load`: declares the run's locations, drives POS terminals and
/// storefront clients closed-loop for the configured time, then checks the server against the
/// ledger of acknowledged events.
public final class LoadRun: Sendable {
  /// What a run measured.
  public struct Result: Sendable {
    public var seconds: Double
    public var operations: [(name: String, stats: OperationStats)]
    public var mismatches: [LoadLedger.Mismatch]
    public var checkedPositions: Int
    public var ledgerEvents: Int
    public var uncertainPositions: Int
    /// CPU seconds this process used (user + system), and per second of the run.
    public var cpuSeconds: Double
  }

  let configuration: LoadConfiguration
  let runID: String
  let progress: @Sendable (String) -> Void

  public init(configuration: LoadConfiguration, progress: @escaping @Sendable (String) -> Void) {
    self.configuration = configuration
    self.runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    self.progress = progress
  }

  func locationName(_ number: Int) -> String { "load-\(number)" }
  func skuName(_ rank: Int) -> String { "L\(runID)-\(rank)" }

  public func run() throws -> Result {
    let admin = try GRPCClientConnection(host: configuration.host, port: configuration.port)
    defer { admin.close() }
    for number in 0..<configuration.locations {
      var request = Omnistock_V1_UpsertLocationRequest()
      request.location.locationID = locationName(number)
      request.location.kind = .store
      request.location.displayName = "Load test store \(number)"
      request.location.active = true
      _ = try Self.call(admin, "/omnistock.v1.Admin/UpsertLocation", request, as: Omnistock_V1_UpsertLocationResponse.self)
    }
    let started = ContinuousClock.now
    let deadline = started + .milliseconds(Int(configuration.seconds * 1000))
    let cpuBefore = Self.cpuSeconds()
    let terminals = try (0..<configuration.terminals).map { number in
      try TerminalDriver(run: self, number: number, deadline: deadline)
    }
    let storefronts = try (0..<configuration.storefronts).map { number in
      try StorefrontDriver(run: self, number: number, deadline: deadline)
    }
    for terminal in terminals { terminal.start() }
    for storefront in storefronts { storefront.start() }
    var second = 0
    while ContinuousClock.now < deadline {
      Thread.sleep(forTimeInterval: 1)
      second += 1
      let events = terminals.reduce(0) { $0 + $1.eventsAcked.load(ordering: .relaxed) }
      let reads = storefronts.reduce(0) { $0 + $1.readsDone.load(ordering: .relaxed) }
      let errors = terminals.reduce(0) { $0 + $1.failures.load(ordering: .relaxed) }
        + storefronts.reduce(0) { $0 + $1.failures.load(ordering: .relaxed) }
      progress("[\(second)s] events acked \(events) (\(events / max(1, second))/s), reads \(reads) (\(reads / max(1, second))/s), errors \(errors)")
    }
    for terminal in terminals { terminal.connection.close() }
    for storefront in storefronts { storefront.connection.close() }
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let cpu = Self.cpuSeconds() - cpuBefore

    var ledger = LoadLedger()
    var applyStats = OperationStats()
    var getStats = OperationStats()
    var batchStats = OperationStats()
    for terminal in terminals {
      terminal.state.withLock { state in
        ledger.merge(state.ledger)
        applyStats.merge(state.stats)
      }
    }
    for storefront in storefronts {
      storefront.state.withLock { state in
        getStats.merge(state.single)
        batchStats.merge(state.batch)
      }
    }
    let actual = try readBack(ledger.checked, through: admin)
    return Result(
      seconds: seconds,
      operations: [
        (
          configuration.unaryEvents
            ? "ApplyEvents (\(configuration.eventsPerBatch) events)"
            : "StreamEvents batch ack (\(configuration.eventsPerBatch) events)", applyStats
        ), ("GetAvailability", getStats),
        ("BatchGetAvailability (\(configuration.batchReadSize))", batchStats),
      ],
      mismatches: ledger.compare(actual), checkedPositions: ledger.checked.count, ledgerEvents: ledger.events,
      uncertainPositions: ledger.uncertain.count, cpuSeconds: cpu)
  }

  /// The server's on-hand of `positions`, read in batches.
  private func readBack(_ positions: [LoadLedger.Position], through connection: GRPCClientConnection) throws
    -> [LoadLedger.Position: Int64]
  {
    var actual: [LoadLedger.Position: Int64] = [:]
    for start in stride(from: 0, to: positions.count, by: 1_000) {
      var request = Omnistock_V1_BatchGetAvailabilityRequest()
      let chunk = positions[start..<min(positions.count, start + 1_000)]
      request.queries = chunk.map { position in
        var query = Omnistock_V1_AvailabilityQuery()
        query.sku = position.sku
        query.locationID = position.location
        return query
      }
      let response = try Self.call(
        connection, "/omnistock.v1.Availability/BatchGetAvailability", request, as: Omnistock_V1_BatchGetAvailabilityResponse.self)
      for (position, result) in zip(chunk, response.results) { actual[position] = result.availability.onHand }
    }
    return actual
  }

  /// A call from a thread that may wait (not the connection's I/O thread).
  static func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ connection: GRPCClientConnection, _ path: String, _ request: Request, as: Response.Type
  ) throws -> Response {
    let done = DispatchSemaphore(value: 0)
    let answer = Mutex<(Int, String, [UInt8])>((-1, "no answer", []))
    connection.unary(path: path, message: try request.serializedBytes()) { status, message, bytes in
      answer.withLock { $0 = (status, message, bytes) }
      done.signal()
    }
    done.wait()
    let (status, message, bytes) = answer.withLock { $0 }
    guard status == 0 else { throw LoadError("\(path) failed with status \(status): \(message)") }
    return try Response(serializedBytes: bytes)
  }

  static func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
  }

  static func micros(since start: ContinuousClock.Instant) -> UInt64 {
    let elapsed = ContinuousClock.now - start
    return UInt64(elapsed.components.seconds) * 1_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
  }
}
