/// How the index packs a (SKU, location) or (SKU, group) key and a slot number into one 64-bit
/// table entry, so a lookup compares one word and touches no other memory for a miss.
///
/// ```
/// bit 63 ........ 36 | 35 ....... 22 | 21    | 20 ........ 0
///     SKU id (28)    | target id (14)| group | slot + 1 (21)
/// ```
/// Limits that follow: 268,435,455 SKUs; 16,383 locations and 16,383 groups; 2,097,151 slots
/// (positions plus group totals) per shard.
enum IndexKey {
  static let slotBits = 21
  static let maxSKUs = (1 << 28) - 1
  static let maxTargets = (1 << 14) - 1
  static let maxSlotsPerShard = (1 << slotBits) - 1
  static let groupFlag: UInt64 = 1 << 21
  static let slotMask: UInt64 = (1 << 21) - 1
  static let keyMask: UInt64 = ~slotMask

  @inline(__always)
  static func position(sku: UInt32, location: UInt32) -> UInt64 {
    UInt64(sku) << 36 | UInt64(location) << 22
  }

  @inline(__always)
  static func group(sku: UInt32, group: UInt32) -> UInt64 {
    UInt64(sku) << 36 | UInt64(group) << 22 | groupFlag
  }

  @inline(__always)
  static func sku(of entry: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: entry >> 36) }

  @inline(__always)
  static func target(of entry: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: entry >> 22) & 0x3FFF }

  @inline(__always)
  static func isGroup(_ entry: UInt64) -> Bool { entry & groupFlag != 0 }

  @inline(__always)
  static func slot(of entry: UInt64) -> Int { Int(truncatingIfNeeded: entry & slotMask) - 1 }

  /// The probe hash of a key or of an entry (the slot bits are ignored).
  @inline(__always)
  static func hash(_ keyOrEntry: UInt64) -> UInt64 { mix64(keyOrEntry & keyMask) }

  /// The shard of a SKU: every position and group total of one SKU lives in one shard.
  @inline(__always)
  static func shard(sku: UInt32, mask: Int) -> Int { Int(truncatingIfNeeded: mix64(UInt64(sku) ^ 0x9E37_79B9)) & mask }
}
