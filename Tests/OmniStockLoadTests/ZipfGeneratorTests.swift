import OmniStockLoad
import Testing

/// The workload's SKU popularity: seeded, reproducible, Zipf-shaped.
@Suite("Load tool: Zipf popularity")
struct ZipfGeneratorTests {
  func draws(seed: UInt64, count: Int = 200_000) -> [Int] {
    var generator = ZipfGenerator(count: 1_000, exponent: 1.0, seed: seed)
    var frequency = [Int](repeating: 0, count: 1_000)
    for _ in 0..<count { frequency[generator.next()] += 1 }
    return frequency
  }

  @Test("the same seed gives the same traffic; another seed gives other traffic")
  func seeded() {
    #expect(draws(seed: 7, count: 5_000) == draws(seed: 7, count: 5_000))
    #expect(draws(seed: 7, count: 5_000) != draws(seed: 8, count: 5_000))
  }

  @Test("rank k is drawn about 1/(k+1) as often as rank 0, and hot SKUs dominate")
  func shape() {
    let frequency = draws(seed: 42)
    let top = Double(frequency[0])
    for rank in [1, 3, 9, 99] {
      let ratio = Double(frequency[rank]) / top
      let expected = 1.0 / Double(rank + 1)
      #expect(abs(ratio - expected) < expected * 0.15, "rank \(rank): \(ratio) vs \(expected)")
    }
    // With s = 1 over 1,000 ranks, the top 10 take about 39% of the draws (H(10)/H(1000)).
    let share = Double(frequency.prefix(10).reduce(0, +)) / 200_000
    #expect(abs(share - 0.39) < 0.02)
  }

  @Test("uniform draws stay in range and cover it")
  func uniform() {
    var generator = ZipfGenerator(count: 10, exponent: 1, seed: 1)
    var seen = Set<Int>()
    for _ in 0..<1_000 { seen.insert(generator.uniform(20)) }
    #expect(seen == Set(0..<20))
  }
}
