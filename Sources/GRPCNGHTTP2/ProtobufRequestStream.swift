public import SwiftProtobuf

/// The request messages of a streaming call, decoded. A malformed message ends the sequence with
/// `INVALID_ARGUMENT`; back-pressure and termination are as for ``RPCRequestStream``.
public struct ProtobufRequestStream<Message: SwiftProtobuf.Message>: AsyncSequence, Sendable {
  public typealias Element = Message

  let base: RPCRequestStream

  /// Wraps a raw request stream.
  public init(_ base: RPCRequestStream) {
    self.base = base
  }

  /// Iterates decoded messages.
  public struct AsyncIterator: AsyncIteratorProtocol {
    var base: RPCRequestStream.AsyncIterator

    public mutating func next() async throws -> Message? {
      guard let payload = try await base.next() else { return nil }
      return try ProtobufCoding.decode(payload)
    }
  }

  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(base: base.makeAsyncIterator())
  }
}
