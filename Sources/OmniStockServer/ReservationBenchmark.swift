import GRPCNGHTTP2
import OmniStockAPI
import Synchronization

/// Measures reservations in-process (no network): reservations/s and latency (decided, logged,
/// applied and durable) for single-line, 5-line cart and group-line reservations from
/// `clients` concurrent callers, while POS events arrive at `ingestRate` events/s.
public struct ReservationBenchmark: Sendable {
  /// One measured workload.
  public struct Row: Sendable {
    public var name: String
    public var reservationsPerSecond: Double
    public var p50Micros: Double
    public var p99Micros: Double
    /// POS events applied per second meanwhile.
    public var ingestPerSecond: Double
  }

  public var directory: String
  public var clients: Int
  public var reservationsPerClient: Int
  public var ingestRate: Int

  public init(directory: String, clients: Int, reservationsPerClient: Int, ingestRate: Int) {
    self.directory = directory
    self.clients = clients
    self.reservationsPerClient = reservationsPerClient
    self.ingestRate = ingestRate
  }

  static let locations = 10
  static let skus = 5_000

  public func run() async throws -> [Row] {
    let server = try BenchmarkTraffic.openServer(directory: directory, label: "omnistock.bench-reserve")
    try await BenchmarkTraffic.declareLocations(Self.locations, on: server)
    var group = Omnistock_Config_V1_LocationNetwork()
    var all = Omnistock_V1_LocationGroup()
    all.groupID = "bench-all"
    all.locationIds = (0..<Self.locations).map { "bench-store-\($0)" }
    all.includeStale = true
    group.groups = [all]
    _ = try await NetworkDeclaration.declare(group, writer: server.writer, directory: server.directory)
    // Plenty of stock everywhere, so no reservation is refused for lack of it.
    try await BenchmarkTraffic.send(to: server, count: Self.skus * Self.locations, eventsPerBatch: 1_000, device: "stock") {
      number in (location: number % Self.locations, sku: number / Self.locations, quantity: 1_000_000)
    }
    let workloads: [(String, @Sendable (Int, Int) -> [Omnistock_V1_ReservationLine])] = [
      ("single line at a location", { client, number in [Self.line(sku: (client * 7_919 + number) % Self.skus, location: number % Self.locations)] }),
      ("5-line cart at a location", { client, number in
        (0..<5).map { Self.line(sku: (client * 7_919 + number * 5 + $0) % Self.skus, location: number % Self.locations) }
      }),
      ("single line across a 10-store group", { client, number in [Self.line(sku: (client * 7_919 + number) % Self.skus, group: "bench-all")] }),
    ]
    var rows: [Row] = []
    for (round, (name, lines)) in workloads.enumerated() {
      let ingest = Task { await Self.ingest(server, rate: ingestRate, device: "till-\(round)") }
      let start = ContinuousClock.now
      let latencies = try await withThrowingTaskGroup(of: [Double].self) { tasks in
        for client in 0..<clients {
          tasks.addTask {
            var mine: [Double] = []
            for number in 0..<reservationsPerClient {
              var request = Omnistock_V1_ReserveRequest()
              request.reservationID = "bench-\(round)-\(client)-\(number)"
              request.lines = lines(client, number)
              let began = ContinuousClock.now
              try await Self.reserve(request, on: server)
              mine.append(Self.micros(ContinuousClock.now - began))
            }
            return mine
          }
        }
        var all: [Double] = []
        for try await mine in tasks { all += mine }
        return all.sorted()
      }
      let seconds = Self.micros(ContinuousClock.now - start) / 1_000_000
      ingest.cancel()
      let ingested = await ingest.value
      rows.append(
        Row(
          name: name, reservationsPerSecond: Double(latencies.count) / seconds, p50Micros: latencies[latencies.count / 2],
          p99Micros: latencies[min(latencies.count - 1, latencies.count * 99 / 100)], ingestPerSecond: Double(ingested) / seconds))
    }
    try await server.close()
    return rows
  }

  static func line(sku: Int, location: Int? = nil, group: String? = nil) -> Omnistock_V1_ReservationLine {
    var line = Omnistock_V1_ReservationLine()
    line.sku = "SKU-\(sku)"
    if let location { line.locationID = "bench-store-\(location)" }
    if let group { line.groupID = group }
    line.quantity = 1
    return line
  }

  static func reserve(_ request: Omnistock_V1_ReserveRequest, on server: OmniStockServer) async throws {
    let index = server.index
    let directory = server.directory
    let result: Result<(Omnistock_V1_Reservation, Bool), GRPCStatus> = await withCheckedContinuation { continuation in
      ReservationsService.perform(server.writer, { state, now throws(GRPCStatus) in
        try ReservationDecisions.reserve(request, nowUnixMs: now, book: state.reservations, index: index, directory: directory)
      }) { continuation.resume(returning: $0) }
    }
    _ = try result.get()
  }

  /// POS sales at `rate` events/s (batches of 10 every 10 ms per 1,000 events/s) until cancelled;
  /// returns the events applied.
  static func ingest(_ server: OmniStockServer, rate: Int, device: String) async -> Int {
    guard rate > 0 else { return 0 }
    let ingestion = EventIngestion(writer: server.writer, directory: server.directory)
    let batchesPerTick = max(1, rate / 1_000)
    var seq: UInt64 = 0
    var applied = 0
    while !Task.isCancelled {
      for _ in 0..<batchesPerTick {
        var batch = Omnistock_V1_EventBatch()
        for _ in 0..<10 {
          seq += 1
          batch.events.append(
            BenchmarkTraffic.event(
              device: device, seq: seq, location: Int(seq) % locations, sku: Int(seq) * 31 % skus, type: .sale, quantity: 1,
              timeUnixMs: WallClock.nowUnixMs()))
        }
        ingestion.apply(batch) { _ in }
        applied += 10
      }
      do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
    }
    return applied
  }

  static func micros(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1_000_000 + Double(duration.components.attoseconds) / 1_000_000_000_000
  }
}
