import Benchmark
import Foundation
import StockIndex
import Synchronization

// The data every benchmark reads: 100,000 SKUs ("SKU-00012345") x 10 of 60 locations
// ("store-017") = 1,000,000 positions, and the random keys the loops walk through (precomputed,
// so the random generator is never measured).

enum Shape {
  static let skuCount = 100_000
  static let locationCount = 60
  static let locationsPerSKU = 10
  static let positionCount = skuCount * locationsPerSKU
  /// Random keys the read loops cycle through (a power of two: the cursor is masked).
  static let keyCount = 1 << 16
  static let keyMask = keyCount - 1
  static let groupMembers = 10
  /// Fixed "now" (2026-01-01T00:00:00Z) so every run reads the same freshness.
  static let nowUnixMs: Int64 = 1_767_225_600_000

  /// The k-th (0..<10) location of a SKU; distinct for k in 0..<10 because 6k mod 60 is.
  @inline(__always)
  static func location(sku: Int, slot k: Int) -> Int { (sku &* 7 &+ k &* 6) % locationCount }

  static func skuString(_ sku: Int) -> String { "SKU-" + zeroPadded(sku, width: 8) }
  static func locationString(_ location: Int) -> String { "store-" + zeroPadded(location, width: 3) }

  private static func zeroPadded(_ value: Int, width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }
}

/// SplitMix64: a small deterministic generator, so every run reads the same keys.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }

  @inline(__always)
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

struct PositionKey {
  var sku: UInt32
  var location: UInt32
  /// sku * 10 + k: the position's ordinal in 0..<1,000,000 (for the pointer-load baseline).
  var ordinal: Int
}

struct StringKey {
  var sku: String
  var location: String
}

struct UTF8Key {
  var sku: UnsafeRawBufferPointer
  var location: UnsafeRawBufferPointer
}

struct DictionaryKey: Hashable {
  var sku: UInt32
  var location: UInt32
}

/// The random keys, by ids and as strings (same positions, same order), in raw memory so that
/// walking them costs a load and no bounds check or reference count.
final class Keys: @unchecked Sendable {
  static let shared = Keys()

  let ids: UnsafeMutableBufferPointer<PositionKey>
  let strings: UnsafeMutableBufferPointer<StringKey>
  /// The same strings as UTF-8 bytes in raw memory (never freed).
  let utf8: UnsafeMutableBufferPointer<UTF8Key>
  /// A cursor into the key arrays that survives across iterations (single-threaded use).
  let cursor: UnsafeMutablePointer<Int>

  private init() {
    ids = .allocate(capacity: Shape.keyCount)
    strings = .allocate(capacity: Shape.keyCount)
    utf8 = .allocate(capacity: Shape.keyCount)
    var random = SplitMix64(seed: 0x5EED_0001)
    for index in 0..<Shape.keyCount {
      let sku = Int(random.next() % UInt64(Shape.skuCount))
      let k = Int(random.next() % UInt64(Shape.locationsPerSKU))
      let location = Shape.location(sku: sku, slot: k)
      ids[index] = PositionKey(sku: UInt32(sku), location: UInt32(location), ordinal: sku * Shape.locationsPerSKU + k)
      (strings.baseAddress! + index).initialize(
        to: StringKey(sku: Shape.skuString(sku), location: Shape.locationString(location)))
      utf8[index] = UTF8Key(sku: Self.bytes(Shape.skuString(sku)), location: Self.bytes(Shape.locationString(location)))
    }
    cursor = .allocate(capacity: 1)
    cursor.initialize(to: 0)
  }

  private static func bytes(_ string: String) -> UnsafeRawBufferPointer {
    let utf8 = Array(string.utf8)
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: utf8.count, alignment: 1)
    copy.copyBytes(from: utf8)
    return UnsafeRawBufferPointer(copy)
  }

  /// The next `count` keys' starting cursor (the loops mask it with `Shape.keyMask`).
  @inline(__always)
  func advance(by count: Int) -> Int {
    let start = cursor.pointee
    cursor.pointee = (start &+ count) & Shape.keyMask
    return start
  }
}

