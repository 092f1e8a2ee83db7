import CNGHTTP2
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A lean gRPC-over-HTTP/2 client connection on libnghttp2, for the load tool: it must cost far
/// less CPU than the server it measures (both share this machine's cores), which a general client
/// framework does not. Unary calls, and streams the caller writes to from the I/O thread (a POS
/// terminal's `StreamEvents`); everything is answered on the I/O thread of its ``ClientIOLoop``.
///
/// Written here rather than taken from a library: grpc-swift-2's client costs several times the
/// server's CPU per call on this machine, and no Swift package offers a minimal HTTP/2 client.
///
/// ## Threading
/// The connection lives on its ``ClientIOLoop``'s thread (shared with the loop's other
/// connections), which owns the socket and the nghttp2 session; completions run there and may
/// start the next call at once (``unaryFromIOThread(path:message:completion:)``), so a
/// closed-loop driver needs no locks. Other threads submit through ``unary(path:message:completion:)``
/// (a locked inbox, then a wake-up of the loop).
///
/// ## Life cycle
/// `open` (attached to the loop) → `closing` (``close(graceSeconds:)``: no new ticks, the calls
/// in flight finish) → `ended` (every call answered, the grace period over, or the socket failed:
/// the loop detaches it and fails whatever is left). The socket closes when the connection is freed.
///
/// `@unchecked Sendable`: `session`, `calls`, `outbound`, `phase`, `ticker`, `tickDue` and
/// `isTouched` are touched only on the loop's thread (and by `init` before the loop knows the
/// connection); `submitted` and `stopped` are mutexes, `running` and `wakePending` atomics.
public final class GRPCClientConnection: @unchecked Sendable {
  /// How a call ended: the `grpc-status` (or -1 when the stream or connection failed), the
  /// `grpc-message`, and the response message bytes (without the 5-byte gRPC prefix).
  public typealias Completion = (_ status: Int, _ message: String, _ response: [UInt8]) -> Void

  /// A stream's response messages as they arrive (streams only).
  public typealias MessageHandler = (_ message: [UInt8]) -> Void

  final class Call {
    /// Request bytes not yet taken by the session.
    var body: [UInt8]
    var sent = 0
    /// No more request bytes will come (unary calls: from the start).
    var finished: Bool
    /// The session is waiting for more request bytes (the data source returned DEFERRED).
    var deferred = false
    var response: [UInt8] = []
    var status = -1
    var message = ""
    let onMessage: MessageHandler?
    let completion: Completion

    init(body: [UInt8], finished: Bool, onMessage: MessageHandler?, completion: @escaping Completion) {
      self.body = body
      self.finished = finished
      self.onMessage = onMessage
      self.completion = completion
    }
  }

  private struct Request: @unchecked Sendable {  // handed from a submitter to the I/O thread once
    let path: String
    let body: [UInt8]
    let completion: Completion
    /// For a stream: its message handler, and who learns its id once it is open.
    var onMessage: MessageHandler? = nil
    var onOpen: ((Int32) -> Void)? = nil
  }

  /// Where the connection is in its life (loop thread only).
  private enum Phase {
    case open
    case closing
    case ended
  }

  /// What other threads hand to the I/O thread.
  private struct Inbox: @unchecked Sendable {  // closures handed over once, run only on the I/O thread
    var requests: [Request] = []
    var closing = false
    var ticker: Ticker?
    /// The connection has ended: nothing submitted from now on would be sent.
    var ioStopped = false
  }

  /// Called on the I/O thread when it is due; returns when it wants to run next (nil: never).
  public typealias Ticker = () -> ContinuousClock.Instant?

  let socket: Int32
  private let loop: ClientIOLoop
  private let authority: String
  private var session: OpaquePointer?
  private var calls: [Int32: Call] = [:]
  private var outbound: [UInt8] = []
  private var phase = Phase.open
  private let submitted = Mutex(Inbox())
  private var ticker: Ticker?
  /// When the ticker runs next (loop thread only; nil: no ticker, or it is done).
  private(set) var tickDue: ContinuousClock.Instant?
  /// The loop will serve the inbox at its next turn (set by ``ClientIOLoop/wake(_:)``).
  let wakePending = Atomic<Bool>(false)
  /// The loop will flush this connection at the end of its turn (loop thread only).
  var isTouched = false
  private let stopped = Mutex(false)
  /// Cleared by ``close(graceSeconds:)`` when the grace period is over: the connection ends.
  private let running = Atomic<Bool>(true)

