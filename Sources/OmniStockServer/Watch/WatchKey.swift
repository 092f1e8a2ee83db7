/// A watched key: a SKU at a location, or a SKU across a group (interned ids).
enum WatchKey: Hashable, Sendable {
  case position(sku: UInt32, location: UInt32)
  case group(sku: UInt32, group: UInt32)
}
