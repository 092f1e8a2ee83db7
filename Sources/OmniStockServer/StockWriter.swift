public import GRPCNGHTTP2
public import StockIndex
import Synchronization

/// Assigns log sequence numbers and applies changes to the index in that order.
///
/// **Interim** (until the write-ahead log, issue 4, assigns LSNs and makes changes durable):
/// writes are serialized here so that LSN order and apply order agree; that is what makes
/// `ReadOptions.min_lsn` sound (once the index reports LSN n, every change up to n is visible).
/// Reads never take this lock.
public final class StockWriter: Sendable {
  public let index: StockIndex
  private let lastLSN = Mutex<UInt64>(0)

  public init(index: StockIndex) {
    self.index = index
  }

  /// The last LSN assigned.
  public var lsn: UInt64 { lastLSN.withLock { $0 } }

  /// Applies `updates` under a new LSN and returns it with each update's outcome.
  public func commit(_ updates: [StockUpdate], nowUnixMs: Int64) -> (lsn: UInt64, outcomes: [StockUpdateOutcome]) {
    lastLSN.withLock { lsn in
      lsn += 1
      let outcomes = index.apply(updates, lsn: lsn, nowUnixMs: nowUnixMs)
      index.noteApplied(lsn)
      return (lsn, outcomes)
    }
  }

  /// Runs `body` with a new LSN, for configuration changes (locations, groups), in LSN order.
  public func commit<Result>(_ body: (UInt64) throws(GRPCStatus) -> Result) throws(GRPCStatus) -> Result {
    try lastLSN.withLock { lsn throws(GRPCStatus) -> Result in
      let next = lsn + 1
      let result = try body(next)
      lsn = next
      index.noteApplied(next)
      return result
    }
  }
}
