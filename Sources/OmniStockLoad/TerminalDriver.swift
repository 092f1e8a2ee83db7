import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One POS terminal: a connection sending event batches closed-loop (a fixed number in flight)
/// on one long-lived `StreamEvents` stream (or, with `unaryEvents`, as `ApplyEvents` calls),
/// sales mostly, some returns and receipts, on Zipf-popular SKUs; it keeps the ledger of what
/// was acknowledged. Everything runs on the connection's I/O thread.
final class TerminalDriver: Sendable {
  struct State {
    var ledger = LoadLedger()
    var stats = OperationStats()
    var zipf: ZipfGenerator
    var seq: UInt64 = 0
    /// The stream, once open.
    var stream: Int32?
    /// Batches sent on the stream and not yet acknowledged, oldest first (acks come in order).
    var pending: [(positions: [(LoadLedger.Position, Int64)], started: ContinuousClock.Instant)] = []
    var finished = false
  }

  let connection: GRPCClientConnection
  let state: Mutex<State>
  let eventsAcked = Atomic<Int>(0)
  let failures = Atomic<Int>(0)
  private let run: LoadRun
  private let device: String
  private let deadline: ContinuousClock.Instant

  init(run: LoadRun, number: Int, deadline: ContinuousClock.Instant) throws {
    self.run = run
    self.deadline = deadline
    device = "load-\(run.runID)-pos-\(number)"
    connection = try GRPCClientConnection(host: run.configuration.host, port: run.configuration.port)
    state = Mutex(State(zipf: ZipfGenerator(count: run.configuration.skus, exponent: run.configuration.zipfExponent, seed: run.configuration.seed &+ UInt64(number))))
  }

  func start() {
    guard !run.configuration.unaryEvents else {
      for _ in 0..<run.configuration.batchesInFlight { sendNext(fromIOThread: false) }
      return
    }
    connection.openStream(
      path: "/omnistock.v1.Ingest/StreamEvents",
      onOpen: { [self] id in
        state.withLock { $0.stream = id }
        for _ in 0..<run.configuration.batchesInFlight { sendOnStream() }
      },
      onMessage: { [self] bytes in acknowledged(bytes) },
      completion: { [self] status, _, _ in
        // The stream ended: whatever was not acknowledged has an unknown outcome.
        state.withLock { state in
          for batch in state.pending { for (position, _) in batch.positions { state.ledger.unknown(position) } }
          if !state.pending.isEmpty || status != 0 { state.stats.record(micros: 1, status: status == 0 ? -1 : status) }
          state.pending.removeAll()
        }
        if status != 0 { failures.add(1, ordering: .relaxed) }
      })
  }

  /// Sends the next batch on the stream, or half-closes it after the deadline once every batch
  /// is acknowledged (I/O thread).
  private func sendOnStream() {
    guard ContinuousClock.now < deadline else {
      let (stream, done) = state.withLock { state -> (Int32?, Bool) in
        let done = state.pending.isEmpty && !state.finished
        if done { state.finished = true }
        return (state.stream, done)
      }
      if done, let stream { connection.finish(stream) }
      return
    }
    let (batch, positions) = nextBatch()
    let stream = state.withLock { state -> Int32? in
      state.pending.append((positions, ContinuousClock.now))
      return state.stream
    }
    guard let stream, let message: [UInt8] = try? batch.serializedBytes() else { return }
    connection.send(message, on: stream)
  }

  /// One ack on the stream: the oldest pending batch's (I/O thread).
  private func acknowledged(_ bytes: [UInt8]) {
    let ack = try? Omnistock_V1_EventAck(serializedBytes: bytes)
    let applied = state.withLock { state -> Int in
      guard !state.pending.isEmpty else { return 0 }
      let batch = state.pending.removeFirst()
      state.stats.record(micros: LoadRun.micros(since: batch.started), status: ack == nil ? -1 : 0)
      if let ack, ack.applied == ack.received, ack.outcomes.isEmpty {
        for (position, delta) in batch.positions { state.ledger.applied(position, delta: delta) }
        return batch.positions.count
      }
      for (position, _) in batch.positions { state.ledger.unknown(position) }
      return 0
    }
    eventsAcked.add(applied, ordering: .relaxed)
    sendOnStream()
  }

  /// The next batch, and what each of its events does to its position.
  private func nextBatch() -> (Omnistock_V1_EventBatch, [(LoadLedger.Position, Int64)]) {
    state.withLock { state -> (Omnistock_V1_EventBatch, [(LoadLedger.Position, Int64)]) in
      var batch = Omnistock_V1_EventBatch()
      var positions: [(LoadLedger.Position, Int64)] = []
      for _ in 0..<run.configuration.eventsPerBatch {
        state.seq += 1
        let position = LoadLedger.Position(
          sku: run.skuName(state.zipf.next()), location: run.locationName(state.zipf.uniform(run.configuration.locations)))
        var event = Omnistock_V1_StockEvent()
        event.deviceID = device
        event.deviceSeq = state.seq
        event.locationID = position.location
        event.sku = position.sku
        event.quantity = Int64(1 + state.zipf.uniform(3))
        event.eventTimeUnixMs = Int64(Date().timeIntervalSince1970 * 1000)
        switch state.zipf.uniform(10) {
        case 0: event.type = .return
        case 1, 2: event.type = .receipt
        default: event.type = .sale
        }
        batch.events.append(event)
        positions.append((position, event.type == .sale ? -event.quantity : event.quantity))
      }
      return (batch, positions)
    }
  }

  private func sendNext(fromIOThread: Bool) {
    guard ContinuousClock.now < deadline else { return }
    let (batch, positions) = nextBatch()
    let started = ContinuousClock.now
    let message = (try? batch.serializedBytes()) ?? []
    let completion: GRPCClientConnection.Completion = { [self] status, _, bytes in
      let ack = status == 0 ? try? Omnistock_V1_EventAck(serializedBytes: bytes) : nil
      state.withLock { state in
        state.stats.record(micros: LoadRun.micros(since: started), status: status)
        if let ack, ack.applied == ack.received, ack.outcomes.isEmpty {
          for (position, delta) in positions { state.ledger.applied(position, delta: delta) }
        } else {
          for (position, _) in positions { state.ledger.unknown(position) }
        }
      }
      if status == 0 { eventsAcked.add(positions.count, ordering: .relaxed) } else { failures.add(1, ordering: .relaxed) }
      sendNext(fromIOThread: true)
    }
    if fromIOThread {
      connection.unaryFromIOThread(path: "/omnistock.v1.Ingest/ApplyEvents", message: message, completion: completion)
    } else {
      connection.unary(path: "/omnistock.v1.Ingest/ApplyEvents", message: message, completion: completion)
    }
  }
}

import Foundation
