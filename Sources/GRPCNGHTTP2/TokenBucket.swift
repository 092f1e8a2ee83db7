/// A rate limit: up to `perSecond` takes per second on average, with bursts of up to `perSecond`
/// (one second's worth). Not thread-safe: its owner serializes access (one connection's event loop,
/// or a lock).
public struct TokenBucket: Sendable {
  public let perSecond: Int
  private var tokens: Double
  private var lastNanos: UInt64

  /// A full bucket at `nowNanos` (any monotonic clock in nanoseconds).
  public init(perSecond: Int, nowNanos: UInt64) {
    precondition(perSecond > 0)
    self.perSecond = perSecond
    tokens = Double(perSecond)
    lastNanos = nowNanos
  }

  /// Takes one token if there is one.
  public mutating func take(nowNanos: UInt64) -> Bool {
    if nowNanos > lastNanos {
      tokens = min(Double(perSecond), tokens + Double(nowNanos - lastNanos) * Double(perSecond) / 1e9)
      lastNanos = nowNanos
    }
    guard tokens >= 1 else { return false }
    tokens -= 1
    return true
  }
}
