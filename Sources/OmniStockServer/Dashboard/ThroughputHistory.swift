/// The dashboard's recent throughput: a ring buffer of one ``ThroughputSample`` per second,
/// keeping the newest ``capacity`` (5 minutes by default), so a page opened now shows history.
struct ThroughputHistory: Sendable {
  /// Samples kept.
  let capacity: Int
  private var ring: [ThroughputSample] = []
  /// Where the next sample goes once the ring is full (the oldest one).
  private var next = 0

  init(capacity: Int = 300) {
    precondition(capacity > 0, "a history keeps at least one sample")
    self.capacity = capacity
    ring.reserveCapacity(capacity)
  }

  /// Adds `sample`, dropping the oldest when full.
  mutating func append(_ sample: ThroughputSample) {
    if ring.count < capacity {
      ring.append(sample)
    } else {
      ring[next] = sample
      next = (next + 1) % capacity
    }
  }

  /// The samples kept, oldest first.
  var samples: [ThroughputSample] {
    Array(ring[next...] + ring[..<next])
  }
}
