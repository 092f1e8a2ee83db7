public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A gRPC server over HTTP/2 (cleartext with prior knowledge, or TLS with ALPN `h2`), built on
/// libnghttp2 and SwiftNIO (and NIOSSL for TLS).
///
/// It serves the methods of an ``RPCRouter``: unary handlers run on the connection's event loop,
/// streaming handlers in their own tasks (see ``RPCHandler``).
///
/// ## Lifecycle
/// ```
/// idle ──start()──► running ──beginGracefulShutdown()──► draining ──(connections closed)──► stopped
/// ```
/// - ``start()`` binds and returns the bound address (port 0 picks a free one).
/// - ``serve()`` starts if needed and returns once the server has stopped.
/// - ``beginGracefulShutdown()`` stops accepting connections, sends GOAWAY on every connection so
///   clients start no new calls there, lets calls in flight finish, and force-closes whatever is
///   left after ``Configuration/gracefulShutdownTimeout``.
///
/// ## Example
/// ```swift
/// var router = RPCRouter()
/// router.register(RPCMethod(service: "echo.Echo", method: "Get"), .unary { request, _, responder in
///   responder.respond(with: Array(request.readableBytesView))
/// })
/// let server = GRPCServer(configuration: .init(host: "127.0.0.1", port: 0), router: router)
/// let address = try await server.start()
/// ```
public final class GRPCServer: Sendable {
  /// Listening address, threads and per-connection limits.
  public struct Configuration: Sendable {
    /// The address to listen on. Defaults to loopback only.
    public var host: String
    /// The TCP port; 0 picks a free port (see ``GRPCServer/start()``'s result).
    public var port: Int
    /// Event-loop threads; each connection lives on one.
    public var threads: Int
    /// The largest request message accepted (`RESOURCE_EXHAUSTED` beyond it). Default 4 MiB.
    public var maxReceiveMessageBytes: Int
    /// SETTINGS_MAX_CONCURRENT_STREAMS: calls in flight per connection. Default 256.
    public var maxConcurrentStreams: UInt32
    /// SETTINGS_INITIAL_WINDOW_SIZE: flow-control window per stream. Default 1 MiB.
    public var initialStreamWindowBytes: UInt32
    /// Flow-control window for a whole connection. Default 16 MiB.
    public var connectionWindowBytes: UInt32
    /// SETTINGS_MAX_HEADER_LIST_SIZE. Default 16 KiB.
    public var maxHeaderListBytes: UInt32
    /// How long a graceful shutdown waits for calls in flight before closing connections.
    public var gracefulShutdownTimeout: Duration
    /// Told about every call the server ends (metrics), if set.
    public var observer: (any CallObserver)?
    /// Decides whether each call may start (tokens, roles), if set.
    public var authorizer: (any CallAuthorizer)?
    /// TLS (HTTP/2 over TLS, ALPN `h2`), if set; otherwise cleartext HTTP/2 with prior knowledge.
    public var tls: ServerTLS?
    /// Open connections at most; one more is sent GOAWAY (ENHANCE_YOUR_CALM, "too many
    /// connections") and closed. Default 10,000.
    public var maxConnections: Int
    /// A connection with no call in flight for this long is sent GOAWAY and closed; `nil` never.
    /// Default 5 minutes.
    public var idleTimeout: Duration?
    /// A request whose headers, or (for a unary call) whose one message, have not fully arrived
    /// this long after its first byte ends with `CANCELLED`: a client trickling bytes cannot hold
    /// a stream slot forever. Streaming calls, once their headers are in, are not limited.
    /// Default 30 s; `nil` never.
    public var requestReadTimeout: Duration?
    /// Calls a connection may start per second (bursts up to one second's worth); beyond it calls
    /// end with `RESOURCE_EXHAUSTED`. `nil` (default): no limit.
    public var maxCallsPerSecondPerConnection: Int?
    /// RST_STREAM frames a client may send: a burst, then this many per second; beyond it the
    /// connection is closed (the HTTP/2 "rapid reset" attack). Defaults 1,000 and 100.
    public var resetStreamBurst: UInt64
    public var resetStreamsPerSecond: UInt64

