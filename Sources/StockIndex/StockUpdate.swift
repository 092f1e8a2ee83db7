/// One change to one position, by interned ids.
public struct StockUpdate: Sendable, Hashable {
  /// What the change does.
  public enum Change: Sendable, Hashable {
    /// `on_hand += delta`, unconditionally.
    case adjust(delta: Int64)
    /// A device's delta (sales are negative) that happened at `eventTimeUnixMs`: `on_hand +=
    /// delta`, unless the position's last count or snapshot is newer than the event, which then
    /// already includes it (`keptNewer`, the event is *superseded*).
    case delta(Int64, eventTimeUnixMs: Int64)
    /// `on_hand = quantity` as of `asOfUnixMs` (a count or a snapshot). Skipped, keeping the
    /// position, when the position's last absolute time is newer (an old sync never overwrites
    /// newer state).
    case set(onHand: Int64, asOfUnixMs: Int64)
    /// `reserved += delta`.
    case reserve(delta: Int64)
    /// Picked or shipped: `on_hand -= quantity` and `reserved -= quantity`.
    case commit(quantity: Int64)
    /// Sets (or with `nil` clears) the position's safety-stock override.
    case setSafetyStock(Int64?)
  }

  public var sku: UInt32
  public var location: UInt32
  public var change: Change
  /// Device (or source) time of the change, Unix ms; 0 if not known.
  public var sourceTimeUnixMs: Int64

  public init(sku: UInt32, location: UInt32, change: Change, sourceTimeUnixMs: Int64 = 0) {
    self.sku = sku
    self.location = location
    self.change = change
    self.sourceTimeUnixMs = sourceTimeUnixMs
  }
}

/// What applying one ``StockUpdate`` did.
public enum StockUpdateOutcome: Sendable, Hashable {
  /// Applied: the position before and after.
  case applied(before: PositionState, after: PositionState)
  /// An absolute update older than the position's last absolute time: nothing changed.
  case keptNewer(PositionState)
  /// The index has no room for another position in this SKU's shard.
  case indexFull
  /// Recovery only: the checkpoint the index was restored from already includes this change.
  case alreadyIncluded
}

extension StockUpdate.Change {
  /// The position after this change, or `nil` when the position keeps its state because a newer
  /// absolute update (count or snapshot) already includes the change. Leaves `lsn` and times alone.
  func applied(to before: PositionState) -> PositionState? {
    var after = before
    switch self {
    case .adjust(let delta):
      after.onHand &+= delta
    case .delta(let delta, let eventTime):
      guard eventTime >= before.lastAbsoluteTimeUnixMs else { return nil }
      after.onHand &+= delta
    case .set(let onHand, let asOf):
      guard asOf >= before.lastAbsoluteTimeUnixMs else { return nil }
      after.onHand = onHand
      after.lastAbsoluteTimeUnixMs = asOf
    case .reserve(let delta):
      after.reserved &+= delta
    case .commit(let quantity):
      after.onHand &-= quantity
      after.reserved &-= quantity
    case .setSafetyStock(let safety):
      after.safetyStockOverride = safety
    }
    return after
  }
}
