import OmniStockLoad
import Testing

/// The load tool's correctness check must catch what it exists to catch.
@Suite("Load tool: ledger")
struct LoadLedgerTests {
  typealias Holding = LoadLedger.Holding
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
    #expect(ledger().compare([Self.a: Holding(onHand: 3), Self.b: Holding(onHand: 7)]).isEmpty)
  }

  @Test("a lost event and a doubled event are both reported, with expected and actual values")
  func catchesLostAndDoubled() {
    // The sale of 2 lost; the receipt of 7 applied twice.
    let mismatches = ledger().compare([Self.a: Holding(onHand: 5), Self.b: Holding(onHand: 14)])
    #expect(mismatches.count == 2)
    #expect(mismatches.contains(LoadLedger.Mismatch(position: Self.a, expected: Holding(onHand: 3), actual: Holding(onHand: 5))))
    #expect(mismatches.contains(LoadLedger.Mismatch(position: Self.b, expected: Holding(onHand: 7), actual: Holding(onHand: 14))))
  }

  @Test("a position missing on the server holds nothing; uncertain positions are not checked")
  func missingAndUncertain() {
    var ledger = ledger()
    #expect(
      ledger.compare([Self.a: Holding(onHand: 3)])
        == [LoadLedger.Mismatch(position: Self.b, expected: Holding(onHand: 7), actual: Holding(onHand: 0))])
    ledger.unknown(Self.b)
    #expect(ledger.compare([Self.a: Holding(onHand: 3)]).isEmpty)
    #expect(ledger.checked == [Self.a])
  }

  @Test("merging workers' ledgers adds their effects")
  func merge() {
    var total = ledger()
    total.merge(ledger())
    #expect(total.compare([Self.a: Holding(onHand: 6), Self.b: Holding(onHand: 14)]).isEmpty)
    #expect(total.events == 6)
  }

  @Test("a count sets the position; later deltas add to it")
  func counts() {
    var ledger = ledger()
    ledger.counted(Self.a, quantity: 40)
    ledger.applied(Self.a, delta: -1)
    #expect(ledger.compare([Self.a: Holding(onHand: 39), Self.b: Holding(onHand: 7)]).isEmpty)
    #expect(!ledger.compare([Self.a: Holding(onHand: 42), Self.b: Holding(onHand: 7)]).isEmpty)
  }

  @Test("a counted position that another worker also touched is not guessed: it becomes uncertain")
  func countedAndTouchedElsewhere() {
    var counting = LoadLedger()
    counting.counted(Self.a, quantity: 10)
    var other = LoadLedger()
    other.applied(Self.a, delta: -1)
    other.applied(Self.b, delta: 2)
    counting.merge(other)
    #expect(counting.checked == [Self.b])
  }

  @Test("holds and commits: a lost commit and a hold that was never released are both caught")
  func reservations() {
    var ledger = LoadLedger()
    ledger.applied(Self.a, delta: 10)
    ledger.held(Self.a, units: 4)
    ledger.committed(Self.a, units: 3)
    ledger.held(Self.a, units: -1)  // the rest released
    #expect(ledger.compare([Self.a: Holding(onHand: 7, reserved: 0)]).isEmpty)
    #expect(ledger.compare([Self.a: Holding(onHand: 10, reserved: 0)]).count == 1)  // commit lost
    #expect(ledger.compare([Self.a: Holding(onHand: 7, reserved: 1)]).count == 1)  // release lost
  }
}
