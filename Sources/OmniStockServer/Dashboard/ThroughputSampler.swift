import Synchronization

/// Takes one ``ThroughputSample`` a second into a ``ThroughputHistory``: events received (from the
/// engine's counters, copied under the write order for a moment, as a metrics scrape does) and the
/// lookups the ``CallRateRecorder`` saw.
///
/// ``run()`` samples until its task is cancelled; tests call ``sample(atUnixMs:)`` directly.
final class ThroughputSampler: Sendable {
  /// What the previous sample saw, to turn totals into rates.
  private struct Previous {
    var unixMs: Int64
    var events: UInt64
  }

  let recorder: CallRateRecorder
  private let writer: StockWriter
  private let history: Mutex<ThroughputHistory>
  private let previous: Mutex<Previous?> = Mutex(nil)

  init(writer: StockWriter, recorder: CallRateRecorder, capacity: Int = 300) {
    self.writer = writer
    self.recorder = recorder
    self.history = Mutex(ThroughputHistory(capacity: capacity))
  }

  /// Samples once a second (on the second boundary of a monotonic clock) until cancelled.
  func run() async {
    let clock = ContinuousClock()
    var deadline = clock.now
    sample(atUnixMs: WallClock.nowUnixMs())  // the baseline
    while !Task.isCancelled {
      deadline = deadline.advanced(by: .seconds(1))
      do { try await Task.sleep(until: deadline, clock: clock) } catch { return }
      sample(atUnixMs: WallClock.nowUnixMs())
    }
  }

  /// Takes a sample ending at `unixMs`. The first one only sets the baseline.
  func sample(atUnixMs unixMs: Int64) {
    let counters = writer.read { $0.counters }
    let events = counters.events + counters.duplicates + counters.superseded + counters.rejected
    let window = recorder.take()
    let last = previous.withLock { previous in
      defer { previous = Previous(unixMs: unixMs, events: events) }
      return previous
    }
    guard let last, unixMs > last.unixMs else { return }
    let seconds = Double(unixMs - last.unixMs) / 1000
    let sample = ThroughputSample(
      unixMs: unixMs, eventsPerSecond: Double(events &- last.events) / seconds,
      lookupsPerSecond: Double(window.lookups) / seconds,
      lookupP99Ms: window.latency.value(atQuantile: 0.99).map { Double($0) / 1_000_000 })
    history.withLock { $0.append(sample) }
  }

  /// The samples kept, oldest first.
  var samples: [ThroughputSample] { history.withLock { $0.samples } }

  /// Seconds of history kept.
  var capacity: Int { history.withLock { $0.capacity } }
}
