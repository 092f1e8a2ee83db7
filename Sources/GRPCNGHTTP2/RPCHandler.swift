public import NIOCore

/// How the server runs a method. Two shapes cover the four gRPC call kinds.
///
/// - ``unary(_:)``: invoked **on the connection's event loop** as soon as the request message has
///   arrived, with no task hop and no allocation by the server. The handler must not block: it
///   either answers at once through the ``UnaryResponder`` or hands the responder to whatever will
///   answer later (from any thread). Use it for fast reads and for writes that complete through a
///   callback.
/// - ``streaming(_:)``: client-streaming, server-streaming and bidirectional calls (and unary calls
///   that prefer `async`). The handler runs in its own task; requests arrive through an
///   `AsyncSequence` with back-pressure (HTTP/2 flow control is only reopened as the handler
///   consumes), and responses are written with an `async` writer that suspends while the client
///   is not reading. Returning ends the call with `OK`; throwing a ``GRPCStatus`` ends it with that
///   status; the task is cancelled if the client cancels or the deadline passes.
public enum RPCHandler: Sendable {
  /// A unary method answered through a responder. `request` is the serialized request message.
  case unary(@Sendable (_ request: ByteBuffer, _ context: CallContext, _ responder: UnaryResponder) -> Void)
  /// A streaming method (any of the three streaming shapes) run in a task.
  case streaming(
    @Sendable (_ requests: RPCRequestStream, _ responses: RPCResponseWriter, _ context: CallContext) async throws -> Void
  )
}
