/// One change to one position, by interned ids.
public struct StockUpdate: Sendable, Hashable {
  /// What the change does.
  public enum Change: Sendable, Hashable {
    /// `on_hand += delta` (sales are negative deltas).
    case adjust(delta: Int64)
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
}
