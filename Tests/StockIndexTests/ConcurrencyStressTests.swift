import Foundation
import Synchronization
import Testing

@testable import StockIndex

/// Readers racing writers on real threads. Every write is a `commit`, which moves `on_hand` and
/// `reserved` together (they live in different words of the slot), so `on_hand - reserved` is the
/// same before and after every write: a reader that ever saw one word from before a write and the
/// other from after (a torn read) would see a different difference.
@Suite("StockIndex under concurrent readers and writers", .timeLimit(.minutes(2)))
struct ConcurrencyStressTests {
  /// Runs each body on its own thread and returns when all are done, without blocking a thread
  /// of Swift's cooperative pool (other tests' tasks need them).
  private static func runThreads(_ bodies: [@Sendable () -> Void]) async {
    let group = DispatchGroup()
    for body in bodies {
      group.enter()
      Thread.detachNewThread {
        body()
        group.leave()
      }
    }
    await withCheckedContinuation { continuation in
      group.notify(queue: .global()) { continuation.resume() }
    }
  }

  @Test("no torn read in millions of reads; final totals equal the sum of applied deltas")
  func noTornReads() async throws {
    let index = StockIndex(configuration: .init(shardCountLog2: 2, initialShardCapacity: 16))
    let locations = try (0..<4).map { try #require(index.declareLocation("store-\($0)", settings: .init())) }
    let skus = try (0..<16).map { try #require(index.skus.intern("SKU-\($0)")) }
    let group = try #require(index.setGroup("all", members: locations, includeStale: true))
    let positions = skus.flatMap { sku in locations.map { (sku, $0) } }
    let baseline: Int64 = 1_000_000
    let now: Int64 = 1_700_000_000_000
    for (sku, location) in positions {
      index.apply(.init(sku: sku, location: location, change: .adjust(delta: baseline)), lsn: 1, nowUnixMs: now)
    }

    let writers = 2
    let writesPerWriter = 150_000
    let minimumReads = 2_000_000
    let writersDone = Atomic<Int>(0)
    let reads = Atomic<Int>(0)
    let violations = Atomic<Int>(0)
    let applied = Mutex<[Int64]>(Array(repeating: 0, count: positions.count))

    var bodies: [@Sendable () -> Void] = []
    for writer in 0..<writers {
      bodies.append {
        var random = SeededGenerator(seed: UInt64(writer + 1))
        var local = Array(repeating: Int64(0), count: positions.count)
        for step in 0..<writesPerWriter {
          let which = Int.random(in: 0..<positions.count, using: &random)
          let quantity = Int64.random(in: -3...3, using: &random)
          let (sku, location) = positions[which]
          index.apply(
            .init(sku: sku, location: location, change: .commit(quantity: quantity)), lsn: UInt64(2 + step),
            nowUnixMs: now)
          local[which] += quantity
        }
        applied.withLock { totals in for i in 0..<totals.count { totals[i] += local[i] } }
        writersDone.add(1, ordering: .releasing)
      }
    }
    for reader in 0..<2 {
      bodies.append {
        var random = SeededGenerator(seed: UInt64(100 + reader))
        var count = 0
        var bad = 0
        while writersDone.load(ordering: .acquiring) < writers || reads.load(ordering: .relaxed) + count < minimumReads {
          let (sku, location) = positions[Int.random(in: 0..<positions.count, using: &random)]
          guard let state = index.state(sku: sku, location: location) else {
            bad += 1
            continue
          }
          if state.onHand - state.reserved != baseline { bad += 1 }
          count += 1
          if count % 4096 == 0 {
            reads.add(count, ordering: .relaxed)
            count = 0
          }
        }
        reads.add(count, ordering: .relaxed)
        violations.add(bad, ordering: .relaxed)
      }
    }
    await Self.runThreads(bodies)

    #expect(reads.load(ordering: .relaxed) >= minimumReads)
    #expect(violations.load(ordering: .relaxed) == 0)
    let totals = applied.withLock { $0 }
    var expectedGroupOnHand: [UInt32: Int64] = [:]
    for (offset, (sku, location)) in positions.enumerated() {
      let state = try #require(index.state(sku: sku, location: location))
      #expect(state.onHand == baseline - totals[offset])
      #expect(state.reserved == -totals[offset])
      expectedGroupOnHand[sku, default: 0] += state.onHand
    }
    for sku in skus {
      let reading = try #require(index.group(sku: sku, group: group, nowUnixMs: now))
      #expect(reading.totals.onHand == expectedGroupOnHand[sku])
    }
  }

  @Test("readers keep finding every key while writers insert and tables grow")
  func readsDuringGrowth() async throws {
    let index = StockIndex(configuration: .init(shardCountLog2: 1, initialShardCapacity: 16))
    let location = try #require(index.declareLocation("dc-1", settings: .init()))
    let total = 60_000
    let skus = (0..<total).map { index.skus.intern("SKU-\($0)")! }
    let inserted = Atomic<Int>(0)
    let missing = Atomic<Int>(0)
    let now: Int64 = 1_700_000_000_000
    await Self.runThreads([
      {
        for (number, sku) in skus.enumerated() {
          index.apply(.init(sku: sku, location: location, change: .adjust(delta: Int64(number))), lsn: UInt64(number + 1), nowUnixMs: now)
          inserted.store(number + 1, ordering: .releasing)
        }
      },
      {
        var random = SeededGenerator(seed: 7)
        while inserted.load(ordering: .acquiring) < total {
          let known = inserted.load(ordering: .acquiring)
          guard known > 0 else { continue }
          let number = Int.random(in: 0..<known, using: &random)
          if index.state(sku: skus[number], location: location)?.onHand != Int64(number) {
            missing.add(1, ordering: .relaxed)
          }
        }
      },
    ])
    #expect(missing.load(ordering: .relaxed) == 0)
    #expect(index.statistics().slots == total)
  }
}
