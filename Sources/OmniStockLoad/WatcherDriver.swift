import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One `WatchAvailability` subscriber on its own connection: the hottest `watchedSKUs` SKUs at
/// every location of the run, changes only (no initial state). It counts messages and updates;
/// it does not time them, since the server keeps a position's `updated_at` to the second only
/// (a lag measured from it would be mostly rounding). At the deadline the run closes its
/// connection.
final class WatcherDriver: LoadDriver {
  struct State {
    var messages = 0
    var updates = 0
    /// How the stream ended early, if it did.
    var failure = OperationStats()
  }

  let connection: GRPCClientConnection
  let state = Mutex(State())
  let failures = Atomic<Int>(0)
  private let request: [UInt8]
  private let deadline: ContinuousClock.Instant

  init(run: LoadRun, deadline: ContinuousClock.Instant) throws {
    let configuration = run.configuration
    self.deadline = deadline
    connection = try run.connect()
    var request = Omnistock_V1_WatchAvailabilityRequest()
    request.filter.skus = (0..<min(configuration.watchedSKUs, configuration.skus)).map(run.skuName)
    request.filter.locationIds = (0..<configuration.locations).map(run.locationName)
    request.skipInitialState = true
    self.request = try request.serializedBytes()
  }

  var operations: [(name: String, stats: OperationStats)] { state.withLock { [("WatchAvailability (ended early)", $0.failure)] } }
  var ledger: LoadLedger { LoadLedger() }
  var unsent: Int { 0 }
  /// Stream messages received, and the key updates they carried (coalesced under back-pressure).
  var received: (messages: Int, updates: Int) { state.withLock { ($0.messages, $0.updates) } }

  func start() {
    connection.openStream(
      path: "/omnistock.v1.Availability/WatchAvailability",
      onOpen: { [self] id in
        connection.send(request, on: id)
        connection.finish(id)
      },
      onMessage: { [self] bytes in
        guard let message = try? Omnistock_V1_WatchAvailabilityResponse(serializedBytes: bytes) else { return }
        state.withLock { state in
          state.messages += 1
          state.updates += message.updates.count
        }
      },
      completion: { [self] status, _, _ in
        // The run ends a watch by closing the connection; an end before the deadline is a failure.
        if ContinuousClock.now < deadline {
          state.withLock { $0.failure.record(micros: 1, status: status == 0 ? -1 : status) }
          failures.add(1, ordering: .relaxed)
        }
      })
  }
}
