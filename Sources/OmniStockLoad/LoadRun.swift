import Dispatch
import Foundation
import Histogram
import OmniStockAPI
import SwiftProtobuf
import Synchronization

/// One run of `omnistock load`: declares the run's locations and group, stocks the hottest SKUs,
/// drives POS terminals, storefronts, shoppers and watchers for the configured time (closed- or
/// open-loop), then checks the server against the ledger of acknowledged changes.
public final class LoadRun: Sendable {
  /// What a run measured.
  public struct Result: Sendable {
    public var seconds: Double
    public var operations: [(name: String, stats: OperationStats)]
    public var mismatches: [LoadLedger.Mismatch]
    public var checkedPositions: Int
    public var ledgerEvents: Int
    public var uncertainPositions: Int
    /// CPU seconds this process used (user + system).
    public var cpuSeconds: Double
    /// Open loop: calls that were due but never sent because the server fell too far behind.
    public var unsentCalls: Int
    /// Carts that found nothing in stock (a business outcome, not an error).
    public var cartsOutOfStock: Int
    /// Watch stream messages received, and the key updates they carried.
    public var watchMessages: Int
    public var watchUpdates: Int
    /// How the calls were paced, for the report.
    public var pacing: String
  }

  let configuration: LoadConfiguration
  let runID: String
  let progress: @Sendable (String) -> Void
  /// The client's I/O loops (while ``run()`` runs) and the next one to attach a connection to.
  private let io = Mutex<(loops: [ClientIOLoop], next: Int)>(([], 0))

  public init(configuration: LoadConfiguration, progress: @escaping @Sendable (String) -> Void) {
    self.configuration = configuration
    self.runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    self.progress = progress
  }

  /// A new connection to the server, on the next of the run's I/O loops (round robin).
  func connect() throws -> GRPCClientConnection {
    let loop = io.withLock { io -> ClientIOLoop? in
      guard !io.loops.isEmpty else { return nil }
      defer { io.next += 1 }
      return io.loops[io.next % io.loops.count]
    }
    guard let loop else { throw LoadError("the run's I/O loops are not running") }
    return try GRPCClientConnection(host: configuration.host, port: configuration.port, loop: loop)
  }

  func locationName(_ number: Int) -> String { "load-\(number)" }
  func skuName(_ rank: Int) -> String { "L\(runID)-\(rank)" }
  var groupName: String { "load-\(runID)-all" }

