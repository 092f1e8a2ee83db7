import DequeModule
import Foundation
import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One POS terminal: a connection sending event batches on one long-lived `StreamEvents` stream
/// (or, with `unaryEvents`, as `ApplyEvents` calls), paced closed- or open-loop, at the locations
/// it owns: sales mostly, some returns, receipts and damage adjustments on Zipf-popular SKUs, and
/// occasional cycle counts of long-tail SKUs. It keeps the ledger of what was acknowledged.
/// Everything but `init` and `start` runs on the connection's I/O thread.
final class TerminalDriver: LoadDriver {
  /// What one event does to its position.
  enum Effect {
    case delta(Int64)
    case count(Int64)
  }

  struct Batch {
    var effects: [(LoadLedger.Position, Effect)]
    /// When it was due (latency is measured from here).
    var due: ContinuousClock.Instant
  }

  struct State {
    var ledger = LoadLedger()
    var stats = OperationStats()
    var zipf: ZipfGenerator
    var seq: UInt64 = 0
    /// Event times never go backwards on one terminal, so a count is never older than the
    /// terminal's own earlier events (which would make the server add them back on top of it).
    var lastEventTimeUnixMs: Int64 = 0
    /// The stream, once open.
    var stream: Int32?
    /// Batches sent on the stream and not yet acknowledged, oldest first (acks come in order).
    var pending: Deque<Batch> = []
    /// The deadline passed: half-close the stream once nothing is pending.
    var finishing = false
    var finished = false
  }

  let connection: GRPCClientConnection
  let state: Mutex<State>
  let failures = Atomic<Int>(0)
  let eventsAcked = Atomic<Int>(0)
  private let configuration: LoadConfiguration
  private let run: LoadRun
  private let device: String
  private let locations: [Int]
  private let operationName: String
  private let pacer = Mutex<CallPacer?>(nil)

  init(run: LoadRun, number: Int, deadline: ContinuousClock.Instant) throws {
    self.run = run
    configuration = run.configuration
    device = "load-\(run.runID)-pos-\(number)"
    let count = configuration.locations
    let terminals = configuration.terminals
    locations = terminals <= count ? Array(stride(from: number, to: count, by: terminals)) : [number % count]
    operationName =
      configuration.unaryEvents
      ? "ApplyEvents (\(configuration.eventsPerBatch) events)" : "StreamEvents batch ack (\(configuration.eventsPerBatch) events)"
    connection = try run.connect()
    state = Mutex(State(zipf: ZipfGenerator(count: configuration.skus, exponent: configuration.zipfExponent, seed: configuration.seed &+ UInt64(number))))
    let pacer = CallPacer(
      schedule: configuration.terminalSchedule, deadline: deadline, connection: connection,
      send: { [unowned self] due in send(due: due) }, ended: { [unowned self] in deadlinePassed() })
    self.pacer.withLock { $0 = pacer }
  }

  var operations: [(name: String, stats: OperationStats)] { state.withLock { [(operationName, $0.stats)] } }
  var ledger: LoadLedger { state.withLock { $0.ledger } }
  var unsent: Int { pacer.withLock { $0?.unsent ?? 0 } }

  func start() {
    guard !configuration.unaryEvents else {
      pacer.withLock { $0 }?.start()
      return
    }
    connection.openStream(
      path: "/omnistock.v1.Ingest/StreamEvents",
      onOpen: { [self] id in
        state.withLock { $0.stream = id }
        pacer.withLock { $0 }?.start()
      },
      onMessage: { [self] bytes in acknowledged(bytes) },
      completion: { [self] status, _, _ in
        // The stream ended: whatever was not acknowledged has an unknown outcome.
        let lost = state.withLock { state -> Bool in
          for batch in state.pending { for (position, _) in batch.effects { state.ledger.unknown(position) } }
          let lost = !state.pending.isEmpty || status != 0
          if lost { state.stats.record(micros: 1, status: status == 0 ? -1 : status) }
          state.pending.removeAll()
          return lost
        }
        if lost { failures.add(1, ordering: .relaxed) }
      })
  }

