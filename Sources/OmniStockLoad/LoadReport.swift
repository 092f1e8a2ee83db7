public import Foundation
import Histogram

/// The final report of a run: a Markdown table per operation (calls, rate, latency percentiles
/// from the HdrHistogram, errors by gRPC status), the tool's own CPU, and the correctness check;
/// also as JSON.
public enum LoadReport {
  public static func table(_ result: LoadRun.Result) -> String {
    var lines = [
      "| operation | calls | calls/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | errors |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (name, stats) in result.operations where stats.count > 0 {
      let histogram = stats.latencyMicros
      let errors = stats.errors.isEmpty ? "0" : stats.errors.sorted { $0.key < $1.key }.map { "status \($0.key): \($0.value)" }.joined(separator: ", ")
      lines.append(
        "| \(name) | \(stats.count) | \(Int(Double(stats.count) / result.seconds)) | \(histogram.valueAtPercentile(50)) | "
          + "\(histogram.valueAtPercentile(90)) | \(histogram.valueAtPercentile(99)) | \(histogram.valueAtPercentile(99.9)) | "
          + "\(histogram.max) | \(errors) |")
    }
    lines.append("")
    lines.append("pacing: \(result.pacing)")
    if result.unsentCalls > 0 {
      lines.append("unsent: \(result.unsentCalls) calls were due but not sent (the server fell more than 10,000 calls behind on a connection)")
    }
    if result.cartsOutOfStock > 0 { lines.append("carts that found nothing in stock: \(result.cartsOutOfStock)") }
    if result.watchMessages > 0 {
      lines.append(
        "watches: \(result.watchMessages) messages with \(result.watchUpdates) key updates "
          + "(\(Int(Double(result.watchUpdates) / result.seconds))/s)")
    }
    lines.append(
      "events acknowledged: \(result.ledgerEvents) (\(Int(Double(result.ledgerEvents) / result.seconds))/s); "
        + "load tool CPU: \(String(format: "%.2f", result.cpuSeconds)) s in \(String(format: "%.1f", result.seconds)) s "
        + "(\(String(format: "%.0f", 100 * result.cpuSeconds / result.seconds))% of one core)")
    if result.mismatches.isEmpty {
      lines.append("correctness: \(result.checkedPositions) positions match the ledger of acknowledged events"
        + (result.uncertainPositions > 0 ? " (\(result.uncertainPositions) with an unanswered batch not checked)" : ""))
    } else {
      lines.append("correctness: \(result.mismatches.count) of \(result.checkedPositions) positions differ from the ledger:")
      for mismatch in result.mismatches.prefix(20) { lines.append("  \(mismatch)") }
    }
    return lines.joined(separator: "\n")
  }

  public static func json(_ result: LoadRun.Result) -> Data {
    var operations: [[String: Any]] = []
    for (name, stats) in result.operations {
      let histogram = stats.latencyMicros
      operations.append([
        "name": name, "calls": stats.count, "callsPerSecond": Double(stats.count) / result.seconds,
        "p50Micros": histogram.valueAtPercentile(50), "p90Micros": histogram.valueAtPercentile(90),
        "p99Micros": histogram.valueAtPercentile(99), "p999Micros": histogram.valueAtPercentile(99.9),
        "maxMicros": histogram.max, "errors": Dictionary(uniqueKeysWithValues: stats.errors.map { (String($0.key), $0.value) }),
      ])
    }
    let object: [String: Any] = [
      "seconds": result.seconds, "operations": operations, "eventsAcknowledged": result.ledgerEvents,
      "cpuSeconds": result.cpuSeconds, "checkedPositions": result.checkedPositions,
      "mismatches": result.mismatches.map(\.description), "unsentCalls": result.unsentCalls,
      "cartsOutOfStock": result.cartsOutOfStock, "watchMessages": result.watchMessages, "watchUpdates": result.watchUpdates, "pacing": result.pacing,
    ]
    return (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
  }
}
