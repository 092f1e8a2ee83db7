import Testing

@testable import StockIndex

@Suite("StringInterner")
struct InternerTests {
  @Test("ids are dense, stable, and survive many table growths")
  func denseAndStable() throws {
    let interner = StringInterner(capacity: 100_000, initialTableCapacity: 16)
    var ids: [UInt32] = []
    for number in 0..<20_000 { ids.append(try #require(interner.intern("SKU-\(number)"))) }
    #expect(ids == (0..<20_000).map { UInt32($0) })
    for number in stride(from: 0, to: 20_000, by: 97) {
      #expect(interner.id(of: "SKU-\(number)") == UInt32(number))
      #expect(interner.string(for: UInt32(number)) == "SKU-\(number)")
      #expect(interner.intern("SKU-\(number)") == UInt32(number))
    }
    #expect(interner.id(of: "SKU-20000") == nil)
    #expect(interner.id(of: "") == nil)
    #expect(interner.count == 20_000)
  }

  @Test("a full interner refuses new strings but still answers known ones")
  func capacity() {
    let interner = StringInterner(capacity: 3)
    #expect(interner.intern("a") == 0)
    #expect(interner.intern("b") == 1)
    #expect(interner.intern("c") == 2)
    #expect(interner.intern("d") == nil)
    #expect(interner.intern("b") == 1)
  }
}
