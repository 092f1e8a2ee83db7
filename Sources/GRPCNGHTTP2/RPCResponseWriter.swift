import DequeModule
import NIOCore

/// Writes the response messages of a streaming call.
///
/// ``write(_:)`` suspends while the client is not reading (the stream's unsent response bytes are
/// above a watermark), so a slow consumer never makes the server buffer without bound. It throws
/// a ``GRPCStatus`` once the call is over (cancelled by the client, deadline passed).
public struct RPCResponseWriter: Sendable {
  typealias Writer = NIOAsyncWriter<[UInt8], Delivery>
  typealias Sink = Writer.Sink

  /// Unsent response bytes at or above which writers are suspended.
  static let highWatermarkBytes = 64 * 1024
  /// Unsent response bytes at or below which they resume.
  static let lowWatermarkBytes = 16 * 1024

  let writer: Writer

  /// Sends one serialized response message.
  public func write(_ message: [UInt8]) async throws {
    try await writer.yield(message)
  }

  static func make(connection: ConnectionReference, streamID: Int32) -> (Sink, RPCResponseWriter) {
    let made = Writer.makeWriter(
      elementType: [UInt8].self,
      isWritable: true,
      finishOnDeinit: false,
      delegate: Delivery(connection: connection, streamID: streamID))
    return (made.sink, RPCResponseWriter(writer: made.writer))
  }

  /// Hands written messages to the connection's event loop.
  struct Delivery: NIOAsyncWriterSinkDelegate {
    let connection: ConnectionReference
    let streamID: Int32

    func didYield(contentsOf sequence: Deque<[UInt8]>) {
      let streamID = self.streamID
      let messages = Array(sequence)
      connection.withConnection { connection in
        for message in messages { connection.enqueueResponse(streamID: streamID, message: message) }
      }
    }

    func didYield(_ element: [UInt8]) {
      let streamID = self.streamID
      connection.withConnection { $0.enqueueResponse(streamID: streamID, message: element) }
    }

    func didTerminate(error: (any Error)?) {}
  }
}
