import Foundation
import GRPCNGHTTP2
import NIOHTTP1
import OmniStockAPI
@testable import OmniStockServer
import Testing

/// The dashboard's JSON documents, built in-process from a known network and known events, at
/// chosen times.
@Suite("Dashboard API", .timeLimit(.minutes(2)))
struct DashboardAPITests {
  /// A warehouse and two stores, a group over a store and the warehouse; stock received, one
  /// store sold below zero, a count that differs, and a device that skipped sequence numbers.
  static func engine() async throws -> InProcessEngine {
    let engine = try InProcessEngine()
    try await engine.declare(Fixtures.location("dc-1", kind: .warehouse, safety: 5, lowStock: 20))
    try await engine.declare(Fixtures.location("store-1", safety: 1, lowStock: 3))
    try await engine.declare(Fixtures.location("store-2", safety: 1, lowStock: 3))
    try await engine.declare(Fixtures.group("web", members: ["dc-1", "store-1"]))
    _ = try await engine.send([
      Fixtures.event(device: "wms", seq: 1, location: "dc-1", sku: "SKU-1", type: .receipt, quantity: 100),
      Fixtures.event(device: "pos-1", seq: 1, location: "store-1", sku: "SKU-1", type: .receipt, quantity: 10),
      Fixtures.event(device: "pos-1", seq: 2, location: "store-1", sku: "SKU-1", type: .sale, quantity: 6),
      Fixtures.event(device: "pos-2", seq: 1, location: "store-2", sku: "SKU-2", type: .sale, quantity: 3),
      Fixtures.event(device: "pos-2", seq: 5, location: "store-2", sku: "SKU-2", type: .count, quantity: 7),
      Fixtures.event(device: "pos-2", seq: 6, location: "store-2", sku: "SKU-3", type: .sale, quantity: 2),
    ])
    return engine
  }

