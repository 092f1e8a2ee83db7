import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import OmniStockAPI
import OmniStockAPIGRPC
import Testing

/// A POS terminal over the real binary with grpc-swift-2: 10,000 events in batches, many in
/// flight, the stream lost mid-way, a reconnect resending its last batches: every event applied
/// exactly once.
@Suite("POS stream: lost and resent", .timeLimit(.minutes(3)))
struct StreamResendTests {
  @Test("10,000 events, a lost stream, resent batches: final stock equals the oracle, resends are DUPLICATE")
  func lostStreamResent() async throws {
    let skus = (0..<20).map { "RESEND-\($0)-\(UUID().uuidString.prefix(6))" }
    var random = SystemRandomNumberGenerator()
    var oracle: [String: Int64] = [:]
    var batches: [Omnistock_V1_EventBatch] = []
    var seq: UInt64 = 0
    for number in 0..<100 {
      var events: [Omnistock_V1_StockEvent] = []
      for _ in 0..<100 {
        seq += 1
        let sku = skus.randomElement(using: &random)!
        let receipt = Int.random(in: 0..<3, using: &random) == 0
        let quantity = Int64.random(in: 1...5, using: &random)
        oracle[sku, default: 0] += receipt ? quantity : -quantity
        events.append(
          Fixtures.event(
            device: "pos-10k", seq: seq, sku: sku, type: receipt ? .receipt : .sale, quantity: quantity,
            time: 1_700_000_000_000 + Int64(seq)))
      }
      batches.append(Fixtures.batch("batch-\(number)", events))
    }
    let all = batches
    try await withRunningServer { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      // First stream: sends 60 batches without waiting, gives up after 40 acks.
      struct Lost: Error { var acks: [Omnistock_V1_EventAck] }
      var acked: [Omnistock_V1_EventAck] = []
      do {
        try await ingest.streamEvents(
          request: StreamingClientRequest { writer in
            for batch in all.prefix(60) { try await writer.write(batch) }
            try await Task.sleep(for: .seconds(30))
          }
        ) { response in
          var acks: [Omnistock_V1_EventAck] = []
          for try await ack in response.messages {
            acks.append(ack)
            if acks.count == 40 { throw Lost(acks: acks) }
          }
        }
      } catch let lost as Lost {
        acked = lost.acks
      }
      #expect(acked.map(\.batchID) == (0..<40).map { "batch-\($0)" }, "acks in batch order")
      #expect(acked.allSatisfy { $0.applied == 100 })
      // Reconnect: resend from batch 35 (some acked, some maybe applied unacked, some never sent).
      let resent = try await ingest.streamEvents(
        request: StreamingClientRequest { writer in
          for batch in all[35...] { try await writer.write(batch) }
        }
      ) { response in
        var acks: [Omnistock_V1_EventAck] = []
        for try await ack in response.messages { acks.append(ack) }
        return acks
      }
      #expect(resent.count == 65)
      #expect(resent.prefix(5).allSatisfy { $0.duplicates == 100 }, "batches 35-39 were acked: all DUPLICATE")
      #expect(resent.allSatisfy { $0.duplicates + $0.applied == 100 && $0.rejected == 0 })
      #expect(resent.last?.highWater.first?.deviceSeq == 10_000)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      for sku in skus {
        let read = try await availability.getAvailability(Fixtures.get(sku: sku))
        #expect(read.availability.onHand == oracle[sku] ?? 0, "\(sku)")
      }
    }
  }
}
