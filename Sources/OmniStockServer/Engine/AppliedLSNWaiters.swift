public import NIOCore
import Synchronization

/// Reads that asked for `min_lsn` beyond what the index has applied, waiting for it.
///
/// ## Guarantees
/// - A waiter runs once: when the applied LSN reaches its LSN (on the writer's thread, after the
///   change is applied, so the read sees it), or at its deadline with `false` (on its event loop).
/// - Writers pay one atomic load per write while nobody waits.
public final class AppliedLSNWaiters: Sendable {
  /// How long a read without a deadline waits at most.
  public static let defaultWait = TimeAmount.seconds(10)

  private struct Waiter {
    let lsn: UInt64
    let resume: @Sendable (Bool) -> Void
    let timer: Scheduled<Void>?
  }

  private let waiting = Atomic<Int>(0)
  private let waiters = Mutex<[Int: Waiter]>([:])
  private let nextID = Atomic<Int>(0)

  public init() {}

  /// Calls `resume(true)` once `applied()` reports `lsn` or beyond, or `resume(false)` at
  /// `deadline` (or after ``defaultWait`` without one). `current` is read after registering, so
  /// a change applied meanwhile is not missed.
  public func wait(
    for lsn: UInt64, current: () -> UInt64, eventLoop: any EventLoop, deadline: NIODeadline?,
    resume: @escaping @Sendable (Bool) -> Void
  ) {
    let id = nextID.add(1, ordering: .relaxed).newValue
    let timer = eventLoop.scheduleTask(deadline: deadline ?? .now() + Self.defaultWait) { [weak self] in
      guard let waiter = self?.take(id) else { return }
      waiter.resume(false)
    }
    waiters.withLock { $0[id] = Waiter(lsn: lsn, resume: resume, timer: timer) }
    waiting.add(1, ordering: .sequentiallyConsistent)
    if current() >= lsn, let waiter = take(id) {
      waiter.timer?.cancel()
      waiter.resume(true)
    }
  }

  /// Reports that everything up to `lsn` is applied.
  public func applied(_ lsn: UInt64) {
    guard waiting.load(ordering: .sequentiallyConsistent) > 0 else { return }
    let ready = waiters.withLock { waiters -> [Waiter] in
      let ids = waiters.filter { $0.value.lsn <= lsn }.map(\.key)
      return ids.compactMap { waiters.removeValue(forKey: $0) }
    }
    if !ready.isEmpty { waiting.subtract(ready.count, ordering: .sequentiallyConsistent) }
    for waiter in ready {
      waiter.timer?.cancel()
      waiter.resume(true)
    }
  }

  private func take(_ id: Int) -> Waiter? {
    let waiter = waiters.withLock { $0.removeValue(forKey: id) }
    if waiter != nil { waiting.subtract(1, ordering: .sequentiallyConsistent) }
    return waiter
  }
}
