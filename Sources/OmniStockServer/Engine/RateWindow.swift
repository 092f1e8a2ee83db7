/// Events per second over the last minute, in 60 one-second buckets (no allocation after init).
public struct RateWindow: Sendable {
  private var buckets = [UInt32](repeating: 0, count: 60)
  private var lastSecond: Int64 = 0

  public init() {}

  /// Counts `count` events at `unixMs`. Times going backwards count into the current second.
  public mutating func add(_ count: Int, atUnixMs unixMs: Int64) {
    let second = unixMs / 1000
    advance(to: second)
    buckets[Int(lastSecond % 60)] &+= UInt32(clamping: count)
  }

  /// Events in the `seconds` seconds (1...60) up to `unixMs`.
  public func total(atUnixMs unixMs: Int64, seconds: Int = 60) -> UInt64 {
    let second = unixMs / 1000
    let age = second - lastSecond
    guard age < Int64(seconds) else { return 0 }
    var sum: UInt64 = 0
    // The buckets within the window at `second` are the newest `seconds - age` ones.
    for offset in 0..<(min(60, seconds) - max(0, Int(age))) {
      sum += UInt64(buckets[Int((lastSecond - Int64(offset)) % 60 + 60) % 60])
    }
    return sum
  }

  private mutating func advance(to second: Int64) {
    guard second > lastSecond else { return }
    let steps = min(60, second - lastSecond)
    for step in 1...steps { buckets[Int((lastSecond + step) % 60)] = 0 }
    lastSecond = second
  }
}
