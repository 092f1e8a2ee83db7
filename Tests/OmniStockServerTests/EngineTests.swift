import Foundation
import GRPCNGHTTP2
import Synchronization
import WriteAheadLog
import OmniStockAPI
@testable import OmniStockServer
import StockIndex
import Testing

/// The inventory engine's event semantics (SPEC section 3), in-process: exactly once per device,
/// gaps, counts superseding older deltas, rejections, count variances, and that a restart
/// rebuilds exactly the same state from the log.
@Suite("Engine: POS events", .timeLimit(.minutes(2)))
struct EngineTests {
  static let t0: Int64 = 1_700_000_000_000

  static func engine() async throws -> InProcessEngine {
    let engine = try InProcessEngine()
    try await engine.declare(Fixtures.location("store-1"))
    try await engine.declare(Fixtures.location("store-2"))
    return engine
  }

  func sales(_ seqs: ClosedRange<UInt64>, sku: String, device: String = "pos-1") -> [Omnistock_V1_StockEvent] {
    seqs.map { Fixtures.event(device: device, seq: $0, sku: sku, type: .sale, quantity: 1, time: Self.t0 + Int64($0)) }
  }

  @Test("a resent batch after a reconnect applies once: DUPLICATE for what was applied, the rest applies")
  func duplicatesAfterReconnect() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    _ = try await engine.send([Fixtures.event(seq: 1, sku: sku, type: .receipt, quantity: 100, time: Self.t0)])
    let first = try await engine.send(sales(2...6, sku: sku))
    #expect(first.applied == 5 && first.outcomes.isEmpty)
    #expect(first.highWater.map(\.deviceSeq) == [6])
    let resent = try await engine.send(sales(4...9, sku: sku))
    #expect(resent.received == 6 && resent.applied == 3 && resent.duplicates == 3)
    #expect(resent.outcomes.map(\.index) == [0, 1, 2])
    #expect(resent.outcomes.allSatisfy { $0.kind == .duplicate })
    #expect(resent.highWater.map(\.deviceSeq) == [9])
    #expect(engine.onHand(sku, at: "store-1") == 92)
    let again = try await engine.send(sales(4...9, sku: sku))
    #expect(again.duplicates == 6 && again.applied == 0 && again.lsn > 0)
    #expect(engine.onHand(sku, at: "store-1") == 92)
    try await engine.destroy()
  }

  @Test("a jump in device_seq applies and reports the missing range as GAP and as an exception")
  func gap() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    _ = try await engine.send(sales(1...2, sku: sku))
    let ack = try await engine.send(sales(6...6, sku: sku))
    #expect(ack.applied == 1 && ack.gaps == 1)
    #expect(ack.outcomes.first?.kind == .gap && ack.outcomes.first?.gapFrom == 3 && ack.outcomes.first?.gapTo == 5)
    let exceptions = engine.writer.read { $0.exceptions.ordered }
    #expect(exceptions.last?.kind == .sequenceGap && exceptions.last?.gapFrom == 3 && exceptions.last?.gapTo == 5)
    #expect(engine.onHand(sku, at: "store-1") == -3)
    try await engine.destroy()
  }

  @Test("an offline terminal's backlog older than a count is SUPERSEDED; later deltas apply on top")
  func supersededAfterCount() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    let count = Fixtures.event(device: "handheld-1", seq: 1, sku: sku, type: .count, quantity: 10, time: Self.t0 + 1_000)
    _ = try await engine.send([count])
    // The terminal was offline: its sales at t0+10 and t0+20 are already in the count; t0+2000 is not.
    let backlog = [
      Fixtures.event(device: "pos-9", seq: 1, sku: sku, type: .sale, quantity: 1, time: Self.t0 + 10),
      Fixtures.event(device: "pos-9", seq: 2, sku: sku, type: .sale, quantity: 2, time: Self.t0 + 20),
      Fixtures.event(device: "pos-9", seq: 3, sku: sku, type: .sale, quantity: 3, time: Self.t0 + 2_000),
    ]
    let ack = try await engine.send(backlog)
    #expect(ack.superseded == 2 && ack.applied == 1)
    #expect(ack.outcomes.map(\.kind) == [.superseded, .superseded])
    #expect(ack.highWater.first?.deviceSeq == 3)
    #expect(engine.onHand(sku, at: "store-1") == 7)
    // An older count is superseded by the newer one too.
    let stale = Fixtures.event(device: "handheld-1", seq: 2, sku: sku, type: .count, quantity: 50, time: Self.t0 + 500)
    #expect(try await engine.send([stale]).superseded == 1)
    #expect(engine.onHand(sku, at: "store-1") == 7)
    try await engine.destroy()
  }

  @Test("a count that arrives after later sales adds them back: a late count never erases a later movement")
  func lateCountKeepsLaterSales() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    _ = try await engine.send([Fixtures.event(device: "pos", seq: 1, sku: sku, type: .receipt, quantity: 10, time: Self.t0)])
    _ = try await engine.send([Fixtures.event(device: "pos", seq: 2, sku: sku, type: .sale, quantity: 5, time: Self.t0 + 20_000)])
    // The handheld counted 10 at t0+10s (all there then) and syncs only now, after the sale.
    let count = try await engine.send([
      Fixtures.event(device: "handheld", seq: 1, sku: sku, type: .count, quantity: 10, time: Self.t0 + 10_000)
    ])
    #expect(count.applied == 1)
    #expect(engine.onHand(sku, at: "store-1") == 5, "10 counted, minus the sale that followed the count")
    let variances = engine.writer.read { $0.exceptions.ordered.filter { $0.kind == .countVariance && $0.sku == sku } }
    #expect(variances.isEmpty, "the count matched the stock as of its time (10), not now (5)")
    // The same within one batch: a sale after the count, sent before it.
    let other = Fixtures.uniqueSKU()
    _ = try await engine.send([
      Fixtures.event(device: "pos", seq: 3, sku: other, type: .receipt, quantity: 20, time: Self.t0),
      Fixtures.event(device: "pos", seq: 4, sku: other, type: .sale, quantity: 5, time: Self.t0 + 30_000),
      Fixtures.event(device: "pos", seq: 5, sku: other, type: .count, quantity: 18, time: Self.t0 + 10_000),
    ])
    #expect(engine.onHand(other, at: "store-1") == 13)
    // A checkpoint and a restart remember the recent deltas: a late count after them is corrected too.
    let third = Fixtures.uniqueSKU()
    _ = try await engine.send([Fixtures.event(device: "pos", seq: 6, sku: third, type: .receipt, quantity: 10, time: Self.t0)])
    _ = try await engine.send([Fixtures.event(device: "pos", seq: 7, sku: third, type: .sale, quantity: 4, time: Self.t0 + 20_000)])
    _ = try await engine.server.checkpointer.checkpoint()
    let afterCheckpoint = try await engine.reopen()
    _ = try await afterCheckpoint.send([
      Fixtures.event(device: "handheld", seq: 2, sku: third, type: .count, quantity: 10, time: Self.t0 + 10_000)
    ])
    #expect(afterCheckpoint.onHand(third, at: "store-1") == 6)
    // Recovery applies the logged correction, not a recomputed one.
    let restarted = try await afterCheckpoint.reopen()
    #expect(restarted.onHand(sku, at: "store-1") == 5 && restarted.onHand(other, at: "store-1") == 13)
    try await restarted.destroy()
  }

  @Test("malformed and unknown-location events are REJECTED with a code; the rest applies; an inactive location accepts")
  func rejections() async throws {
    let engine = try await Self.engine()
    var inactive = Fixtures.location("store-closed")
    inactive.location.active = false
    try await engine.declare(inactive)
    let sku = Fixtures.uniqueSKU()
    let events = [
      Fixtures.event(seq: 1, sku: sku, type: .sale, quantity: 0),
      Fixtures.event(seq: 2, location: "store-404", sku: sku, type: .sale, quantity: 1),
      Fixtures.event(seq: 3, location: "store-closed", sku: sku, type: .receipt, quantity: 2),
      Fixtures.event(seq: 4, sku: sku, type: .receipt, quantity: 5),
    ]
    let ack = try await engine.send(events)
    #expect(ack.rejected == 2 && ack.applied == 2)
    #expect(ack.outcomes.map(\.code) == [3, 5, 0])
    #expect(ack.outcomes[1].reason.contains("store-404"))
    // Rejected events do not advance the high-water mark: the next accepted one reports them as a gap.
    #expect(ack.outcomes.last?.kind == .gap && ack.outcomes.last?.gapFrom == 1 && ack.outcomes.last?.gapTo == 2)
    #expect(ack.highWater.first?.deviceSeq == 4)
    #expect(engine.onHand(sku, at: "store-1") == 5)
    #expect(engine.onHand(sku, at: "store-closed") == 2, "an inactive location keeps its stock current")
    #expect(engine.index.position(sku: sku, location: "store-closed", nowUnixMs: 0)?.available == 0)
    #expect(engine.index.position(sku: sku, location: "store-404", nowUnixMs: 0) == nil)
    try await engine.destroy()
  }

  @Test("a count moving on-hand by the location's threshold or more is a COUNT_VARIANCE exception")
  func countVariance() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    _ = try await engine.send([Fixtures.event(seq: 1, sku: sku, type: .receipt, quantity: 100, time: Self.t0)])
    _ = try await engine.send([Fixtures.event(seq: 2, sku: sku, type: .count, quantity: 98, time: Self.t0 + 1)])
    var variances = engine.writer.read { $0.exceptions.ordered.filter { $0.kind == .countVariance } }
    #expect(variances.isEmpty, "2 of 100 is below both default thresholds (3 units, 20%)")
    _ = try await engine.send([Fixtures.event(seq: 3, sku: sku, type: .count, quantity: 90, time: Self.t0 + 2)])
    variances = engine.writer.read { $0.exceptions.ordered.filter { $0.kind == .countVariance } }
    #expect(variances.count == 1)
    #expect(variances.first?.onHand == 98 && variances.first?.counted == 90 && variances.first?.variance == -8)
    try await engine.destroy()
  }

  @Test("negative on-hand is tracked while it holds")
  func negativeOnHand() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    _ = try await engine.send(sales(1...2, sku: sku))
    #expect(engine.state().negative == ["\(sku)@store-1"])
    _ = try await engine.send([Fixtures.event(seq: 3, sku: sku, type: .receipt, quantity: 5, time: Self.t0 + 3)])
    #expect(engine.state().negative.isEmpty)
    try await engine.destroy()
  }

  @Test("fail-stop: after a log I/O error every write is UNAVAILABLE, the failure is reported once, acked data survives")
  func failStop() async throws {
    let faults = LogFaultInjector()
    let failures = Mutex(0)
    let engine = try InProcessEngine(faults: faults, onLogFailure: { _ in failures.withLock { $0 += 1 } })
    try await engine.declare(Fixtures.location("store-1"))
    let sku = Fixtures.uniqueSKU()
    _ = try await engine.send([Fixtures.event(seq: 1, sku: sku, type: .receipt, quantity: 5)])
    faults.fail(.sync)
    for seq in 2...3 {
      await #expect(throws: GRPCStatus.self) {
        _ = try await engine.send([Fixtures.event(seq: UInt64(seq), sku: sku, type: .sale, quantity: 1)])
      }
    }
    #expect(failures.withLock { $0 } == 1)
    try await engine.close()
    let restarted = try InProcessEngine(directory: engine.directory)
    #expect(restarted.onHand(sku, at: "store-1") ?? 0 >= 4, "the acknowledged receipt is there; the failed sale may be")
    #expect(restarted.writer.read { $0.devices["pos-1"] } ?? 0 >= 1)
    try await restarted.destroy()
  }

  @Test("a restart rebuilds exactly the same state from the log: positions, high-water marks, exceptions")
  func replayRebuildsState() async throws {
    let engine = try await Self.engine()
    try await engine.declare(Fixtures.group("both", members: ["store-1", "store-2"]))
    var random = SystemRandomNumberGenerator()
    try await EngineWorkload.run(on: engine, batches: 60, using: &random)
    let before = engine.state()
    let restarted = try await engine.reopen()
    let after = restarted.state()
    #expect(after == before, "\(after.differences(from: before))")
    try await restarted.destroy()
  }
}
