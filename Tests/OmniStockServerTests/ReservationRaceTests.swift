import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import OmniStockAPI
import OmniStockAPIGRPC
import Testing

/// Concurrent clients racing for the last units, over the real binary with grpc-swift-2: the
/// total reserved never exceeds what was available, and every caller gets a definite answer.
@Suite("Reservations: races for the last units", .timeLimit(.minutes(3)))
struct ReservationRaceTests {
  @Test("500 trials: 8 concurrent Reserve calls for the last 1-5 units of a position or a group")
  func lastUnits() async throws {
    try await withRunningServer { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      _ = try await admin.upsertLocation(Fixtures.location("store-1"))
      _ = try await admin.upsertLocation(Fixtures.location("store-2"))
      _ = try await admin.upsertGroup(Fixtures.group("both", members: ["store-1", "store-2"]))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let reservations = Omnistock_V1_Reservations.Client(wrapping: client)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      var seq: UInt64 = 0
      for trial in 0..<500 {
        let sku = "RACE-\(trial)-\(UUID().uuidString.prefix(6))"
        let units = Int64(trial % 5 + 1)
        let viaGroup = trial % 2 == 1
        // Stock: all at store-1, or split over the group's two stores.
        seq += 1
        var events = [Fixtures.event(device: "stocker", seq: seq, location: "store-1", sku: sku, type: .receipt, quantity: viaGroup ? units / 2 + units % 2 : units)]
        if viaGroup && units / 2 > 0 {
          seq += 1
          events.append(Fixtures.event(device: "stocker", seq: seq, location: "store-2", sku: sku, type: .receipt, quantity: units / 2))
        }
        _ = try await ingest.applyEvents(Fixtures.batch("stock-\(trial)", events))
        let outcomes = try await withThrowingTaskGroup(of: Int64?.self) { group in
          for caller in 0..<8 {
            group.addTask {
              var request = Omnistock_V1_ReserveRequest()
              request.reservationID = "race-\(trial)-\(caller)-\(sku)"
              var line = Omnistock_V1_ReservationLine()
              line.sku = sku
              if viaGroup { line.groupID = "both" } else { line.locationID = "store-1" }
              line.quantity = 1
              request.lines = [line]
              do {
                return try await reservations.reserve(request).reservation.lines[0].allocated
              } catch let error as RPCError where error.code == .failedPrecondition {
                return nil
              }
            }
          }
          var all: [Int64?] = []
          for try await outcome in group { all.append(outcome) }
          return all
        }
        let won = outcomes.compactMap { $0 }.reduce(0, +)
        #expect(won == min(units, 8), "trial \(trial): \(won) reserved of \(units)")
        var query = Omnistock_V1_GetAvailabilityRequest()
        query.query.sku = sku
        if viaGroup { query.query.groupID = "both" } else { query.query.locationID = "store-1" }
        let read = try await availability.getAvailability(query).availability
        #expect(read.reserved == won && read.available == units - won, "trial \(trial)")
      }
    }
  }
}
