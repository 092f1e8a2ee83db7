import Benchmark
import Foundation
import StockIndex
import Synchronization

// StockIndex read and write costs (issue 3), next to baselines measured in the same run: a raw
// pointer load, a Mutex-guarded Dictionary read, and (for scale) one dependent cache miss.
//
// Every read benchmark does 1,000 reads per iteration (`scalingFactor: .kilo`) over random keys
// precomputed in `Keys` (the cursor keeps moving across iterations), and passes each result to
// `blackHole`. Each closure brackets its loop with `startMeasurement()`/`stopMeasurement()`, so
// the harness's own work (ordo-one casting the setup state, which retains it) is not counted.
// Reported times are per iteration (raw); `tools/bench-index.sh` divides by the operations per
// iteration. The read benchmarks carry absolute thresholds of 0 for retains, releases and mallocs
// (see Thresholds/), so `benchmark thresholds check` fails if a read retains, releases or
// allocates.
//
// Each benchmark runs in its own process (that is how ordo-one/benchmark works); the fixtures
// are built in `setup`, outside the measurement.

// Custom metric names are longer than 15 UTF-8 bytes on purpose: not small strings (see below).
let writerUpdatesMetric = BenchmarkMetric.custom(
  "writerUpdatesPerIteration", polarity: .prefersLarger, useScalingFactor: false)
/// The reading thread's own CPU time per iteration (CLOCK_THREAD_CPUTIME_ID), in ns: unlike the
/// wall clock, it leaves out the time the reader waited for a core (this machine has 2, and the
/// busy writer takes one), so with/without-writer compares what the writer does to the reads
/// themselves (cache-line transfers, seqlock retries).
let readerCPUMetric = BenchmarkMetric.custom(
  "readerThreadCPUNanoseconds", polarity: .prefersSmaller, useScalingFactor: false)
