import ArgumentParser

/// `omnistock`: the server and its tools.
@main
struct OmniStockCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "omnistock",
    abstract: "OmniStock: real-time inventory availability for omnichannel retail.",
    subcommands: [ServeCommand.self, TokenCommand.self, LoadCommand.self, BenchLogCommand.self, BenchRestartCommand.self, BenchWatchCommand.self, BenchReserveCommand.self]
  )
}
