import Testing

@testable import StockIndex

/// Random operation sequences (seeded, so failures replay) against the brute-force model, checked
/// after every step: every position's derived fields and every group's totals.
@Suite("StockIndex against a brute-force model")
struct StockIndexPropertyTests {
  @Test("random operations keep positions and group totals equal to the model", arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
  func randomOperations(seed: UInt64) throws {
    var random = SeededGenerator(seed: seed)
    let index = StockIndex(configuration: .init(shardCountLog2: 2, initialShardCapacity: 16))
    var model = ReferenceModel()
    let skuIDs = (0..<12).map { index.skus.intern("SKU-\($0)")! }
    var locationIDs: [UInt32] = []
    for number in 0..<6 {
      let settings = LocationSettings(
        defaultSafetyStock: Int64.random(in: 0...3, using: &random), lowStockThreshold: Int64.random(in: 0...5, using: &random),
        staleAfterSeconds: 60, active: number != 5)
      let id = try #require(index.declareLocation("loc-\(number)", settings: settings, nowUnixMs: 1_700_000_000_000))
      model.settings[id] = settings
      model.declaredAt[id] = 1_700_000_000_000
      locationIDs.append(id)
    }
    var groupIDs: [UInt32] = []
    for number in 0..<3 {
      let members = locationIDs.filter { _ in Bool.random(using: &random) }
      let includeStale = number == 0
      let id = try #require(index.setGroup("group-\(number)", members: members, includeStale: includeStale))
      model.groups[id] = (members, includeStale)
      groupIDs.append(id)
    }
    var now: Int64 = 1_700_000_000_000
    var lsn: UInt64 = 0
    for step in 0..<1_500 {
      now += Int64.random(in: 0...20_000, using: &random)
      switch Int.random(in: 0..<100, using: &random) {
      case 0..<80:
        lsn += 1
        let change: StockUpdate.Change
        switch Int.random(in: 0..<7, using: &random) {
        case 0: change = .adjust(delta: Int64.random(in: -5...8, using: &random))
        case 1: change = .delta(Int64.random(in: -5...8, using: &random), eventTimeUnixMs: now - Int64.random(in: 0...100_000, using: &random))
        case 2: change = .set(onHand: Int64.random(in: 0...20, using: &random), asOfUnixMs: now - Int64.random(in: 0...100_000, using: &random))
        case 3: change = .reserve(delta: Int64.random(in: -2...3, using: &random))
        case 4: change = .commit(quantity: Int64.random(in: 0...2, using: &random))
        case 5: change = .adjust(delta: Int64.random(in: -3...3, using: &random))
        default: change = .setSafetyStock(Bool.random(using: &random) ? nil : Int64.random(in: 0...4, using: &random))
        }
        let update = StockUpdate(
          sku: skuIDs.randomElement(using: &random)!, location: locationIDs.randomElement(using: &random)!, change: change,
          sourceTimeUnixMs: now - 1_000)
        index.apply(update, lsn: lsn, nowUnixMs: now)
        model.apply(update, lsn: lsn, now: now)
      case 80..<90:
        let location = locationIDs.randomElement(using: &random)!
        var settings = model.settings[location]!
        settings.active = Bool.random(using: &random) || Bool.random(using: &random)
        settings.defaultSafetyStock = Int64.random(in: 0...3, using: &random)
        settings.lowStockThreshold = Int64.random(in: 0...5, using: &random)
        index.declareLocation("loc-\(locationIDs.firstIndex(of: location)!)", settings: settings, nowUnixMs: now)
        model.settings[location] = settings
      default:
        let number = Int.random(in: 0..<groupIDs.count, using: &random)
        let members = locationIDs.shuffled(using: &random).filter { _ in Bool.random(using: &random) }
        let includeStale = Bool.random(using: &random)
        index.setGroup("group-\(number)", members: members, includeStale: includeStale)
        model.groups[groupIDs[number]] = (members, includeStale)
      }
      try check(index, model, skus: skuIDs, locations: locationIDs, groups: groupIDs, now: now, step: step)
    }
  }

  private func check(
    _ index: StockIndex, _ model: ReferenceModel, skus: [UInt32], locations: [UInt32], groups: [UInt32], now: Int64,
    step: Int
  ) throws {
    for sku in skus {
      for location in locations {
        for excludeStale in [false, true] {
          let actual = index.position(sku: sku, location: location, nowUnixMs: now, excludeStale: excludeStale)
          let expected = model.position(sku: sku, location: location, now: now, excludeStale: excludeStale)
          #expect(actual.available == expected.available, "step \(step) sku \(sku) location \(location)")
          #expect(actual.status == expected.status, "step \(step)")
          #expect(actual.exists == expected.exists, "step \(step)")
          #expect(actual.state == expected.state, "step \(step)")
        }
      }
      for group in groups {
        for excludeStale in [false, true] {
          let actual = try #require(index.group(sku: sku, group: group, nowUnixMs: now, excludeStale: excludeStale))
          let expected = try #require(model.group(sku: sku, group: group, now: now, excludeStale: excludeStale))
          let seen = ReferenceModel.GroupAnswer(
            onHand: actual.totals.onHand, reserved: actual.totals.reserved, available: actual.totals.available,
            safety: actual.totals.safetyStock, withStock: actual.totals.locationsWithStock,
            contributing: actual.contributingLocations, threshold: actual.lowStockThreshold)
          #expect(seen == expected, "step \(step) sku \(sku) group \(group) excludeStale \(excludeStale)")
          if seen != expected { return }
        }
      }
    }
  }

  @Test("derived fields: available, status and safety stock follow SPEC section 2")
  func derivedFields() throws {
    let index = StockIndex(configuration: .init(shardCountLog2: 1))
    let store = try #require(
      index.declareLocation("store-1", settings: .init(defaultSafetyStock: 2, lowStockThreshold: 3), nowUnixMs: 1_700_000_000_000))
    let sku = try #require(index.skus.intern("SKU-1"))
    let now: Int64 = 1_700_000_000_000
    func read() -> PositionReading { index.position(sku: sku, location: store, nowUnixMs: now) }
    #expect(read().exists == false)
    #expect(read().status == .outOfStock)
    index.apply(.init(sku: sku, location: store, change: .adjust(delta: 10)), lsn: 1, nowUnixMs: now)
    #expect(read().available == 8)  // 10 - 0 - 2
    #expect(read().status == .inStock)
    index.apply(.init(sku: sku, location: store, change: .reserve(delta: 4)), lsn: 2, nowUnixMs: now)
    #expect(read().available == 4)
    #expect(read().status == .inStock)
    index.apply(.init(sku: sku, location: store, change: .reserve(delta: 1)), lsn: 3, nowUnixMs: now)
    #expect(read().available == 3)
    #expect(read().status == .lowStock)
    index.apply(.init(sku: sku, location: store, change: .setSafetyStock(0)), lsn: 4, nowUnixMs: now)
    #expect(read().safetyStock == 0)
    #expect(read().available == 5)
    index.apply(.init(sku: sku, location: store, change: .adjust(delta: -20)), lsn: 5, nowUnixMs: now)
    #expect(read().state.onHand == -10)
    #expect(read().available == 0)
    #expect(read().status == .outOfStock)
    #expect(read().state.lsn == 5)
    #expect(index.lsn == 0, "the caller reports a record applied, not each update")
    index.noteApplied(5)
    #expect(index.lsn == 5)
  }