/// `readerCPUMetric` of only the iterations during which the writer applied updates (on a busy
/// 2-core machine the writer's core is sometimes taken by other processes).
let readerCPUWhileWritingMetric = BenchmarkMetric.custom(
  "readerThreadCPUNanosecondsWhileWriting", polarity: .prefersSmaller, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
  let measured: [BenchmarkMetric] = [.wallClock, .throughput, .retainCount, .releaseCount, .mallocCountTotal]
  // Raw counts and nanoseconds everywhere, so exported samples are exact (no unit rounding).
  // Custom metrics only where they are used, and never together with the ARC counters: on Linux
  // with Swift 6.3 ordo-one counts retains through the runtime's own hooks (the
  // "RuntimeInterposer" trait's package is not available here), and those crash on the retain of
  // a small or empty string (ordo-one/benchmark#349), which ordo-one's own bookkeeping of custom
  // metrics (compared by name) does while the hooks are on. Seen here: crashes, a corrupted
  // metric name, and a run that hung (the tool waits forever for a child it failed to read).
  var units: [BenchmarkMetric: BenchmarkUnits] = [:]
  for metric in measured { units[metric] = .count }
  var customUnits = units
  for metric in [writerUpdatesMetric, readerCPUMetric, readerCPUWhileWritingMetric] { customUnits[metric] = .count }
  Benchmark.defaultConfiguration = .init(
    metrics: measured, timeUnits: .nanoseconds, units: units, warmupIterations: 20,
    scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 200_000)

  // A read must never retain, release or allocate: absolute threshold 0 at p90 (the percentile
  // `thresholds check` compares against the static files in Thresholds/); the script also
  // checks that the largest sample is 0.
  let zero = BenchmarkThresholds(relative: [:], absolute: [.p90: 0])
  var reads = Benchmark.defaultConfiguration
  reads.thresholds = [.retainCount: zero, .releaseCount: zero, .mallocCountTotal: zero]
  let writes = Benchmark.defaultConfiguration
  // Two writer threads: no ARC counters (process-wide: they would mix both threads').
  var writes2T = writes
  writes2T.metrics = [.wallClock, .throughput, .mallocCountTotal]

  // MARK: - Baselines

  Benchmark("pointLoad", configuration: reads) { (benchmark, fixture: PointerFixture) in
    let keys = Keys.shared
    let words = fixture.words
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      blackHole(words[keys.ids[cursor & Shape.keyMask].ordinal])
      cursor &+= 1
    }
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    return PointerFixture.shared
  }

  // The latency of one dependent load at a random address of 64 MiB: what a read pays per cache
  // miss it cannot overlap with another (pointLoad's loads are independent and overlap).
  Benchmark("pointerChase", configuration: reads) { (benchmark, fixture: ChaseFixture) in
    let next = fixture.next
    var position = fixture.position.pointee
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      position = next[Int(truncatingIfNeeded: position)]
    }
    blackHole(position)
    benchmark.stopMeasurement()
    fixture.position.pointee = position
  } setup: {
    ChaseFixture.shared
  }

  Benchmark("mutexDictionary", configuration: reads) { (benchmark, fixture: MutexDictionaryFixture) in
    let keys = Keys.shared
    let positions = fixture
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      let key = keys.ids[cursor & Shape.keyMask]
      blackHole(positions.positions.withLock { $0[DictionaryKey(sku: key.sku, location: key.location)] })
      cursor &+= 1
    }
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    return MutexDictionaryFixture.shared
  }

  // MARK: - Point reads

  Benchmark("readStateByIDs", configuration: reads) { (benchmark, fixture: IndexFixture) in
    let keys = Keys.shared
    let index = fixture.index
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      let key = keys.ids[cursor & Shape.keyMask]
      blackHole(index.state(sku: key.sku, location: key.location))
      cursor &+= 1
    }
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  Benchmark("readByIDs", configuration: reads) { (benchmark, fixture: IndexFixture) in
    readPositionsByIDs(benchmark, fixture.index)
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  // By strings (small native strings, as decoded from a request). No ARC counters: the harness
  // cannot hand the key strings over without copying them (swift_bridgeObjectRetain: a no-op for
  // small strings in the normal runtime, but a crash under ordo-one's Swift 6.3 hooks, see
  // above). The index's own string path is checked by `readByUTF8` (the same interner lookup,
  // which `StringInterner.id(of:)` takes for native strings without copying them) and in
  // tools/bench-index.sh's notes.
  var strings = reads
  strings.metrics = [.wallClock, .throughput, .mallocCountTotal]
  strings.thresholds = [.mallocCountTotal: zero]
  Benchmark("readByStrings", configuration: strings) { (benchmark, fixture: IndexFixture) in
    let keys = Keys.shared
    let index = fixture.index
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      let key = keys.strings[cursor & Shape.keyMask]
      blackHole(index.position(sku: key.sku, location: key.location, nowUnixMs: Shape.nowUnixMs))
      cursor &+= 1
    }
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  // The string lookup without String: UTF-8 bytes (as a request decoder would hand them over)
  // to ids with `id(ofUTF8:)`, then the read by ids. What `position(sku: String, ...)` costs
  // without its String copies.
  Benchmark("readByUTF8", configuration: reads) { (benchmark, fixture: IndexFixture) in
    let keys = Keys.shared
    let index = fixture.index
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      let key = keys.utf8[cursor & Shape.keyMask]
      if let location = index.locations.id(ofUTF8: key.location), let sku = index.skus.id(ofUTF8: key.sku) {
        blackHole(index.position(sku: sku, location: location, nowUnixMs: Shape.nowUnixMs))
      }
      cursor &+= 1
    }
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  // By ids over 1,024 keys only (about 128 KiB of slots and table lines: cache-resident), to
  // separate the code path's cost from the cache misses of `readByIDs`.
  Benchmark("readByIDsHot", configuration: reads) { (benchmark, fixture: IndexFixture) in
    let keys = Keys.shared
    let index = fixture.index
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      let key = keys.ids[cursor & 1_023]
      blackHole(index.position(sku: key.sku, location: key.location, nowUnixMs: Shape.nowUnixMs))
      cursor &+= 1
    }
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  // MARK: - Reads with and without a concurrent writer (run one after the other: names sort
  // next to each other)

  // No ARC counters here: they are process-wide (they would count the writer's), and these two
  // carry custom metrics (see above). The reads are the code of readByIDs, which is checked for
  // zero ARC traffic.
  var busy = reads
  busy.units = customUnits
  busy.metrics = [
    .wallClock, .throughput, .mallocCountTotal, writerUpdatesMetric, readerCPUMetric, readerCPUWhileWritingMetric,
  ]
  busy.thresholds = nil
  Benchmark("readWithBusyWriter", configuration: busy) { (benchmark, fixture: WriterFixture) in
    pinCurrentThread(toCPU: 0)  // the writer runs on CPU 1: reader and writer never share a core
    let before = fixture.writer.updates.load(ordering: .relaxed)
    let cpu = threadCPUNanoseconds()
    readPositionsByIDs(benchmark, fixture.index.index)
    // After stopMeasurement (in readPositionsByIDs): the reader's CPU time, and how many updates
    // the writer applied meanwhile.
    let readerCPU = threadCPUNanoseconds() - cpu
    let writerUpdates = fixture.writer.updates.load(ordering: .relaxed) - before
    benchmark.measurement(readerCPUMetric, readerCPU)
    benchmark.measurement(writerUpdatesMetric, writerUpdates)
    if writerUpdates > 0 { benchmark.measurement(readerCPUWhileWritingMetric, readerCPU) }
  } setup: {
    _ = Keys.shared
    let fixture = IndexFixture.shared
    let writer = BusyWriter()
    writer.start(fixture)
    BusyWriter.current.withLock { $0 = writer }
    return WriterFixture(index: fixture, writer: writer)
  } teardown: {
    let writer = BusyWriter.current.withLock { current in
      defer { current = nil }
      return current
    }
    writer?.stop()
  }

  var quiet = reads
  quiet.metrics = [.wallClock, .throughput, .mallocCountTotal, readerCPUMetric]
  quiet.units = customUnits
  quiet.thresholds = [.mallocCountTotal: zero]
  Benchmark("readWithoutWriter", configuration: quiet) { (benchmark, fixture: IndexFixture) in
    pinCurrentThread(toCPU: 0)  // as readWithBusyWriter's reader
    let cpu = threadCPUNanoseconds()
    readPositionsByIDs(benchmark, fixture.index)
    benchmark.measurement(readerCPUMetric, threadCPUNanoseconds() - cpu)
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  // MARK: - Group and batch reads

  Benchmark("groupRead", configuration: reads) { (benchmark, fixture: IndexFixture) in
    let keys = Keys.shared
    let index = fixture.index
    let group = fixture.group
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      let key = keys.ids[cursor & Shape.keyMask]
      blackHole(index.group(sku: key.sku, group: group, nowUnixMs: Shape.nowUnixMs))
      cursor &+= 1
    }
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  var batch = reads
  batch.scalingFactor = .one
  Benchmark("batchRead1000", configuration: batch) { (benchmark, fixture: BatchFixture) in
    let keys = Keys.shared
    let index = fixture.index.index
    let out = fixture.out
    let cursor = keys.advance(by: 1_000)
    benchmark.startMeasurement()
    for offset in 0..<1_000 {
      let key = keys.ids[(cursor &+ offset) & Shape.keyMask]
      (out + offset).initialize(to: index.position(sku: key.sku, location: key.location, nowUnixMs: Shape.nowUnixMs))
    }
    blackHole(out)
    benchmark.stopMeasurement()
  } setup: {
    _ = Keys.shared
    // A response buffer for 1,000 readings, allocated once (PositionReading is trivial).
    return BatchFixture(index: IndexFixture.shared, out: .allocate(capacity: 1_000))
  }

  // MARK: - Writes

  Benchmark("writeOneShard", configuration: writes) { (benchmark, fixture: IndexFixture) in
    let index = fixture.index
    var lsn = fixture.nextLSN.pointee
    benchmark.startMeasurement()
    for iteration in benchmark.scaledIterations {
      blackHole(index.apply(oneSKUUpdate(iteration), lsn: lsn, nowUnixMs: Shape.nowUnixMs))
      lsn += 1
    }
    benchmark.stopMeasurement()
    fixture.nextLSN.pointee = lsn
  } setup: {
    IndexFixture.shared
  }

  Benchmark("writeAcrossShards", configuration: writes) { (benchmark, fixture: IndexFixture) in
    let keys = Keys.shared
    let index = fixture.index
    var lsn = fixture.nextLSN.pointee
    var cursor = keys.advance(by: benchmark.scaledIterations.count)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
      blackHole(index.apply(randomUpdate(keys.ids[cursor & Shape.keyMask]), lsn: lsn, nowUnixMs: Shape.nowUnixMs))
      cursor &+= 1
      lsn += 1
    }
    benchmark.stopMeasurement()
    fixture.nextLSN.pointee = lsn
  } setup: {
    _ = Keys.shared
    return IndexFixture.shared
  }

  // Two writer threads: this one and a helper, 500 updates each per iteration of 1,000.
  Benchmark("writeAcrossShards2T", configuration: writes2T) { (benchmark, fixture: HelperFixture) in
    let keys = Keys.shared
    let index = fixture.index.index
    var lsn = fixture.index.nextLSN.pointee
    let half = benchmark.scaledIterations.count / 2
    var cursor = keys.advance(by: half)
    benchmark.startMeasurement()
    let generation = fixture.helper.signal()
    for _ in 0..<half {
      blackHole(index.apply(randomUpdate(keys.ids[cursor & Shape.keyMask]), lsn: lsn, nowUnixMs: Shape.nowUnixMs))
      cursor &+= 1
      lsn += 1
    }
    fixture.helper.wait(for: generation)
    benchmark.stopMeasurement()
    fixture.index.nextLSN.pointee = lsn
  } setup: {
    let fixture = IndexFixture.shared
    let index = fixture.index
    let helper = WriteHelper()
    helper.start(count: Benchmark.defaultConfiguration.scalingFactor.rawValue / 2) { random, lsn in
      let bits = random.next()
      let sku = Int(bits % UInt64(Shape.skuCount))
      let location = Shape.location(sku: sku, slot: Int((bits >> 40) % UInt64(Shape.locationsPerSKU)))
      blackHole(index.apply(
        StockUpdate(sku: UInt32(sku), location: UInt32(location), change: .adjust(delta: bits & 1 == 0 ? 1 : -1)),
        lsn: lsn, nowUnixMs: Shape.nowUnixMs))
    }
    WriteHelper.current.withLock { $0 = helper }
    return HelperFixture(index: fixture, helper: helper)
  } teardown: {
    let helper = WriteHelper.current.withLock { current in
      defer { current = nil }
      return current
    }
    helper?.stop()
  }

  // Two writer threads on the same SKU (so the same shard lock): the contended case.
  Benchmark("writeOneShard2T", configuration: writes2T) { (benchmark, fixture: HelperFixture) in
    let index = fixture.index.index
    var lsn = fixture.index.nextLSN.pointee
    let half = benchmark.scaledIterations.count / 2
    benchmark.startMeasurement()
    let generation = fixture.helper.signal()
    for iteration in 0..<half {
      blackHole(index.apply(oneSKUUpdate(iteration), lsn: lsn, nowUnixMs: Shape.nowUnixMs))
      lsn += 1
    }
    fixture.helper.wait(for: generation)
    benchmark.stopMeasurement()
    fixture.index.nextLSN.pointee = lsn
  } setup: {
    let fixture = IndexFixture.shared
    let index = fixture.index
    let helper = WriteHelper()
    helper.start(count: Benchmark.defaultConfiguration.scalingFactor.rawValue / 2) { random, lsn in
      blackHole(index.apply(oneSKUUpdate(Int(random.next() & 0xFFFF)), lsn: lsn, nowUnixMs: Shape.nowUnixMs))
    }
    WriteHelper.current.withLock { $0 = helper }
    return HelperFixture(index: fixture, helper: helper)
  } teardown: {
    let helper = WriteHelper.current.withLock { current in
      defer { current = nil }
      return current
    }
    helper?.stop()
  }
}

