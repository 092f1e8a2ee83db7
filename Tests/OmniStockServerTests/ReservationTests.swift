import Foundation
import GRPCNGHTTP2
import OmniStockAPI
@testable import OmniStockServer
import StockIndex
import Testing

/// Reservations in-process: every transition and error, group allocation, idempotency, expiry
/// with an injected clock, restart and checkpoint, and a property-style run of random
/// interleavings checking the invariants after every step.
@Suite("Reservations", .timeLimit(.minutes(3)))
struct ReservationTests {
  static func engine() async throws -> InProcessEngine {
    let engine = try InProcessEngine()
    try await engine.declare(Fixtures.location("store-a"))
    try await engine.declare(Fixtures.location("store-b", safety: 1))
    try await engine.declare(Fixtures.group("both", members: ["store-a", "store-b"]))
    return engine
  }

  static func stock(_ engine: InProcessEngine, _ sku: String, a: Int64, b: Int64) async throws {
    _ = try await engine.send([
      Fixtures.event(device: "setup-\(sku)", seq: 1, location: "store-a", sku: sku, type: .count, quantity: a),
      Fixtures.event(device: "setup-\(sku)", seq: 2, location: "store-b", sku: sku, type: .count, quantity: b),
    ])
  }

  static func request(_ id: String, _ lines: [(String, String?, String?, Int64)], partial: Bool = false, ttl: UInt32 = 0)
    -> Omnistock_V1_ReserveRequest
  {
    var request = Omnistock_V1_ReserveRequest()
    request.reservationID = id
    request.allowPartial = partial
    request.ttlSeconds = ttl
    request.lines = lines.map { sku, location, group, quantity in
      var line = Omnistock_V1_ReservationLine()
      line.sku = sku
      if let location { line.locationID = location }
      if let group { line.groupID = group }
      line.quantity = quantity
      return line
    }
    return request
  }

  static func code(_ body: () async throws -> Void) async -> GRPCStatusCode? {
    do {
      try await body()
      return nil
    } catch let status as GRPCStatus {
      return status.code
    } catch {
      return nil
    }
  }

  func reserved(_ engine: InProcessEngine, _ sku: String, _ location: String) -> Int64 {
    engine.index.position(sku: sku, location: location, nowUnixMs: 0)?.state.reserved ?? -1
  }

