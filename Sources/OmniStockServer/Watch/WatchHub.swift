import StockIndex
import Synchronization

/// Every open watch, and the routing of position changes to them.
///
/// ## Guarantees
/// - Writers pay one atomic load per write while no watch is open; otherwise one set insert per
///   changed position, whatever the number of watches: the routing to watches (a lookup by SKU,
///   a check per watch of every SKU, a set insert per matching watch) runs on the hub's own task,
///   and a change that arrives while the previous ones are being routed is coalesced with them.
///   Never the cost of a consumer (see ``Watcher``).
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

  private struct Pending {
    var positions: Set<PositionKey> = []
    var lsn: UInt64 = 0
  }

  /// What the hub and its routing task share.
  private final class Shared: Sendable {
    let registry = Mutex(Registry())
    let pending = Mutex(Pending())
  }

  private let open = Atomic<Int>(0)
  private let shared = Shared()
  private let wake: AsyncStream<Void>.Continuation
  private let router: Task<Void, Never>

  public init() {
    let (signals, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    self.wake = wake
    let shared = self.shared
    router = Task {
      for await _ in signals {
        let batch = shared.pending.withLock { pending in
          defer { pending = Pending() }
          return pending
        }
        Self.route(batch.positions, lsn: batch.lsn, shared: shared)
      }
    }
  }

  deinit {
    wake.finish()
    router.cancel()
  }

  /// Whether any watch is open (writers collect changes only then).
  var isActive: Bool { open.load(ordering: .acquiring) > 0 }

  /// Number of open watches.
  public var count: Int { open.load(ordering: .relaxed) }

  /// Adds `watcher`; `nil` when the limit is reached or the server is shutting down.
  func register(_ watcher: Watcher) -> Int? {
    shared.registry.withLock { registry -> Int? in
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
    shared.registry.withLock { registry in
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

  /// Hands the positions changed by one write (applied under `lsn`) to the router.
  func publish(_ changes: [PositionKey], lsn: UInt64) {
    guard !changes.isEmpty else { return }
    shared.pending.withLock { pending in
      pending.positions.formUnion(changes)
      pending.lsn = max(pending.lsn, lsn)
    }
    wake.yield()
  }

  private static func route(_ changes: Set<PositionKey>, lsn: UInt64, shared: Shared) {
    shared.registry.withLock { registry in
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
    let all = shared.registry.withLock { registry -> [Watcher] in
      registry.closed = true
      return Array(registry.watchers.values)
    }
    for watcher in all { watcher.finish() }
  }
}
