/// Draws ranks 0..<count with Zipf popularity (rank k with weight 1/(k+1)^exponent), from a
/// seeded generator, so a run's traffic is reproducible: a few hot SKUs, a long tail.
public struct ZipfGenerator: Sendable {
  private let cumulative: [Double]
  private var state: UInt64

  public init(count: Int, exponent: Double, seed: UInt64) {
    precondition(count > 0)
    var sum = 0.0
    var cumulative: [Double] = []
    cumulative.reserveCapacity(count)
    for rank in 0..<count {
      sum += 1 / pow(Double(rank + 1), exponent)
      cumulative.append(sum)
    }
    self.cumulative = cumulative.map { $0 / sum }
    state = seed
  }

  /// The next rank.
  public mutating func next() -> Int {
    let uniform = Double(nextRandom() >> 11) / Double(1 << 53)
    var low = 0
    var high = cumulative.count - 1
    while low < high {
      let middle = (low + high) / 2
      if cumulative[middle] < uniform { low = middle + 1 } else { high = middle }
    }
    return low
  }

  /// A uniform integer in 0..<bound from the same seeded stream.
  public mutating func uniform(_ bound: Int) -> Int { Int(nextRandom() % UInt64(bound)) }

  /// SplitMix64: small, fast, and the same on every platform.
  private mutating func nextRandom() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

#if canImport(Glibc)
import Glibc
#endif