/// 1,000 (the scaling factor) `position(sku:location:nowUnixMs:)` reads by ids.
@inline(__always)
func readPositionsByIDs(_ benchmark: Benchmark, _ index: StockIndex) {
  let keys = Keys.shared
  var cursor = keys.advance(by: benchmark.scaledIterations.count)
  benchmark.startMeasurement()
  for _ in benchmark.scaledIterations {
    let key = keys.ids[cursor & Shape.keyMask]
    blackHole(index.position(sku: key.sku, location: key.location, nowUnixMs: Shape.nowUnixMs))
    cursor &+= 1
  }
  benchmark.stopMeasurement()
}

/// Binds the calling thread to one CPU (no-op where there is no such CPU or call).
func pinCurrentThread(toCPU cpu: Int) {
  #if os(Linux)
  guard cpu < sysconf(Int32(_SC_NPROCESSORS_ONLN)), let setAffinity = schedSetAffinity else { return }
  var set = cpu_set_t()
  withUnsafeMutableBytes(of: &set) { bytes in
    bytes[cpu / 8] |= UInt8(1 << (cpu % 8))
    _ = setAffinity(0, bytes.count, UnsafeRawPointer(bytes.baseAddress!))
  }
  #endif
}

#if os(Linux)
/// glibc's `sched_setaffinity` (a GNU extension Swift's Glibc module does not export).
let schedSetAffinity: (@convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32)? = {
  guard let symbol = dlsym(nil, "sched_setaffinity") else { return nil }
  return unsafeBitCast(symbol, to: (@convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32).self)
}()
#endif

/// CPU time of the calling thread, ns.
func threadCPUNanoseconds() -> Int {
  var now = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
  return now.tv_sec * 1_000_000_000 + now.tv_nsec
}

/// The SKU every one-shard write goes to, cycling over its 10 locations.
let oneShardSKU = 4_242

@inline(__always)
func oneSKUUpdate(_ iteration: Int) -> StockUpdate {
  let location = Shape.location(sku: oneShardSKU, slot: iteration % Shape.locationsPerSKU)
  return StockUpdate(
    sku: UInt32(oneShardSKU), location: UInt32(location), change: .adjust(delta: iteration & 1 == 0 ? 1 : -1))
}

@inline(__always)
func randomUpdate(_ key: PositionKey) -> StockUpdate {
  StockUpdate(sku: key.sku, location: key.location, change: .adjust(delta: key.ordinal & 1 == 0 ? 1 : -1))
}

struct WriterFixture {
  let index: IndexFixture
  let writer: BusyWriter
}

struct BatchFixture {
  let index: IndexFixture
  let out: UnsafeMutablePointer<PositionReading>
}

struct HelperFixture {
  let index: IndexFixture
  let helper: WriteHelper
}
