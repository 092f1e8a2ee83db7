/// Durations in log-linear buckets (8 per power of two: a quantile is exact to 12.5%), for the
/// dashboard's p99 per second. A value type: record into it under a lock, take it out whole.
struct LatencyHistogram: Sendable, Equatable {
  /// Sub-buckets per power of two, as a number of bits.
  private static let subBits = 3
  private static let bucketCount = (64 - subBits + 1) << subBits

  private var buckets = [UInt32](repeating: 0, count: LatencyHistogram.bucketCount)
  /// Durations recorded.
  private(set) var count: UInt64 = 0

  /// Records one duration.
  mutating func record(nanoseconds: UInt64) {
    buckets[Self.bucket(of: nanoseconds)] &+= 1
    count += 1
  }

  /// The smallest bucket bound that at least `quantile` (0...1) of the durations are at or
  /// below, in nanoseconds; `nil` when nothing was recorded.
  func value(atQuantile quantile: Double) -> UInt64? {
    guard count > 0 else { return nil }
    let rank = max(1, UInt64((quantile * Double(count)).rounded(.up)))
    var seen: UInt64 = 0
    for (bucket, inBucket) in buckets.enumerated() where inBucket > 0 {
      seen += UInt64(inBucket)
      if seen >= rank { return Self.upperBound(of: bucket) }
    }
    return Self.upperBound(of: buckets.count - 1)
  }

  /// Values below 8 have a bucket each; above, the exponent picks a row of 8 and the next 3 bits
  /// the bucket in it.
  static func bucket(of value: UInt64) -> Int {
    let sub = UInt64(1) << subBits
    guard value >= sub else { return Int(value) }
    let exponent = UInt64.bitWidth - 1 - value.leadingZeroBitCount
    let shift = exponent - subBits
    let mantissa = Int((value >> UInt64(shift)) & (sub - 1))
    return (shift + 1) << subBits + mantissa
  }

  /// The largest value in `bucket`.
  static func upperBound(of bucket: Int) -> UInt64 {
    let sub = 1 << subBits
    guard bucket >= sub else { return UInt64(bucket) }
    let shift = bucket >> subBits - 1
    let mantissa = UInt64(bucket & (sub - 1))
    let next = (UInt64(sub) + mantissa + 1).multipliedReportingOverflow(by: UInt64(1) << UInt64(shift))
    return next.overflow ? .max : next.partialValue - 1
  }
}
