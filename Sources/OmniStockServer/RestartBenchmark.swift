import Dispatch
import GRPCNGHTTP2
import OmniStockAPI
import StockIndex
import Synchronization
import WriteAheadLog

/// Measures what a restart costs with a big state: builds `positions` positions through the
/// engine, checkpoints, restarts (restore of the checkpoint), appends `records` one-event log
/// records after the checkpoint, restarts again (restore plus replay of every record), and
/// checks both restarts give back exactly the state before them.
public struct RestartBenchmark: Sendable {
  /// One measured step.
  public struct Step: Sendable {
    public var name: String
    public var seconds: Double
    public var count: Int
    public var unit: String
  }

  public var directory: String
  public var positions: Int
  public var records: Int
  public var locations: Int
  /// Called with each step as it completes.
  public var progress: @Sendable (Step) -> Void

  public init(directory: String, positions: Int, records: Int, locations: Int, progress: @escaping @Sendable (Step) -> Void) {
    self.directory = directory
    self.positions = positions
    self.records = records
    self.locations = locations
    self.progress = progress
  }

  /// Opens (recovers) and closes the server on `directory`; returns the seconds the open took.
  public static func timeRestart(directory: String) async throws -> Double {
    let start = ContinuousClock.now
    let server = try BenchmarkTraffic.openServer(directory: directory, label: "omnistock.bench-restart")
    let elapsed = ContinuousClock.now - start
    try await server.close()
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
  }

  /// Runs every step; throws if a restart does not give back the state before it.
  public func run() async throws -> [Step] {
    var steps: [Step] = []
    func step(_ name: String, count: Int, unit: String, _ body: () async throws -> Void) async rethrows {
      let start = ContinuousClock.now
      try await body()
      let elapsed = ContinuousClock.now - start
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
      let done = Step(name: name, seconds: seconds, count: count, unit: unit)
      steps.append(done)
      progress(done)
    }
    let expected = positions + positions / 10
    func open() throws -> OmniStockServer {
      try BenchmarkTraffic.openServer(directory: directory, expectedSlots: expected, label: "omnistock.bench-restart")
    }
    var server = try open()
    let skusPerLocation = max(1, positions / locations)
    try await BenchmarkTraffic.declareLocations(locations, on: server)
    try await step("build: events creating positions (1,000 per record)", count: positions, unit: "positions") {
      try await BenchmarkTraffic.send(to: server, count: positions, eventsPerBatch: 1_000) { number in
        (location: number / skusPerLocation, sku: number % skusPerLocation, quantity: Int64(number % 50 + 1))
      }
    }
    try await step("checkpoint", count: positions, unit: "positions") {
      _ = try await server.checkpointer.checkpoint()
    }
    var before = fingerprint(server)
    try await server.close()
    try await step("restart: restore checkpoint, empty log tail", count: positions, unit: "positions") {
      server = try open()
    }
    guard fingerprint(server) == before else { throw BenchmarkFailure("restart from the checkpoint lost state") }
    try await step("write: one-event records after the checkpoint", count: records, unit: "records") {
      try await BenchmarkTraffic.send(to: server, count: records, eventsPerBatch: 1, device: "bench-tail") { number in
        let position = number % positions
        return (location: position / skusPerLocation, sku: position % skusPerLocation, quantity: 1)
      }
    }
    before = fingerprint(server)
    try await server.close()
    try await step("restart: restore checkpoint + replay every record", count: records, unit: "records") {
      server = try open()
    }
    guard fingerprint(server) == before else { throw BenchmarkFailure("restart with log replay lost state") }
    try await server.close()
    return steps
  }

  /// A digest of the state a restart must give back: LSN, positions, total on-hand, device marks.
  private func fingerprint(_ server: OmniStockServer) -> [Int64] {
    var total: Int64 = 0
    var count = 0
    for shard in 0..<server.index.shardCount {
      let copy = server.index.positions(inShard: shard)
      count += copy.count
      for state in copy.states { total &+= state.onHand &* 31 &+ Int64(truncatingIfNeeded: state.lsn) }
    }
    let marks = server.writer.read { state in state.devices.values.reduce(0) { $0 &+ Int64($1) } }
    return [Int64(server.index.lsn), Int64(count), total, marks]
  }
}

/// A benchmark found something wrong (not a measurement).
public struct BenchmarkFailure: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
