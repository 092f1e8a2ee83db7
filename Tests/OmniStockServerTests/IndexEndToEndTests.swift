import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import OmniStockAPI
import OmniStockAPIGRPC
import Testing

/// Reads served by the stock index in the running server: locations and their settings, group
/// totals, WhereAvailable.
@Suite("Index-backed reads end to end", .timeLimit(.minutes(2)))
struct IndexEndToEndTests {
  @Test("location settings shape available and status; group totals sum the members")
  func groupsAndSettings() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      let created = try await admin.upsertLocation(Fixtures.location("dc-1", kind: .warehouse, safety: 2, lowStock: 5))
      #expect(created.created)
      #expect(created.location.staleAfterSeconds == 900)
      _ = try await admin.upsertLocation(Fixtures.location("store-9", lowStock: 1))
      let group = try await admin.upsertGroup(Fixtures.group("web-ship", members: ["dc-1", "store-9"]))
      #expect(group.created)
      _ = try await ingest.applyEvents(
        Fixtures.batch(
          "b",
          [
            Fixtures.event(seq: 1, location: "dc-1", sku: sku, type: .receipt, quantity: 10),
            Fixtures.event(seq: 2, location: "store-9", sku: sku, type: .receipt, quantity: 1),
          ]))
      let dc = try await availability.getAvailability(Fixtures.get(sku: sku, location: "dc-1")).availability
      #expect(dc.safetyStock == 2)
      #expect(dc.available == 8)
      #expect(dc.status == .inStock)
      #expect(dc.freshness.first?.locationID == "dc-1")
      #expect(dc.freshness.first?.stale == false)
      let store = try await availability.getAvailability(Fixtures.get(sku: sku, location: "store-9")).availability
      #expect(store.status == .lowStock)

      var groupQuery = Omnistock_V1_GetAvailabilityRequest()
      groupQuery.query.sku = sku
      groupQuery.query.groupID = "web-ship"
      let total = try await availability.getAvailability(groupQuery).availability
      #expect(total.groupID == "web-ship")
      #expect(total.available == 9)
      #expect(total.onHand == 11)
      #expect(total.locationsWithStock == 2)
      #expect(total.contributingLocations == 2)
      #expect(total.freshness.map(\.locationID) == ["dc-1", "store-9"])

      // Deactivating a member takes it out of the totals at once.
      var inactive = Fixtures.location("store-9", lowStock: 1)
      inactive.location.active = false
      _ = try await admin.upsertLocation(inactive)
      let after = try await availability.getAvailability(groupQuery).availability
      #expect(after.available == 8)
      #expect(after.contributingLocations == 1)

      groupQuery.query.groupID = "no-such-group"
      #expect(await failureCode { _ = try await availability.getAvailability(groupQuery) } == .notFound)
    }
  }

  @Test("WhereAvailable lists members with stock, nearest first, within the radius")
  func whereAvailable() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      // Manhattan, Brooklyn, and Boston (~300 km away).
      _ = try await admin.upsertLocation(Fixtures.location("nyc-1", coordinates: (40.758, -73.985), capabilities: [.pickup]))
      _ = try await admin.upsertLocation(Fixtures.location("bk-1", coordinates: (40.678, -73.944), capabilities: [.pickup, .ship]))
      _ = try await admin.upsertLocation(Fixtures.location("bos-1", coordinates: (42.360, -71.058), capabilities: [.pickup]))
      _ = try await admin.upsertLocation(Fixtures.location("empty-1", coordinates: (40.75, -73.99)))
      _ = try await admin.upsertGroup(Fixtures.group("pickup-east", members: ["bos-1", "bk-1", "nyc-1", "empty-1"]))
      _ = try await ingest.applyEvents(
        Fixtures.batch(
          "b",
          [
            Fixtures.event(seq: 1, location: "nyc-1", sku: sku, type: .receipt, quantity: 2),
            Fixtures.event(seq: 2, location: "bk-1", sku: sku, type: .receipt, quantity: 5),
            Fixtures.event(seq: 3, location: "bos-1", sku: sku, type: .receipt, quantity: 9),
          ]))
      var request = Omnistock_V1_WhereAvailableRequest()
      request.sku = sku
      request.groupID = "pickup-east"
      let byPriority = try await availability.whereAvailable(request)
      #expect(byPriority.locations.map(\.availability.locationID) == ["bos-1", "bk-1", "nyc-1"])
      #expect(byPriority.totalAvailable == 16)

      request.near.latitude = 40.7580
      request.near.longitude = -73.9855
      let nearest = try await availability.whereAvailable(request)
      #expect(nearest.locations.map(\.availability.locationID) == ["nyc-1", "bk-1", "bos-1"])
      #expect(nearest.locations.first?.distanceKm ?? 99 < 1)

      request.radiusKm = 50
      let nearby = try await availability.whereAvailable(request)
      #expect(nearby.locations.map(\.availability.locationID) == ["nyc-1", "bk-1"])

      request.requiredCapabilities = [.ship]
      let shipping = try await availability.whereAvailable(request)
      #expect(shipping.locations.map(\.availability.locationID) == ["bk-1"])

      var bad = request
      bad.near = Omnistock_V1_GeoPoint()
      bad.clearNear()
      #expect(await failureCode { _ = try await availability.whereAvailable(bad) } == .invalidArgument)
    }
  }

  @Test("admin: invalid locations and groups are refused with the field named; lists page in id order")
  func adminValidation() async throws {
    try await withRunningServer { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      var noKind = Fixtures.location("x-1")
      noKind.location.kind = .unspecified
      do {
        _ = try await admin.upsertLocation(noKind)
        Issue.record("a location without a kind was accepted")
      } catch let error as RPCError {
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("kind"))
      }
      #expect(await failureCode { _ = try await admin.upsertGroup(Fixtures.group("g", members: ["nowhere"])) } == .notFound)
      for number in 0..<5 { _ = try await admin.upsertLocation(Fixtures.location("loc-\(number)")) }
      var page = Omnistock_V1_ListLocationsRequest()
      page.pageSize = 3
      let first = try await admin.listLocations(page)
      #expect(first.locations.map(\.locationID) == ["loc-0", "loc-1", "loc-2"])
      page.pageToken = first.nextPageToken
      let second = try await admin.listLocations(page)
      #expect(second.locations.map(\.locationID) == ["loc-3", "loc-4"])
      #expect(second.nextPageToken.isEmpty)
      var get = Omnistock_V1_GetLocationRequest()
      get.locationID = "loc-3"
      #expect(try await admin.getLocation(get).location.displayName == "Location loc-3")
    }
  }
}
