import OmniStockLoad
import Testing

/// The load tool's correctness check must catch what it exists to catch.
@Suite("Load tool: ledger")
struct LoadLedgerTests {
  static let a = LoadLedger.Position(sku: "S1", location: "L1")
  static let b = LoadLedger.Position(sku: "S2", location: "L1")

  func ledger() -> LoadLedger {
    var ledger = LoadLedger()
    ledger.applied(Self.a, delta: 5)
    ledger.applied(Self.a, delta: -2)
    ledger.applied(Self.b, delta: 7)
    return ledger
  }

  @Test("a server that holds exactly the acknowledged events matches")
  func matches() {
    #expect(ledger().compare([Self.a: 3, Self.b: 7]).isEmpty)
  }

  @Test("a lost event and a doubled event are both reported, with expected and actual values")
  func catchesLostAndDoubled() {
    let mismatches = ledger().compare([Self.a: 5, Self.b: 14])  // the sale of 2 lost; the receipt of 7 applied twice
    #expect(mismatches.count == 2)
    #expect(mismatches.contains(LoadLedger.Mismatch(position: Self.a, expected: 3, actual: 5)))
    #expect(mismatches.contains(LoadLedger.Mismatch(position: Self.b, expected: 7, actual: 14)))
  }

  @Test("a position missing on the server counts as 0; uncertain positions are not checked")
  func missingAndUncertain() {
    var ledger = ledger()
    #expect(ledger.compare([Self.a: 3]) == [LoadLedger.Mismatch(position: Self.b, expected: 7, actual: 0)])
    ledger.unknown(Self.b)
    #expect(ledger.compare([Self.a: 3]).isEmpty)
    #expect(ledger.checked == [Self.a])
  }

  @Test("merging workers' ledgers adds their effects")
  func merge() {
    var total = ledger()
    total.merge(ledger())
    #expect(total.compare([Self.a: 6, Self.b: 14]).isEmpty)
    #expect(total.events == 6)
  }
}
