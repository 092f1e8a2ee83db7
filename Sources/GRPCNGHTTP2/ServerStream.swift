import NIOCore

/// The server's state for one HTTP/2 stream, i.e. one RPC.
///
/// Owned by the connection's event loop (never touched from another thread) and pooled per
/// connection, so a steady stream of calls allocates no stream objects. Its ``Phase`` is the
/// call's state machine:
///
/// ```
/// receivingHeaders ──► receivingUnaryRequest ──► awaitingUnaryResponse ──┐
///        │                                                               ├──► finishing ──► closed
///        └──────────────► streaming (handler task running) ──────────────┘
/// ```
/// Any phase may jump to `closed` when the client resets the stream or the connection goes away.
final class ServerStream {
  /// Where the call is in its life.
  enum Phase {
    /// Pooled; not part of any call.
    case idle
    /// HEADERS (and CONTINUATION) are arriving.
    case receivingHeaders
    /// A unary method: collecting its single request message.
    case receivingUnaryRequest(route: Int)
    /// The unary handler has the request; waiting for its responder.
    case awaitingUnaryResponse
    /// A streaming handler task is running.
    case streaming
    /// The final status is decided; response DATA still draining, trailers after it.
    case finishing(GRPCStatus)
    /// Trailers (or a trailers-only response or a reset) have been submitted; nothing more is sent.
    case closed
  }

  var id: Int32 = 0
  /// When the request headers began (monotonic nanoseconds), for the call observer.
  var startedNanos: UInt64 = 0
  var phase: Phase = .idle

  // What the request headers said.
  var routeIndex: Int?
  var unknownPath: [UInt8]?
  var isPost = false
  var hasGRPCContentType = false
  var contentType: String?
  var timeoutNanos: Int64?
  var malformedTimeout: String?
  var unsupportedEncoding: String?
  var authorization: String?
  /// The size of the request's header list as HTTP/2 counts it (name + value + 32 per field).
  var headerListBytes = 0
  /// Set by the server's authorizer once the headers are complete.
  var principal: (any CallPrincipal)?
  var deadline: NIODeadline?
  var remoteClosed = false

  // Request body and response body.
  var deframer: MessageDeframer
  var outbound: ByteBuffer
  var responseHeadersSubmitted = false
  var dataDeferred = false
  var deadlineTimer: Scheduled<Void>?

  // Streaming calls only.
  var requestSource: RPCRequestStream.Source?
  var requestsPaused = false
  var withheldWindowBytes = 0
  var responseSink: RPCResponseWriter.Sink?
  var responsesWritable = true
  var task: Task<Void, Never>?

  init(maxMessageBytes: Int, allocator: ByteBufferAllocator) {
    deframer = MessageDeframer(maxMessageBytes: maxMessageBytes, allocator: allocator)
    outbound = allocator.buffer(capacity: 256)
  }

  /// Whether the call still expects the server to send something.
  var isOpen: Bool {
    switch phase {
    case .idle, .closed: false
    default: true
    }
  }

  /// Returns the stream to its pooled state, keeping buffer capacity.
  func reset() {
    id = 0
    phase = .idle
    routeIndex = nil
    unknownPath = nil
    isPost = false
    hasGRPCContentType = false
    contentType = nil
    timeoutNanos = nil
    malformedTimeout = nil
    unsupportedEncoding = nil
    authorization = nil
    headerListBytes = 0
    principal = nil
    deadline = nil
    remoteClosed = false
    deframer.reset()
    outbound.clear()
    responseHeadersSubmitted = false
    dataDeferred = false
    deadlineTimer?.cancel()
    deadlineTimer = nil
    requestSource = nil
    requestsPaused = false
    withheldWindowBytes = 0
    responseSink = nil
    responsesWritable = true
    task = nil
  }
}
