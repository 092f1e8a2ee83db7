/// When a driver sends its next request.
///
/// - `closedLoop`: a fixed number of requests in flight; each answer sends the next. Measures the
///   most the server can do, but a stall also stops the sender, so the stall hides in fewer
///   samples (coordinated omission).
/// - `openLoop`: requests are due at a fixed rate whatever the server does. Each one's latency is
///   measured from when it was *due*, not from when it could be sent, so a stall shows up in every
///   request that should have gone out during it.
public enum ArrivalSchedule: Sendable, Equatable {
  case closedLoop(inFlight: Int)
  case openLoop(perSecond: Double)
}

/// The intended send times of an open-loop driver: one every `interval`, from `start`. The I/O
/// thread asks which are due; it never skips one, so a backlog is sent late and measured from its
/// intended time.
public struct OpenLoopClock: Sendable {
  public let interval: Duration
  public private(set) var next: ContinuousClock.Instant
  /// Sends that were due but not sent because `maxOutstanding` requests were unanswered.
  public private(set) var backlog = 0

  /// `perSecond` > 0. The first send is due at `start`.
  public init(perSecond: Double, start: ContinuousClock.Instant) {
    precondition(perSecond > 0)
    interval = .nanoseconds(max(1, Int64((1e9 / perSecond).rounded())))
    next = start
  }

  /// Takes the intended times due by `now` (at most `limit` of them), oldest first; those left
  /// over stay due.
  public mutating func due(by now: ContinuousClock.Instant, limit: Int) -> [ContinuousClock.Instant] {
    var times: [ContinuousClock.Instant] = []
    while next <= now && times.count < limit {
      times.append(next)
      next += interval
    }
    backlog = next <= now ? Int((now - next) / interval) + 1 : 0
    return times
  }
}
