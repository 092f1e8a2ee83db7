import ServiceLifecycle

/// A periodic background job of the server (checkpoints, reservation expiry, the access-denial
/// summary) as a service: its body runs until graceful shutdown reaches it, which cancels it.
///
/// A body that returns early (e.g. checkpoints disabled) leaves the service waiting for shutdown,
/// so that the group does not take an idle job's end for a failure.
struct BackgroundTaskService: Service, CustomStringConvertible {
  let description: String
  let body: @Sendable () async -> Void

  init(_ name: String, body: @escaping @Sendable () async -> Void) {
    description = name
    self.body = body
  }

  func run() async throws {
    await cancelWhenGracefulShutdown { await body() }
    try? await gracefulShutdown()
  }
}