  public func run() throws -> Result {
    let loops = try (0..<max(1, configuration.ioThreads)).map { _ in try ClientIOLoop() }
    io.withLock { $0 = (loops, 0) }
    defer {
      io.withLock { $0 = ([], 0) }
      for loop in loops { loop.shutdown() }
    }
    let admin = try connect()
    defer { admin.close() }
    try declareNetwork(through: admin)
    let stockUp = try stock(through: admin)

    let started = ContinuousClock.now
    let deadline = started + .milliseconds(Int(configuration.seconds * 1000))
    let cpuBefore = Self.cpuSeconds()
    let terminals = try (0..<configuration.terminals).map { try TerminalDriver(run: self, number: $0, deadline: deadline) }
    let storefronts = try (0..<configuration.storefronts).map { try StorefrontDriver(run: self, number: $0, deadline: deadline) }
    let shoppers = try (0..<configuration.shoppers).map { try ShopperDriver(run: self, number: $0, deadline: deadline) }
    let watchers = try (0..<configuration.watchers).map { _ in try WatcherDriver(run: self, deadline: deadline) }
    let drivers: [any LoadDriver] = watchers + terminals + storefronts + shoppers
    for driver in drivers { driver.start() }
    var second = 0
    var previous: [String: Int] = [:]
    while ContinuousClock.now < deadline {
      Thread.sleep(forTimeInterval: min(1, max(0.001, Self.seconds(deadline - ContinuousClock.now))))
      second += 1
      progress(progressLine(second: second, drivers: drivers, previous: &previous))
    }
    for watcher in watchers { watcher.connection.close(graceSeconds: 0) }
    for driver in drivers { driver.connection.close() }
    let seconds = Self.seconds(ContinuousClock.now - started)
    let cpu = Self.cpuSeconds() - cpuBefore

    var ledger = stockUp
    for driver in drivers { ledger.merge(driver.ledger) }
    // A fresh connection: the setup one sat idle through the run and the server may have closed it.
    let reader = try connect()
    defer { reader.close() }
    let actual = try readBack(ledger.checked, through: reader)
    let pacing = [
      configuration.terminals > 0 ? "terminals " + Self.describe(configuration.terminalSchedule, unit: "batches") : nil,
      configuration.storefronts > 0 ? "storefronts " + Self.describe(configuration.storefrontSchedule, unit: "reads") : nil,
      configuration.shoppers > 0 ? "shoppers " + Self.describe(configuration.shopperSchedule, unit: "carts") : nil,
    ].compactMap { $0 }.joined(separator: "; ")
    return Result(
      seconds: seconds, operations: Self.merged(drivers), mismatches: ledger.compare(actual),
      checkedPositions: ledger.checked.count, ledgerEvents: ledger.events - stockUp.events,
      uncertainPositions: ledger.uncertain.count, cpuSeconds: cpu, unsentCalls: drivers.reduce(0) { $0 + $1.unsent },
      cartsOutOfStock: shoppers.reduce(0) { $0 + $1.outOfStock },
      watchMessages: watchers.reduce(0) { $0 + $1.received.messages }, watchUpdates: watchers.reduce(0) { $0 + $1.received.updates },
      pacing: pacing)
  }

  /// Declares the run's locations (active stores) and one group of all of them, for carts.
  private func declareNetwork(through admin: GRPCClientConnection) throws {
    for number in 0..<configuration.locations {
      var request = Omnistock_V1_UpsertLocationRequest()
      request.location.locationID = locationName(number)
      request.location.kind = .store
      request.location.displayName = "Load test store \(number)"
      request.location.active = true
      _ = try Self.call(admin, "/omnistock.v1.Admin/UpsertLocation", request, as: Omnistock_V1_UpsertLocationResponse.self)
    }
    var group = Omnistock_V1_UpsertGroupRequest()
    group.group.groupID = groupName
    group.group.displayName = "Load test: every location"
    group.group.locationIds = (0..<configuration.locations).map(locationName)
    group.group.includeStale = true
    _ = try Self.call(admin, "/omnistock.v1.Admin/UpsertGroup", group, as: Omnistock_V1_UpsertGroupResponse.self)
  }

  /// Receives `initialStock` units of each stocked SKU at every location, before traffic starts.
  private func stock(through admin: GRPCClientConnection) throws -> LoadLedger {
    var ledger = LoadLedger()
    guard configuration.initialStock > 0 else { return ledger }
    let device = "load-\(runID)-receiving"
    let timeUnixMs = Int64(Date().timeIntervalSince1970 * 1000)
    var positions: [LoadLedger.Position] = []
    for rank in 0..<min(configuration.stockedSKUs, configuration.skus) {
      for location in 0..<configuration.locations { positions.append(LoadLedger.Position(sku: skuName(rank), location: locationName(location))) }
    }
    var seq: UInt64 = 0
    for start in stride(from: 0, to: positions.count, by: 1_000) {
      var batch = Omnistock_V1_EventBatch()
      for position in positions[start..<min(positions.count, start + 1_000)] {
        seq += 1
        var event = Omnistock_V1_StockEvent()
        event.deviceID = device
        event.deviceSeq = seq
        event.locationID = position.location
        event.sku = position.sku
        event.type = .receipt
        event.quantity = configuration.initialStock
        event.eventTimeUnixMs = timeUnixMs
        batch.events.append(event)
        ledger.applied(position, delta: configuration.initialStock)
      }
      let ack = try Self.call(admin, "/omnistock.v1.Ingest/ApplyEvents", batch, as: Omnistock_V1_EventAck.self)
      guard ack.applied == ack.received, ack.outcomes.isEmpty else {
        throw LoadError("stocking up: the server applied \(ack.applied) of \(ack.received) receipts: \(ack.outcomes.prefix(3))")
      }
    }
    return ledger
  }

