import ServiceLifecycle

/// The metrics (and dashboard) HTTP server as a service: bound before the group starts (so its
/// address is known before the gRPC server reports it is listening), closed at shutdown.
struct MetricsService: Service, CustomStringConvertible {
  let server: MetricsHTTPServer
  var description: String { "metrics HTTP server" }

  func run() async throws {
    try? await gracefulShutdown()
    try await server.close()
  }
}
