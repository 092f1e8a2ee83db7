import GRPCNGHTTP2
import StockIndex

/// Measures what open watches cost writers: events/s applied through the engine with no watch,
/// with `watchers` watches of 10 SKUs each (every event matches one watch: product pages), and
/// with `watchers` watches of every SKU at every location (every event matches every watch: the
/// worst case), side by side in one run. Each watch is drained by its own task, as a stream would.
public struct WatchBenchmark: Sendable {
  /// One measured configuration.
  public struct Row: Sendable {
    public var name: String
    public var eventsPerSecond: Double
    /// Change notifications the watches took.
    public var notifications: Int
    /// Events per `fdatasync` (group commit under this load).
    public var eventsPerFsync: Double
  }

  public var directory: String
  public var watchers: Int
  public var events: Int

  public init(directory: String, watchers: Int, events: Int) {
    self.directory = directory
    self.watchers = watchers
    self.events = events
  }

  public func run() async throws -> [Row] {
    let server = try BenchmarkTraffic.openServer(directory: directory, label: "omnistock.bench-watch")
    try await BenchmarkTraffic.declareLocations(10, on: server)
    let skus = watchers * 10
    // Every SKU and position exists before measuring, so all rows do the same work.
    try await BenchmarkTraffic.send(to: server, count: skus * 10, eventsPerBatch: 1_000, device: "warm-up") { number in
      (location: number % 10, sku: number / 10, quantity: 1)
    }
    var rows: [Row] = []
    for (round, (name, filter)) in [
      ("no watch", nil as ((Int) -> Watcher.Filter)?),
      ("\(watchers) watches, 10 SKUs each", { id in
        Watcher.Filter(skus: Set((id * 10..<id * 10 + 10).compactMap { server.index.skus.id(of: "SKU-\($0)") }), locations: nil, groups: [])
      }),
      ("\(watchers) watches of every SKU", { _ in Watcher.Filter(skus: nil, locations: nil, groups: []) }),
    ].enumerated() {
      let hub = server.writer.watches
      var registered: [(Int, Watcher)] = []
      if let filter {
        for id in 0..<watchers {
          let watcher = Watcher(filter: filter(id))
          guard let number = hub.register(watcher) else { throw BenchmarkFailure("the hub refused a watch") }
          registered.append((number, watcher))
        }
      }
      let drains = registered.map { _, watcher in
        Task { () -> Int in
          var taken = 0
          for await _ in watcher.signals { taken += watcher.take().keys.count }
          return taken
        }
      }
      let start = ContinuousClock.now
      let fsyncs = try await BenchmarkTraffic.send(to: server, count: events, eventsPerBatch: 10, device: "round-\(round)") { number in
        (location: number % 10, sku: (number * 7919) % skus, quantity: 1)
      }
      let elapsed = ContinuousClock.now - start
      for (number, watcher) in registered {
        hub.unregister(number)
        watcher.finish()
      }
      var notifications = 0
      for drain in drains { notifications += await drain.value }
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
      rows.append(
        Row(
          name: name, eventsPerSecond: Double(events) / seconds, notifications: notifications,
          eventsPerFsync: Double(events) / Double(max(1, fsyncs))))
    }
    try await server.close()
    return rows
  }
}
