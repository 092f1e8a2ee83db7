public import OmniStockAPI

/// The exceptions the engine *records* when they happen (count variances, sequence gaps,
/// invariant violations), newest last, in a bounded history: beyond ``capacity`` the oldest are
/// dropped (and counted in ``dropped``). Conditions that hold or not at any moment (negative
/// on-hand, stale locations) are not recorded here; they are derived when listed.
public struct ExceptionJournal: Sendable {
  /// Exceptions kept.
  public static let capacity = 10_000

  /// The kept exceptions, oldest first.
  public private(set) var entries: [Omnistock_V1_StockException] = []
  /// Id of the next exception (ids increase with detection order and are never reused).
  public private(set) var nextID: UInt64 = 1
  /// Exceptions dropped from the history because it was full.
  public private(set) var dropped: UInt64 = 0
  private var start = 0

  public init() {}

  /// Restores a journal from a checkpoint.
  public init(entries: [Omnistock_V1_StockException], nextID: UInt64) {
    self.entries = Array(entries.suffix(Self.capacity))
    self.nextID = max(nextID, (entries.last?.exceptionID ?? 0) + 1)
  }

  /// Records `exception`, giving it the next id.
  public mutating func record(_ exception: Omnistock_V1_StockException) {
    var exception = exception
    exception.exceptionID = nextID
    nextID += 1
    if entries.count < Self.capacity {
      entries.append(exception)
    } else {
      entries[start] = exception
      start = (start + 1) % Self.capacity
      dropped += 1
    }
  }

  /// The kept exceptions in detection order.
  public var ordered: [Omnistock_V1_StockException] {
    start == 0 ? entries : Array(entries[start...] + entries[..<start])
  }
}
