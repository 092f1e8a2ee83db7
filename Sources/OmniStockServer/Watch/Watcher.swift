import Synchronization

/// One open watch, as the write path sees it: which changes it wants, and the keys changed since
/// its stream last looked (a set, so a slow consumer costs at most one entry per key).
///
/// ## Guarantees
/// - ``mark(_:)`` never blocks on the consumer: it inserts into a set under a short lock and
///   signals the stream task with a one-element buffer (`bufferingNewest(1)`).
/// - Nothing is lost: a key marked after ``take()`` is in the next ``take()``.
final class Watcher: Sendable {
  /// What the watch covers (ids resolved when it was opened).
  struct Filter: Sendable {
    /// SKUs, or `nil` for every SKU.
    var skus: Set<UInt32>?
    /// Locations whose positions are watched; `nil` for every location.
    var locations: Set<UInt32>?
    /// Groups watched, with their members when the watch was opened.
    var groups: [(group: UInt32, members: Set<UInt32>)]

    func matches(sku: UInt32) -> Bool { skus?.contains(sku) ?? true }
  }

  private struct Dirty {
    var keys: Set<WatchKey> = []
    var coalesced: UInt64 = 0
    var lsn: UInt64 = 0
  }

  let filter: Filter
  let signals: AsyncStream<Void>
  private let signal: AsyncStream<Void>.Continuation
  private let dirty = Mutex(Dirty())

  init(filter: Filter) {
    self.filter = filter
    (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  /// Notes that the position (`sku`, `location`) changed under `lsn`: marks the position key if
  /// watched and the key of every watched group holding the location.
  func changed(sku: UInt32, location: UInt32, lsn: UInt64) {
    var keys: [WatchKey] = []
    if filter.locations?.contains(location) ?? true { keys.append(.position(sku: sku, location: location)) }
    for (group, members) in filter.groups where members.contains(location) {
      keys.append(.group(sku: sku, group: group))
    }
    guard !keys.isEmpty else { return }
    dirty.withLock { dirty in
      for key in keys where !dirty.keys.insert(key).inserted { dirty.coalesced += 1 }
      dirty.lsn = max(dirty.lsn, lsn)
    }
    signal.yield()
  }

  /// The keys changed since the last call, how many intermediate states were coalesced, and the
  /// highest LSN among the changes.
  func take() -> (keys: Set<WatchKey>, coalesced: UInt64, lsn: UInt64) {
    dirty.withLock { dirty in
      defer { dirty = Dirty() }
      return (dirty.keys, dirty.coalesced, dirty.lsn)
    }
  }

  /// Ends the watch's signal sequence (the server is shutting down).
  func finish() { signal.finish() }
}
