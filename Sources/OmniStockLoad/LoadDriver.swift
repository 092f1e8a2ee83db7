import Synchronization

/// One simulated client of a run (a POS terminal, a storefront, a shopper, a watcher) on its own
/// connection. The run starts it, reads its figures while it runs (live progress) and after.
protocol LoadDriver: Sendable {
  var connection: GRPCClientConnection { get }
  /// Calls that failed (no answer, or an error status that is not a business outcome).
  var failures: Atomic<Int> { get }
  /// Latency and outcomes per kind of call so far.
  var operations: [(name: String, stats: OperationStats)] { get }
  /// Its ledger of acknowledged changes so far.
  var ledger: LoadLedger { get }
  /// Calls that were due by the deadline but never sent (open loop only).
  var unsent: Int { get }
  func start()
}
