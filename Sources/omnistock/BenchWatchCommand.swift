import ArgumentParser
import Foundation
import OmniStockServer

/// `omnistock bench-watch`: what open watches cost writers. Prints one table (Markdown).
struct BenchWatchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-watch",
    abstract: "Benchmark watches: events/s applied with no watch, many narrow watches, many watches of everything.")

  @Option(help: "Directory to work in (a temporary directory inside it is removed afterwards).")
  var directory: String = NSTemporaryDirectory()

  @Option(help: "Watches to open.")
  var watchers: Int = 1_000

  @Option(help: "Events per configuration (batches of 10).")
  var events: Int = 300_000

  func run() async throws {
    let root = (directory as NSString).appendingPathComponent("omnistock-bench-watch-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let rows = try await WatchBenchmark(directory: root, watchers: watchers, events: events).run()
    let baseline = rows.first?.eventsPerSecond ?? 1
    print("| configuration | events/s applied (durable) | vs no watch | events per fsync | keys notified |")
    print("|---|---:|---:|---:|---:|")
    for row in rows {
      print(
        "| \(row.name) | \(Int(row.eventsPerSecond)) | \(String(format: "%.2f", row.eventsPerSecond / baseline)) | \(Int(row.eventsPerFsync)) | \(row.notifications) |"
      )
    }
  }
}
