import ServiceLifecycle

/// The operations HTTP server (metrics and the dashboard) as a service: bound before the group
/// starts (so its address is known before the gRPC server reports it is listening), closed at
/// shutdown.
struct OperationsHTTPService: Service, CustomStringConvertible {
  let server: OperationsHTTPServer
  var description: String { "operations HTTP server" }

  func run() async throws {
    try? await gracefulShutdown()
    try await server.close()
  }
}
