import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One POS terminal: a connection sending `ApplyEvents` batches closed-loop (a fixed number in
/// flight), sales mostly, some returns and receipts, on Zipf-popular SKUs; it keeps the ledger
/// of what was acknowledged. Everything runs on the connection's I/O thread.
final class TerminalDriver: Sendable {
  struct State {
    var ledger = LoadLedger()
    var stats = OperationStats()
    var zipf: ZipfGenerator
    var seq: UInt64 = 0
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
    for _ in 0..<run.configuration.batchesInFlight { sendNext(fromIOThread: false) }
  }

  private func sendNext(fromIOThread: Bool) {
    guard ContinuousClock.now < deadline else { return }
    let (batch, positions) = state.withLock { state -> (Omnistock_V1_EventBatch, [(LoadLedger.Position, Int64)]) in
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