  @Test("an absolute update older than the last one keeps the newer value")
  func staleAbsoluteKeepsNewer() throws {
    let index = StockIndex(configuration: .init(shardCountLog2: 1))
    let store = try #require(index.declareLocation("store-1", settings: .init()))
    let sku = try #require(index.skus.intern("SKU-1"))
    index.apply(.init(sku: sku, location: store, change: .set(onHand: 7, asOfUnixMs: 2_000)), lsn: 1, nowUnixMs: 5_000)
    let outcome = index.apply(.init(sku: sku, location: store, change: .set(onHand: 99, asOfUnixMs: 1_000)), lsn: 2, nowUnixMs: 5_000)
    guard case .keptNewer = outcome else {
      Issue.record("expected keptNewer, got \(outcome)")
      return
    }
    #expect(index.state(sku: sku, location: store)?.onHand == 7)
  }

  @Test("a location turns stale by time alone; group totals then leave it out unless the group includes stale members")
  func stalenessByTime() throws {
    let index = StockIndex(configuration: .init(shardCountLog2: 1))
    let start: Int64 = 1_700_000_000_000
    let fresh = try #require(index.declareLocation("fresh", settings: .init(staleAfterSeconds: 60), nowUnixMs: start))
    let quiet = try #require(index.declareLocation("quiet", settings: .init(staleAfterSeconds: 60), nowUnixMs: start))
    let sku = try #require(index.skus.intern("SKU-1"))
    // Declared a moment ago and never updated: not stale yet; stale once stale_after has passed.
    #expect(!index.isStale(location: quiet, nowUnixMs: start + 59_000))
    #expect(index.isStale(location: quiet, nowUnixMs: start + 61_000))
    let strict = try #require(index.setGroup("strict", members: [fresh, quiet], includeStale: false))
    let lenient = try #require(index.setGroup("lenient", members: [fresh, quiet], includeStale: true))
    index.apply(.init(sku: sku, location: quiet, change: .adjust(delta: 5)), lsn: 1, nowUnixMs: start)
    index.apply(.init(sku: sku, location: fresh, change: .adjust(delta: 3)), lsn: 2, nowUnixMs: start)
    #expect(index.group(sku: sku, group: strict, nowUnixMs: start + 1_000)?.totals.available == 8)
    // Two minutes later with only `fresh` updated: `quiet` is stale without any write to it.
    let later = start + 120_000
    index.apply(.init(sku: sku, location: fresh, change: .adjust(delta: 1)), lsn: 3, nowUnixMs: later)
    #expect(index.isStale(location: quiet, nowUnixMs: later))
    #expect(index.group(sku: sku, group: strict, nowUnixMs: later)?.totals.available == 4)
    #expect(index.group(sku: sku, group: strict, nowUnixMs: later)?.contributingLocations == 1)
    #expect(index.group(sku: sku, group: lenient, nowUnixMs: later)?.totals.available == 9)
    #expect(index.group(sku: sku, group: lenient, nowUnixMs: later, excludeStale: true)?.totals.available == 4)
    #expect(index.group(sku: sku, group: lenient, nowUnixMs: later)?.anyStale == true)
    // The stale position still reads, with its own flag.
    let position = index.position(sku: sku, location: quiet, nowUnixMs: later, excludeStale: true)
    #expect(position.stale)
    #expect(position.available == 0)
    #expect(position.state.onHand == 5)
  }
}

@Suite("StockIndex sizing")
struct StockIndexSizingTests {
  @Test("an index sized for its positions never grows its key tables, so it holds less memory")
  func presizedUsesLessMemory() throws {
    func filled(_ configuration: StockIndex.Configuration) throws -> Int {
      let index = StockIndex(configuration: configuration)
      let location = try #require(index.declareLocation("dc-1", settings: .init(), nowUnixMs: 1))
      for number in 0..<40_000 {
        let sku = try #require(index.skus.intern("SKU-\(number)"))
        index.apply(.init(sku: sku, location: location, change: .adjust(delta: 1)), lsn: 1, nowUnixMs: 1)
      }
      #expect(index.statistics().slots == 40_000)
      return index.statistics().allocatedBytes
    }
    let grown = try filled(.init(shardCountLog2: 2, initialShardCapacity: 16))
    let presized = try filled(.init(shardCountLog2: 2, expectedSlots: 40_000))
    #expect(presized < grown)
  }
}
