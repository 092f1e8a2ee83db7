public import Histogram

/// Latency and outcomes of one kind of call, kept by one connection's I/O thread (no locks) and
/// merged at the end.
public struct OperationStats: Sendable {
  public var latencyMicros = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
  public var errors: [Int: Int] = [:]
  public var count = 0

  public init() {}

  mutating func record(micros: UInt64, status: Int) {
    count += 1
    _ = latencyMicros.record(max(1, micros))
    if status != 0 { errors[status, default: 0] += 1 }
  }

  mutating func merge(_ other: OperationStats) {
    latencyMicros.add(other.latencyMicros)
    count += other.count
    for (status, number) in other.errors { errors[status, default: 0] += number }
  }
}
