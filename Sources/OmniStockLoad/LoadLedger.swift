/// What the load tool expects the server to hold: every acknowledged event's effect on its
/// position's on-hand (the run's SKUs are new, so each starts at 0), the units its reservations
/// hold, and what their commits took. Positions touched by a call whose outcome is unknown (it
/// failed without an answer, or was only partly applied) are set aside as uncertain.
///
/// Deltas commute, so ledgers of separate workers add up. A count sets the position outright, so
/// it is exact only when one worker, in order, owns the position: merging a counted position with
/// anything another worker did to it makes it uncertain rather than guessed.
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

  /// What the server reports for a position.
  public struct Holding: Sendable, Equatable, CustomStringConvertible {
    public var onHand: Int64
    public var reserved: Int64
    public init(onHand: Int64, reserved: Int64 = 0) {
      self.onHand = onHand
      self.reserved = reserved
    }
    public var description: String { reserved == 0 ? "on hand \(onHand)" : "on hand \(onHand), reserved \(reserved)" }
  }

  /// A position whose server value differs from the ledger.
  public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
    public var position: Position
    public var expected: Holding
    public var actual: Holding
    public var description: String { "\(position.sku)@\(position.location): expected \(expected), server has \(actual)" }

    public init(position: Position, expected: Holding, actual: Holding) {
      self.position = position
      self.expected = expected
      self.actual = actual
    }
  }

  public private(set) var expected: [Position: Holding] = [:]
  /// Positions set by a count in this ledger.
  public private(set) var counted: Set<Position> = []
  public private(set) var uncertain: Set<Position> = []
  /// Events acknowledged as applied.
  public private(set) var events = 0

  public init() {}

  /// An acknowledged delta event: `delta` applied to `position`'s on-hand.
  public mutating func applied(_ position: Position, delta: Int64) {
    expected[position, default: Holding(onHand: 0)].onHand += delta
    events += 1
  }

  /// An acknowledged count: `position`'s on-hand is now `quantity`.
  public mutating func counted(_ position: Position, quantity: Int64) {
    expected[position, default: Holding(onHand: 0)].onHand = quantity
    counted.insert(position)
    events += 1
  }

  /// An acknowledged reservation change: `units` more (or, negative, fewer) held at `position`.
  public mutating func held(_ position: Position, units: Int64) {
    expected[position, default: Holding(onHand: 0)].reserved += units
  }

  /// An acknowledged commit of `units` held at `position`: they leave on-hand and the hold.
  public mutating func committed(_ position: Position, units: Int64) {
    expected[position, default: Holding(onHand: 0)].onHand -= units
    expected[position, default: Holding(onHand: 0)].reserved -= units
  }

  /// A call whose outcome is unknown touched `position`.
  public mutating func unknown(_ position: Position) {
    uncertain.insert(position)
  }

  /// Folds another worker's ledger into this one.
  public mutating func merge(_ other: LoadLedger) {
    for (position, holding) in other.expected {
      if let mine = expected[position] {
        if counted.contains(position) || other.counted.contains(position) { uncertain.insert(position) }
        expected[position] = Holding(onHand: mine.onHand + holding.onHand, reserved: mine.reserved + holding.reserved)
      } else {
        expected[position] = holding
      }
    }
    counted.formUnion(other.counted)
    uncertain.formUnion(other.uncertain)
    events += other.events
  }

  /// The positions to check against the server (those not uncertain).
  public var checked: [Position] { expected.keys.filter { !uncertain.contains($0) }.sorted() }

  /// Differences between the ledger and `actual` (the server's holding per checked position; a
  /// position the server does not report holds nothing).
  public func compare(_ actual: [Position: Holding]) -> [Mismatch] {
    checked.compactMap { position in
      let want = expected[position] ?? Holding(onHand: 0)
      let have = actual[position] ?? Holding(onHand: 0)
      return want == have ? nil : Mismatch(position: position, expected: want, actual: have)
    }
  }
}
