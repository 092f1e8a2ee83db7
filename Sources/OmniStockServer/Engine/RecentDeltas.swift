/// The deltas (sales, returns, receipts, adjustments) applied recently to each position, with
/// their device event times: what an absolute update (a count, a snapshot entry) that *happened
/// before* them but *arrives after* them must add back, so that a late count or sync never erases
/// a movement that followed it.
///
/// ## Guarantees
/// - Bounded: deltas whose event time is more than ``windowMs`` older than the newest noted are
///   dropped, and at most ``maxPerPosition`` are kept per position (the oldest go first).
/// - Used only when a write is decided (under the write order); the correction it yields is logged
///   with the write, so replaying a write never needs it. It is part of checkpoints (and noted
///   again for the records replayed after one), so a late count after a restart is corrected like
///   one before it.
public struct RecentDeltas: Sendable {
  /// How far back, in event time, deltas are remembered.
  public static let windowMs: Int64 = 3_600_000
  /// Most deltas remembered per position.
  public static let maxPerPosition = 64

  private struct Delta: Sendable {
    var eventTimeUnixMs: Int64
    var amount: Int64
  }

  private var deltas: [PositionKey: [Delta]] = [:]
  private var newestUnixMs: Int64 = 0
  private var nextPruneUnixMs: Int64 = 0

  public init() {}

  /// Notes a delta applied to `position`.
  mutating func note(_ position: PositionKey, amount: Int64, eventTimeUnixMs: Int64) {
    newestUnixMs = max(newestUnixMs, eventTimeUnixMs)
    Self.append(Delta(eventTimeUnixMs: eventTimeUnixMs, amount: amount), to: &deltas[position, default: []])
    if newestUnixMs >= nextPruneUnixMs { prune() }
  }

  /// Appends in place (one hash lookup), keeping the newest ``maxPerPosition``.
  private static func append(_ delta: Delta, to list: inout [Delta]) {
    list.append(delta)
    if list.count > maxPerPosition { list.removeFirst(list.count - maxPerPosition) }
  }

  /// Every delta remembered, for a checkpoint: (position, event time, amount).
  var all: [(position: PositionKey, eventTimeUnixMs: Int64, amount: Int64)] {
    deltas.flatMap { position, list in list.map { (position, $0.eventTimeUnixMs, $0.amount) } }
  }

  /// The sum of the deltas noted for `position` that happened after `unixMs`.
  func sum(_ position: PositionKey, after unixMs: Int64) -> Int64 {
    guard let list = deltas[position] else { return 0 }
    return list.reduce(0) { $1.eventTimeUnixMs > unixMs ? $0 &+ $1.amount : $0 }
  }

  /// Forgets the deltas of `position` that happened at or before `unixMs` (an absolute update as
  /// of then includes them).
  mutating func forget(_ position: PositionKey, through unixMs: Int64) {
    guard var list = deltas[position] else { return }
    list.removeAll { $0.eventTimeUnixMs <= unixMs }
    deltas[position] = list.isEmpty ? nil : list
  }

  private mutating func prune() {
    let horizon = newestUnixMs - Self.windowMs
    deltas = deltas.compactMapValues { list in
      let kept = list.filter { $0.eventTimeUnixMs >= horizon }
      return kept.isEmpty ? nil : kept
    }
    nextPruneUnixMs = newestUnixMs + 60_000
  }
}
