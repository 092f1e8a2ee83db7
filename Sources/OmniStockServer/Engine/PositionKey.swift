/// A position by interned ids (SKU x location), as a dictionary key.
public struct PositionKey: Hashable, Sendable {
  public var sku: UInt32
  public var location: UInt32

  public init(sku: UInt32, location: UInt32) {
    self.sku = sku
    self.location = location
  }
}
