/// What the index needs to know about a location to derive availability and freshness.
public struct LocationSettings: Sendable, Hashable {
  /// Safety stock for positions without their own override.
  public var defaultSafetyStock: Int64
  /// `available` at or below this (and above 0) is `LOW_STOCK`.
  public var lowStockThreshold: Int64
  /// Without any update for this long, the location's data is stale.
  public var staleAfterSeconds: Int64
  /// Inactive locations sell nothing (available 0) and do not count in group totals.
  public var active: Bool

  public init(defaultSafetyStock: Int64 = 0, lowStockThreshold: Int64 = 0, staleAfterSeconds: Int64 = 900, active: Bool = true) {
    self.defaultSafetyStock = defaultSafetyStock
    self.lowStockThreshold = lowStockThreshold
    self.staleAfterSeconds = staleAfterSeconds
    self.active = active
  }
}
