import NIOCore

/// A `Sendable` way to reach a connection from any thread: every use hops to (or, when already
/// there, stays on) the connection's event loop, which owns all of its state.
struct ConnectionReference: Sendable {
  let eventLoop: any EventLoop
  let handler: NIOLoopBound<ServerConnectionHandler>

  init(_ handler: ServerConnectionHandler, eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
    self.handler = NIOLoopBound(handler, eventLoop: eventLoop)
  }

  /// Runs `body` on the connection's event loop: immediately if already there, else enqueued.
  func withConnection(_ body: @escaping @Sendable (ServerConnectionHandler) -> Void) {
    if eventLoop.inEventLoop {
      body(handler.value)
    } else {
      let handler = self.handler
      eventLoop.execute { body(handler.value) }
    }
  }
}