    /// Creates a configuration; every limit has a production default.
    public init(
      host: String = "127.0.0.1",
      port: Int = 8980,
      threads: Int = System.coreCount,
      maxReceiveMessageBytes: Int = 4 * 1024 * 1024,
      maxConcurrentStreams: UInt32 = 256,
      initialStreamWindowBytes: UInt32 = 1024 * 1024,
      connectionWindowBytes: UInt32 = 16 * 1024 * 1024,
      maxHeaderListBytes: UInt32 = 16 * 1024,
      gracefulShutdownTimeout: Duration = .seconds(30)
    ) {
      self.host = host
      self.port = port
      self.threads = threads
      self.maxReceiveMessageBytes = maxReceiveMessageBytes
      self.maxConcurrentStreams = maxConcurrentStreams
      self.initialStreamWindowBytes = initialStreamWindowBytes
      self.connectionWindowBytes = connectionWindowBytes
      self.maxHeaderListBytes = maxHeaderListBytes
      self.gracefulShutdownTimeout = gracefulShutdownTimeout
      self.maxConnections = 10_000
      self.idleTimeout = .seconds(300)
      self.requestReadTimeout = .seconds(30)
      self.resetStreamBurst = 1_000
      self.resetStreamsPerSecond = 100
    }
  }

  /// Sent down each connection's pipeline to start its graceful shutdown.
  struct GracefulShutdownEvent {}

  /// The server's life (see the type's documentation).
  enum State {
    case idle
    case running(listener: any Channel, connections: [ObjectIdentifier: any Channel])
    case draining(connections: [ObjectIdentifier: any Channel])
    case stopped
  }

  public let configuration: Configuration
  private let router: RPCRouter
  private let logger: Logger
  private let group: MultiThreadedEventLoopGroup
  private let state = Mutex(State.idle)
  private let stoppedSignal: EventLoopPromise<Void>
  /// Whether `stoppedSignal` was completed: completing it again after the event loops shut down
  /// would make NIO schedule on a dead loop.
  private let stoppedSignalled = Atomic(false)
  private let refused = Atomic<Int>(0)

  /// Creates a server; nothing is bound until ``start()``.
  public init(configuration: Configuration, router: RPCRouter, logger: Logger = Logger(label: "omnistock.grpc")) {
    self.configuration = configuration
    self.router = router
    self.logger = logger
    self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
    self.stoppedSignal = group.next().makePromise(of: Void.self)
  }

  deinit {
    // A server dropped without serving (e.g. its owner failed to start) still completes the
    // promise, which NIO otherwise reports as leaked.
    signalStopped()
  }

