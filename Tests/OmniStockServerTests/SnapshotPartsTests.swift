import Foundation
import GRPCNGHTTP2
import OmniStockAPI
@testable import OmniStockServer
import StockIndex
import Testing
import WriteAheadLog

/// Snapshots too big for one log record are logged in parts and applied all or nothing, live and
/// on recovery.
@Suite("Snapshots in parts", .timeLimit(.minutes(3)))
struct SnapshotPartsTests {
  static func chunk(_ location: String, mode: Omnistock_V1_SnapshotMode, skus: Range<Int>, onHand: Int64)
    -> Omnistock_V1_SnapshotChunk
  {
    var chunk = Omnistock_V1_SnapshotChunk()
    chunk.snapshotID = "s"
    chunk.locationID = location
    chunk.mode = mode
    chunk.asOfUnixMs = 1_700_000_000_000
    chunk.entries = skus.map { number in
      var entry = Omnistock_V1_SnapshotEntry()
      entry.sku = "SKU-P\(number)"
      entry.onHand = onHand
      return entry
    }
    return chunk
  }

  @Test("a snapshot bigger than one record is logged in parts, applies whole, and recovers whole")
  func bigSnapshotRecovers() async throws {
    let engine = try InProcessEngine(segmentBytes: 8 << 20)
    try await engine.declare(Fixtures.location("dc-1", kind: .warehouse))
    var assembler = SnapshotAssembler()
    let entries = SnapshotAssembler.updatesPerPart + 5_000
    try assembler.add(Self.chunk("dc-1", mode: .replace, skus: 0..<entries, onHand: 7))
    let lsnBefore = engine.index.lsn
    let result = try await assembler.apply(writer: engine.writer, directory: engine.server.directory, nowUnixMs: 1_700_000_000_000)
    #expect(result.lsn == lsnBefore + 2, "two parts, two LSNs; the change applies under the last")
    #expect(result.locations.first?.positionsSet == UInt64(entries))
    let before = engine.state()
    let restarted = try await engine.reopen()
    #expect(restarted.state() == before, "\(restarted.state().differences(from: before))")
    #expect(restarted.onHand("SKU-P\(entries - 1)", at: "dc-1") == 7)
    try await restarted.destroy()
  }

  @Test("parts without their last one (never acknowledged) are dropped on recovery; later records apply")
  func incompletePartsDropped() async throws {
    let engine = try InProcessEngine()
    try await engine.declare(Fixtures.location("dc-1", kind: .warehouse))
    var record = Omnistock_Log_V1_StockUpdatesRecord()
    record.serverTimeUnixMs = 1_700_000_000_000
    record.updates = (0..<9).map { number in
      StockUpdateRecords.record(
        sku: "SKU-I\(number)", location: "dc-1", change: .set(onHand: 5, asOfUnixMs: 1_700_000_000_000), sourceTimeUnixMs: 0)
    }
    let payloads = try SnapshotAssembler.parts(of: record, updatesPerPart: 3)
    #expect(payloads.count == 3)
    // The first two parts reach the log, the last never does: as if the server died in between.
    for payload in payloads.prefix(2) {
      _ = try await engine.writer.log.appendAndWait(type: LogRecordType.stockUpdates.rawValue, payload: payload)
    }
    let restarted = try await engine.reopen()
    #expect(restarted.index.skus.id(of: "SKU-I0") == nil, "nothing of the incomplete change applies")
    let sku = Fixtures.uniqueSKU()
    _ = try await restarted.send([Fixtures.event(seq: 1, location: "dc-1", sku: sku, type: .receipt, quantity: 4)])
    let again = try await restarted.reopen()
    #expect(again.onHand(sku, at: "dc-1") == 4)
    #expect(again.index.skus.id(of: "SKU-I0") == nil)
    try await again.destroy()
  }

  @Test("a change in parts applies all of it under the last part's LSN")
  func partsApplyTogether() async throws {
    let engine = try InProcessEngine()
    try await engine.declare(Fixtures.location("dc-1", kind: .warehouse))
    var record = Omnistock_Log_V1_StockUpdatesRecord()
    record.serverTimeUnixMs = 1_700_000_000_000
    record.updates = (0..<10).map { number in
      StockUpdateRecords.record(
        sku: "SKU-T\(number)", location: "dc-1", change: .set(onHand: Int64(number), asOfUnixMs: 1_700_000_000_000),
        sourceTimeUnixMs: 0)
    }
    let payloads = try SnapshotAssembler.parts(of: record, updatesPerPart: 4)
    let index = engine.index
    let directory = engine.server.directory
    let lsn = try await engine.writer.write(type: .stockUpdates, payloads: payloads) { state, lsn in
      StockUpdateRecords.apply(record, lsn: lsn, index: index, directory: directory, state: &state, recordsEngineState: true)
      return lsn
    }
    #expect(engine.index.state(sku: engine.index.skus.id(of: "SKU-T9")!, location: engine.index.locations.id(of: "dc-1")!)?.lsn == lsn)
    let before = engine.state()
    let restarted = try await engine.reopen()
    #expect(restarted.state() == before, "\(restarted.state().differences(from: before))")
    try await restarted.destroy()
  }
}