  @Test("availability: a SKU at every location that has it and in every group, with the right figures")
  func availability() async throws {
    let engine = try await Self.engine()
    let api = engine.server.dashboard
    let now = WallClock.nowUnixMs()
    let answer = try api.availability(sku: "SKU-1", nowUnixMs: now)
    #expect(answer.sku == "SKU-1")
    #expect(answer.locations.map(\.id) == ["dc-1", "store-1"], "warehouses first, then stores")
    #expect(answer.unrecordedLocations == 1, "store-2 never saw SKU-1")
    let dc = try #require(answer.locations.first)
    #expect(
      dc == DashboardJSON.AvailabilityRow(
        id: "dc-1", name: "Location dc-1", kind: "WAREHOUSE", onHand: 100, reserved: 0, safetyStock: 5, available: 95,
        status: "IN_STOCK", stale: false, locationsWithStock: 1, contributingLocations: 1,
        updatedAtUnixMs: dc.updatedAtUnixMs))
    let store = answer.locations[1]
    #expect((store.onHand, store.safetyStock, store.available, store.status) == (4, 1, 3, "LOW_STOCK"))
    let web = try #require(answer.groups.first)
    #expect(
      web == DashboardJSON.AvailabilityRow(
        id: "web", name: "web", kind: "GROUP", onHand: 104, reserved: 0, safetyStock: 6, available: 98, status: "IN_STOCK",
        stale: false, locationsWithStock: 2, contributingLocations: 2, updatedAtUnixMs: nil))
    #expect(try api.availability(sku: "SKU-1", nowUnixMs: now) == answer, "the same time gives the same document")
    try await engine.destroy()
  }

  @Test("availability refuses a missing or malformed SKU (400) and one never reported (404)")
  func availabilityRefusals() async throws {
    let engine = try await Self.engine()
    let api = engine.server.dashboard
    let now = WallClock.nowUnixMs()
    for (sku, status, words) in [
      (nil, HTTPResponseStatus.badRequest, "which SKU"), ("", .badRequest, "which SKU"),
      ("bad sku", .badRequest, "outside [A-Za-z0-9._:/-]"), ("SKU-404", .notFound, "no location has reported SKU 'SKU-404'"),
    ] as [(String?, HTTPResponseStatus, String)] {
      #expect {
        try api.availability(sku: sku, nowUnixMs: now)
      } throws: { error in
        guard let failure = error as? HTTPFailure else { return false }
        return failure.status == status && failure.message.contains(words)
      }
    }
    try await engine.destroy()
  }

  @Test("exceptions: counts per kind and rows with their figures; stale locations appear once stale")
  func exceptions() async throws {
    let engine = try await Self.engine()
    let api = engine.server.dashboard
    let now = WallClock.nowUnixMs()
    let answer = try api.exceptions(limit: nil, nowUnixMs: now)
    #expect(
      answer.counts == .init(negativeStock: 1, countVariances: 1, staleLocations: 0, sequenceGaps: 1, invariantViolations: 0, total: 3))
    #expect(answer.limit == DashboardAPI.defaultExceptionLimit)
    let negative = try #require(answer.negativeStock.first)
    #expect((negative.sku, negative.locationId, negative.locationName, negative.onHand) == ("SKU-3", "store-2", "Location store-2", -2))
    let variance = try #require(answer.countVariances.first)
    #expect((variance.sku, variance.onHand, variance.counted, variance.variance, variance.deviceId) == ("SKU-2", -3, 7, 10, "pos-2"))
    let gap = try #require(answer.sequenceGaps.first)
    #expect((gap.deviceId, gap.gapFrom, gap.gapTo) == ("pos-2", 2, 4))
    // An hour later nothing has reported: every location (stale after 15 min) is stale.
    let later = try api.exceptions(limit: "2", nowUnixMs: now + 3_600_000)
    #expect(later.counts.staleLocations == 3)
    #expect(later.staleLocations.count == 2, "rows are capped at the limit; the count is not")
    #expect(later.staleLocations.allSatisfy { $0.staleAfterSeconds == 900 && ($0.ageMs ?? 0) >= 3_600_000 })
    for bad in ["0", "1001", "ten", "-1"] {
      #expect(throws: HTTPFailure.self) { try api.exceptions(limit: bad, nowUnixMs: now) }
    }
    try await engine.destroy()
  }

  @Test("overview: locations by kind, warehouses first, each fresh or stale with its events in the last minute")
  func overview() async throws {
    let engine = try await Self.engine()
    let api = engine.server.dashboard
    let now = WallClock.nowUnixMs()
    let answer = api.overview(nowUnixMs: now)
    #expect(answer.kinds.map(\.kind) == ["WAREHOUSE", "STORE"], "kinds without locations are left out")
    #expect(answer.kinds.map(\.label) == ["Warehouses", "Stores"])
    #expect(answer.kinds[1].locations.map(\.id) == ["store-1", "store-2"])
    #expect(answer.kinds.allSatisfy { $0.stale == 0 && $0.fresh == $0.locations.count })
    let store2 = answer.kinds[1].locations[1]
    #expect(store2.eventsLastMinute == 3 && store2.devicesLastHour == 1 && store2.active && !store2.stale)
    #expect(store2.name == "Location store-2" && store2.staleAfterSeconds == 900)
    #expect(answer.summary.locations == 3 && answer.summary.freshLocations == 3 && answer.summary.staleLocations == 0)
    #expect(answer.summary.eventsLastMinute == 6)
    #expect(answer.summary.exceptions == 3)
    #expect(answer.summary.positions == 4 && answer.summary.skus == 3)
    let later = api.overview(nowUnixMs: now + 3_600_000)
    #expect(later.summary.staleLocations == 3 && later.summary.freshLocations == 0)
    #expect(later.kinds.flatMap(\.locations).allSatisfy { $0.stale && $0.ageMs >= 3_600_000 && $0.eventsLastMinute == 0 })
    try await engine.destroy()
  }

  @Test("throughput: one sample a second of events and lookups with their p99, oldest first, from a ring of fixed size")
  func throughput() async throws {
    let engine = try InProcessEngine()
    try await engine.declare(Fixtures.location("store-1"))
    let (lookup, apply) = (0, 1)
    let sampler = ThroughputSampler(
      writer: engine.writer,
      recorder: CallRateRecorder(methods: [OmniStockMethods.Availability.getAvailability, OmniStockMethods.Ingest.applyEvents]))
    let api = DashboardAPI(reports: engine.server.dashboard.reports, sampler: sampler)
    let start: Int64 = 1_800_000_000_000
    sampler.sample(atUnixMs: start)  // the baseline
    #expect(api.throughput(nowUnixMs: start).times.isEmpty)
    _ = try await engine.send((1...40).map { Fixtures.event(seq: UInt64($0), sku: "SKU-\($0)", type: .receipt, quantity: 1) })
    for micros in 1...200 {
      sampler.recorder.callEnded(route: lookup, code: .ok, nanoseconds: UInt64(micros) * 1_000)
      sampler.recorder.callEnded(route: apply, code: .ok, nanoseconds: 9_000_000_000)  // not a lookup
    }
    sampler.recorder.callEnded(route: nil, code: .unimplemented, nanoseconds: 1)
    sampler.sample(atUnixMs: start + 2_000)
    sampler.sample(atUnixMs: start + 3_000)
    let answer = api.throughput(nowUnixMs: start + 3_000)
    #expect(answer.times == [start + 2_000, start + 3_000])
    #expect(answer.eventsPerSecond == [20, 0], "40 events over 2 s")
    #expect(answer.lookupsPerSecond == [100, 0])
    let p99 = try #require(answer.lookupP99Ms[0])
    #expect(p99 >= 0.198 && p99 <= 0.198 * 1.125, "the 198th of 200 durations (1...200 µs), to 12.5%")
    #expect(answer.lookupP99Ms[1] == nil, "no lookups in that second")
    #expect(answer.capacity == 300 && answer.intervalSeconds == 1)
    try await engine.destroy()
  }

  @Test("the throughput ring keeps the newest samples, oldest first")
  func ring() {
    var history = ThroughputHistory(capacity: 3)
    for second in 1...5 {
      history.append(ThroughputSample(unixMs: Int64(second), eventsPerSecond: 0, lookupsPerSecond: 0, lookupP99Ms: nil))
    }
    #expect(history.samples.map(\.unixMs) == [3, 4, 5])
    history.append(ThroughputSample(unixMs: 6, eventsPerSecond: 0, lookupsPerSecond: 0, lookupP99Ms: nil))
    #expect(history.samples.map(\.unixMs) == [4, 5, 6])
  }

  @Test("latency buckets: contiguous, increasing, and a quantile within 12.5% above the true value")
  func latencyHistogram() {
    var previous: UInt64 = 0
    for bucket in 1..<LatencyHistogram.bucket(of: .max) {
      let bound = LatencyHistogram.upperBound(of: bucket)
      #expect(bound > previous)
      #expect(LatencyHistogram.bucket(of: bound) == bucket && LatencyHistogram.bucket(of: previous + 1) == bucket)
      previous = bound
    }
    var histogram = LatencyHistogram()
    #expect(histogram.value(atQuantile: 0.99) == nil)
    for value in 1...10_000 { histogram.record(nanoseconds: UInt64(value) * 1_000) }
    let p99 = try! #require(histogram.value(atQuantile: 0.99))
    #expect(p99 >= 9_900_000 && Double(p99) <= 9_900_000 * 1.125)
    #expect(histogram.value(atQuantile: 1) ?? 0 >= 10_000_000)
  }
}
