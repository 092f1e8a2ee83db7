public import SwiftProtobuf

/// Writes the response messages of a streaming call; suspends while the client is not reading
/// (see ``RPCResponseWriter``).
public struct ProtobufResponseWriter<Message: SwiftProtobuf.Message>: Sendable {
  let base: RPCResponseWriter

  /// Wraps a raw response writer.
  public init(_ base: RPCResponseWriter) {
    self.base = base
  }

  /// Serializes and sends one message.
  public func write(_ message: Message) async throws {
    try await base.write(try ProtobufCoding.encode(message))
  }
}
