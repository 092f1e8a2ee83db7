import Foundation
import GRPCNGHTTP2
import OmniStockAPI
@testable import OmniStockServer
import StockIndex
import Testing

/// Snapshots racing live sales, and stale exclusion with an injected clock, in-process.
@Suite("Engine: snapshots and staleness", .timeLimit(.minutes(2)))
struct EngineReadTests {
  static let asOf: Int64 = 1_700_000_100_000

  @Test("a REPLACE snapshot racing live sales: sales before as_of are inside it, later ones count on top, in any interleaving")
  func replaceSnapshotRacingSales() async throws {
    for trial in 0..<6 {
      let engine = try InProcessEngine()
      try await engine.declare(Fixtures.location("store-1"))
      let skus = (0..<20).map { "SKU-R\(trial)-\($0)" }
      // Stock before the snapshot; one extra position the snapshot does not list (REPLACE zeroes it).
      _ = try await engine.send(
        (skus + ["SKU-R\(trial)-gone"]).enumerated().map { offset, sku in
          Fixtures.event(device: "setup", seq: UInt64(offset + 1), sku: sku, type: .receipt, quantity: 50, time: Self.asOf - 60_000)
        })
      var assembler = SnapshotAssembler()
      var chunk = Omnistock_V1_SnapshotChunk()
      chunk.locationID = "store-1"
      chunk.mode = .replace
      chunk.asOfUnixMs = Self.asOf
      chunk.entries = skus.map { sku in
        var entry = Omnistock_V1_SnapshotEntry()
        entry.sku = sku
        entry.onHand = 30
        return entry
      }
      try assembler.add(chunk)
      // Each SKU gets one sale 1 s before as_of (inside the snapshot) and one 1 s after (on top).
      let sales = skus.enumerated().flatMap { offset, sku in
        [
          Fixtures.event(device: "pos-a", seq: UInt64(offset + 1), sku: sku, type: .sale, quantity: 2, time: Self.asOf - 1_000),
          Fixtures.event(device: "pos-b", seq: UInt64(offset + 1), sku: sku, type: .sale, quantity: 3, time: Self.asOf + 1_000),
        ]
      }
      let writer = engine.writer
      let directory = engine.server.directory
      async let snapshot = assembler.apply(writer: writer, directory: directory, nowUnixMs: Self.asOf + 5_000)
      var acks: [Omnistock_V1_EventAck] = []
      for pair in stride(from: 0, to: sales.count, by: 2) {
        acks.append(try await engine.send(Array(sales[pair..<pair + 2])))
      }
      let result = try await snapshot
      #expect(result.locations.first?.positionsZeroed == 1)
      for sku in skus { #expect(engine.onHand(sku, at: "store-1") == 27, "30 from the snapshot, then the later sale") }
      #expect(engine.onHand("SKU-R\(trial)-gone", at: "store-1") == 0)
      // Whether a sale applied before the snapshot (the earlier one replaced, the later one added
      // back) or after it (the earlier one superseded, the later one on top) depends on the
      // interleaving; the result does not.
      #expect(acks.reduce(0) { $0 + Int($1.applied) + Int($1.superseded) } == sales.count)
      try await engine.destroy()
    }
  }

  @Test("stale exclusion follows the clock the read is given: no sleeps")
  func staleExclusionByClock() async throws {
    let engine = try InProcessEngine()
    var quick = Fixtures.location("store-quick")
    quick.location.staleAfterSeconds = 60
    try await engine.declare(quick)
    try await engine.declare(Fixtures.location("store-slow"))  // default: 900 s
    try await engine.declare(Fixtures.group("both", members: ["store-quick", "store-slow"], includeStale: true))
    let sku = Fixtures.uniqueSKU()
    _ = try await engine.send([
      Fixtures.event(seq: 1, location: "store-quick", sku: sku, type: .receipt, quantity: 5),
      Fixtures.event(seq: 2, location: "store-slow", sku: sku, type: .receipt, quantity: 7),
    ])
    let service = AvailabilityService(writer: engine.writer, directory: engine.server.directory)
    func read(location: String? = nil, group: String? = nil, excludeStale: Bool, at now: Int64) throws -> Omnistock_V1_PositionAvailability {
      var request = Omnistock_V1_GetAvailabilityRequest()
      request.query.sku = sku
      if let location { request.query.locationID = location }
      if let group { request.query.groupID = group }
      request.options.excludeStale = excludeStale
      return try service.getAvailability(request, nowUnixMs: now).availability
    }
    let written = engine.index.lastUpdateUnixMs(location: engine.index.locations.id(of: "store-quick")!)
    let fresh = written + 30_000
    let later = written + 120_000  // store-quick (60 s) is stale, store-slow (900 s) is not
    #expect(try read(location: "store-quick", excludeStale: true, at: fresh).available == 5)
    let stale = try read(location: "store-quick", excludeStale: true, at: later)
    #expect(stale.stale && stale.available == 0 && stale.onHand == 5)
    #expect(try read(location: "store-quick", excludeStale: false, at: later).available == 5)
    #expect(try read(group: "both", excludeStale: false, at: later).available == 12)
    let group = try read(group: "both", excludeStale: true, at: later)
    #expect(group.available == 7 && group.contributingLocations == 1)
    try await engine.destroy()
  }
}
