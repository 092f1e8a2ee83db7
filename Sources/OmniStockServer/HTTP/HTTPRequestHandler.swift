import NIOCore
import NIOHTTP1
import NIOPosix

/// Answers one HTTP/1.1 connection's requests from an ``HTTPRoutes`` table, building each answer
/// on `workers` and writing it back on the event loop. `HTTPServerPipelineHandler` (in front)
/// holds pipelined requests back until the previous response has ended, so answers stay in order.
final class HTTPRequestHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  /// The largest request body read (a `GET` has none).
  static let maxBodyBytes = 16 << 10

  private let routes: HTTPRoutes
  private let workers: NIOThreadPool
  private var head: HTTPRequestHead?
  private var bodyBytes = 0
  /// Set once a request was refused as too large: the rest of the connection is ignored.
  private var closing = false

  init(routes: HTTPRoutes, workers: NIOThreadPool) {
    self.routes = routes
    self.workers = workers
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !closing else { return }
    switch unwrapInboundIn(data) {
    case .head(let request):
      head = request
      bodyBytes = 0
      if let length = request.headers.first(name: "content-length").flatMap(Int.init), length > Self.maxBodyBytes {
        refuseTooLarge(context: context, request: request)
      }
    case .body(let buffer):
      bodyBytes += buffer.readableBytes
      if bodyBytes > Self.maxBodyBytes, let request = head { refuseTooLarge(context: context, request: request) }
    case .end:
      guard let request = head else { return }
      head = nil
      let routes = self.routes
      workers.runIfActive(eventLoop: context.eventLoop) { routes.answer(method: request.method, uri: request.uri) }
        .assumeIsolated()
        .whenComplete { result in
          let answer = (try? result.get()) ?? .text("the server is stopping\n", status: .serviceUnavailable)
          self.respond(answer, to: request, context: context)
        }
    }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is IdleStateHandler.IdleStateEvent {
      context.close(promise: nil)
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }

  private func refuseTooLarge(context: ChannelHandlerContext, request: HTTPRequestHead) {
    closing = true
    var answer = HTTPAnswer.failure(
      HTTPFailure(.payloadTooLarge, "request bodies are limited to \(Self.maxBodyBytes) bytes; the dashboard API takes none"))
    answer.headers.append(("connection", "close"))
    respond(answer, to: request, context: context, close: true)
  }

  private func respond(_ answer: HTTPAnswer, to request: HTTPRequestHead, context: ChannelHandlerContext, close: Bool = false) {
    var headers = HTTPHeaders()
    headers.add(name: "content-type", value: answer.contentType)
    headers.add(name: "content-length", value: String(answer.body.count))
    headers.add(name: "x-content-type-options", value: "nosniff")
    for (name, value) in answer.headers { headers.add(name: name, value: value) }
    let keepAlive = request.isKeepAlive && !close
    if !keepAlive && !headers.contains(name: "connection") { headers.add(name: "connection", value: "close") }
    context.write(
      wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: answer.status, headers: headers))), promise: nil)
    if request.method != .HEAD {
      context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
    }
    let ended = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if !keepAlive {
      ended.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
  }
}
