import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import OmniStockAPI
import OmniStockAPIGRPC
import Testing

/// The real `omnistock` binary, called with grpc-swift-2 (an independent implementation): every
/// call shape, and the protocol's edges.
@Suite("End to end with grpc-swift-2", .timeLimit(.minutes(2)))
struct EndToEndTests {
  @Test("unary: ApplyEvents is acknowledged per event and GetAvailability reads the result")
  func unaryWriteThenRead() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      let ack = try await ingest.applyEvents(
        Fixtures.batch(
          "b-1",
          [
            Fixtures.event(seq: 1, sku: sku, type: .receipt, quantity: 10),
            Fixtures.event(seq: 2, sku: sku, type: .sale, quantity: 0),
            Fixtures.event(seq: 3, sku: sku, type: .sale, quantity: 3),
          ]))
      #expect(ack.batchID == "b-1")
      #expect(ack.received == 3)
      #expect(ack.applied == 2)
      #expect(ack.outcomes.count == 2)
      #expect(ack.outcomes.first?.index == 1)
      #expect(ack.outcomes.first?.kind == .rejected)
      #expect(ack.outcomes.first?.code == 3)
      // The rejected event never applied: the next one reports its number as a gap.
      #expect(ack.outcomes.last?.kind == .gap && ack.outcomes.last?.gapFrom == 2 && ack.outcomes.last?.gapTo == 2)
      #expect(ack.highWater.first?.deviceSeq == 3)

      let read = try await availability.getAvailability(Fixtures.get(sku: sku))
      #expect(read.availability.onHand == 7)
      #expect(read.availability.available == 7)
      #expect(read.availability.status == .inStock)
      #expect(read.availability.exists)
      #expect(read.availability.lsn == ack.lsn)

