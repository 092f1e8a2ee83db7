import StockIndex
import Synchronization

/// Every open watch, and the routing of position changes to them.
///
/// ## Guarantees
/// - Writers pay one atomic load per write while no watch is open; otherwise, per changed
///   position, a dictionary lookup by SKU plus one check per watch on all SKUs, and a set insert
///   per matching watch: never the cost of the consumer (see ``Watcher``).
/// - At most ``maxWatches`` watches are open at once.
public final class WatchHub: Sendable {
  /// The most concurrent watches.
  public static let maxWatches = 10_000

  private struct Registry {
    var watchers: [Int: Watcher] = [:]
    var bySKU: [UInt32: [Int]] = [:]
    var allSKUs: Set<Int> = []
    var nextID = 0
    var closed = false
  }

  private let open = Atomic<Int>(0)
  private let registry = Mutex(Registry())

  public init() {}

  /// Whether any watch is open (writers collect changes only then).
  var isActive: Bool { open.load(ordering: .acquiring) > 0 }

  /// Number of open watches.
  public var count: Int { open.load(ordering: .relaxed) }

  /// Adds `watcher`; `nil` when the limit is reached or the server is shutting down.
  func register(_ watcher: Watcher) -> Int? {
    registry.withLock { registry -> Int? in
      guard !registry.closed, registry.watchers.count < Self.maxWatches else { return nil }
      let id = registry.nextID
      registry.nextID += 1
      registry.watchers[id] = watcher
      if let skus = watcher.filter.skus {
        for sku in skus { registry.bySKU[sku, default: []].append(id) }
      } else {
        registry.allSKUs.insert(id)
      }
      open.add(1, ordering: .releasing)
      return id
    }
  }

  func unregister(_ id: Int) {
    registry.withLock { registry in
      guard let watcher = registry.watchers.removeValue(forKey: id) else { return }
      if let skus = watcher.filter.skus {
        for sku in skus {
          registry.bySKU[sku]?.removeAll { $0 == id }
          if registry.bySKU[sku]?.isEmpty == true { registry.bySKU[sku] = nil }
        }
      } else {
        registry.allSKUs.remove(id)
      }
      open.subtract(1, ordering: .releasing)
    }
  }

  /// Routes the positions changed by one write (applied under `lsn`) to the watches.
  func publish(_ changes: [PositionKey], lsn: UInt64) {
    guard !changes.isEmpty else { return }
    registry.withLock { registry in
      for change in changes {
        if let ids = registry.bySKU[change.sku] {
          for id in ids { registry.watchers[id]?.changed(sku: change.sku, location: change.location, lsn: lsn) }
        }
        for id in registry.allSKUs {
          registry.watchers[id]?.changed(sku: change.sku, location: change.location, lsn: lsn)
        }
      }
    }
  }

  /// Ends every watch and refuses new ones (graceful shutdown).
  public func finishAll() {
    let all = registry.withLock { registry -> [Watcher] in
      registry.closed = true
      return Array(registry.watchers.values)
    }
    for watcher in all { watcher.finish() }
  }
}
