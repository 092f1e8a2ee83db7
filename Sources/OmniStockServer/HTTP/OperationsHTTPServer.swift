import NIOCore
import NIOHTTP1
import NIOPosix

/// The operator's HTTP/1.1 server (`--metrics-port`): Prometheus metrics at `GET /metrics`, the
/// dashboard at `GET /` and its JSON under `/api/` (an ``HTTPRoutes`` table).
///
/// ## Limits
/// - Requests are bounded: a target of at most 2 KiB (`414`), at most 100 headers of 16 KiB in
///   all (`400`), a body of at most 16 KiB (`413`, then the connection closes); a connection idle
///   for 60 s is closed.
/// - The event loop only parses and writes: every answer is built on a worker thread, so a slow
///   report never stalls other connections. Pipelined requests are answered in order.
final class OperationsHTTPServer: Sendable {
  private let group: MultiThreadedEventLoopGroup
  private let workers: NIOThreadPool
  private let channel: any Channel

  /// Binds `host:port` (port 0: a free one) and starts answering from `routes`.
  init(host: String, port: Int, routes: HTTPRoutes) async throws {
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    workers = NIOThreadPool(numberOfThreads: 1)
    workers.start()
    let workers = self.workers
    do {
      channel = try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = 8 << 10
            limits.maxHeaderListSize = 16 << 10
            limits.maxHeaderFieldCount = 100
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(60)))
            try pipeline.configureHTTPServerPipeline(
              withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try pipeline.addHandler(HTTPRequestHandler(routes: routes, workers: workers))
          }
        }
        .bind(host: host, port: port).get()
    } catch {
      try? await workers.shutdownGracefully()
      try? await group.shutdownGracefully()
      throw error
    }
  }

  /// The bound address.
  var localAddress: SocketAddress? { channel.localAddress }

  /// Stops listening and releases the threads (the workers first: answers still being built are
  /// written, or refused, while the event loop is alive).
  func close() async throws {
    try? await channel.close()
    try await workers.shutdownGracefully()
    try await group.shutdownGracefully()
  }
}
