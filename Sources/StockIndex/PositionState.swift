/// What the index stores for one position (SKU x location), as one consistent copy.
///
/// Packed into five 64-bit words (plus the slot's sequence word: 48 bytes a position):
/// `on_hand`, `reserved | safety override`, `lsn`, `last_absolute_time` (ms), and
/// `updated_at | source_time` (whole seconds, which is all freshness needs).
public struct PositionState: Sendable, Hashable {
  /// Units on hand; may be negative.
  public var onHand: Int64 = 0
  /// Units held by active reservations (0...Int32.max).
  public var reserved: Int64 = 0
  /// The position's own safety stock, overriding the location default; `nil` for the default.
  public var safetyStockOverride: Int64? = nil
  /// Log sequence number of the last change.
  public var lsn: UInt64 = 0
  /// Time of the last count or snapshot (device or source clock), Unix ms; 0 if none.
  public var lastAbsoluteTimeUnixMs: Int64 = 0
  /// Server time of the last change, Unix seconds.
  public var updatedAtUnixSeconds: UInt32 = 0
  /// Device time of the last event, Unix seconds.
  public var sourceTimeUnixSeconds: UInt32 = 0

  public init() {}

  static let noOverride = Int32.min

  init(words: UnsafePointer<UInt64>) {
    onHand = Int64(bitPattern: words[0])
    reserved = Int64(Int32(truncatingIfNeeded: words[1] >> 32))
    // Stored XOR the marker, so an all-zero (never written) slot decodes as "no override".
    let safety = Int32(truncatingIfNeeded: words[1]) ^ Self.noOverride
    safetyStockOverride = safety == Self.noOverride ? nil : Int64(safety)
    lsn = words[2]
    lastAbsoluteTimeUnixMs = Int64(bitPattern: words[3])
    updatedAtUnixSeconds = UInt32(truncatingIfNeeded: words[4] >> 32)
    sourceTimeUnixSeconds = UInt32(truncatingIfNeeded: words[4])
  }

  /// Encodes into five words; a default `PositionState` encodes as all zeros.
  func store(into words: UnsafeMutablePointer<UInt64>) {
    words[0] = UInt64(bitPattern: onHand)
    let safety = (safetyStockOverride.map { Int32(clamping: max(0, $0)) } ?? Self.noOverride) ^ Self.noOverride
    words[1] = UInt64(UInt32(bitPattern: Int32(clamping: reserved))) << 32 | UInt64(UInt32(bitPattern: safety))
    words[2] = lsn
    words[3] = UInt64(bitPattern: lastAbsoluteTimeUnixMs)
    words[4] = UInt64(updatedAtUnixSeconds) << 32 | UInt64(sourceTimeUnixSeconds)
  }
}
