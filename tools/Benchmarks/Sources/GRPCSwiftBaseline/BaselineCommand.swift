import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GRPCCore
import GRPCNIOTransportHTTP2

/// `grpc-swift-baseline`: `omnistock.v1.Availability/GetAvailability` served by grpc-swift-2.
///
/// The comparison point for our libnghttp2-based gRPC layer: the same handler as `omnistock serve`
/// (see ``BaselineAvailabilityService``), on grpc-swift-2's `GRPCServer` with the
/// grpc-swift-nio-transport HTTP/2 transport (`.http2NIOPosix`, plaintext) and its defaults (NIO's
/// singleton event-loop group, one loop per core; handlers on Swift's global concurrency pool).
///
/// Prints `listening on 127.0.0.1:PORT` once it accepts connections; SIGTERM or SIGINT end it.
@main
struct BaselineCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grpc-swift-baseline",
    abstract: "grpc-swift-2 server with the same trivial GetAvailability handler as omnistock."
  )

  @Option(help: "TCP port on 127.0.0.1; 0 picks a free one.")
  var port: Int = 0

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535, got \(port)") }
  }

  func run() async throws {
    let server = GRPCServer(
      transport: .http2NIOPosix(
        address: .ipv4(host: "127.0.0.1", port: port),
        transportSecurity: .plaintext
      ),
      services: [BaselineAvailabilityService()]
    )
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await server.serve() }
      guard let address = try await server.listeningAddress?.ipv4 else {
        throw ValidationError("the server did not bind an IPv4 address")
      }
      print("listening on \(address.host):\(address.port)")
      fflush(nil)
    }
  }
}
