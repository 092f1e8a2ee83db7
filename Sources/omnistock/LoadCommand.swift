import ArgumentParser
import Foundation
import OmniStockLoad

/// `omnistock load`: drives a running server with POS terminals and storefront clients for a
/// bounded time, prints live progress and a final report, and checks the server against the
/// ledger of acknowledged events (exit status 1 on any difference).
struct LoadCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "load",
    abstract: "Load-test a running OmniStock server and check what it holds afterwards.",
    discussion: """
      POS terminals send event batches (sales, returns, receipts) closed-loop on one long-lived StreamEvents \
      stream each (or as ApplyEvents calls with --unary-events); storefronts send \\
      GetAvailability and BatchGetAvailability; SKUs follow a Zipf popularity over a catalogue this run \\
      creates (so stock starts at 0), across locations it declares. At the end every touched position \\
      is read back and compared with the ledger of acknowledged events.
      """)

  @Option(help: "Server address (IPv4).") var host = "127.0.0.1"
  @Option(help: "Server port.") var port = 8980
  @Option(help: "Seconds of traffic.") var seconds = 10.0
  @Option(help: "POS terminals (connections).") var terminals = 2
  @Option(help: "Batches in flight per terminal.") var batchesInFlight = 4
  @Option(help: "Events per batch.") var eventsPerBatch = 20
  @Flag(help: "Send batches as ApplyEvents calls instead of on one StreamEvents stream per terminal.") var unaryEvents = false
  @Option(help: "Storefront clients (connections).") var storefronts = 2
  @Option(help: "Reads in flight per storefront.") var readsInFlight = 16
  @Option(help: "Every n-th read is a BatchGetAvailability (0: none).") var batchReadEvery = 10
  @Option(help: "Queries per BatchGetAvailability.") var batchReadSize = 20
  @Option(help: "SKUs in the catalogue.") var skus = 10_000
  @Option(help: "Locations to declare and use.") var locations = 20
  @Option(help: "Zipf exponent of SKU popularity.") var zipfExponent = 1.0
  @Option(help: "Seed of the traffic.") var seed: UInt64 = 42
  @Option(help: "Also write the report as JSON to this file.") var json: String?

  func validate() throws {
    guard seconds > 0, seconds <= 86_400 else { throw ValidationError("--seconds must be in (0, 86400]") }
    guard terminals >= 0, storefronts >= 0, terminals + storefronts > 0 else {
      throw ValidationError("give at least one terminal or storefront")
    }
    guard (1...10_000).contains(eventsPerBatch) else { throw ValidationError("--events-per-batch must be 1...10000") }
    guard skus > 0, (1...1_000).contains(locations) else { throw ValidationError("--skus > 0, --locations 1...1000") }
  }

  func run() throws {
    var configuration = LoadConfiguration()
    configuration.host = host
    configuration.port = port
    configuration.seconds = seconds
    configuration.terminals = terminals
    configuration.batchesInFlight = batchesInFlight
    configuration.eventsPerBatch = eventsPerBatch
    configuration.unaryEvents = unaryEvents
    configuration.storefronts = storefronts
    configuration.readsInFlight = readsInFlight
    configuration.batchReadEvery = batchReadEvery
    configuration.batchReadSize = batchReadSize
    configuration.skus = skus
    configuration.locations = locations
    configuration.zipfExponent = zipfExponent
    configuration.seed = seed
    let result = try LoadRun(configuration: configuration) { line in
      FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
    }.run()
    print(LoadReport.table(result))
    if let json { try LoadReport.json(result).write(to: URL(fileURLWithPath: json)) }
    if !result.mismatches.isEmpty { throw ExitCode(1) }
  }
}
