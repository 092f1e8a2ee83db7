public import NIOCore

/// Splits a gRPC request body into length-prefixed messages.
///
/// Each gRPC message on the wire is a 1-byte compressed flag, a 4-byte big-endian length and that
/// many bytes of payload; messages may span DATA frames and one frame may hold several messages.
/// The deframer accepts bytes in any split and returns whole messages in order.
///
/// ## Guarantees
/// - A message whose declared length exceeds ``maxMessageBytes`` is rejected with
///   `RESOURCE_EXHAUSTED` as soon as its 5-byte prefix has arrived, before its payload is buffered;
///   so the deframer never holds more than one partial message of at most that size.
/// - A message with the compressed flag set is rejected with `UNIMPLEMENTED` (this server does
///   not negotiate compression and says so in `grpc-accept-encoding`).
/// - Any other flag value is a protocol violation: `INTERNAL`.
public struct MessageDeframer {
  /// The largest message payload accepted, in bytes.
  public let maxMessageBytes: Int
  private var buffer: ByteBuffer

  /// Creates a deframer.
  public init(maxMessageBytes: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
    self.maxMessageBytes = maxMessageBytes
    self.buffer = allocator.buffer(capacity: 0)
  }

  /// Bytes received but not yet returned as a message.
  public var bufferedBytes: Int { buffer.readableBytes }

  /// Appends received body bytes.
  public mutating func append(_ bytes: UnsafeRawBufferPointer) {
    if buffer.readableBytes == 0 { buffer.clear() }
    buffer.writeBytes(bytes)
  }

  /// Appends received body bytes.
  public mutating func append(_ bytes: ByteBuffer) {
    if buffer.readableBytes == 0 { buffer.clear() }
    var bytes = bytes
    buffer.writeBuffer(&bytes)
  }

  /// Forgets everything buffered, keeping the allocated capacity for reuse.
  public mutating func reset() {
    buffer.clear()
  }

  /// Returns the next whole message's payload, or `nil` if more bytes are needed.
  ///
  /// - Throws: ``GRPCStatus`` `RESOURCE_EXHAUSTED` for an oversize message, `UNIMPLEMENTED` for a
  ///   compressed one, `INTERNAL` for an invalid flag. After a throw the deframer must not be used
  ///   for that stream again.
  public mutating func next() throws(GRPCStatus) -> ByteBuffer? {
    guard let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
      let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self)
    else { return nil }
    switch flag {
    case 0: break
    case 1:
      throw GRPCStatus(
        .unimplemented,
        "compressed messages are not supported by this server; send uncompressed messages (grpc-encoding: identity)")
    default:
      throw GRPCStatus(.internal, "invalid gRPC message flag \(flag): expected 0 (uncompressed)")
    }
    guard Int(length) <= maxMessageBytes else {
      throw GRPCStatus(
        .resourceExhausted,
        "request message of \(length) bytes exceeds the server's limit of \(maxMessageBytes) bytes")
    }
    guard buffer.readableBytes >= 5 + Int(length) else { return nil }
    buffer.moveReaderIndex(forwardBy: 5)
    return buffer.readSlice(length: Int(length))
  }
}
