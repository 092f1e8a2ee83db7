/// Times two implementations of one operation with the same method, interleaved.
struct Runner {
  /// The figures of one implementation: ns per message.
  struct Result {
    /// The lowest round median (the reported figure).
    var best: Double
    /// The highest round median (how noisy it was).
    var worst: Double
  }

  /// Runs `iterations` operations and returns a checksum that depends on all of them (0 = failure).
  typealias Body = (Int) throws -> UInt64

  var rounds: Int
  var samples: Int
  var sampleNanoseconds: Double
  var warmupNanoseconds: Double

  func compare(swift: Body, c: Body) throws -> (swift: Result, c: Result) {
    let swiftIterations = try calibrate(swift)
    let cIterations = try calibrate(c)
    var swiftMedians: [Double] = []
    var cMedians: [Double] = []
    for round in 0..<rounds {
      // Alternate which goes first so neither always follows the other.
      if round % 2 == 0 {
        swiftMedians.append(try roundMedian(swift, iterations: swiftIterations))
        cMedians.append(try roundMedian(c, iterations: cIterations))
      } else {
        cMedians.append(try roundMedian(c, iterations: cIterations))
        swiftMedians.append(try roundMedian(swift, iterations: swiftIterations))
      }
    }
    return (
      Result(best: swiftMedians.min()!, worst: swiftMedians.max()!),
      Result(best: cMedians.min()!, worst: cMedians.max()!)
    )
  }

  /// Warms `body` up, then returns the iteration count for which one sample takes about
  /// `sampleNanoseconds`.
  private func calibrate(_ body: Body) throws -> Int {
    var iterations = 1
    var spent = 0.0
    var perIteration = 0.0
    while true {
      let ns = try time(body, iterations: iterations)
      spent += ns
      perIteration = ns / Double(iterations)
      if spent >= warmupNanoseconds && ns >= sampleNanoseconds / 4 { break }
      iterations = min(iterations * 2, 1 << 30)
    }
    return max(1, Int(sampleNanoseconds / perIteration))
  }

  private func roundMedian(_ body: Body, iterations: Int) throws -> Double {
    var perMessage: [Double] = []
    perMessage.reserveCapacity(samples)
    for _ in 0..<samples {
      perMessage.append(try time(body, iterations: iterations) / Double(iterations))
    }
    perMessage.sort()
    let mid = perMessage.count / 2
    return perMessage.count % 2 == 1 ? perMessage[mid] : (perMessage[mid - 1] + perMessage[mid]) / 2
  }

  /// Nanoseconds for one run of `iterations`.
  private func time(_ body: Body, iterations: Int) throws -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    let checksum = try body(iterations)
    let elapsed = start.duration(to: clock.now)
    guard checksum != 0 else { throw BenchError("an operation reported failure (checksum 0)") }
    consume(checksum)
    let (seconds, attoseconds) = elapsed.components
    return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
  }
}

struct BenchError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Keeps a value alive as far as the optimizer can tell.
@inline(never)
func consume(_ value: UInt64) {
  if value == 0x5EED_5EED_5EED_5EED { print("") }
}