  /// One line of live progress: per operation, calls per second since the last line, p99 so far,
  /// and errors so far.
  private func progressLine(second: Int, drivers: [any LoadDriver], previous: inout [String: Int]) -> String {
    var parts: [String] = []
    for (name, stats) in Self.merged(drivers) where stats.count > 0 {
      let rate = stats.count - previous[name, default: 0]
      previous[name] = stats.count
      let short = name.split(separator: " ").first.map(String.init) ?? name
      parts.append("\(short) \(rate)/s p99 \(Self.milliseconds(stats.latencyMicros.valueAtPercentile(99)))")
    }
    let updates = drivers.reduce(0) { $0 + (($1 as? WatcherDriver)?.received.updates ?? 0) }
    if updates > 0 {
      parts.append("watch updates \(updates - previous["watch", default: 0])/s")
      previous["watch"] = updates
    }
    let errors = drivers.reduce(0) { $0 + $1.failures.load(ordering: .relaxed) }
    return "[\(second)s] " + parts.joined(separator: " | ") + " | errors \(errors)"
  }

  /// Every driver's operations, merged by name (in order of first appearance).
  static func merged(_ drivers: [any LoadDriver]) -> [(name: String, stats: OperationStats)] {
    var order: [String] = []
    var byName: [String: OperationStats] = [:]
    for driver in drivers {
      for (name, stats) in driver.operations {
        if byName[name] == nil { order.append(name) }
        byName[name, default: OperationStats()].merge(stats)
      }
    }
    return order.map { ($0, byName[$0]!) }
  }

  static func describe(_ schedule: ArrivalSchedule, unit: String) -> String {
    switch schedule {
    case .closedLoop(let inFlight): "closed loop, \(inFlight) \(unit) in flight each"
    case .openLoop(let perSecond): "open loop, \(String(format: "%.1f", perSecond)) \(unit)/s each"
    }
  }

  static func milliseconds(_ micros: UInt64) -> String { String(format: "%.2f ms", Double(micros) / 1000) }

  static func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
  }

  /// The server's on-hand and reserved of `positions`, read in batches.
  private func readBack(_ positions: [LoadLedger.Position], through connection: GRPCClientConnection) throws
    -> [LoadLedger.Position: LoadLedger.Holding]
  {
    var actual: [LoadLedger.Position: LoadLedger.Holding] = [:]
    for start in stride(from: 0, to: positions.count, by: 1_000) {
      var request = Omnistock_V1_BatchGetAvailabilityRequest()
      let chunk = positions[start..<min(positions.count, start + 1_000)]
      request.queries = chunk.map { position in
        var query = Omnistock_V1_AvailabilityQuery()
        query.sku = position.sku
        query.locationID = position.location
        return query
      }
      let response = try Self.call(
        connection, "/omnistock.v1.Availability/BatchGetAvailability", request, as: Omnistock_V1_BatchGetAvailabilityResponse.self)
      for (position, result) in zip(chunk, response.results) {
        actual[position] = LoadLedger.Holding(onHand: result.availability.onHand, reserved: result.availability.reserved)
      }
    }
    return actual
  }

  /// A call from a thread that may wait (not the connection's I/O thread).
  static func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ connection: GRPCClientConnection, _ path: String, _ request: Request, as: Response.Type
  ) throws -> Response {
    let (status, message, bytes) = connection.unaryWaiting(path: path, message: try request.serializedBytes())
    guard status == 0 else { throw LoadError("\(path) failed with status \(status): \(message)") }
    return try Response(serializedBytes: bytes)
  }

  static func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
  }

  static func micros(since start: ContinuousClock.Instant) -> UInt64 {
    let elapsed = ContinuousClock.now - start
    return UInt64(elapsed.components.seconds) * 1_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
  }
}
