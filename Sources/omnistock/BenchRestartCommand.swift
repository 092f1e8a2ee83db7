import ArgumentParser
import Foundation
import OmniStockServer

/// `omnistock bench-restart`: restart time with a big state (checkpoint restore and log replay).
/// Prints one table (Markdown).
struct BenchRestartCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-restart",
    abstract: "Benchmark restarts: checkpoint restore and log replay with millions of positions and records.",
    discussion: """
      In one process and one data directory (on the disk you want to measure): builds the positions \\
      through the engine, checkpoints, restarts, appends one-event records after the checkpoint, and \\
      restarts again; each restart must give back exactly the state before it.
      """)

  @Option(help: "Directory to work in (a temporary directory inside it is removed afterwards).")
  var directory: String = NSTemporaryDirectory()

  @Option(help: "Positions (SKU x location) to build.")
  var positions: Int = 10_000_000

  @Option(help: "One-event log records to replay after the checkpoint.")
  var records: Int = 10_000_000

  @Option(help: "Locations the positions are spread over.")
  var locations: Int = 100

  @Flag(help: "Keep the data directory afterwards (its path is printed), e.g. to profile --reopen on it.")
  var keep = false

  @Option(help: "Only time one restart of an existing data directory (e.g. one kept with --keep), for profiling.")
  var reopen: String?

  func run() async throws {
    if let reopen {
      let seconds = try await RestartBenchmark.timeRestart(directory: reopen)
      print("restart of \(reopen): \(String(format: "%.2f", seconds)) s")
      return
    }
    let root = (directory as NSString).appendingPathComponent("omnistock-bench-restart-\(UUID().uuidString)")
    defer { if !keep { try? FileManager.default.removeItem(atPath: root) } }
    FileHandle.standardError.write("building \(positions) positions and \(records) records in \(root)\n".data(using: .utf8)!)
    let benchmark = RestartBenchmark(
      directory: root, positions: positions, records: records, locations: locations,
      progress: { step in
        FileHandle.standardError.write("  \(step.name): \(String(format: "%.2f", step.seconds)) s\n".data(using: .utf8)!)
      })
    let steps = try await benchmark.run()
    print("| step | count | seconds | rate |")
    print("|---|---:|---:|---:|")
    for step in steps {
      let rate = Double(step.count) / max(step.seconds, 1e-9)
      print("| \(step.name) | \(step.count) \(step.unit) | \(String(format: "%.2f", step.seconds)) | \(Int(rate)) \(step.unit)/s |")
    }
    if steps.count == 5 {
      // The replay alone: the second restart minus the first (same checkpoint restored).
      let replay = steps[4].seconds - steps[2].seconds
      print("| replay alone (second restart minus first) | \(records) records | \(String(format: "%.2f", replay)) | \(Int(Double(records) / max(replay, 1e-9))) records/s |")
    }
  }
}
