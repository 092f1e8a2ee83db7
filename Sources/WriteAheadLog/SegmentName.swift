/// Segment file names: `wal-<first LSN, 20 digits>.log`, so name order is LSN order.
enum SegmentName {
  static let prefix = "wal-"
  static let suffix = ".log"

  static func make(firstLSN: UInt64) -> String {
    let digits = String(firstLSN)
    return prefix + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
  }

  static func firstLSN(of name: String) -> UInt64? {
    guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
    return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
  }
}