  /// Binds the listening socket and starts accepting connections.
  /// - Returns: the bound address (useful with port 0).
  @discardableResult
  public func start() async throws -> SocketAddress {
    let router = self.router
    let configuration = self.configuration
    let logger = self.logger
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 1024)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(.maxMessagesPerRead, value: 16)
      .childChannelInitializer { [weak self] channel in
        channel.eventLoop.makeCompletedFuture {
          guard let self, let admission = self.track(channel) else {
            channel.close(promise: nil)
            return
          }
          if let tls = configuration.tls {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
          }
          let handler = ServerConnectionHandler(router: router, configuration: configuration, logger: logger)
          if admission == .overLimit { handler.refuse("too many connections (this server takes \(configuration.maxConnections))") }
          try channel.pipeline.syncOperations.addHandler(handler)
        }
      }
    let listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
    let accepted = state.withLock { state -> Bool in
      guard case .idle = state else { return false }
      state = .running(listener: listener, connections: [:])
      return true
    }
    guard accepted else {
      try? await listener.close()
      throw GRPCStatus(.failedPrecondition, "the server was already started or stopped")
    }
    guard let address = listener.localAddress else {
      throw GRPCStatus(.internal, "the listening socket has no local address")
    }
    logger.info("gRPC server listening", metadata: ["address": "\(address)"])
    return address
  }

  /// Starts (if not started) and waits until the server has stopped.
  public func serve() async throws {
    let needsStart = state.withLock { if case .idle = $0 { true } else { false } }
    if needsStart { try await start() }
    try await stoppedSignal.futureResult.get()
  }

  /// The bound address while running.
  public var localAddress: SocketAddress? {
    state.withLock { state in
      if case .running(let listener, _) = state { listener.localAddress } else { nil }
    }
  }

  /// Open connections now (including ones being turned away), and connections turned away
  /// since start because of ``Configuration/maxConnections``.
  public var connectionCounts: (open: Int, refused: Int) {
    let open = state.withLock { state -> Int in
      switch state {
      case .running(_, let connections), .draining(let connections): connections.count
      default: 0
      }
    }
    return (open, refused.load(ordering: .relaxed))
  }

  /// Whether the server has stopped (or was shut down before it started).
  public var isStopped: Bool {
    state.withLock { if case .stopped = $0 { true } else { false } }
  }

  /// Stops accepting, drains connections (GOAWAY, in-flight calls finish), then stops.
  public func beginGracefulShutdown() {
    let toDrain: (listener: (any Channel)?, connections: [any Channel])? = state.withLock { state in
      switch state {
      case .idle:
        state = .stopped
        return (nil, [])
      case .running(let listener, let connections):
        state = .draining(connections: connections)
        return (listener, Array(connections.values))
      case .draining, .stopped:
        return nil
      }
    }
    guard let toDrain else { return }
    toDrain.listener?.close(promise: nil)
    for channel in toDrain.connections {
      channel.triggerUserOutboundEvent(GracefulShutdownEvent(), promise: nil)
    }
    let timeout = TimeAmount.nanoseconds(
      Int64(configuration.gracefulShutdownTimeout.components.seconds) * 1_000_000_000
        + configuration.gracefulShutdownTimeout.components.attoseconds / 1_000_000_000)
    group.next().scheduleTask(in: timeout) { [weak self] in self?.forceClose() }
    checkStopped()
  }

  /// Stops the event loops. Call after ``serve()`` returned; the server cannot be restarted.
  public func shutdownEventLoops() async throws {
    signalStopped()  // a server that never served never completed it
    try await group.shutdownGracefully()
  }

  /// How a new connection is let in.
  enum Admission {
    case admitted
    /// Over ``Configuration/maxConnections``: told why, then closed.
    case overLimit
  }

  /// Records a new connection; `nil` if the server is no longer running (close it).
  private func track(_ channel: any Channel) -> Admission? {
    let id = ObjectIdentifier(channel)
    let admission = state.withLock { state -> Admission? in
      switch state {
      case .running(let listener, var connections):
        let admission: Admission = connections.count >= configuration.maxConnections ? .overLimit : .admitted
        if admission == .overLimit { refused.add(1, ordering: .relaxed) }
        connections[id] = channel
        state = .running(listener: listener, connections: connections)
        return admission
      default:
        return nil
      }
    }
    guard admission != nil else { return nil }
    channel.closeFuture.whenComplete { [weak self] _ in self?.untrack(id) }
    return admission
  }

  private func untrack(_ id: ObjectIdentifier) {
    state.withLock { state in
      switch state {
      case .running(let listener, var connections):
        connections[id] = nil
        state = .running(listener: listener, connections: connections)
      case .draining(var connections):
        connections[id] = nil
        state = .draining(connections: connections)
      default:
        break
      }
    }
    checkStopped()
  }

  private func checkStopped() {
    let stopped = state.withLock { state -> Bool in
      switch state {
      case .draining(let connections) where connections.isEmpty:
        state = .stopped
        return true
      case .stopped:
        return true
      default:
        return false
      }
    }
    if stopped { signalStopped() }
  }

  /// Completes `stoppedSignal` once.
  private func signalStopped() {
    guard !stoppedSignalled.exchange(true, ordering: .acquiringAndReleasing) else { return }
    stoppedSignal.succeed(())
  }

  private func forceClose() {
    let remaining = state.withLock { state -> [any Channel] in
      if case .draining(let connections) = state { Array(connections.values) } else { [] }
    }
    if !remaining.isEmpty {
      logger.warning(
        "graceful shutdown timed out; closing connections with calls still in flight",
        metadata: ["connections": "\(remaining.count)"])
    }
    for channel in remaining { channel.close(promise: nil) }
  }
}