/// The pre-filled index: 60 declared locations, 100,000 interned SKUs, 1,000,000 positions
/// written by id with `.adjust`, and one group ("region-north") of 10 locations.
final class IndexFixture: @unchecked Sendable {
  static let shared = IndexFixture()

  let index: StockIndex
  let group: UInt32
  /// The next LSN for writes from the benchmark thread.
  let nextLSN: UnsafeMutablePointer<UInt64>

  private init() {
    index = StockIndex()
    let settings = LocationSettings(defaultSafetyStock: 2, lowStockThreshold: 5, staleAfterSeconds: 900, active: true)
    for location in 0..<Shape.locationCount {
      precondition(index.declareLocation(Shape.locationString(location), settings: settings) == UInt32(location))
    }
    for sku in 0..<Shape.skuCount {
      precondition(index.skus.intern(Shape.skuString(sku)) == UInt32(sku))
    }
    var random = SplitMix64(seed: 0x5EED_0002)
    var lsn: UInt64 = 0
    for sku in 0..<Shape.skuCount {
      for k in 0..<Shape.locationsPerSKU {
        lsn += 1
        let update = StockUpdate(
          sku: UInt32(sku), location: UInt32(Shape.location(sku: sku, slot: k)),
          change: .adjust(delta: Int64(random.next() % 100)))
        _ = index.apply(update, lsn: lsn, nowUnixMs: Shape.nowUnixMs)
      }
    }
    group = index.setGroup(
      "region-north", members: (0..<Shape.groupMembers).map { UInt32($0) }, includeStale: false)!
    nextLSN = .allocate(capacity: 1)
    nextLSN.initialize(to: lsn + 1)
  }
}

/// The obvious alternative: the same 1,000,000 positions in a `Dictionary` behind a `Mutex`.
final class MutexDictionaryFixture: @unchecked Sendable {
  static let shared = MutexDictionaryFixture()

  let positions: Mutex<[DictionaryKey: PositionState]>

  private init() {
    var dictionary: [DictionaryKey: PositionState] = [:]
    dictionary.reserveCapacity(Shape.positionCount)
    var random = SplitMix64(seed: 0x5EED_0002)
    for sku in 0..<Shape.skuCount {
      for k in 0..<Shape.locationsPerSKU {
        var state = PositionState()
        state.onHand = Int64(random.next() % 100)
        dictionary[DictionaryKey(sku: UInt32(sku), location: UInt32(Shape.location(sku: sku, slot: k)))] = state
      }
    }
    positions = Mutex(dictionary)
  }
}

/// The raw-load baseline: one UInt64 per position, in a plain allocation.
final class PointerFixture: @unchecked Sendable {
  static let shared = PointerFixture()

  let words: UnsafeMutablePointer<UInt64>

  private init() {
    words = .allocate(capacity: Shape.positionCount)
    var random = SplitMix64(seed: 0x5EED_0003)
    for index in 0..<Shape.positionCount { (words + index).initialize(to: random.next()) }
  }
}

/// The latency baseline: 8M UInt64 (64 MiB, about the size of the index's slots and key
/// tables) holding one random cycle, so each load's address is the previous load's value.
final class ChaseFixture: @unchecked Sendable {
  static let shared = ChaseFixture()
  static let count = 1 << 23

  let next: UnsafeMutablePointer<UInt64>
  let position: UnsafeMutablePointer<UInt64>

  private init() {
    next = .allocate(capacity: Self.count)
    for index in 0..<Self.count { (next + index).initialize(to: UInt64(index)) }
    // Sattolo's algorithm: a uniformly random permutation with a single cycle.
    var random = SplitMix64(seed: 0x5EED_0006)
    var index = Self.count - 1
    while index > 0 {
      let other = Int(random.next() % UInt64(index))
      let swap = next[index]
      next[index] = next[other]
      next[other] = swap
      index -= 1
    }
    position = .allocate(capacity: 1)
    position.initialize(to: 0)
  }
}

// MARK: - Background threads

/// Seconds after which any background thread stops on its own, whatever happens to the benchmark.
let backgroundThreadLimit: Duration = .seconds(120)

/// One thread that applies `.adjust` updates to random positions of the fixture, as fast as it
/// can, until stopped (or `backgroundThreadLimit` passes).
final class BusyWriter: @unchecked Sendable {
  static let current = Mutex<BusyWriter?>(nil)

