import ArgumentParser
import Foundation
import OmniStockServer

/// `omnistock bench-reserve`: reservations/s and latency while POS events arrive. Prints one
/// table (Markdown).
struct BenchReserveCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-reserve",
    abstract: "Benchmark reservations (single line, 5-line cart, group line) concurrent with POS ingest.")

  @Option(help: "Directory to work in (a temporary directory inside it is removed afterwards).")
  var directory: String = NSTemporaryDirectory()

  @Option(help: "Concurrent callers.")
  var clients: Int = 16

  @Option(help: "Reservations per caller and workload.")
  var reservations: Int = 2_000

  @Option(help: "POS events per second arriving meanwhile.")
  var ingestRate: Int = 10_000

  func run() async throws {
    let root = (directory as NSString).appendingPathComponent("omnistock-bench-reserve-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let rows = try await ReservationBenchmark(
      directory: root, clients: clients, reservationsPerClient: reservations, ingestRate: ingestRate
    ).run()
    print("| workload (\(clients) concurrent callers) | reservations/s | p50 µs | p99 µs | POS events/s meanwhile |")
    print("|---|---:|---:|---:|---:|")
    for row in rows {
      print(
        "| \(row.name) | \(Int(row.reservationsPerSecond)) | \(Int(row.p50Micros)) | \(Int(row.p99Micros)) | \(Int(row.ingestPerSecond)) |")
    }
  }
}
