import ArgumentParser
import Foundation
import Synchronization
import WriteAheadLog

/// `omnistock bench-log`: how fast durable appends are, next to the disk's own fsync rate, and how
/// fast recovery replays the log. Prints one table (Markdown).
struct BenchLogCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-log",
    abstract: "Benchmark the write-ahead log: durable appends/s, records per fsync, recovery speed.",
    discussion: """
      Runs, in one process and one directory (on the disk you want to measure): a raw loop of \\
      128-byte appends each followed by fdatasync (the floor for any durable write), then the log \\
      with 1, 16 and 64 concurrent writers each appending and waiting for durability, then a \\
      recovery of the log written. Bounded by --seconds per measurement.
      """)

  @Option(help: "Directory to write in (a temporary directory inside it is removed afterwards).")
  var directory: String = NSTemporaryDirectory()

  @Option(help: "Seconds per measurement.")
  var seconds: Double = 3

  @Option(help: "Payload bytes per record (a POS batch of a few events is ~200-600 bytes).")
  var payloadBytes: Int = 256

  @Option(help: "Concurrent writers to measure, comma-separated.")
  var writers: String = "1,16,64"

  func run() async throws {
    let root = (directory as NSString).appendingPathComponent("omnistock-bench-log-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    print("| measurement | writers | durable ops/s | records per fsync | p50 latency µs |")
    print("|---|---:|---:|---:|---:|")
    let raw = try rawFsyncRate(path: root + "/raw")
    print("| raw 128 B pwrite + fdatasync loop | 1 | \(format(raw.rate)) | 1 | \(format(raw.p50Micros)) |")
    for count in writers.split(separator: ",").compactMap({ Int($0) }) {
      let result = try await logRate(directory: root + "/log-\(count)", writers: count)
      print(
        "| log append + wait for durability | \(count) | \(format(result.rate)) | \(String(format: "%.1f", result.perFsync)) | \(format(result.p50Micros)) |"
      )
    }
    let recovery = try recoveryRate(directory: root + "/log-\(writers.split(separator: ",").last ?? "64")")
    print("| recovery (replay every record) | - | \(format(recovery)) records/s | - | - |")
  }

  private func format(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : String(format: "%.1f", value)
  }

  private func rawFsyncRate(path: String) throws -> (rate: Double, p50Micros: Double) {
    let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw ValidationError("cannot create \(path)") }
    defer { close(descriptor) }
    let block = [UInt8](repeating: 7, count: 128)
    var latencies: [Double] = []
    let clock = ContinuousClock()
    let end = clock.now + .milliseconds(Int(seconds * 1000))
    var offset = 0
    let start = clock.now
    while clock.now < end {
      let before = clock.now
      _ = block.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 128, off_t(offset)) }
      fdatasync(descriptor)
      latencies.append(Self.micros(clock.now - before))
      offset += 128
    }
    let elapsed = Self.micros(clock.now - start) / 1_000_000
    latencies.sort()
    return (Double(latencies.count) / elapsed, latencies[latencies.count / 2])
  }

  private func logRate(directory: String, writers: Int) async throws -> (rate: Double, perFsync: Double, p50Micros: Double) {
    let (log, _) = try WriteAheadLog.open(.init(directory: directory), onFailure: { _ in }) { _ in }
    defer { log.close() }
    let payload = [UInt8](repeating: 42, count: payloadBytes)
    let clock = ContinuousClock()
    let deadline = clock.now + .milliseconds(Int(seconds * 1000))
    let groupsBefore = log.statistics.groupsWritten
    let start = clock.now
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
      for _ in 0..<writers {
        group.addTask {
          var mine: [Double] = []
          while clock.now < deadline {
            let before = clock.now
            _ = try await log.appendAndWait(type: 1, payload: payload)
            mine.append(Self.micros(clock.now - before))
          }
          return mine
        }
      }
      var all: [Double] = []
      for try await mine in group { all += mine }
      return all.sorted()
    }
    let elapsed = Self.micros(clock.now - start) / 1_000_000
    let groups = Double(log.statistics.groupsWritten - groupsBefore)
    return (Double(latencies.count) / elapsed, Double(latencies.count) / max(1, groups), latencies[latencies.count / 2])
  }

  private func recoveryRate(directory: String) throws -> Double {
    let count = Mutex(0)
    let clock = ContinuousClock()
    let start = clock.now
    let (log, outcome) = try WriteAheadLog.open(.init(directory: directory), onFailure: { _ in }) { _ in
      count.withLock { $0 += 1 }
    }
    let elapsed = Self.micros(clock.now - start) / 1_000_000
    log.close()
    return Double(outcome.records) / elapsed
  }

  static func micros(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1_000_000 + Double(duration.components.attoseconds) / 1_000_000_000_000
  }
}
