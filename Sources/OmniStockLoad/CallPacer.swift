import Synchronization

/// Paces one connection's calls by its ``ArrivalSchedule``, on the connection's I/O thread.
///
/// Closed loop: `inFlight` calls start at once and each finished call starts the next. Open loop:
/// calls start when due (``OpenLoopClock``), at most ``maxOutstanding`` unanswered; `send` gets the
/// instant the call was *due*, which is where its latency is measured from. When the deadline
/// passes, no call starts any more and `ended` runs once (a stream half-closes there).
final class CallPacer: Sendable {
  /// Unanswered calls an open-loop connection may have; beyond it, due calls wait (and are sent
  /// late, measured from when they were due).
  static let maxOutstanding = 10_000

  private struct State {
    var clock: OpenLoopClock?
    var outstanding = 0
    var started = false
    var ended = false
  }

  private let schedule: ArrivalSchedule
  private let deadline: ContinuousClock.Instant
  private let connection: GRPCClientConnection
  private let send: @Sendable (_ due: ContinuousClock.Instant) -> Void
  private let ended: @Sendable () -> Void
  private let state = Mutex(State())

  init(
    schedule: ArrivalSchedule, deadline: ContinuousClock.Instant, connection: GRPCClientConnection,
    send: @escaping @Sendable (_ due: ContinuousClock.Instant) -> Void, ended: @escaping @Sendable () -> Void = {}
  ) {
    self.schedule = schedule
    self.deadline = deadline
    self.connection = connection
    self.send = send
    self.ended = ended
  }

  /// Calls that were due by the deadline but never sent (open loop: the server fell behind by
  /// more than ``maxOutstanding`` calls).
  var unsent: Int { state.withLock { $0.clock?.backlog ?? 0 } }

  /// Starts pacing (from any thread; the calls start on the I/O thread).
  func start() {
    connection.setTicker { [self] in tick() }
  }

  /// A call finished (I/O thread): in closed loop, the next one starts.
  func finished() {
    let next = state.withLock { state -> Bool in
      state.outstanding -= 1
      if case .closedLoop = schedule, ContinuousClock.now < deadline {
        state.outstanding += 1
        return true
      }
      return false
    }
    if next { send(.now) } else { endIfDue() }
  }

  private func tick() -> ContinuousClock.Instant? {
    let now = ContinuousClock.now
    guard now < deadline else {
      endIfDue()
      return nil
    }
    let due = state.withLock { state -> [ContinuousClock.Instant] in
      switch schedule {
      case .closedLoop(let inFlight):
        guard !state.started else { return [] }
        state.started = true
        state.outstanding = inFlight
        return Array(repeating: now, count: inFlight)
      case .openLoop(let perSecond):
        if state.clock == nil { state.clock = OpenLoopClock(perSecond: perSecond, start: now) }
        let times = state.clock!.due(by: now, limit: max(0, Self.maxOutstanding - state.outstanding))
        state.outstanding += times.count
        return times
      }
    }
    for instant in due { send(instant) }
    let next = state.withLock { $0.clock?.next } ?? deadline
    return min(next, deadline)
  }

  private func endIfDue() {
    guard ContinuousClock.now >= deadline else { return }
    let first = state.withLock { state -> Bool in
      defer { state.ended = true }
      return !state.ended
    }
    if first { ended() }
  }
}