      let unknown = try await availability.getAvailability(Fixtures.get(sku: Fixtures.uniqueSKU()))
      #expect(unknown.availability.exists == false)
      #expect(unknown.availability.status == .outOfStock)
    }
  }

  @Test("unary: a batch read answers every query in order, bad ones in their own slot")
  func batchRead() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      _ = try await ingest.applyEvents(
        Fixtures.batch("b", [Fixtures.event(seq: 1, sku: sku, type: .count, quantity: 5)]))
      var request = Omnistock_V1_BatchGetAvailabilityRequest()
      request.queries = [
        Fixtures.query(sku: sku, location: "store-1"),
        Fixtures.query(sku: "bad sku", location: "store-1"),
        Fixtures.query(sku: sku, location: "store-2"),
      ]
      let response = try await availability.batchGetAvailability(request)
      #expect(response.results.count == 3)
      #expect(response.results[0].availability.onHand == 5)
      #expect(response.results[1].error.code == 3)
      #expect(response.results[1].error.message.contains("sku"))
      #expect(response.results[2].error.code == 5)
      #expect(response.results[2].error.message.contains("store-2"))

      request.queries = Array(repeating: Fixtures.query(sku: sku, location: "store-1"), count: 10_001)
      let code = await failureCode { _ = try await availability.batchGetAvailability(request) }
      #expect(code == .invalidArgument)
    }
  }

  @Test("client streaming: a snapshot applies when the stream completes")
  func snapshot() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("dc-1"))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      let result = try await ingest.syncSnapshot(
        request: StreamingClientRequest { writer in
          for part in 0..<3 {
            var chunk = Omnistock_V1_SnapshotChunk()
            chunk.snapshotID = "snap-1"
            chunk.locationID = "dc-1"
            chunk.mode = .upsert
            chunk.asOfUnixMs = 1_700_000_000_000
            var entry = Omnistock_V1_SnapshotEntry()
            entry.sku = "\(sku)-\(part)"
            entry.onHand = Int64(10 * (part + 1))
            chunk.entries = [entry]
            try await writer.write(chunk)
          }
        })
      #expect(result.snapshotID == "snap-1")
      #expect(result.chunks == 3)
      #expect(result.entries == 3)
      let read = try await availability.getAvailability(Fixtures.get(sku: "\(sku)-2", location: "dc-1"))
      #expect(read.availability.onHand == 30)
      #expect(read.availability.lastAbsoluteTimeUnixMs == 1_700_000_000_000)

      // A bad chunk fails the whole snapshot: the good chunk before it does not apply.
      let code = await failureCode {
        _ = try await ingest.syncSnapshot(
          request: StreamingClientRequest { writer in
            var good = Omnistock_V1_SnapshotChunk()
            good.locationID = "dc-1"
            good.mode = .upsert
            good.asOfUnixMs = 1_800_000_000_000
            var entry = Omnistock_V1_SnapshotEntry()
            entry.sku = "\(sku)-2"
            entry.onHand = 999
            good.entries = [entry]
            try await writer.write(good)
            var bad = good
            bad.mode = .unspecified
            try await writer.write(bad)
          })
      }
      #expect(code == .invalidArgument)
      let after = try await availability.getAvailability(Fixtures.get(sku: "\(sku)-2", location: "dc-1"))
      #expect(after.availability.onHand == 30)
    }
  }

  @Test("bidirectional streaming: every batch gets its ack, in order")
  func streamEvents() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let acks = try await ingest.streamEvents(
        request: StreamingClientRequest { writer in
          for seq in 1...50 {
            try await writer.write(
              Fixtures.batch("batch-\(seq)", [Fixtures.event(seq: UInt64(seq), sku: sku, type: .receipt, quantity: 2)]))
          }
        }
      ) { response in
        var acks: [Omnistock_V1_EventAck] = []
        for try await ack in response.messages { acks.append(ack) }
        return acks
      }
      #expect(acks.map(\.batchID) == (1...50).map { "batch-\($0)" })
      #expect(zip(acks, acks.dropFirst()).allSatisfy { $0.lsn < $1.lsn })
      let read = try await Omnistock_V1_Availability.Client(wrapping: client).getAvailability(Fixtures.get(sku: sku))
      #expect(read.availability.onHand == 100)
    }
  }

  @Test("server streaming: health Watch says SERVING, then NOT_SERVING on SIGTERM; the server exits 0")
  func healthWatchAndGracefulShutdown() async throws {
    let server = try await ServerProcess.start()
    defer { server.terminate() }
    let pid = server.process.processIdentifier
    let statuses = try await withClient(port: server.port) { client in
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      return try await health.watch(Grpc_Health_V1_HealthCheckRequest()) { response in
        var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
        do {
          for try await message in response.messages {
            seen.append(message.status)
            if seen.count == 1 { kill(pid, SIGTERM) }
          }
        } catch let error as RPCError {
          #expect(error.code == .unavailable)
        }
        return seen
      }
    }
    #expect(statuses == [.serving, .notServing])
    #expect(await server.stop() == 0)
  }

  @Test("health Check: the server and its services are SERVING; an unknown service is NOT_FOUND")
  func healthCheck() async throws {
    try await withRunningServer { client in
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      for service in ["", "omnistock.v1.Availability", "omnistock.v1.Ingest"] {
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = service
        let status = try await health.check(request).status
        #expect(status == .serving)
      }
      var unknown = Grpc_Health_V1_HealthCheckRequest()
      unknown.service = "no.such.Service"
      #expect(await failureCode { _ = try await health.check(unknown) } == .notFound)
    }
  }

  @Test("min_lsn: a read waits until the index has applied that LSN; one never reached ends at the deadline")
  func readYourWrites() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      let admin = Omnistock_V1_Admin.Client(wrapping: client)
      let created = try await admin.upsertLocation(Fixtures.location("store-1"))
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      var ahead = Fixtures.get(sku: sku)
      ahead.options.minLsn = created.location.lsn + 1
      var options = CallOptions.defaults
      options.timeout = .seconds(20)
      // The read is sent first and waits; the write that reaches its LSN comes after.
      let read = Task { try await availability.getAvailability(ahead, options: options) }
      try await Task.sleep(for: .milliseconds(200))
      let ack = try await ingest.applyEvents(Fixtures.batch("b", [Fixtures.event(seq: 1, sku: sku, type: .receipt, quantity: 4)]))
      let answer = try await read.value
      #expect(ack.lsn == created.location.lsn + 1)
      #expect(answer.indexLsn >= ack.lsn)
      #expect(answer.availability.onHand == 4)

      var never = Fixtures.get(sku: sku)
      never.options.minLsn = ack.lsn + 1_000_000
      var short = CallOptions.defaults
      short.timeout = .milliseconds(300)
      #expect(await failureCode { _ = try await availability.getAvailability(never, options: short) } == .deadlineExceeded)
    }
  }

  @Test("deadline: a stream that outlives its deadline ends with DEADLINE_EXCEEDED; the server keeps serving")
  func deadline() async throws {
    try await withRunningServer { client in
      let ingest = Omnistock_V1_Ingest.Client(wrapping: client)
      var options = CallOptions.defaults
      options.timeout = .milliseconds(300)
      let code = await failureCode {
        try await ingest.streamEvents(
          request: StreamingClientRequest { _ in try await Task.sleep(for: .seconds(30)) }, options: options
        ) { response in
          for try await _ in response.messages {}
        }
      }
      #expect(code == .deadlineExceeded)
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      let status = try await health.check(Grpc_Health_V1_HealthCheckRequest()).status
      #expect(status == .serving)
    }
  }

  @Test("cancellation: a cancelled stream does not disturb the server")
  func cancellation() async throws {
    try await withRunningServer { client in
      let health = Grpc_Health_V1_Health.Client(wrapping: client)
      let watch = Task {
        try await health.watch(Grpc_Health_V1_HealthCheckRequest()) { response in
          for try await _ in response.messages {}
        }
      }
      try await Task.sleep(for: .milliseconds(100))
      watch.cancel()
      _ = await watch.result
      let status = try await health.check(Grpc_Health_V1_HealthCheckRequest()).status
      #expect(status == .serving)
    }
  }

  @Test("limits: an oversize request is RESOURCE_EXHAUSTED naming the limit; the server keeps serving")
  func oversize() async throws {
    try await withRunningServer { client in
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      var options = CallOptions.defaults
      options.maxRequestMessageBytes = 64 * 1024 * 1024
      do {
        _ = try await availability.getAvailability(
          Fixtures.get(sku: String(repeating: "x", count: 5_000_000)), options: options)
        Issue.record("an oversize request succeeded")
      } catch let error as RPCError {
        #expect(error.code == .resourceExhausted)
        #expect(error.message.contains("4194304"))
      }
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      let read = try await availability.getAvailability(Fixtures.get(sku: "SKU-1"))
      #expect(read.availability.sku == "SKU-1")
    }
  }

  @Test("an unknown method is UNIMPLEMENTED naming it")
  func unimplemented() async throws {
    try await withRunningServer { client in
      do {
        _ = try await client.unary(
          request: ClientRequest(message: [UInt8]()),
          descriptor: MethodDescriptor(fullyQualifiedService: "omnistock.v1.Nope", method: "Nothing"),
          serializer: RawBytesCoder(), deserializer: RawBytesCoder(), options: .defaults
        ) { try $0.message }
        Issue.record("an unknown method succeeded")
      } catch let error as RPCError {
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("/omnistock.v1.Nope/Nothing"))
      }
    }
  }

  @Test("checkout over the wire: reserve, extend, commit; an empty Reserve is INVALID_ARGUMENT")
  func checkout() async throws {
    let sku = Fixtures.uniqueSKU()
    try await withRunningServer { client in
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      _ = try await Omnistock_V1_Ingest.Client(wrapping: client).applyEvents(
        Fixtures.batch("b", [Fixtures.event(seq: 1, sku: sku, type: .receipt, quantity: 5)]))
      let reservations = Omnistock_V1_Reservations.Client(wrapping: client)
      #expect(await failureCode { _ = try await reservations.reserve(Omnistock_V1_ReserveRequest()) } == .invalidArgument)
      var reserve = Omnistock_V1_ReserveRequest()
      reserve.reservationID = "order-\(sku)"
      var line = Omnistock_V1_ReservationLine()
      line.sku = sku
      line.locationID = "store-1"
      line.quantity = 2
      reserve.lines = [line]
      let created = try await reservations.reserve(reserve)
      #expect(created.reservation.state == .active && !created.replayed)
      #expect(try await reservations.reserve(reserve).replayed)
      var extend = Omnistock_V1_ExtendRequest()
      extend.reservationID = reserve.reservationID
      extend.ttlSeconds = 3_600
      #expect(try await reservations.extend(extend).reservation.ttlSeconds == 3_600)
      var commit = Omnistock_V1_CommitRequest()
      commit.reservationID = reserve.reservationID
      #expect(try await reservations.commit(commit).reservation.state == .committed)
      let read = try await Omnistock_V1_Availability.Client(wrapping: client).getAvailability(Fixtures.get(sku: sku))
      #expect(read.availability.onHand == 3 && read.availability.reserved == 0)
    }
  }

  @Test("bad input: malformed ids and missing targets are INVALID_ARGUMENT naming the field")
  func invalidInput() async throws {
    try await withRunningServer { client in
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      do {
        _ = try await availability.getAvailability(Fixtures.get(sku: "bad sku"))
        Issue.record("a malformed sku was accepted")
      } catch let error as RPCError {
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("sku"))
      }
      var noTarget = Omnistock_V1_GetAvailabilityRequest()
      noTarget.query.sku = "SKU-1"
      #expect(await failureCode { _ = try await availability.getAvailability(noTarget) } == .invalidArgument)
    }
  }

  @Test("many concurrent calls on one connection all succeed")
  func concurrency() async throws {
    try await withRunningServer { client in
      let availability = Omnistock_V1_Availability.Client(wrapping: client)
      _ = try await Omnistock_V1_Admin.Client(wrapping: client).upsertLocation(Fixtures.location("store-1"))
      let succeeded = try await withThrowingTaskGroup(of: Bool.self) { group in
        for index in 0..<300 {
          group.addTask {
            let response = try await availability.getAvailability(Fixtures.get(sku: "SKU-\(index)"))
            return response.availability.sku == "SKU-\(index)"
          }
        }
        var count = 0
        for try await ok in group where ok { count += 1 }
        return count
      }
      #expect(succeeded == 300)
    }
  }
}
