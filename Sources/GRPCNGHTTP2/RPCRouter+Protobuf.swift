public import SwiftProtobuf

/// Registration of protobuf-typed handlers, one function per call shape.
extension RPCRouter {
  /// A unary method answered **inline on the connection's event loop**: `body` must be fast and
  /// must not block (an in-memory read, for example). Throw a ``GRPCStatus`` to fail the call.
  public mutating func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ method: RPCMethod, _ body: @escaping @Sendable (Request, CallContext) throws -> Response
  ) {
    register(
      method,
      .unary { payload, context, responder in
        do {
          let request: Request = try ProtobufCoding.decode(payload)
          responder.respond(with: try ProtobufCoding.encode(try body(request, context)))
        } catch {
          responder.fail(GRPCStatus.from(error))
        }
      })
  }

  /// A unary method that answers later (from any thread) through a typed responder; `body` runs
  /// on the event loop and must not block. For completions driven by callbacks (e.g. durability).
  public mutating func unaryDeferred<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ method: RPCMethod,
    _ body: @escaping @Sendable (Request, CallContext, ProtobufUnaryResponder<Response>) -> Void
  ) {
    register(
      method,
      .unary { payload, context, responder in
        do {
          let request: Request = try ProtobufCoding.decode(payload)
          body(request, context, ProtobufUnaryResponder(base: responder))
        } catch {
          responder.fail(GRPCStatus.from(error))
        }
      })
  }

  /// A unary method implemented with `async` code, run in its own task.
  public mutating func unaryAsync<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ method: RPCMethod, _ body: @escaping @Sendable (Request, CallContext) async throws -> Response
  ) {
    register(
      method,
      .unary { payload, context, responder in
        let request: Request
        do {
          request = try ProtobufCoding.decode(payload)
        } catch {
          responder.fail(GRPCStatus.from(error))
          return
        }
        Task {
          do {
            responder.respond(with: try ProtobufCoding.encode(try await body(request, context)))
          } catch {
            responder.fail(GRPCStatus.from(error))
          }
        }
      })
  }

  /// A server-streaming method: one request, any number of responses.
  public mutating func serverStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ method: RPCMethod,
    _ body: @escaping @Sendable (Request, ProtobufResponseWriter<Response>, CallContext) async throws -> Void
  ) {
    register(
      method,
      .streaming { requests, responses, context in
        let request: Request = try await Self.single(ProtobufRequestStream(requests))
        try await body(request, ProtobufResponseWriter(responses), context)
      })
  }

  /// A client-streaming method: any number of requests, one response.
  public mutating func clientStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ method: RPCMethod,
    _ body: @escaping @Sendable (ProtobufRequestStream<Request>, CallContext) async throws -> Response
  ) {
    register(
      method,
      .streaming { requests, responses, context in
        let response = try await body(ProtobufRequestStream(requests), context)
        try await responses.write(try ProtobufCoding.encode(response))
      })
  }

  /// A bidirectional-streaming method.
  public mutating func bidirectionalStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ method: RPCMethod,
    _ body:
      @escaping @Sendable (ProtobufRequestStream<Request>, ProtobufResponseWriter<Response>, CallContext) async throws
      -> Void
  ) {
    register(
      method,
      .streaming { requests, responses, context in
        try await body(ProtobufRequestStream(requests), ProtobufResponseWriter(responses), context)
      })
  }

  /// A method that is part of the contract but not served yet: `UNIMPLEMENTED` with `reason`.
  /// Registered as unary so that even a streaming client gets its answer without a task.
  public mutating func unimplemented(_ method: RPCMethod, reason: String) {
    let status = GRPCStatus(.unimplemented, "\(method.path) is not implemented yet: \(reason)")
    register(method, .unary { _, _, responder in responder.fail(status) })
  }

  /// Reads exactly one request from a stream (server-streaming calls).
  static func single<Request>(_ requests: ProtobufRequestStream<Request>) async throws -> Request {
    var iterator = requests.makeAsyncIterator()
    guard let first = try await iterator.next() else {
      throw GRPCStatus(.internal, "a server-streaming call needs exactly one request message; none was sent")
    }
    guard try await iterator.next() == nil else {
      throw GRPCStatus(.internal, "a server-streaming call needs exactly one request message; more were sent")
    }
    return first
  }
}

/// Answers one unary call with a typed message (see ``UnaryResponder``).
public struct ProtobufUnaryResponder<Response: SwiftProtobuf.Message>: Sendable {
  let base: UnaryResponder

  /// Sends `response` with status `OK`.
  public func respond(_ response: Response) {
    do {
      base.respond(with: try ProtobufCoding.encode(response))
    } catch {
      base.fail(error)
    }
  }

  /// Sends a response the caller encoded itself (the protobuf binary form of a `Response`), with
  /// status `OK`: for hot paths that write their responses without swift-protobuf's encoder.
  public func respond(encoded response: [UInt8]) {
    base.respond(with: response)
  }

  /// Ends the call with `status`.
  public func fail(_ status: GRPCStatus) {
    base.fail(status)
  }
}
