/// The positions of one index shard, copied out in columns (for a checkpoint). Group totals are
/// not included: they are derived from positions and rebuilt on restore.
public struct ShardPositions: Sendable {
  /// SKU id of each position.
  public var skus: [UInt32] = []
  /// Location id of each position.
  public var locations: [UInt32] = []
  /// State of each position.
  public var states: [PositionState] = []

  public init() {}

  /// Positions held.
  public var count: Int { states.count }

  mutating func reserveCapacity(_ capacity: Int) {
    skus.reserveCapacity(capacity)
    locations.reserveCapacity(capacity)
    states.reserveCapacity(capacity)
  }
}
