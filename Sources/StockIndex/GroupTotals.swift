/// The maintained sums of one SKU over one group's contributing members (active locations),
/// stored like a position: five words under a seqlock.
public struct GroupTotals: Sendable, Hashable {
  public var onHand: Int64 = 0
  public var reserved: Int64 = 0
  /// Sum of the members' own `available` (never negative: one member's deficit never hides
  /// another member's stock).
  public var available: Int64 = 0
  /// The largest LSN of any change that moved these totals.
  public var lsn: UInt64 = 0
  /// Sum of the members' effective safety stock (48-bit range: ±1.4e14).
  public var safetyStock: Int64 = 0
  /// Members with `available > 0` (at most 16,383: the number of locations).
  public var locationsWithStock: Int64 = 0

  public init() {}

  init(words: UnsafePointer<UInt64>) {
    onHand = Int64(bitPattern: words[0])
    reserved = Int64(bitPattern: words[1])
    available = Int64(bitPattern: words[2])
    lsn = words[3]
    // Word 4: safety-stock sum in the high 48 bits (signed), members with stock in the low 16.
    safetyStock = Int64(bitPattern: words[4]) >> 16
    locationsWithStock = Int64(words[4] & 0xFFFF)
  }

  func store(into words: UnsafeMutablePointer<UInt64>) {
    words[0] = UInt64(bitPattern: onHand)
    words[1] = UInt64(bitPattern: reserved)
    words[2] = UInt64(bitPattern: available)
    words[3] = lsn
    let safety = min(max(safetyStock, -(1 << 47)), (1 << 47) - 1)
    words[4] = UInt64(bitPattern: safety << 16) | UInt64(UInt16(clamping: max(0, locationsWithStock)))
  }

  /// What one member contributes.
  struct Contribution: Equatable {
    var onHand: Int64 = 0
    var reserved: Int64 = 0
    var available: Int64 = 0
    var safetyStock: Int64 = 0
    var withStock: Int64 = 0

    static let none = Contribution()
  }

  mutating func add(_ contribution: Contribution, sign: Int64) {
    onHand &+= sign &* contribution.onHand
    reserved &+= sign &* contribution.reserved
    available &+= sign &* contribution.available
    safetyStock &+= sign &* contribution.safetyStock
    locationsWithStock &+= sign &* contribution.withStock
  }
}
