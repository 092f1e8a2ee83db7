/// Parses the `grpc-timeout` request header: 1 to 8 ASCII digits followed by a unit
/// (`H` hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds).
public enum GRPCTimeout {
  /// The timeout in nanoseconds, or `nil` when the value is malformed. Saturates at `Int64.max`.
  public static func nanoseconds(_ value: UnsafeRawBufferPointer) -> Int64? {
    guard value.count >= 2, value.count <= 9 else { return nil }
    var amount: Int64 = 0
    for index in 0..<(value.count - 1) {
      let byte = value[index]
      guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
      amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))
    }
    let perUnit: Int64
    switch value[value.count - 1] {
    case UInt8(ascii: "H"): perUnit = 3_600_000_000_000
    case UInt8(ascii: "M"): perUnit = 60_000_000_000
    case UInt8(ascii: "S"): perUnit = 1_000_000_000
    case UInt8(ascii: "m"): perUnit = 1_000_000
    case UInt8(ascii: "u"): perUnit = 1_000
    case UInt8(ascii: "n"): perUnit = 1
    default: return nil
    }
    let (product, overflow) = amount.multipliedReportingOverflow(by: perUnit)
    return overflow ? Int64.max : product
  }

  /// Convenience for tests and callers holding a `String`.
  public static func nanoseconds(_ value: String) -> Int64? {
    var copy = value
    return copy.withUTF8 { nanoseconds(UnsafeRawBufferPointer($0)) }
  }
}
