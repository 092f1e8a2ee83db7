import Synchronization

/// A deliberately simple, lock-protected table of positions: the minimal path that lets the
/// foundation serve real reads and writes end to end.
///
/// **Provisional.** The sharded, lock-free `StockIndex` (issue 3) replaces it; it has no group
/// totals, no reservations and no durability. What it guarantees: every batch of changes applies
/// atomically (a reader sees all of a batch or none of it), and each batch gets the next LSN.
public final class ProvisionalStockTable: Sendable {
  /// A position's identity.
  public struct Key: Hashable, Sendable {
    public let sku: String
    public let locationID: String

    public init(sku: String, locationID: String) {
      self.sku = sku
      self.locationID = locationID
    }
  }

  /// What is known about one position.
  public struct Position: Sendable, Equatable {
    public var onHand: Int64 = 0
    public var updatedAtUnixMs: Int64 = 0
    public var sourceTimeUnixMs: Int64 = 0
    public var lastAbsoluteTimeUnixMs: Int64 = 0
    public var lsn: UInt64 = 0
  }

  /// One change to apply.
  public enum Change: Sendable {
    /// on_hand += delta (sales are negative deltas).
    case delta(Key, Int64, eventTimeUnixMs: Int64)
    /// on_hand = quantity (a count or a snapshot entry), as of `timeUnixMs`.
    case absolute(Key, Int64, timeUnixMs: Int64)
    /// Every position of the location not in `keep` becomes 0 as of `timeUnixMs` (REPLACE snapshots).
    case zeroMissing(locationID: String, keep: Set<String>, timeUnixMs: Int64)
  }

  private struct State {
    var positions: [Key: Position] = [:]
    var lsn: UInt64 = 0
  }

  private let state = Mutex(State())

  public init() {}

  /// The position (nil if never written) and the table's current LSN.
  public func read(_ key: Key) -> (position: Position?, lsn: UInt64) {
    state.withLock { ($0.positions[key], $0.lsn) }
  }

  /// The table's current LSN.
  public var lsn: UInt64 { state.withLock { $0.lsn } }

  /// Applies `changes` atomically under a new LSN (none if `changes` is empty) and returns the LSN.
  /// An absolute change older than the position's last absolute time is skipped (a stale sync
  /// never overwrites newer state); the count of such skips is returned too.
  @discardableResult
  public func apply(_ changes: [Change], nowUnixMs: Int64) -> (lsn: UInt64, keptNewer: Int) {
    state.withLock { state in
      guard !changes.isEmpty else { return (state.lsn, 0) }
      state.lsn += 1
      let lsn = state.lsn
      var keptNewer = 0
      for change in changes {
        switch change {
        case .delta(let key, let delta, let eventTime):
          var position = state.positions[key] ?? Position()
          position.onHand &+= delta
          position.sourceTimeUnixMs = max(position.sourceTimeUnixMs, eventTime)
          position.updatedAtUnixMs = nowUnixMs
          position.lsn = lsn
          state.positions[key] = position
        case .absolute(let key, let quantity, let time):
          var position = state.positions[key] ?? Position()
          guard position.lastAbsoluteTimeUnixMs <= time else {
            keptNewer += 1
            continue
          }
          position.onHand = quantity
          position.lastAbsoluteTimeUnixMs = time
          position.sourceTimeUnixMs = max(position.sourceTimeUnixMs, time)
          position.updatedAtUnixMs = nowUnixMs
          position.lsn = lsn
          state.positions[key] = position
        case .zeroMissing(let locationID, let keep, let time):
          for (key, var position) in state.positions
          where key.locationID == locationID && !keep.contains(key.sku) && position.lastAbsoluteTimeUnixMs <= time {
            position.onHand = 0
            position.lastAbsoluteTimeUnixMs = time
            position.updatedAtUnixMs = nowUnixMs
            position.lsn = lsn
            state.positions[key] = position
          }
        }
      }
      return (lsn, keptNewer)
    }
  }
}