  let stopRequested = Atomic<Bool>(false)
  let finished = Atomic<Bool>(false)
  /// Updates applied so far.
  let updates = Atomic<Int>(0)

  func start(_ fixture: IndexFixture) {
    let index = fixture.index
    Thread.detachNewThread { [self] in
      pinCurrentThread(toCPU: 1)  // the reader is pinned to CPU 0
      var random = SplitMix64(seed: 0x5EED_0004)
      var lsn: UInt64 = 1 << 40
      let deadline = ContinuousClock.now.advanced(by: backgroundThreadLimit)
      while !stopRequested.load(ordering: .relaxed) && ContinuousClock.now < deadline {
        for _ in 0..<256 {
          let bits = random.next()
          let sku = Int(bits % UInt64(Shape.skuCount))
          let k = Int((bits >> 40) % UInt64(Shape.locationsPerSKU))
          lsn += 1
          let update = StockUpdate(
            sku: UInt32(sku), location: UInt32(Shape.location(sku: sku, slot: k)),
            change: .adjust(delta: bits & 1 == 0 ? 1 : -1))
          _ = index.apply(update, lsn: lsn, nowUnixMs: Shape.nowUnixMs)
          updates.wrappingAdd(1, ordering: .relaxed)
        }
      }
      finished.store(true, ordering: .releasing)
    }
    // Measure only once the writer is really writing (bounded wait).
    let deadline = ContinuousClock.now.advanced(by: .seconds(10))
    while updates.load(ordering: .relaxed) < 10_000 && ContinuousClock.now < deadline { sched_yield() }
  }

  func stop() {
    stopRequested.store(true, ordering: .relaxed)
    let deadline = ContinuousClock.now.advanced(by: .seconds(10))
    while !finished.load(ordering: .acquiring) && ContinuousClock.now < deadline { sched_yield() }
  }
}

/// A second writer thread that, on each `run(generation:)` signal, applies `count` updates and
/// reports completion; used to measure two writers in parallel within one benchmark iteration.
final class WriteHelper: @unchecked Sendable {
  static let current = Mutex<WriteHelper?>(nil)

  let generation = Atomic<Int>(0)
  let completed = Atomic<Int>(0)
  let stopRequested = Atomic<Bool>(false)
  let finished = Atomic<Bool>(false)

  /// `body(lsn)` applies one update; the helper owns its own LSN stream.
  func start(count: Int, _ body: @escaping @Sendable (_ random: inout SplitMix64, _ lsn: UInt64) -> Void) {
    Thread.detachNewThread { [self] in
      var random = SplitMix64(seed: 0x5EED_0005)
      var lsn: UInt64 = 1 << 41
      var seen = 0
      let deadline = ContinuousClock.now.advanced(by: backgroundThreadLimit)
      outer: while true {
        var spins = 0
        while generation.load(ordering: .acquiring) == seen {
          if stopRequested.load(ordering: .relaxed) { break outer }
          spins += 1
          if spins & 0xFF == 0 {
            if ContinuousClock.now > deadline { break outer }
            sched_yield()
          }
        }
        seen = generation.load(ordering: .acquiring)
        for _ in 0..<count {
          lsn += 1
          body(&random, lsn)
        }
        completed.store(seen, ordering: .releasing)
      }
      finished.store(true, ordering: .releasing)
    }
  }

  /// Signals the helper to run one batch; returns the generation to `wait(for:)`.
  @inline(__always)
  func signal() -> Int {
    generation.wrappingAdd(1, ordering: .releasing).newValue
  }

  @inline(__always)
  func wait(for generation: Int) {
    var spins = 0
    while completed.load(ordering: .acquiring) != generation {
      spins += 1
      if spins & 0xFFF == 0 {
        if finished.load(ordering: .acquiring) { return }  // the helper hit its time limit
        sched_yield()
      }
    }
  }

  func stop() {
    stopRequested.store(true, ordering: .relaxed)
    let deadline = ContinuousClock.now.advanced(by: .seconds(10))
    while !finished.load(ordering: .acquiring) && ContinuousClock.now < deadline { sched_yield() }
  }
}
