public import NIOCore

/// What a handler knows about the call it serves, besides the request.
///
/// A value type built once per call without allocating: the method descriptor is shared with the
/// router, the deadline is a number, and the metadata this server understands is kept as fields.
public struct CallContext: Sendable {
  /// The method being called.
  public let method: RPCMethod
  /// When the client stops waiting (from `grpc-timeout`), or `nil` when it set no deadline.
  /// The server ends the call with `DEADLINE_EXCEEDED` at this instant if the handler has not.
  public let deadline: NIODeadline?
  /// The value of the `authorization` request header, if the client sent one.
  public let authorization: String?
  /// Who is calling, as the server's ``CallAuthorizer`` established it (`nil` without one).
  public let principal: (any CallPrincipal)?
  /// The event loop that owns the call's connection. Unary handlers are invoked on it.
  public let eventLoop: any EventLoop

  /// Creates a context (public for tests of handlers).
  public init(
    method: RPCMethod, deadline: NIODeadline?, authorization: String?, principal: (any CallPrincipal)? = nil,
    eventLoop: any EventLoop
  ) {
    self.method = method
    self.deadline = deadline
    self.authorization = authorization
    self.principal = principal
    self.eventLoop = eventLoop
  }
}
