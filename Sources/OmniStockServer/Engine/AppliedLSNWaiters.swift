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
  /// `deadline` (or after ``defaultWait`` without one), or when ``cancel(_:)`` is called with the
  /// id returned. `current` is read after registering, so a change applied meanwhile is not
  /// missed.
  @discardableResult
  public func wait(
    for lsn: UInt64, current: () -> UInt64, eventLoop: any EventLoop, deadline: NIODeadline?,
    resume: @escaping @Sendable (Bool) -> Void
  ) -> Int {
    let id = nextID.add(1, ordering: .relaxed).newValue
    // Registered before the timer exists, so the timer always finds it (or finds it gone).
    waiters.withLock { $0[id] = Waiter(lsn: lsn, resume: resume, timer: nil) }
    waiting.add(1, ordering: .sequentiallyConsistent)
    let timer = eventLoop.scheduleTask(deadline: deadline ?? .now() + Self.defaultWait) { [weak self] () -> Void in
      guard let self else { return }
      self.cancel(id)
    }
    let stillWaiting = waiters.withLock { waiters -> Bool in
      guard let waiter = waiters[id] else { return false }
      waiters[id] = Waiter(lsn: waiter.lsn, resume: waiter.resume, timer: timer)
      return true
    }
    if !stillWaiting { timer.cancel() }
    if current() >= lsn, let waiter = take(id) {
      waiter.timer?.cancel()
      waiter.resume(true)
    }
    return id
  }

  /// Ends the wait `id` with `resume(false)` if it is still waiting (its deadline passed, or its
  /// caller went away).
  public func cancel(_ id: Int) {
    guard let waiter = take(id) else { return }
    waiter.timer?.cancel()
    waiter.resume(false)
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