  private func send(due: ContinuousClock.Instant) {
    let batch = nextBatch()
    let message = (try? batch.request.serializedBytes()) ?? []
    guard configuration.unaryEvents else {
      let stream = state.withLock { state -> Int32? in
        state.pending.append(Batch(effects: batch.effects, due: due))
        return state.stream
      }
      if let stream { connection.send(message, on: stream) }
      return
    }
    connection.unaryFromIOThread(path: "/omnistock.v1.Ingest/ApplyEvents", message: message) { [self] status, _, bytes in
      let ack = status == 0 ? try? Omnistock_V1_EventAck(serializedBytes: bytes) : nil
      settle(Batch(effects: batch.effects, due: due), ack: ack, status: status)
      pacer.withLock { $0 }?.finished()
    }
  }

  /// One ack on the stream: the oldest pending batch's.
  private func acknowledged(_ bytes: [UInt8]) {
    let ack = try? Omnistock_V1_EventAck(serializedBytes: bytes)
    guard let batch = state.withLock({ $0.pending.popFirst() }) else { return }
    settle(batch, ack: ack, status: ack == nil ? -1 : 0)
    pacer.withLock { $0 }?.finished()
    finishIfDone()
  }

  /// Records a batch's answer: into the ledger if every event applied, else its positions are
  /// uncertain.
  private func settle(_ batch: Batch, ack: Omnistock_V1_EventAck?, status: Int) {
    let applied = state.withLock { state -> Int in
      state.stats.record(micros: LoadRun.micros(since: batch.due), status: status)
      guard let ack, ack.applied == ack.received, ack.outcomes.isEmpty else {
        for (position, _) in batch.effects { state.ledger.unknown(position) }
        return 0
      }
      for (position, effect) in batch.effects {
        switch effect {
        case .delta(let delta): state.ledger.applied(position, delta: delta)
        case .count(let quantity): state.ledger.counted(position, quantity: quantity)
        }
      }
      return batch.effects.count
    }
    if status != 0 { failures.add(1, ordering: .relaxed) }
    eventsAcked.add(applied, ordering: .relaxed)
  }

  private func deadlinePassed() {
    state.withLock { $0.finishing = true }
    finishIfDone()
  }

  /// Half-closes the stream once the deadline passed and every batch is answered.
  private func finishIfDone() {
    let stream = state.withLock { state -> Int32? in
      guard state.finishing, !state.finished, state.pending.isEmpty, let stream = state.stream else { return nil }
      state.finished = true
      return stream
    }
    if let stream { connection.finish(stream) }
  }

  /// The next batch, and what each of its events does to its position.
  private func nextBatch() -> (request: Omnistock_V1_EventBatch, effects: [(LoadLedger.Position, Effect)]) {
    state.withLock { state in
      var batch = Omnistock_V1_EventBatch()
      var effects: [(LoadLedger.Position, Effect)] = []
      let now = Int64(Date().timeIntervalSince1970 * 1000)
      state.lastEventTimeUnixMs = max(state.lastEventTimeUnixMs, now)
      for _ in 0..<configuration.eventsPerBatch {
        state.seq += 1
        var event = Omnistock_V1_StockEvent()
        event.deviceID = device
        event.deviceSeq = state.seq
        event.locationID = run.locationName(locations[state.zipf.uniform(locations.count)])
        event.eventTimeUnixMs = state.lastEventTimeUnixMs
        let effect: Effect
        if configuration.countsEnabled && Double(state.zipf.uniform(10_000)) < configuration.countPercent * 100 {
          // A cycle count of a long-tail SKU (never one carts reserve; see LoadConfiguration).
          let tail = configuration.skus - configuration.stockedSKUs
          event.sku = run.skuName(configuration.stockedSKUs + state.zipf.uniform(tail))
          event.type = .count
          event.quantity = Int64(state.zipf.uniform(50))
          effect = .count(event.quantity)
        } else {
          event.sku = run.skuName(state.zipf.next())
          switch state.zipf.uniform(100) {
          case 0..<70:
            event.type = .sale
            event.quantity = Int64(1 + state.zipf.uniform(3))
            effect = .delta(-event.quantity)
          case 70..<80:
            event.type = .return
            event.quantity = 1
            effect = .delta(1)
          case 80..<95:
            event.type = .receipt
            event.quantity = Int64(6 * (1 + state.zipf.uniform(4)))
            effect = .delta(event.quantity)
          default:
            event.type = .adjustment
            event.reason = .damage
            event.quantity = -1
            effect = .delta(-1)
          }
        }
        batch.events.append(event)
        effects.append((LoadLedger.Position(sku: event.sku, location: event.locationID), effect))
      }
      return (batch, effects)
    }
  }
}