  /// Connects to `host:port` (an IPv4 address) and attaches to `loop`.
  public init(host: String, port: Int, loop: ClientIOLoop) throws {
    let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { throw LoadError("socket() failed: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
      Glibc.close(descriptor)
      throw LoadError("'\(host)' is not an IPv4 address")
    }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
      let reason = String(cString: strerror(errno))
      Glibc.close(descriptor)
      throw LoadError("cannot connect to \(host):\(port): \(reason)")
    }
    var one: Int32 = 1
    setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    socket = descriptor
    self.loop = loop
    authority = "\(host):\(port)"

    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    NGHTTP2ClientCallbacks.install(into: callbacks)
    var created: OpaquePointer?
    nghttp2_session_client_new(&created, callbacks, Unmanaged.passUnretained(self).toOpaque())
    nghttp2_session_callbacks_del(callbacks)
    session = created
    var settings = [
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: 1_000),
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: 1 << 24),
    ]
    nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
    nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, 1 << 26)
    loop.register(self)
  }

  deinit {
    if let session { nghttp2_session_del(session) }
    Glibc.close(socket)
  }

  /// Runs `ticker` on the I/O thread from now on (an open-loop driver sends what is due from it):
  /// at once, then whenever the instant it last returned has come. The loop wakes for it with
  /// microsecond resolution (a timerfd).
  public func setTicker(_ ticker: @escaping Ticker) {
    submitted.withLock { $0.ticker = ticker }
    loop.wake(self)
  }

  /// Starts a unary call from any thread.
  public func unary(path: String, message: [UInt8], completion: @escaping Completion) {
    // A connection that has ended (the server closed it) answers at once.
    let accepted = submitted.withLock { inbox -> Bool in
      guard !inbox.ioStopped else { return false }
      inbox.requests.append(Request(path: path, body: Self.frame(message), completion: completion))
      return true
    }
    guard accepted else {
      completion(-1, "the connection is closed", [])
      return
    }
    loop.wake(self)
  }

  /// Makes a unary call and waits for it to end: from a thread that may block, never the loop's.
  /// Returns how it ended, as a ``Completion`` would receive it.
  public func unaryWaiting(path: String, message: [UInt8]) -> (status: Int, message: String, response: [UInt8]) {
    let done = DispatchSemaphore(value: 0)
    let answer = Mutex<(status: Int, message: String, response: [UInt8])>((-1, "no answer", []))
    unary(path: path, message: message) { status, message, bytes in
      answer.withLock { $0 = (status, message, bytes) }
      done.signal()
    }
    done.wait()
    return answer.withLock { $0 }
  }

  /// Starts a unary call from the I/O thread (inside a completion): no lock, no wake-up.
  public func unaryFromIOThread(path: String, message: [UInt8], completion: @escaping Completion) {
    submit(Request(path: path, body: Self.frame(message), completion: completion))
  }

  /// Opens a stream (from any thread). `onOpen` gets its id on the I/O thread; from there, and
  /// only there, ``send(_:on:)`` writes messages and ``finish(_:)`` half-closes it. `onMessage`
  /// gets each response message; `completion` runs once when the stream ends (with an empty
  /// response).
  public func openStream(
    path: String, onOpen: @escaping (Int32) -> Void, onMessage: @escaping MessageHandler, completion: @escaping Completion
  ) {
    submitted.withLock {
      $0.requests.append(Request(path: path, body: [], completion: completion, onMessage: onMessage, onOpen: onOpen))
    }
    loop.wake(self)
  }

  /// Writes `message` on stream `id` (I/O thread only).
  public func send(_ message: [UInt8], on id: Int32) {
    guard let call = calls[id] else { return }
    call.body += Self.frame(message)
    resume(id, call)
  }

  /// Half-closes stream `id` once what was sent is taken (I/O thread only).
  public func finish(_ id: Int32) {
    guard let call = calls[id], !call.finished else { return }
    call.finished = true
    resume(id, call)
  }

  private func resume(_ id: Int32, _ call: Call) {
    loop.touch(self)
    guard call.deferred else { return }
    call.deferred = false
    nghttp2_session_resume_data(session, id)
  }

  /// Finishes the calls in flight (failing them if the server does not answer within
  /// `graceSeconds`), then ends the connection. Not from the loop's thread (it waits for it).
  public func close(graceSeconds: Double = 10) {
    submitted.withLock { $0.closing = true }
    loop.wake(self)
    let deadline = ContinuousClock.now + .milliseconds(Int(graceSeconds * 1000))
    while !stopped.withLock({ $0 }) && ContinuousClock.now < deadline { usleep(1_000) }
    running.store(false, ordering: .releasing)
    loop.wake(self)
    while !stopped.withLock({ $0 }) { usleep(1_000) }
  }

  /// A gRPC message: 1 byte uncompressed flag, 4 bytes big-endian length, the bytes.
  static func frame(_ message: [UInt8]) -> [UInt8] {
    var body = [UInt8](repeating: 0, count: 5)
    let length = UInt32(message.count)
    body[1] = UInt8(length >> 24)
    body[2] = UInt8(length >> 16 & 0xFF)
    body[3] = UInt8(length >> 8 & 0xFF)
    body[4] = UInt8(length & 0xFF)
    return body + message
  }

  // MARK: - On the loop's thread

  /// Takes what other threads handed over: new calls and streams, a ticker, the close.
  func serveInbox() {
    let inbox = submitted.withLock { inbox -> Inbox in
      defer {
        inbox.requests.removeAll(keepingCapacity: true)
        inbox.ticker = nil
      }
      return inbox
    }
    guard phase != .ended else { return }
    if inbox.closing {
      phase = .closing
      tickDue = nil
    }
    if let newTicker = inbox.ticker, phase == .open {
      ticker = newTicker
      tickDue = .now
    }
    for request in inbox.requests { submit(request) }
  }

  /// Runs the ticker (it is due).
  func tick() {
    guard phase == .open, let ticker else { return }
    tickDue = ticker()
  }

  /// Whether the loop should detach the connection: closing with nothing in flight, out of
  /// grace, or failed.
  var isDone: Bool {
    phase == .ended || (phase == .closing && calls.isEmpty) || !running.load(ordering: .acquiring)
  }

  /// Reads what the socket holds into the session (edge-triggered: until it would block, or a
  /// short read; `toTheEnd` when the peer has closed: until the end of the stream).
  func readAvailable(into input: inout [UInt8], toTheEnd: Bool) {
    guard phase != .ended else { return }
    while true {
      let count = input.withUnsafeMutableBytes { Glibc.read(socket, $0.baseAddress, $0.count) }
      if count > 0 {
        let consumed = input.withUnsafeBytes { nghttp2_session_mem_recv(session, $0.baseAddress, count) }
        if consumed < 0 {
          phase = .ended
          return
        }
        // A short read emptied the socket: bytes arriving later raise a new edge. (After a
        // hang-up no edge will come: read on to the end of the stream.)
        if count < input.count && !toTheEnd { return }
        continue
      }
      if count < 0 && errno == EINTR { continue }
      if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { phase = .ended }
      return
    }
  }

  /// Writes what the session has to send, until done or the socket would block (the loop is
  /// told when it has room again). A failed socket ends the connection.
  func flush() {
    guard phase != .ended else { return }
    while true {
      if !outbound.isEmpty {
        let written = outbound.withUnsafeBytes { Glibc.write(socket, $0.baseAddress, $0.count) }
        if written > 0 {
          outbound.removeFirst(written)
          continue
        }
        if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        phase = .ended
        return
      }
      var data: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(session, &data)
      if count < 0 { phase = .ended }
      if count <= 0 { return }
      outbound.append(contentsOf: UnsafeBufferPointer(start: data, count: count))
    }
  }

  /// Ends the connection (the loop has detached it): fails the calls in flight with `reason`
  /// and whatever was submitted but never sent, and lets ``close(graceSeconds:)`` return.
  func stop(reason: String) {
    phase = .ended
    tickDue = nil
    ticker = nil
    let inFlight = calls
    calls.removeAll()
    for (_, call) in inFlight { call.completion(-1, reason, []) }
    let unsent = submitted.withLock { inbox -> [Request] in
      inbox.ioStopped = true
      defer { inbox.requests.removeAll() }
      return inbox.requests
    }
    for request in unsent { request.completion(-1, "the connection closed before the call was sent", []) }
    stopped.withLock { $0 = true }
  }

  private func submit(_ request: Request) {
    guard phase != .ended else {
      request.completion(-1, "the connection closed before the call was sent", [])
      return
    }
    let call = Call(
      body: request.body, finished: request.onMessage == nil, onMessage: request.onMessage, completion: request.completion)
    var provider = nghttp2_data_provider(
      source: nghttp2_data_source(ptr: nil), read_callback: NGHTTP2ClientCallbacks.readRequestBody)
    let headers: [(String, String)] = [
      (":method", "POST"), (":scheme", "http"), (":path", request.path), (":authority", authority),
      ("content-type", "application/grpc"), ("te", "trailers"),
    ]
    let streamID = Self.withHeaders(headers) { fields in
      nghttp2_submit_request(session, nil, fields.baseAddress, fields.count, &provider, nil)
    }
    guard streamID > 0 else {
      call.completion(-1, "cannot submit the request (nghttp2 error \(streamID))", [])
      return
    }
    calls[streamID] = call
    loop.touch(self)
    request.onOpen?(streamID)
  }

  /// Runs `body` with `headers` as nghttp2 name/value pairs pointing into one buffer (nghttp2
  /// copies them while submitting).
  private static func withHeaders<Result>(_ headers: [(String, String)], _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Result) -> Result {
    var bytes: [UInt8] = []
    var spans: [(name: Range<Int>, value: Range<Int>)] = []
    for (name, value) in headers {
      let nameStart = bytes.count
      bytes += name.utf8
      let valueStart = bytes.count
      bytes += value.utf8
      spans.append((nameStart..<valueStart, valueStart..<bytes.count))
    }
    return bytes.withUnsafeMutableBufferPointer { buffer in
      withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: spans.count) { fields in
        for (index, span) in spans.enumerated() {
          fields[index] = nghttp2_nv(
            name: buffer.baseAddress! + span.name.lowerBound, value: buffer.baseAddress! + span.value.lowerBound,
            namelen: span.name.count, valuelen: span.value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        return body(fields)
      }
    }
  }

  // MARK: - Called by NGHTTP2ClientCallbacks on the I/O thread

  func call(_ streamID: Int32) -> Call? { calls[streamID] }

  func responseHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    guard let call = calls[streamID] else { return }
    if name.elementsEqual("grpc-status".utf8) {
      call.status = Int(String(decoding: value, as: UTF8.self)) ?? -1
    } else if name.elementsEqual("grpc-message".utf8) {
      call.message = String(decoding: value, as: UTF8.self)
    }
  }

  func responseData(streamID: Int32, _ bytes: UnsafeRawBufferPointer) {
    guard let call = calls[streamID] else { return }
    call.response.append(contentsOf: bytes)
    guard let onMessage = call.onMessage else { return }
    // A stream: hand over every complete message (5-byte prefix: flag, big-endian length).
    var start = 0
    while call.response.count - start >= 5 {
      let length =
        Int(call.response[start + 1]) << 24 | Int(call.response[start + 2]) << 16 | Int(call.response[start + 3]) << 8
        | Int(call.response[start + 4])
      guard call.response.count - start - 5 >= length else { break }
      onMessage(Array(call.response[(start + 5)..<(start + 5 + length)]))
      start += 5 + length
    }
    if start > 0 { call.response.removeFirst(start) }
  }

  func streamClosed(streamID: Int32, errorCode: UInt32) {
    guard let call = calls.removeValue(forKey: streamID) else { return }
    let message = errorCode != 0 && call.status < 0 ? "stream reset (HTTP/2 error \(errorCode))" : call.message
    let payload = call.onMessage == nil && call.response.count >= 5 ? Array(call.response[5...]) : []
    call.completion(call.status, message, payload)
  }
}
