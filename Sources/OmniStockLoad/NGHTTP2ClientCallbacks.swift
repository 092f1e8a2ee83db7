import CNGHTTP2

/// The C callbacks libnghttp2 calls for a ``GRPCClientConnection`` (on its I/O thread). Each one
/// recovers the connection from `user_data` without retaining it: the connection owns the session
/// and deletes it in `deinit`, after its I/O thread has stopped.
enum NGHTTP2ClientCallbacks {
  static func install(into callbacks: OpaquePointer?) {
    nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
  }

  @inline(__always)
  private static func withConnection<Result>(
    _ userData: UnsafeMutableRawPointer?, _ body: (GRPCClientConnection) -> Result
  ) -> Result {
    Unmanaged<GRPCClientConnection>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
  }

  static let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let frame else { return 0 }
    withConnection(userData) {
      $0.responseHeader(
        streamID: frame.pointee.hd.stream_id, name: UnsafeRawBufferPointer(start: name, count: nameLength),
        value: UnsafeRawBufferPointer(start: value, count: valueLength))
    }
    return 0
  }

  static let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    withConnection(userData) { $0.responseData(streamID: streamID, UnsafeRawBufferPointer(start: data, count: length)) }
    return 0
  }

  static let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    withConnection(userData) { $0.streamClosed(streamID: streamID, errorCode: errorCode) }
    return 0
  }

  /// Serves a request's bytes to the session: a unary call's one message, then the end of the
  /// stream; a stream's messages as they are sent, deferring while there is none and it is not
  /// finished.
  static let readRequestBody: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
    withConnection(userData) { connection -> Int in
      guard let call = connection.call(streamID), let buffer else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
      let count = min(length, call.body.count - call.sent)
      if count == 0 && !call.finished {
        call.deferred = true
        return Int(NGHTTP2_ERR_DEFERRED.rawValue)
      }
      call.body.withUnsafeBytes { bytes in
        if count > 0 {
          buffer.update(from: bytes.baseAddress!.advanced(by: call.sent).assumingMemoryBound(to: UInt8.self), count: count)
        }
      }
      call.sent += count
      if call.sent == call.body.count {
        call.body.removeAll(keepingCapacity: true)
        call.sent = 0
        if call.finished { flags!.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) }
      }
      return count
    }
  }
}
