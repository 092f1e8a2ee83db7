/// Draws ranks 0..<count with Zipf popularity (rank k with weight 1/(k+1)^exponent), from a
/// seeded generator, so a run's traffic is reproducible: a few hot SKUs, a long tail.
public struct ZipfGenerator: Sendable {
  private let cumulative: [Double]
  private var random: SplitMix64

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
    random = SplitMix64(seed: seed)
  }

  /// The next rank.
  public mutating func next() -> Int {
    let uniform = Double(random.next() >> 11) / Double(1 << 53)
    var low = 0
    var high = cumulative.count - 1
    while low < high {
      let middle = (low + high) / 2
      if cumulative[middle] < uniform { low = middle + 1 } else { high = middle }
    }
    return low
  }

  /// A uniform integer in 0..<bound from the same seeded stream.
  public mutating func uniform(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }
}

#if canImport(Glibc)
import Glibc
#endif
