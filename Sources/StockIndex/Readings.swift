/// A position as a storefront sees it: the stored state plus what derives from it and from the
/// location's settings and freshness.
public struct PositionReading: Sendable, Hashable {
  /// The stored state (all zeros if the position does not exist).
  public var state: PositionState
  /// Whether anything was ever written to this position.
  public var exists: Bool
  /// The effective safety stock: the override, else the location default.
  public var safetyStock: Int64
  /// `max(0, on_hand - reserved - safety_stock)`; 0 when the location is inactive, or stale and
  /// the read excludes stale data.
  public var available: Int64
  public var status: StockStatus
  public var lowStockThreshold: Int64
  /// Whether the location counted (active, and not excluded as stale).
  public var contributes: Bool
  /// Whether the location is stale now.
  public var stale: Bool
  /// Server time of the location's last update, Unix ms (0 = never).
  public var locationUpdatedAtUnixMs: Int64
}

/// A SKU across a group: maintained totals over the contributing members.
public struct GroupReading: Sendable, Hashable {
  public var totals: GroupTotals
  public var status: StockStatus
  /// Sum of the contributing members' low-stock thresholds.
  public var lowStockThreshold: Int64
  /// Members counted in the totals.
  public var contributingLocations: Int
  /// Whether any member is stale.
  public var anyStale: Bool
  /// Whether the totals were ever written (some member has or had stock data for this SKU).
  public var exists: Bool
}
