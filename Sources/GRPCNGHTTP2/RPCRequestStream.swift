public import NIOCore

/// The request messages of a streaming call, in order, as serialized bytes.
///
/// Back-pressure reaches the client: while the handler has not consumed enough of the buffered
/// messages (more than ``highWatermark`` queued), the server stops granting HTTP/2 flow-control
/// window for the stream, so a fast client is slowed to the handler's pace instead of filling
/// memory. The sequence ends when the client half-closes, and throws a ``GRPCStatus`` if the call
/// fails (e.g. `CANCELLED` when the client resets it, `RESOURCE_EXHAUSTED` for an oversize message).
/// It supports a single iterator.
public struct RPCRequestStream: AsyncSequence, Sendable {
  public typealias Element = ByteBuffer

  typealias Producer = NIOThrowingAsyncSequenceProducer<
    ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, FlowControl
  >
  typealias Source = Producer.Source

  /// Buffered messages at or above which the server stops reopening the client's window.
  static let highWatermark = 8
  /// Buffered messages at or below which it reopens it.
  static let lowWatermark = 2

  let producer: Producer

  /// Iterates the request messages.
  public struct AsyncIterator: AsyncIteratorProtocol {
    var base: Producer.AsyncIterator

    public mutating func next() async throws -> ByteBuffer? {
      try await base.next()
    }
  }

  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(base: producer.makeAsyncIterator())
  }

  static func make(connection: ConnectionReference, streamID: Int32) -> (Source, RPCRequestStream) {
    let made = Producer.makeSequence(
      elementType: ByteBuffer.self,
      failureType: (any Error).self,
      backPressureStrategy: .init(lowWatermark: lowWatermark, highWatermark: highWatermark),
      finishOnDeinit: false,
      delegate: FlowControl(connection: connection, streamID: streamID))
    return (made.source, RPCRequestStream(producer: made.sequence))
  }

  /// Tells the connection when the handler wants more (reopen the window) or stopped reading.
  struct FlowControl: NIOAsyncSequenceProducerDelegate {
    let connection: ConnectionReference
    let streamID: Int32

    func produceMore() {
      let streamID = self.streamID
      connection.withConnection { $0.resumeRequests(streamID: streamID) }
    }

    func didTerminate() {
      let streamID = self.streamID
      connection.withConnection { $0.requestsTerminated(streamID: streamID) }
    }
  }
}
