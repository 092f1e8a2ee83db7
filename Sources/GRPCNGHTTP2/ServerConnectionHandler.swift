import CNGHTTP2
import Logging
import NIOCore

/// One client connection: bytes from the socket go into a libnghttp2 server session, whose
/// callbacks turn HTTP/2 streams into gRPC calls; bytes libnghttp2 wants sent go back out.
///
/// ## Threading
/// Everything here runs on the channel's event loop. libnghttp2 is single-threaded per session, and
/// so is this handler: work from other threads (async handlers, responders) arrives through
/// ``ConnectionReference``, which hops to the loop.
///
/// ## Output batching
/// Responses submitted while processing a read are serialized in one go when the read completes
/// (`channelReadComplete`); responses completed from elsewhere schedule a single flush for the
/// current loop tick, so a burst of completions costs one write.
///
/// ## Back-pressure
/// When the socket stops being writable the handler stops pulling frames out of libnghttp2 and
/// stops reading from the socket; response bytes then wait in their streams (bounded by the
/// streaming writers' watermarks and by the concurrent-stream limit).
final class ServerConnectionHandler: ChannelDuplexHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  /// The connection's life, from accept to close.
  enum State {
    /// Serving calls.
    case active
    /// GOAWAY sent; in-flight calls finish, new ones are refused; closes when none remain.
    case draining
    /// The channel is closed and the session freed.
    case closed
  }

  let router: RPCRouter
  let configuration: GRPCServer.Configuration
  let logger: Logger
  private(set) var state: State = .active

  private var session: OpaquePointer?
  private var context: ChannelHandlerContext?
  private var reference: ConnectionReference?
  private var streams: [Int32: ServerStream] = [:]
  private var pool: [ServerStream] = []
  private var insideSession = false
  private var flushScheduled = false
  private var readPending = false
  private var allocator = ByteBufferAllocator()
  /// Calls this connection may still start now (`maxCallsPerSecondPerConnection`), if limited.
  private var callRate: TokenBucket?
  /// Why the server turns this connection away as soon as it starts, if it does.
  private var refusal: String?
  /// A refused connection's output is closed; it is fully closed a moment later.
  private var outputClosed = false
  /// Checks, once the connection may have been idle for ``GRPCServer/Configuration/idleTimeout``,
  /// whether it still is. It is armed when the last call ends and no check is pending, and never
  /// cancelled by a new call (the check finds the call, or re-arms for the rest of the time):
  /// arming and cancelling a timer per call cost more than the call's own work.
  private var idleTimer: Scheduled<Void>?
  /// When the connection last became idle (no call in flight), in uptime nanoseconds.
  private var idleSinceNanos: UInt64 = 0
  /// Looks for requests slower than ``GRPCServer/Configuration/requestReadTimeout`` while any
  /// call is in flight (one timer per connection, not per call).
  private var requestSweep: RepeatedTask?

  init(router: RPCRouter, configuration: GRPCServer.Configuration, logger: Logger) {
    self.router = router
    self.configuration = configuration
    self.logger = logger
    if let perSecond = configuration.maxCallsPerSecondPerConnection {
      callRate = TokenBucket(perSecond: perSecond, nowNanos: NIODeadline.now().uptimeNanoseconds)
    }
  }

  deinit {
    if let session { nghttp2_session_del(session) }
  }

  /// Turns the connection away as soon as its session starts: GOAWAY (ENHANCE_YOUR_CALM) with
  /// `reason` as its debug data, then close. Call before the handler is added.
  func refuse(_ reason: String) {
    refusal = reason
  }

  // MARK: Channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    self.allocator = context.channel.allocator
    self.reference = ConnectionReference(self, eventLoop: context.eventLoop)
    if context.channel.isActive { startSession(context: context) }
  }

  func channelActive(context: ChannelHandlerContext) {
    if session == nil { startSession(context: context) }
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard let session, state != .closed else { return }
    let buffer = unwrapInboundIn(data)
    insideSession = true
    let result = buffer.withUnsafeReadableBytes { bytes in
      nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
    }
    insideSession = false
    if result < 0 {
      logger.debug(
        "closing HTTP/2 connection after a protocol error",
        metadata: ["error": "\(String(cString: nghttp2_strerror(Int32(truncatingIfNeeded: result))))"])
      flushOutput()
      close()
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    flushOutput()
    context.fireChannelReadComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    if context.channel.isWritable {
      flushOutput()
      if readPending {
        readPending = false
        context.read()
      }
    }
    context.fireChannelWritabilityChanged()
  }

  func read(context: ChannelHandlerContext) {
    // Stop reading requests while the client is not reading responses.
    if context.channel.isWritable {
      context.read()
    } else {
      readPending = true
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    tearDown()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    logger.debug("connection error", metadata: ["error": "\(error)"])
    close()
  }

  func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
    if event is GRPCServer.GracefulShutdownEvent {
      beginGracefulShutdown()
      promise?.succeed()
    } else {
      context.triggerUserOutboundEvent(event, promise: promise)
    }
  }

  // MARK: Session lifecycle

  private func startSession(context: ChannelHandlerContext) {
    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    defer { nghttp2_session_callbacks_del(callbacks) }
    NGHTTP2ServerCallbacks.install(into: callbacks)

    var options: OpaquePointer?
    nghttp2_option_new(&options)
    defer { nghttp2_option_del(options) }
    // The handler reopens flow-control windows itself, as requests are consumed.
    nghttp2_option_set_no_auto_window_update(options, 1)
    // Flood protections: a client resetting streams faster than this ("rapid reset") loses the
    // connection. libnghttp2 also caps CONTINUATION frames per header block (8), SETTINGS entries
    // (32) and queued PING/SETTINGS acknowledgements (1,000) by default; those defaults are kept.
    nghttp2_option_set_stream_reset_rate_limit(options, configuration.resetStreamBurst, configuration.resetStreamsPerSecond)

    var newSession: OpaquePointer?
    let rc = nghttp2_session_server_new2(
      &newSession, callbacks, Unmanaged.passUnretained(self).toOpaque(), options)
    guard rc == 0, let newSession else {
      logger.error("could not create an HTTP/2 session", metadata: ["rc": "\(rc)"])
      context.close(promise: nil)
      return
    }
    session = newSession

    let settings = [
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
        value: configuration.maxConcurrentStreams),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
        value: configuration.initialStreamWindowBytes),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
        value: configuration.maxHeaderListBytes),
    ]
    _ = settings.withUnsafeBufferPointer {
      nghttp2_submit_settings(newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress, $0.count)
    }
    _ = nghttp2_session_set_local_window_size(
      newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: configuration.connectionWindowBytes))
    if let refusal {
      state = .draining
      let reason = Array(refusal.utf8)
      _ = nghttp2_submit_goaway(
        newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, UInt32(NGHTTP2_ENHANCE_YOUR_CALM.rawValue), reason, reason.count)
    } else {
      becameIdle()
    }
    flushOutput()
  }

  /// Starts the sweep for slow requests, if it is not running.
  private func startRequestSweep() {
    guard requestSweep == nil, let timeout = configuration.requestReadTimeout, let reference else { return }
    let handler = reference.handler
    let limit = UInt64(timeout.components.seconds) * 1_000_000_000 + UInt64(timeout.components.attoseconds / 1_000_000_000)
    let period = TimeAmount.nanoseconds(Int64(max(limit / 4, 100_000_000)))
    requestSweep = reference.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
      handler.value.cancelSlowRequests(olderThanNanos: limit)
    }
  }

  /// Ends requests whose headers or unary message are still arriving after `limit`; stops the
  /// sweep when no call is in flight.
  private func cancelSlowRequests(olderThanNanos limit: UInt64) {
    guard !streams.isEmpty else {
      requestSweep?.cancel()
      requestSweep = nil
      return
    }
    let now = NIODeadline.now().uptimeNanoseconds
    for stream in streams.values where now &- stream.startedNanos > limit {
      switch stream.phase {
      case .receivingHeaders:
        // A header block cut short stalls the whole connection (no other frame may come between
        // its parts): close it.
        logger.debug("closing a connection whose request headers stalled", metadata: ["stream": "\(stream.id)"])
        close()
        return
      case .receivingUnaryRequest:
        finish(
          stream,
          .status(
            GRPCStatus(
              .cancelled,
              "the server cancelled the call: its request did not arrive completely within \(limit / 1_000_000_000) s")))
      default:
        break
      }
    }
  }

  /// The connection has just become idle (no call in flight): starts the idle clock, and arms
  /// the check unless one is pending.
  private func becameIdle() {
    idleSinceNanos = NIODeadline.now().uptimeNanoseconds
    guard idleTimer == nil else { return }
    armIdleCheck(inNanos: idleTimeoutNanos)
  }

  private var idleTimeoutNanos: Int64 {
    guard let timeout = configuration.idleTimeout else { return 0 }
    return Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
  }

  private func armIdleCheck(inNanos nanos: Int64) {
    guard configuration.idleTimeout != nil, state == .active, let reference else { return }
    let handler = reference.handler
    idleTimer = reference.eventLoop.scheduleTask(in: .nanoseconds(max(0, nanos))) {
      handler.value.checkIdle()
    }
  }

  /// The idle check: GOAWAY if no call has been in flight for the whole timeout; otherwise
  /// nothing while calls are in flight (the last one to end re-arms it), or a new check for the
  /// rest of the timeout.
  private func checkIdle() {
    idleTimer = nil
    guard streams.isEmpty else { return }
    let idleNanos = Int64(clamping: NIODeadline.now().uptimeNanoseconds &- idleSinceNanos)
    if idleNanos >= idleTimeoutNanos {
      beginGracefulShutdown()
    } else {
      armIdleCheck(inNanos: idleTimeoutNanos - idleNanos)
    }
  }

  /// Sends GOAWAY naming the last stream this server will process; calls already started finish,
  /// newer ones are refused (clients retry them elsewhere); the connection closes when idle.
  func beginGracefulShutdown() {
    guard state == .active, let session else { return }
    state = .draining
    _ = nghttp2_submit_goaway(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
      UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
    scheduleFlush()
  }

  private func close() {
    guard state != .closed, let context else { return }
    guard refusal != nil, let reference else {
      context.close(promise: nil)
      return
    }
    guard !outputClosed else { return }
    outputClosed = true
    // A refused client is likely still sending its preface: closing now would answer that with a
    // TCP reset, which can destroy the GOAWAY before the client reads it. Finish our side, keep
    // reading (and discarding) briefly, then close.
    context.close(mode: .output, promise: nil)
    let handler = reference.handler
    reference.eventLoop.scheduleTask(in: .seconds(1)) { handler.value.context?.close(promise: nil) }
  }

  private func tearDown() {
    guard state != .closed else { return }
    state = .closed
    idleTimer?.cancel()
    idleTimer = nil
    requestSweep?.cancel()
    requestSweep = nil
    for stream in streams.values { abandon(stream, status: GRPCStatus(.unavailable, "the connection closed")) }
    streams.removeAll()
    if let session {
      nghttp2_session_del(session)
      self.session = nil
    }
    context = nil
    // `reference` holds this handler strongly (so that responders and timers can reach it): drop
    // it, or every connection's handler, its pooled streams and their buffers would never be freed.
    reference = nil
  }

  // MARK: Output

  /// Moves every frame libnghttp2 has ready into the socket (while the socket accepts more),
  /// then closes the connection if the session is finished (after GOAWAY, once idle).
  func flushOutput() {
    guard let session, let context, !insideSession, !outputClosed else { return }
    var wrote = false
    while context.channel.isWritable {
      var buffer: ByteBuffer?
      while true {
        var chunk: UnsafePointer<UInt8>?
        let count = nghttp2_session_mem_send(session, &chunk)
        if count < 0 {
          logger.debug("HTTP/2 send failed", metadata: ["rc": "\(count)"])
          close()
          return
        }
        if count == 0 { break }
        if buffer == nil { buffer = allocator.buffer(capacity: max(count, 4096)) }
        buffer!.writeBytes(UnsafeRawBufferPointer(start: chunk, count: count))
        if buffer!.readableBytes >= 256 * 1024 { break }
      }
      guard let out = buffer else { break }
      context.write(wrapOutboundOut(out), promise: nil)
      wrote = true
    }
    if wrote { context.flush() }
    if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
      close()
    }
  }

  /// Flushes at the end of the current event-loop tick (once, however many calls ask).
  func scheduleFlush() {
    guard !insideSession, !flushScheduled, let reference else { return }
    flushScheduled = true
    let handler = reference.handler
    reference.eventLoop.execute {
      let connection = handler.value
      connection.flushScheduled = false
      connection.flushOutput()
    }
  }

  // MARK: Streams: called from the nghttp2 callbacks

  func beginRequest(streamID: Int32) {
    let stream = pool.popLast() ?? ServerStream(maxMessageBytes: configuration.maxReceiveMessageBytes, allocator: allocator)
    stream.id = streamID
    stream.phase = .receivingHeaders
    startRequestSweep()
    stream.startedNanos = NIODeadline.now().uptimeNanoseconds
    streams[streamID] = stream
  }

  func requestHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    guard let stream = streams[streamID], case .receivingHeaders = stream.phase else { return }
    stream.headerListBytes += name.count + value.count + 32
    RequestHeaderParser.apply(name: name, value: value, to: stream, router: router)
  }

  func requestHeadersComplete(streamID: Int32, endStream: Bool) {
    guard let stream = streams[streamID], case .receivingHeaders = stream.phase else { return }
    if endStream { stream.remoteClosed = true }
    if let failure = validate(stream) {
      finish(stream, failure)
      return
    }
    if let authorizer = configuration.authorizer {
      switch authorizer.authorize(router.routes[stream.routeIndex!].method, authorization: stream.authorization) {
      case .allowed(let principal):
        stream.principal = principal
      case .denied(let status):
        finish(stream, .status(status))
        return
      }
    }
    if let timeout = stream.timeoutNanos {
      guard timeout > 0 else {
        finish(stream, .status(GRPCStatus(.deadlineExceeded, "the call's deadline had passed when it arrived")))
        return
      }
      stream.deadline = .now() + .nanoseconds(timeout)
    }
    let routeIndex = stream.routeIndex!
    switch router.routes[routeIndex].handler {
    case .unary:
      stream.phase = .receivingUnaryRequest(route: routeIndex)
      if endStream { requestEnded(stream) }
    case .streaming(let handler):
      startStreaming(stream, method: router.routes[routeIndex].method, handler: handler)
      if endStream { requestEnded(stream) }
    }
  }

  func requestData(streamID: Int32, bytes: UnsafeRawBufferPointer) {
    guard let session else { return }
    guard let stream = streams[streamID] else {
      _ = nghttp2_session_consume(session, streamID, bytes.count)
      return
    }
    switch stream.phase {
    case .receivingUnaryRequest:
      _ = nghttp2_session_consume(session, streamID, bytes.count)
      stream.deframer.append(bytes)
      do {
        // Surfaces an oversize or compressed message as soon as its prefix is here.
        var probe = stream.deframer
        _ = try probe.next()
      } catch {
        finish(stream, .status(error))
      }
    case .streaming:
      if stream.requestsPaused {
        stream.withheldWindowBytes += bytes.count
      } else {
        _ = nghttp2_session_consume(session, streamID, bytes.count)
      }
      stream.deframer.append(bytes)
      deliverRequests(stream)
    default:
      // The call is already decided (e.g. failed early): discard, but keep the window open.
      _ = nghttp2_session_consume(session, streamID, bytes.count)
    }
  }

  func requestEnded(streamID: Int32) {
    guard let stream = streams[streamID] else { return }
    stream.remoteClosed = true
    requestEnded(stream)
  }

  private func requestEnded(_ stream: ServerStream) {
    switch stream.phase {
    case .receivingUnaryRequest(let routeIndex):
      invokeUnary(stream, routeIndex: routeIndex)
    case .streaming:
      if stream.deframer.bufferedBytes > 0 {
        let failure = GRPCStatus(.internal, "the request stream ended inside a message (truncated gRPC frame)")
        stream.requestSource?.finish(failure)
      } else {
        stream.requestSource?.finish()
      }
      stream.requestSource = nil
    default:
      break
    }
  }

  func streamClosed(streamID: Int32, errorCode: UInt32) {
    guard let stream = streams.removeValue(forKey: streamID) else { return }
    if stream.isOpen {
      abandon(stream, status: GRPCStatus(.cancelled, "the client cancelled the call"))
    }
    stream.reset()
    if pool.count < 64 { pool.append(stream) }
    if streams.isEmpty { becameIdle() }
  }

  /// After our trailers go out, a client that is still sending is told to stop (RST_STREAM NO_ERROR).
  func trailersSent(streamID: Int32) {
    guard let session, let stream = streams[streamID], !stream.remoteClosed else { return }
    _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, UInt32(NGHTTP2_NO_ERROR.rawValue))
  }

  /// libnghttp2 asks for response body bytes (the data provider's read callback).
  func readResponseData(
    streamID: Int32, into destination: UnsafeMutablePointer<UInt8>, capacity: Int,
    flags: UnsafeMutablePointer<UInt32>
  ) -> Int {
    guard let session, let stream = streams[streamID] else {
      return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    }
    let count = min(capacity, stream.outbound.readableBytes)
    if count > 0 {
      stream.outbound.readWithUnsafeReadableBytes { source in
        UnsafeMutableRawPointer(destination).copyMemory(from: source.baseAddress!, byteCount: count)
        return count
      }
    }
    if stream.outbound.readableBytes == 0 {
      stream.outbound.clear()
      if case .finishing(let status) = stream.phase {
        flags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) | UInt32(NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue)
        submitTrailers(session: session, stream: stream, status: status)
        stream.phase = .closed
      } else if count == 0 {
        stream.dataDeferred = true
        return Int(NGHTTP2_ERR_DEFERRED.rawValue)
      }
    }
    if !stream.responsesWritable && stream.outbound.readableBytes <= RPCResponseWriter.lowWatermarkBytes {
      stream.responsesWritable = true
      stream.responseSink?.setWritability(to: true)
    }
    return count
  }

  // MARK: Calls

  /// Why a request cannot be served, decided from its headers alone.
  enum EarlyFailure {
    case httpStatus(StaticHeaderStrings.Bytes)
    case status(GRPCStatus)
  }

  private func validate(_ stream: ServerStream) -> EarlyFailure? {
    if state != .active {
      return .status(GRPCStatus(.unavailable, "the server is shutting down; retry on another connection"))
    }
    guard stream.headerListBytes <= Int(configuration.maxHeaderListBytes) else {
      // libnghttp2 advertises the limit but does not enforce it on what it receives.
      return .status(
        GRPCStatus(
          .resourceExhausted,
          "request headers of \(stream.headerListBytes) bytes exceed this server's limit of \(configuration.maxHeaderListBytes) bytes; send less metadata"))
    }
    guard stream.isPost else { return .httpStatus(StaticHeaderStrings.shared.status405) }
    guard stream.hasGRPCContentType else { return .httpStatus(StaticHeaderStrings.shared.status415) }
    if let malformed = stream.malformedTimeout {
      return .status(GRPCStatus(.invalidArgument, "malformed grpc-timeout header '\(malformed)'"))
    }
    if let encoding = stream.unsupportedEncoding {
      return .status(
        GRPCStatus(
          .unimplemented,
          "message encoding '\(encoding)' is not supported by this server; send uncompressed messages (identity)"))
    }
    guard stream.routeIndex != nil else {
      let path = String(decoding: stream.unknownPath ?? [], as: UTF8.self)
      return .status(GRPCStatus(.unimplemented, "unknown method '\(path)': this server does not implement it"))
    }
    if var limiter = callRate {
      defer { callRate = limiter }
      guard limiter.take(nowNanos: NIODeadline.now().uptimeNanoseconds) else {
        return .status(
          GRPCStatus(
            .resourceExhausted,
            "this connection exceeded \(limiter.perSecond) calls per second; slow down or spread calls over connections"))
      }
    }
    return nil
  }

  private func context(for stream: ServerStream, method: RPCMethod) -> CallContext {
    CallContext(
      method: method, deadline: stream.deadline, authorization: stream.authorization, principal: stream.principal,
      eventLoop: reference!.eventLoop)
  }

  private func invokeUnary(_ stream: ServerStream, routeIndex: Int) {
    let request: ByteBuffer
    do {
      guard let message = try stream.deframer.next() else {
        let reason =
          stream.deframer.bufferedBytes > 0
          ? "the request ended inside a message (truncated gRPC frame)"
          : "a unary call needs exactly one request message; none was sent"
        finish(stream, .status(GRPCStatus(.internal, reason)))
        return
      }
      request = message
      guard stream.deframer.bufferedBytes == 0 else {
        finish(stream, .status(GRPCStatus(.internal, "a unary call needs exactly one request message; more were sent")))
        return
      }
    } catch {
      finish(stream, .status(error))
      return
    }
    guard case .unary(let handler) = router.routes[routeIndex].handler else { return }
    stream.phase = .awaitingUnaryResponse
    let responder = UnaryResponder(connection: reference!, streamID: stream.id)
    handler(request, context(for: stream, method: router.routes[routeIndex].method), responder)
    if case .awaitingUnaryResponse = stream.phase { armDeadline(stream) }
  }

  func completeUnary(streamID: Int32, result: Result<[UInt8], GRPCStatus>) {
    guard let stream = streams[streamID], case .awaitingUnaryResponse = stream.phase else { return }
    switch result {
    case .success(let message):
      appendMessage(message, to: stream)
      finish(stream, .status(.ok))
    case .failure(let status):
      finish(stream, .status(status))
    }
  }

  private func startStreaming(
    _ stream: ServerStream, method: RPCMethod,
    handler: @escaping @Sendable (RPCRequestStream, RPCResponseWriter, CallContext) async throws -> Void
  ) {
    let reference = self.reference!
    let streamID = stream.id
    let (source, requests) = RPCRequestStream.make(connection: reference, streamID: streamID)
    let (sink, responses) = RPCResponseWriter.make(connection: reference, streamID: streamID)
    stream.phase = .streaming
    stream.requestSource = source
    stream.responseSink = sink
    let context = context(for: stream, method: method)
    stream.task = Task {
      let status: GRPCStatus
      do {
        try await handler(requests, responses, context)
        status = .ok
      } catch {
        status = GRPCStatus.from(error)
      }
      responses.writer.finish()
      reference.withConnection { $0.streamingHandlerFinished(streamID: streamID, status: status) }
    }
    armDeadline(stream)
  }

  func streamingHandlerFinished(streamID: Int32, status: GRPCStatus) {
    guard let stream = streams[streamID], case .streaming = stream.phase else { return }
    stream.requestSource?.finish()
    stream.requestSource = nil
    finish(stream, .status(status))
  }

  private func deliverRequests(_ stream: ServerStream) {
    while true {
      let message: ByteBuffer?
      do {
        message = try stream.deframer.next()
      } catch {
        stream.requestSource?.finish(error)
        stream.requestSource = nil
        finish(stream, .status(error))
        return
      }
      guard let message else { return }
      guard let source = stream.requestSource else { continue }  // the handler stopped reading: drop
      if source.yield(message) == .stopProducing { stream.requestsPaused = true }
    }
  }

  func resumeRequests(streamID: Int32) {
    guard let session, let stream = streams[streamID] else { return }
    stream.requestsPaused = false
    if stream.withheldWindowBytes > 0 {
      _ = nghttp2_session_consume(session, streamID, stream.withheldWindowBytes)
      stream.withheldWindowBytes = 0
      scheduleFlush()
    }
  }

  func requestsTerminated(streamID: Int32) {
    // The handler will read no more requests; stop withholding flow control for it.
    guard let stream = streams[streamID] else { return }
    stream.requestSource = nil
    resumeRequests(streamID: streamID)
  }

  func enqueueResponse(streamID: Int32, message: [UInt8]) {
    guard let session, let stream = streams[streamID], case .streaming = stream.phase else { return }
    appendMessage(message, to: stream)
    if !stream.responseHeadersSubmitted {
      submitResponseHeaders(session: session, stream: stream)
    } else if stream.dataDeferred {
      stream.dataDeferred = false
      _ = nghttp2_session_resume_data(session, stream.id)
    }
    if stream.responsesWritable && stream.outbound.readableBytes >= RPCResponseWriter.highWatermarkBytes {
      stream.responsesWritable = false
      stream.responseSink?.setWritability(to: false)
    }
    scheduleFlush()
  }

  private func appendMessage(_ message: [UInt8], to stream: ServerStream) {
    stream.outbound.writeInteger(UInt8(0))
    stream.outbound.writeInteger(UInt32(message.count))
    stream.outbound.writeBytes(message)
  }

  private func armDeadline(_ stream: ServerStream) {
    guard let deadline = stream.deadline, let reference else { return }
    let handler = reference.handler
    let streamID = stream.id
    stream.deadlineTimer = reference.eventLoop.scheduleTask(deadline: deadline) {
      handler.value.deadlinePassed(streamID: streamID)
    }
  }

  private func deadlinePassed(streamID: Int32) {
    guard let stream = streams[streamID] else { return }
    switch stream.phase {
    case .receivingUnaryRequest, .awaitingUnaryResponse, .streaming:
      stream.deadlineTimer = nil
      cancelHandler(stream, status: GRPCStatus(.deadlineExceeded, "the call's deadline passed before it completed"))
      finish(stream, .status(GRPCStatus(.deadlineExceeded, "the call's deadline passed before it completed")))
    default:
      break
    }
  }

  /// Stops a running streaming handler: its request stream and writer fail with `status`, its task
  /// is cancelled.
  private func cancelHandler(_ stream: ServerStream, status: GRPCStatus) {
    stream.requestSource?.finish(status)
    stream.requestSource = nil
    stream.responseSink?.finish(error: status)
    stream.responseSink = nil
    stream.task?.cancel()
    stream.task = nil
  }

  /// The stream is going away without our trailers (reset by the client, connection closed).
  private func abandon(_ stream: ServerStream, status: GRPCStatus) {
    cancelHandler(stream, status: status)
    stream.deadlineTimer?.cancel()
    stream.deadlineTimer = nil
    stream.phase = .closed
  }

  /// Ends the call: queues the status behind any response data, or sends a trailers-only response.
  private func finish(_ stream: ServerStream, _ failure: EarlyFailure) {
    guard let session, stream.isOpen else { return }
    if case .finishing = stream.phase { return }
    stream.deadlineTimer?.cancel()
    stream.deadlineTimer = nil
    if case .streaming = stream.phase, case .status(let status) = failure, status.code != .ok {
      cancelHandler(stream, status: status)
    }
    switch failure {
    case .httpStatus(let code):
      let strings = StaticHeaderStrings.shared
      var fields = [StaticHeaderStrings.field(strings.status, code)]
      _ = fields.withUnsafeMutableBufferPointer {
        nghttp2_submit_response(session, stream.id, $0.baseAddress, $0.count, nil)
      }
      stream.phase = .closed
    case .status(let status):
      if stream.responseHeadersSubmitted || stream.outbound.readableBytes > 0 {
        stream.phase = .finishing(status)
        if !stream.responseHeadersSubmitted {
          submitResponseHeaders(session: session, stream: stream)
        } else if stream.dataDeferred {
          stream.dataDeferred = false
          _ = nghttp2_session_resume_data(session, stream.id)
        }
      } else {
        submitTrailersOnly(session: session, stream: stream, status: status)
        stream.phase = .closed
      }
    }
    stream.responseSink?.finish()
    stream.responseSink = nil
    scheduleFlush()
  }

  // MARK: Frames

  private func submitResponseHeaders(session: OpaquePointer, stream: ServerStream) {
    let strings = StaticHeaderStrings.shared
    var provider = nghttp2_data_provider(
      source: nghttp2_data_source(ptr: nil), read_callback: NGHTTP2ServerCallbacks.readResponseData)
    withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: 2) { fields in
      fields[0] = StaticHeaderStrings.field(strings.status, strings.status200)
      fields[1] = StaticHeaderStrings.field(strings.contentType, strings.applicationGRPC)
      _ = nghttp2_submit_response(session, stream.id, fields.baseAddress, 2, &provider)
    }
    stream.responseHeadersSubmitted = true
  }

  private func observe(_ stream: ServerStream, _ status: GRPCStatus) {
    guard let observer = configuration.observer else { return }
    let now = NIODeadline.now().uptimeNanoseconds
    observer.callEnded(route: stream.routeIndex, code: status.code, nanoseconds: now &- stream.startedNanos)
  }

  private func submitTrailers(session: OpaquePointer, stream: ServerStream, status: GRPCStatus) {
    observe(stream, status)
    withStatusFields(status, trailersOnly: false) { fields in
      if nghttp2_submit_trailer(session, stream.id, fields.baseAddress, fields.count) != 0 {
        // The trailers could not be queued: end the stream rather than leave the call hanging.
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, NGHTTP2_INTERNAL_ERROR.rawValue)
      }
    }
  }

  private func submitTrailersOnly(session: OpaquePointer, stream: ServerStream, status: GRPCStatus) {
    observe(stream, status)
    withStatusFields(status, trailersOnly: true) { fields in
      if nghttp2_submit_response(session, stream.id, fields.baseAddress, fields.count, nil) != 0 {
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, NGHTTP2_INTERNAL_ERROR.rawValue)
      }
    }
  }

  /// Builds the status fields on the stack (no allocation for a status without a message):
  /// `[:status, content-type]` for a trailers-only response, then `grpc-status`,
  /// `grpc-accept-encoding` for `UNIMPLEMENTED`, and the percent-encoded `grpc-message` if any.
  private func withStatusFields(
    _ status: GRPCStatus, trailersOnly: Bool, _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Void
  ) {
    let strings = StaticHeaderStrings.shared
    withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: 5) { fields in
      var count = 0
      if trailersOnly {
        fields[0] = StaticHeaderStrings.field(strings.status, strings.status200)
        fields[1] = StaticHeaderStrings.field(strings.contentType, strings.applicationGRPC)
        count = 2
      }
      fields[count] = StaticHeaderStrings.field(strings.grpcStatus, strings.statusDigits[Int(status.code.rawValue)])
      count += 1
      if status.code == .unimplemented {
        fields[count] = StaticHeaderStrings.field(strings.grpcAcceptEncoding, strings.identity)
        count += 1
      }
      guard !status.message.isEmpty else {
        body(UnsafeMutableBufferPointer(rebasing: fields[0..<count]))
        return
      }
      var encoded = PercentEncoding.encodeBounded(status.message)
      encoded.withUnsafeMutableBufferPointer { message in
        // The message value is copied by libnghttp2 (no NO_COPY_VALUE flag): it only lives here.
        fields[count] = nghttp2_nv(
          name: strings.grpcMessage.pointer, value: message.baseAddress, namelen: strings.grpcMessage.count,
          valuelen: message.count, flags: UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue))
        body(UnsafeMutableBufferPointer(rebasing: fields[0...count]))
      }
    }
  }
}
