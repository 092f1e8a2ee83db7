import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import OmniStockAPI
import OmniStockAPIGRPC
import Testing

/// The real binary, killed with SIGKILL and restarted on the same data directory: everything it
/// acknowledged is back, once.
@Suite("Durability across kill -9", .timeLimit(.minutes(2)))
struct DurabilityTests {
  @Test("acknowledged events, snapshots, locations and groups survive kill -9 and apply once")
  func survivesKill() async throws {
    let data = FileManager.default.temporaryDirectory.appendingPathComponent("omnistock-crash-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: data) }
    let sku = Fixtures.uniqueSKU()
    var expected: Int64 = 0
    let first = try await ServerProcess.start(dataDirectory: data)
    try await withClient(port: first.port) { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      _ = try await admin.upsertLocation(Fixtures.location("store-1", safety: 1))
      _ = try await admin.upsertLocation(Fixtures.location("store-2"))
      _ = try await admin.upsertGroup(Fixtures.group("both", members: ["store-1", "store-2"]))
      for seq in 1...40 {
        let ack = try await ingest.applyEvents(
          Fixtures.batch(
            "b\(seq)", [Fixtures.event(seq: UInt64(seq), location: seq % 2 == 0 ? "store-1" : "store-2", sku: sku, type: .receipt, quantity: 3)]))
        #expect(ack.applied == 1)
        expected += 3
      }
    }
    await first.crash()

    let second = try await ServerProcess.start(dataDirectory: data)
    defer { second.terminate() }
    try await withClient(port: second.port) { client in
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      var group = Omnistock_V1_GetAvailabilityRequest()
      group.query.sku = sku
      group.query.groupID = "both"
      let total = try await availability.getAvailability(group).availability
      #expect(total.onHand == expected)
      #expect(total.available == expected - 1)  // store-1's safety stock of 1 survived too
      let store = try await availability.getAvailability(Fixtures.get(sku: sku, location: "store-1")).availability
      #expect(store.onHand == 60)
      #expect(store.safetyStock == 1)
      // Writes continue after recovery with later LSNs.
      let ack = try await Omnistock_V1_Ingest.Client(wrapping: client).applyEvents(
        Fixtures.batch("after", [Fixtures.event(seq: 41, location: "store-1", sku: sku, type: .sale, quantity: 1)]))
      #expect(ack.lsn > store.lsn)
    }
    #expect(await second.stop() == 0)
  }
}
