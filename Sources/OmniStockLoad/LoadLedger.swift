/// What the load tool expects the server to hold: every acknowledged event's effect on its
/// position (the run's SKUs are new, so each starts at 0). Positions touched by a batch whose
/// outcome is unknown (the call failed without an answer) are set aside as uncertain.
public struct LoadLedger: Sendable {
  /// A position by name.
  public struct Position: Hashable, Sendable, Comparable {
    public var sku: String
    public var location: String
    public init(sku: String, location: String) {
      self.sku = sku
      self.location = location
    }
    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.sku, lhs.location) < (rhs.sku, rhs.location) }
  }

  /// A position whose server value differs from the ledger.
  public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
    public var position: Position
    public var expected: Int64
    public var actual: Int64
    public var description: String { "\(position.sku)@\(position.location): expected \(expected), server has \(actual)" }

    public init(position: Position, expected: Int64, actual: Int64) {
      self.position = position
      self.expected = expected
      self.actual = actual
    }
  }

  public private(set) var expected: [Position: Int64] = [:]
  public private(set) var uncertain: Set<Position> = []
  /// Events acknowledged as applied.
  public private(set) var events = 0

  public init() {}

  /// An acknowledged event: `delta` applied at `position`.
  public mutating func applied(_ position: Position, delta: Int64) {
    expected[position, default: 0] += delta
    events += 1
  }

  /// A batch whose outcome is unknown touched `position`.
  public mutating func unknown(_ position: Position) {
    uncertain.insert(position)
  }

  /// Folds another worker's ledger into this one.
  public mutating func merge(_ other: LoadLedger) {
    for (position, delta) in other.expected { expected[position, default: 0] += delta }
    uncertain.formUnion(other.uncertain)
    events += other.events
  }

  /// The positions to check against the server (those not uncertain).
  public var checked: [Position] { expected.keys.filter { !uncertain.contains($0) }.sorted() }

  /// Differences between the ledger and `actual` (the server's on-hand per checked position).
  public func compare(_ actual: [Position: Int64]) -> [Mismatch] {
    checked.compactMap { position in
      let want = expected[position] ?? 0
      let have = actual[position] ?? 0
      return want == have ? nil : Mismatch(position: position, expected: want, actual: have)
    }
  }
}
