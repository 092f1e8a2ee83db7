import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import OmniStockAPI
import OmniStockAPIGRPC
import Testing

/// `WatchAvailability` over the real binary with grpc-swift-2: initial state, marker, every
/// status transition in order, latest state for a slow consumer, bad filters.
@Suite("Watch availability", .timeLimit(.minutes(2)))
struct WatchTests {
  typealias Message = Omnistock_V1_WatchAvailabilityResponse

  /// Opens a watch in a task and hands its messages to `body` through an iterator.
  static func watching<Result: Sendable>(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ request: Omnistock_V1_WatchAvailabilityRequest,
    _ body: (inout AsyncStream<Message>.Iterator) async throws -> Result
  ) async throws -> Result {
    let (messages, sink) = AsyncStream.makeStream(of: Message.self)
    let availability = Omnistock_V1_Availability.Client(wrapping: client)
    let watch = Task {
      try await availability.watchAvailability(request) { response in
        for try await message in response.messages { sink.yield(message) }
      }
      sink.finish()
    }
    defer { watch.cancel() }
    var iterator = messages.makeAsyncIterator()
    return try await body(&iterator)
  }

  /// Reads messages until every key in `expected` (by target) has reported the given status.
  static func await(
    _ expected: [String: Omnistock_V1_StockStatus], from messages: inout AsyncStream<Message>.Iterator
  ) async -> [String: Omnistock_V1_StockStatus] {
    var seen: [String: Omnistock_V1_StockStatus] = [:]
    while seen != expected, let message = await messages.next() {
      for update in message.updates {
        let key = update.availability.locationID.isEmpty ? update.availability.groupID : update.availability.locationID
        #expect(update.previousStatus != update.availability.status, "a status-transitions watch reported no transition")
        seen[key] = update.availability.status
      }
    }
    return seen
  }

