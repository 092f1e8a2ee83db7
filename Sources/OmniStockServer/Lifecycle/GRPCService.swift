import GRPCNGHTTP2
import Logging
import NIOCore
import ServiceLifecycle

/// The gRPC server as a service: starts listening (unless it already is), serves until graceful
/// shutdown, then drains (health NOT_SERVING, watches ended, GOAWAY, calls in flight finish) and
/// stops its event loops. It is the last service of the group, so it is the first to shut down:
/// nothing new arrives while the services it depends on (the log above all) are still running.
struct GRPCService: Service, CustomStringConvertible {
  let server: GRPCServer
  /// Runs before the socket is bound (e.g. declaring the network file's locations).
  let prepare: @Sendable () async throws -> Void
  let onListening: (@Sendable (SocketAddress) -> Void)?
  let beginDraining: @Sendable () -> Void
  var description: String { "gRPC server" }

  func run() async throws {
    try await withGracefulShutdownHandler {
      if server.localAddress == nil {
        try await prepare()
        guard !server.isStopped else { return }  // shut down before it ever listened
        let address = try await server.start()
        onListening?(address)
      }
      try await server.serve()
    } onGracefulShutdown: {
      beginDraining()
    }
    try await server.shutdownEventLoops()
  }
}
