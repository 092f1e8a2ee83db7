/// How sellable a position or group is (SPEC section 2).
public enum StockStatus: Sendable, Hashable {
  /// `available == 0`.
  case outOfStock
  /// `0 < available <= low-stock threshold`.
  case lowStock
  /// `available > low-stock threshold`.
  case inStock

  /// The status for `available` units against `lowStockThreshold`.
  public init(available: Int64, lowStockThreshold: Int64) {
    if available <= 0 {
      self = .outOfStock
    } else if available <= lowStockThreshold {
      self = .lowStock
    } else {
      self = .inStock
    }
  }
}