  @Test("status transitions: initial state, marker, then every transition of the position and its group, in order")
  func statusTransitions() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      _ = try await admin.upsertLocation(Fixtures.location("store-1", lowStock: 3))
      _ = try await admin.upsertLocation(Fixtures.location("store-2"))
      _ = try await admin.upsertGroup(Fixtures.group("both", members: ["store-1", "store-2"]))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      var request = Omnistock_V1_WatchAvailabilityRequest()
      request.filter.skus = [sku]
      request.filter.locationIds = ["store-1"]
      request.filter.groupIds = ["both"]
      request.mode = .statusTransitions
      try await Self.watching(client, request) { messages in
        var initial: [String: Omnistock_V1_StockStatus] = [:]
        while let message = await messages.next() {
          if message.kind == .initialStateComplete { break }
          #expect(message.kind == .initialState)
          for update in message.updates {
            initial[update.availability.locationID + update.availability.groupID] = update.availability.status
          }
        }
        #expect(initial == ["store-1": .outOfStock, "both": .outOfStock])
        var seq: UInt64 = 0
        func send(_ type: Omnistock_V1_EventType, _ quantity: Int64) async throws {
          seq += 1
          _ = try await ingest.applyEvents(Fixtures.batch("b\(seq)", [Fixtures.event(seq: seq, sku: sku, type: type, quantity: quantity)]))
        }
        try await send(.receipt, 10)
        #expect(await Self.await(["store-1": .inStock, "both": .inStock], from: &messages) == ["store-1": .inStock, "both": .inStock])
        try await send(.sale, 1)  // 9 left: still IN_STOCK, not reported in this mode
        try await send(.sale, 7)  // 2 left: LOW_STOCK
        #expect(await Self.await(["store-1": .lowStock, "both": .lowStock], from: &messages) == ["store-1": .lowStock, "both": .lowStock])
        try await send(.sale, 2)
        #expect(await Self.await(["store-1": .outOfStock, "both": .outOfStock], from: &messages) == ["store-1": .outOfStock, "both": .outOfStock])
      }
    }
  }

  @Test("every change, slow consumer: it gets the latest state, never a backlog; writers are not held up")
  func slowConsumerCoalesced() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      var request = Omnistock_V1_WatchAvailabilityRequest()
      request.filter.skus = [sku]
      request.filter.locationIds = ["store-1"]
      request.skipInitialState = true
      try await Self.watching(client, request) { messages in
        let marker = await messages.next()
        #expect(marker?.kind == .initialStateComplete && marker?.updates.isEmpty == true)
        // 300 receipts, while the consumer does not read at all.
        for seq in 1...300 {
          _ = try await ingest.applyEvents(
            Fixtures.batch("b", [Fixtures.event(seq: UInt64(seq), sku: sku, type: .receipt, quantity: 1)]))
        }
        var updates = 0
        var last: Int64 = 0
        while last != 300, let message = await messages.next() {
          #expect(message.kind == .change)
          updates += message.updates.count
          last = message.updates.last?.availability.onHand ?? last
        }
        #expect(last == 300)
        #expect(updates <= 300)
      }
    }
  }

  @Test("a location deactivated by an operator reaches its watchers (available drops to 0)")
  func configurationChangeReachesWatchers() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      _ = try await admin.upsertLocation(Fixtures.location("store-1"))
      _ = try await Omnistock_V1_Ingest.Client(wrapping: client).applyEvents(
        Fixtures.batch("b", [Fixtures.event(seq: 1, sku: sku, type: .receipt, quantity: 5)]))
      var request = Omnistock_V1_WatchAvailabilityRequest()
      request.filter.skus = [sku]
      request.filter.locationIds = ["store-1"]
      try await Self.watching(client, request) { messages in
        while let message = await messages.next(), message.kind != .initialStateComplete {}
        var closed = Fixtures.location("store-1")
        closed.location.active = false
        _ = try await admin.upsertLocation(closed)
        let change = await messages.next()
        #expect(change?.kind == .change)
        #expect(change?.updates.first?.availability.available == 0 && change?.updates.first?.availability.onHand == 5)
      }
    }
  }

  @Test("graceful shutdown ends open watches with UNAVAILABLE, and the server exits 0")
  func shutdownEndsWatches() async throws {
    let server = try await ServerProcess.start()
    defer { server.terminate() }
    try await withClient(port: server.port) { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      var request = Omnistock_V1_WatchAvailabilityRequest()
      request.filter.locationIds = ["store-1"]
      let (opened, signal) = AsyncStream.makeStream(of: Void.self)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      let ended = Task {
        await failureCode {
          try await availability.watchAvailability(request) { response in
            for try await message in response.messages where message.kind == .initialStateComplete { signal.yield() }
          }
        }
      }
      var iterator = opened.makeAsyncIterator()
      await iterator.next()
      #expect(await server.stop() == 0)
      #expect(await ended.value == .unavailable)
    }
  }

  @Test("bad filters: empty is INVALID_ARGUMENT, an unknown location or group NOT_FOUND naming it")
  func badFilters() async throws {
    try await withRunningServer { client in
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      func code(_ filter: Omnistock_V1_WatchFilter) async -> RPCError.Code? {
        var request = Omnistock_V1_WatchAvailabilityRequest()
        request.filter = filter
        return await failureCode {
          try await availability.watchAvailability(request) { response in for try await _ in response.messages {} }
        }
      }
      #expect(await code(Omnistock_V1_WatchFilter()) == .invalidArgument)
      var unknownLocation = Omnistock_V1_WatchFilter()
      unknownLocation.locationIds = ["nowhere"]
      #expect(await code(unknownLocation) == .notFound)
      var unknownGroup = Omnistock_V1_WatchFilter()
      unknownGroup.groupIds = ["no-group"]
      #expect(await code(unknownGroup) == .notFound)
      var badSKU = Omnistock_V1_WatchFilter()
      badSKU.skus = ["bad sku"]
      #expect(await code(badSKU) == .invalidArgument)
    }
  }
}
