import ArgumentParser
import Foundation
import OmniStockLoad

/// `omnistock load`: drives a running server with POS terminals, storefronts, shoppers and
/// watchers for a bounded time, prints live progress and a final report, and checks the server
/// against the ledger of acknowledged changes (exit status 1 on any difference).
struct LoadCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "load",
    abstract: "Load-test a running OmniStock server and check what it holds afterwards.",
    discussion: """
      POS terminals send event batches (sales, returns, receipts, damage adjustments, occasional cycle counts) on \
      one long-lived StreamEvents stream each (or as ApplyEvents calls with --unary-events), each at the \
      locations it owns; storefronts send GetAvailability and BatchGetAvailability; shoppers (--shoppers) \
      Reserve carts on a group of every location and Commit or Release them; watchers (--watchers) follow \
      the hottest SKUs with WatchAvailability. SKUs follow a Zipf popularity over a catalogue this run \
      creates; the hottest --stocked-skus get --initial-stock units everywhere first.

      Closed loop (default) keeps a fixed number of calls in flight: the most the server can do. Open \
      loop (--events-per-second, --reads-per-second, --carts-per-second) sends at a fixed rate whatever \
      the server does and measures each call from when it was due, so stalls are not hidden.

      At the end every touched position is read back; on-hand and reserved must equal the ledger.
      """)

  @Option(help: "Server address (IPv4).") var host = "127.0.0.1"
  @Option(help: "Server port.") var port = 8980
  @Option(help: "Seconds of traffic.") var seconds = 10.0
  @Option(help: "POS terminals (connections).") var terminals = 2
  @Option(help: "Closed loop: batches in flight per terminal.") var batchesInFlight = 4
  @Option(help: "Open loop: events per second over all terminals.") var eventsPerSecond: Double?
  @Option(help: "Events per batch.") var eventsPerBatch = 20
  @Flag(help: "Send batches as ApplyEvents calls instead of on one StreamEvents stream per terminal.") var unaryEvents = false
  @Option(help: "Percent of events that are cycle counts (StreamEvents only).") var countPercent = 1.0
  @Option(help: "Storefront clients (connections).") var storefronts = 2
  @Option(help: "Closed loop: reads in flight per storefront.") var readsInFlight = 16
  @Option(help: "Open loop: reads per second over all storefronts.") var readsPerSecond: Double?
  @Option(help: "Every n-th read is a BatchGetAvailability (0: none).") var batchReadEvery = 10
  @Option(help: "Queries per BatchGetAvailability.") var batchReadSize = 20
  @Option(help: "Shoppers placing carts (connections).") var shoppers = 0
  @Option(help: "Closed loop: carts in flight per shopper.") var cartsInFlight = 2
  @Option(help: "Open loop: carts per second over all shoppers.") var cartsPerSecond: Double?
  @Option(help: "Most lines per cart.") var cartLines = 3
  @Option(help: "Percent of carts released instead of committed.") var releasePercent = 10.0
  @Option(help: "WatchAvailability streams (connections).") var watchers = 0
  @Option(help: "Hottest SKUs each watcher follows, at every location.") var watchedSkus = 10
  @Option(help: "SKUs in the catalogue.") var skus = 10_000
  @Option(help: "Locations to declare and use.") var locations = 20
  @Option(help: "Hottest SKUs stocked at every location before traffic starts.") var stockedSkus = 1_000
  @Option(help: "Units of each stocked SKU at each location.") var initialStock: Int64 = 1_000
  @Option(help: "Zipf exponent of SKU popularity.") var zipfExponent = 1.0
  @Option(help: "Seed of the traffic.") var seed: UInt64 = 42
  @Option(help: "Client I/O threads the connections share (one epoll loop each).") var ioThreads = 1
  @Option(help: "Also write the report as JSON to this file.") var json: String?

  func validate() throws {
    guard seconds > 0, seconds <= 86_400 else { throw ValidationError("--seconds must be in (0, 86400]") }
    for (name, value) in [("--terminals", terminals), ("--storefronts", storefronts), ("--shoppers", shoppers), ("--watchers", watchers)] {
      guard (0...1_000).contains(value) else { throw ValidationError("\(name) must be 0...1000, got \(value)") }
    }
    guard terminals + storefronts + shoppers + watchers > 0 else {
      throw ValidationError("give at least one terminal, storefront, shopper or watcher")
    }
    for (name, value) in [("--batches-in-flight", batchesInFlight), ("--reads-in-flight", readsInFlight), ("--carts-in-flight", cartsInFlight)] {
      guard (1...10_000).contains(value) else { throw ValidationError("\(name) must be 1...10000, got \(value)") }
    }
    for (name, value) in [("--events-per-second", eventsPerSecond), ("--reads-per-second", readsPerSecond), ("--carts-per-second", cartsPerSecond)] {
      if let value, !(value > 0 && value <= 10_000_000) { throw ValidationError("\(name) must be in (0, 10000000], got \(value)") }
    }
    guard (1...10_000).contains(eventsPerBatch) else { throw ValidationError("--events-per-batch must be 1...10000") }
    guard (0...100).contains(countPercent), (0...100).contains(releasePercent) else {
      throw ValidationError("--count-percent and --release-percent must be 0...100")
    }
    guard (1...1_000).contains(batchReadSize), (1...100).contains(cartLines), (1...1_000).contains(watchedSkus) else {
      throw ValidationError("--batch-read-size 1...1000, --cart-lines 1...100, --watched-skus 1...1000")
    }
    guard (1...64).contains(ioThreads) else { throw ValidationError("--io-threads must be 1...64, got \(ioThreads)") }
    guard skus > 0, (1...1_000).contains(locations) else { throw ValidationError("--skus > 0, --locations 1...1000") }
    guard stockedSkus >= 0, (0...1_000_000).contains(initialStock) else {
      throw ValidationError("--stocked-skus >= 0, --initial-stock 0...1000000")
    }
  }

  func run() throws {
    var configuration = LoadConfiguration()
    configuration.host = host
    configuration.port = port
    configuration.seconds = seconds
    configuration.terminals = terminals
    configuration.batchesInFlight = batchesInFlight
    configuration.eventsPerSecond = eventsPerSecond
    configuration.eventsPerBatch = eventsPerBatch
    configuration.unaryEvents = unaryEvents
    configuration.countPercent = countPercent
    configuration.storefronts = storefronts
    configuration.readsInFlight = readsInFlight
    configuration.readsPerSecond = readsPerSecond
    configuration.batchReadEvery = batchReadEvery
    configuration.batchReadSize = batchReadSize
    configuration.shoppers = shoppers
    configuration.cartsInFlight = cartsInFlight
    configuration.cartsPerSecond = cartsPerSecond
    configuration.cartLines = cartLines
    configuration.releasePercent = releasePercent
    configuration.watchers = watchers
    configuration.watchedSKUs = watchedSkus
    configuration.skus = skus
    configuration.locations = locations
    configuration.stockedSKUs = stockedSkus
    configuration.initialStock = initialStock
    configuration.zipfExponent = zipfExponent
    configuration.seed = seed
    configuration.ioThreads = ioThreads
    let result = try LoadRun(configuration: configuration) { line in
      FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
    }.run()
    print(LoadReport.table(result))
    if let json { try LoadReport.json(result).write(to: URL(fileURLWithPath: json)) }
    if !result.mismatches.isEmpty { throw ExitCode(1) }
  }
}