  @Test("all-or-nothing by default; allow_partial takes what is available; never below zero available")
  func allOrNothing() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    try await Self.stock(engine, sku, a: 5, b: 0)
    let (first, replayed) = try await engine.reserve(Self.request("r1", [(sku, "store-a", nil, 3)]))
    #expect(first.state == .active && !replayed && first.lines[0].allocated == 3)
    #expect(reserved(engine, sku, "store-a") == 3)
    #expect(await Self.code { _ = try await engine.reserve(Self.request("r2", [(sku, "store-a", nil, 3)])) } == .failedPrecondition)
    #expect(reserved(engine, sku, "store-a") == 3, "a refused reservation changes nothing")
    let (partial, _) = try await engine.reserve(Self.request("r3", [(sku, "store-a", nil, 3)], partial: true))
    #expect(partial.partial && partial.lines[0].allocated == 2)
    #expect(engine.index.position(sku: sku, location: "store-a", nowUnixMs: 0)?.available == 0)
    #expect(await Self.code { _ = try await engine.reserve(Self.request("r4", [(sku, "store-a", nil, 1)], partial: true)) } == .failedPrecondition)
    try await engine.destroy()
  }

  @Test("the same id with the same content replays; with different content it is ALREADY_EXISTS")
  func idempotent() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    try await Self.stock(engine, sku, a: 10, b: 0)
    let request = Self.request("order-1", [(sku, "store-a", nil, 4)])
    let (created, _) = try await engine.reserve(request)
    let (again, replayed) = try await engine.reserve(request)
    #expect(replayed && again == created)
    #expect(reserved(engine, sku, "store-a") == 4)
    #expect(await Self.code { _ = try await engine.reserve(Self.request("order-1", [(sku, "store-a", nil, 5)])) } == .alreadyExists)
    try await engine.destroy()
  }

  @Test("a group line goes to one location in priority order when one can hold it, else splits, most available first")
  func groupAllocation() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    try await Self.stock(engine, sku, a: 3, b: 11)  // available: a 3, b 10 (safety 1)
    let (one, _) = try await engine.reserve(Self.request("g1", [(sku, nil, "both", 2)]))
    #expect(one.lines[0].allocations.map(\.locationID) == ["store-a"], "a comes first and can hold 2")
    let (two, _) = try await engine.reserve(Self.request("g2", [(sku, nil, "both", 5)]))
    #expect(two.lines[0].allocations.map(\.locationID) == ["store-b"], "a has 1 left, b can hold 5")
    let (split, _) = try await engine.reserve(Self.request("g3", [(sku, nil, "both", 6)]))
    #expect(split.lines[0].allocations.map { [$0.locationID: $0.quantity] } == [["store-b": 5], ["store-a": 1]])
    #expect(engine.index.group(sku: sku, group: "both", nowUnixMs: 0)?.totals.available == 0)
    try await engine.destroy()
  }

  @Test("extend, partial commit, commit, release and their errors name the state")
  func transitions() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    try await Self.stock(engine, sku, a: 10, b: 0)
    let (created, _) = try await engine.reserve(Self.request("t1", [(sku, "store-a", nil, 6)], ttl: 60))
    let (extended, _) = try await engine.reservation { state, now throws(GRPCStatus) in
      var request = Omnistock_V1_ExtendRequest()
      request.reservationID = "t1"
      request.ttlSeconds = 600
      return try ReservationDecisions.extend(request, nowUnixMs: now, book: state.reservations)
    }
    #expect(extended.expiresAtUnixMs > created.expiresAtUnixMs && extended.ttlSeconds == 600)
    func commit(_ quantity: Int64?, releaseRemainder: Bool = false) async throws -> Omnistock_V1_Reservation {
      try await engine.reservation { state, now throws(GRPCStatus) in
        var request = Omnistock_V1_CommitRequest()
        request.reservationID = "t1"
        request.releaseRemainder = releaseRemainder
        if let quantity {
          var line = Omnistock_V1_CommitLine()
          line.lineIndex = 0
          line.locationID = "store-a"
          line.quantity = quantity
          request.lines = [line]
        }
        return try ReservationDecisions.commit(request, nowUnixMs: now, book: state.reservations)
      }.0
    }
    let partly = try await commit(2)
    #expect(partly.state == .active && partly.lines[0].committed == 2 && partly.lines[0].held == 4)
    #expect(try await commit(2) == partly, "the quantity is cumulative: committing 2 again changes nothing")
    let position = engine.index.position(sku: sku, location: "store-a", nowUnixMs: 0)!
    #expect(position.state.onHand == 8 && position.state.reserved == 4)
    #expect(await Self.code { _ = try await commit(7) } == .invalidArgument, "more than the line holds")
    #expect(try await commit(3).lines[0].committed == 3, "up to 3 in all")
    let done = try await commit(nil)
    #expect(done.state == .committed && done.lines[0].committed == 6)
    #expect(reserved(engine, sku, "store-a") == 0 && engine.onHand(sku, at: "store-a") == 4)
    #expect(try await commit(nil).state == .committed, "committing again is a no-op")
    let release = { () async throws -> Omnistock_V1_Reservation in
      try await engine.reservation { state, _ throws(GRPCStatus) in
        var request = Omnistock_V1_ReleaseRequest()
        request.reservationID = "t1"
        return try ReservationDecisions.release(request, book: state.reservations)
      }.0
    }
    #expect(await Self.code { _ = try await release() } == .failedPrecondition)
    do {
      _ = try await engine.reservation { state, now throws(GRPCStatus) in
        var request = Omnistock_V1_ExtendRequest()
        request.reservationID = "t1"
        return try ReservationDecisions.extend(request, nowUnixMs: now, book: state.reservations)
      }
      Issue.record("extending a committed reservation succeeded")
    } catch let status as GRPCStatus {
      #expect(status.code == .failedPrecondition && status.message.contains("COMMITTED"))
    }
    #expect(await Self.code { _ = try await engine.reservation { state, _ throws(GRPCStatus) in
      var request = Omnistock_V1_ReleaseRequest()
      request.reservationID = "nope"
      return try ReservationDecisions.release(request, book: state.reservations)
    } } == .notFound)
    try await engine.destroy()
  }

  @Test("a count taken before a commit but arriving after it does not bring the shipped units back")
  func lateCountAfterCommit() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    let counted = WallClock.nowUnixMs() - 60_000  // the shelf was counted a minute ago: 10 units
    _ = try await engine.send([
      Fixtures.event(device: "setup", seq: 1, location: "store-a", sku: sku, type: .receipt, quantity: 10, time: counted - 60_000)
    ])
    _ = try await engine.reserve(Self.request("ship-1", [(sku, "store-a", nil, 2)]))
    _ = try await engine.reservation { state, now throws(GRPCStatus) in
      var request = Omnistock_V1_CommitRequest()
      request.reservationID = "ship-1"
      return try ReservationDecisions.commit(request, nowUnixMs: now, book: state.reservations)
    }
    #expect(engine.onHand(sku, at: "store-a") == 8)
    _ = try await engine.send([
      Fixtures.event(device: "handheld", seq: 1, location: "store-a", sku: sku, type: .count, quantity: 10, time: counted)
    ])
    #expect(engine.onHand(sku, at: "store-a") == 8, "10 counted before the 2 shipped")
    try await engine.destroy()
  }

  @Test("expiry releases exactly once, by the clock it is given, and survives a restart")
  func expiry() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    try await Self.stock(engine, sku, a: 10, b: 0)
    let (created, _) = try await engine.reserve(Self.request("e1", [(sku, "store-a", nil, 4)], ttl: 30))
    let expiry = ReservationExpiry(writer: engine.writer)
    #expect(await expiry.expireDue(nowUnixMs: created.expiresAtUnixMs - 1) == 0)
    #expect(await expiry.expireDue(nowUnixMs: created.expiresAtUnixMs) == 1)
    #expect(await expiry.expireDue(nowUnixMs: created.expiresAtUnixMs + 1_000) == 0, "once")
    #expect(reserved(engine, sku, "store-a") == 0)
    let restarted = try await engine.reopen()
    let after = restarted.writer.read { $0.reservations["e1"] }
    #expect(after?.state == .expired && after?.lines[0].released == 4)
    #expect(restarted.index.position(sku: sku, location: "store-a", nowUnixMs: 0)?.state.reserved == 0)
    try await restarted.destroy()
  }

  @Test("a reservation due while the server was down is released at start, once")
  func expiredWhileDown() async throws {
    let engine = try await Self.engine()
    let sku = Fixtures.uniqueSKU()
    try await Self.stock(engine, sku, a: 10, b: 0)
    let (created, _) = try await engine.reserve(Self.request("d1", [(sku, "store-a", nil, 4)], ttl: 1))
    let restarted = try await engine.reopen()
    #expect(restarted.writer.read { $0.reservations["d1"]?.state } == .active, "recovered as it was")
    #expect(await ReservationExpiry(writer: restarted.writer).expireDue(nowUnixMs: created.expiresAtUnixMs + 5_000) == 1)
    let again = try await restarted.reopen()
    #expect(again.writer.read { $0.reservations["d1"]?.state } == .expired)
    #expect(again.index.position(sku: sku, location: "store-a", nowUnixMs: 0)?.state.reserved == 0)
    try await again.destroy()
  }

  @Test("random interleavings of reserve, extend, commit, release, expiry and sales keep the invariants; restarts and checkpoints rebuild it all")
  func randomInterleavings() async throws {
    let engine = try await Self.engine()
    let skus = (0..<4).map { "SKU-INV-\($0)" }
    for sku in skus { try await Self.stock(engine, sku, a: 8, b: 6) }
    var random = SystemRandomNumberGenerator()
    var ids: [String] = []
    var now = WallClock.nowUnixMs()
    var saleSeq: UInt64 = 0
    for step in 0..<250 {
      let sku = skus.randomElement(using: &random)!
      switch Int.random(in: 0..<10, using: &random) {
      case 0..<4:
        let id = "inv-\(step)"
        let target: (String?, String?) = Bool.random(using: &random) ? ("store-a", nil) : (nil, "both")
        let lines = [(sku, target.0, target.1, Int64.random(in: 1...4, using: &random))]
        if (try? await engine.reserve(Self.request(id, lines, partial: Bool.random(using: &random), ttl: 60))) != nil {
          ids.append(id)
        }
      case 4, 5:
        guard let id = ids.randomElement(using: &random) else { continue }
        _ = try? await engine.reservation { state, now throws(GRPCStatus) in
          var request = Omnistock_V1_CommitRequest()
          request.reservationID = id
          request.releaseRemainder = Bool.random()
          return try ReservationDecisions.commit(request, nowUnixMs: now, book: state.reservations)
        }
      case 6:
        guard let id = ids.randomElement(using: &random) else { continue }
        _ = try? await engine.reservation { state, _ throws(GRPCStatus) in
          var request = Omnistock_V1_ReleaseRequest()
          request.reservationID = id
          return try ReservationDecisions.release(request, book: state.reservations)
        }
      case 7:
        now += 30_000
        await ReservationExpiry(writer: engine.writer).expireDue(nowUnixMs: now)
      default:
        saleSeq += 1
        _ = try await engine.send([Fixtures.event(device: "till", seq: saleSeq, location: "store-a", sku: sku, type: .sale, quantity: 1)])
      }
      try checkInvariants(engine, skus: skus)
    }
    _ = try await engine.server.checkpointer.checkpoint()
    let before = engine.state()
    let restarted = try await engine.reopen()
    #expect(restarted.state() == before, "\(restarted.state().differences(from: before))")
    try checkInvariants(restarted, skus: skus)
    try await restarted.destroy()
  }

  /// reserved at each position = what its active reservations still hold there; reserved >= 0.
  func checkInvariants(_ engine: InProcessEngine, skus: [String]) throws {
    let book = engine.writer.read { $0.reservations.reservations }
    var held: [String: Int64] = [:]
    for reservation in book.values where reservation.state == .active {
      for line in reservation.lines {
        for allocation in line.allocations {
          held[line.line.sku + "@" + allocation.locationID, default: 0] +=
            allocation.quantity - allocation.committed - allocation.released
        }
      }
    }
    for sku in skus {
      for location in ["store-a", "store-b"] {
        let reserved = engine.index.position(sku: sku, location: location, nowUnixMs: 0)?.state.reserved ?? 0
        #expect(reserved == held[sku + "@" + location] ?? 0, "\(sku)@\(location)")
        #expect(reserved >= 0)
      }
    }
  }
}
