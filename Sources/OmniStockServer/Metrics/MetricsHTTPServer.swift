public import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server for `GET /metrics` (Prometheus text format); anything else is 404.
/// One event-loop thread; each scrape builds its answer from ``ServerMetrics``.
public final class MetricsHTTPServer: Sendable {
  private let group: MultiThreadedEventLoopGroup
  private let channel: any Channel

  /// Binds `host:port` (port 0: a free one) and starts answering.
  public init(host: String, port: Int, metrics: ServerMetrics) async throws {
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
      channel = try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(MetricsRequestHandler(metrics: metrics))
          }
        }
        .bind(host: host, port: port).get()
    } catch {
      try? await group.shutdownGracefully()
      throw error
    }
  }

  /// The bound address.
  public var localAddress: SocketAddress? { channel.localAddress }

  /// Stops listening and releases the thread.
  public func close() async throws {
    try? await channel.close()
    try await group.shutdownGracefully()
  }
}

/// Answers one HTTP/1.1 connection's requests.
private final class MetricsRequestHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let metrics: ServerMetrics
  private var head: HTTPRequestHead?

  init(metrics: ServerMetrics) {
    self.metrics = metrics
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let request):
      head = request
    case .body:
      break
    case .end:
      guard let request = head else { return }
      head = nil
      let found = request.method == .GET && (request.uri == "/metrics" || request.uri.hasPrefix("/metrics?"))
      let body = found ? metrics.scrape() : Array("not found: try /metrics\n".utf8)
      var headers = HTTPHeaders()
      headers.add(name: "content-type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
      headers.add(name: "content-length", value: String(body.count))
      context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
      context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
      context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
  }
}
