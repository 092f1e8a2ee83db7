import CNGHTTP2

/// The C callbacks libnghttp2 calls while a server session processes input or produces output.
///
/// Each one recovers the ``ServerConnectionHandler`` from the session's `user_data` (an unretained
/// pointer: the handler owns the session and deletes it before it goes away, so the pointer is
/// valid for every callback) and forwards to it. None of them retains anything.
enum NGHTTP2ServerCallbacks {
  static func install(into callbacks: OpaquePointer?) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
    nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameReceived)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSent)
  }

  /// Runs `body` with the connection behind `userData` without retaining it (the handler owns
  /// the session, so it outlives every callback).
  @inline(__always)
  private static func withConnection<Result>(
    _ userData: UnsafeMutableRawPointer?, _ body: (ServerConnectionHandler) -> Result
  ) -> Result {
    Unmanaged<ServerConnectionHandler>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
  }

  private static let headersType = UInt8(NGHTTP2_HEADERS.rawValue)
  private static let dataType = UInt8(NGHTTP2_DATA.rawValue)
  private static let endStream = UInt8(NGHTTP2_FLAG_END_STREAM.rawValue)

  static let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    guard let frame, frame.pointee.hd.type == headersType,
      frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
    else { return 0 }
    withConnection(userData) { $0.beginRequest(streamID: frame.pointee.hd.stream_id) }
    return 0
  }

  static let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let frame, frame.pointee.hd.type == headersType,
      frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
    else { return 0 }
    withConnection(userData) {
      $0.requestHeader(
        streamID: frame.pointee.hd.stream_id,
        name: UnsafeRawBufferPointer(start: name, count: nameLength),
        value: UnsafeRawBufferPointer(start: value, count: valueLength))
    }
    return 0
  }

  static let onFrameReceived: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame else { return 0 }
    let header = frame.pointee.hd
    switch header.type {
    case headersType where frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST:
      withConnection(userData) {
        $0.requestHeadersComplete(streamID: header.stream_id, endStream: header.flags & endStream != 0)
      }
    case headersType, dataType:
      // Trailers from the client, or the last DATA frame: the request is complete.
      if header.flags & endStream != 0 {
        withConnection(userData) { $0.requestEnded(streamID: header.stream_id) }
      }
    default:
      break
    }
    return 0
  }

  static let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    withConnection(userData) {
      $0.requestData(streamID: streamID, bytes: UnsafeRawBufferPointer(start: data, count: length))
    }
    return 0
  }

  static let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    withConnection(userData) { $0.streamClosed(streamID: streamID, errorCode: errorCode) }
    return 0
  }

  static let onFrameSent: nghttp2_on_frame_send_callback = { _, frame, userData in
    guard let frame else { return 0 }
    let header = frame.pointee.hd
    if header.type == headersType, header.flags & endStream != 0 {
      withConnection(userData) { $0.trailersSent(streamID: header.stream_id) }
    }
    return 0
  }

  static let readResponseData: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
    withConnection(userData) {
      $0.readResponseData(streamID: streamID, into: buffer!, capacity: length, flags: flags!)
    }
  }
}
