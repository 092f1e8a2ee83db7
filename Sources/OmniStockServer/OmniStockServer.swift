public import GRPCNGHTTP2
public import Logging
public import NIOCore
public import ServiceLifecycle
public import StockIndex
public import WriteAheadLog

#if canImport(Glibc)
import Glibc
#endif
import OmniStockAPI

/// The OmniStock server: the gRPC services wired to the stock index, as a `Service` for
/// swift-service-lifecycle.
///
/// ## Lifecycle
/// ``run()`` starts listening (if ``start()`` was not called first) and serves until graceful
/// shutdown is triggered (SIGTERM/SIGINT through a `ServiceGroup`, or task cancellation); then
/// health turns `NOT_SERVING`, the listener closes, every connection gets GOAWAY, calls in flight
/// finish, and `run()` returns. Tests build it with port 0 and call ``start()`` to learn the port.
public final class OmniStockServer: Service, Sendable {
  /// What the server needs to start.
  public struct Configuration: Sendable {
    /// Listening address and gRPC limits.
    public var grpc: GRPCServer.Configuration
    /// Where the server keeps its data (created if missing); the log lives in `wal/` inside it.
    public var dataDirectory: String
    /// Cut the log at corrupted acknowledged data instead of refusing to start.
    public var repairLog: Bool
    /// Log segment size in bytes.
    public var logSegmentBytes: Int
    /// Positions plus group totals the index should hold without growing its key tables (0: grow
    /// as needed).
    public var expectedSlots: Int

    public init(
      grpc: GRPCServer.Configuration = .init(), dataDirectory: String = "./omnistock-data", repairLog: Bool = false,
      logSegmentBytes: Int = 64 << 20, expectedSlots: Int = 0
    ) {
      self.expectedSlots = expectedSlots
      self.grpc = grpc
      self.dataDirectory = dataDirectory
      self.repairLog = repairLog
      self.logSegmentBytes = logSegmentBytes
    }
  }

  public let configuration: Configuration
  public let index: StockIndex
  public let directory: LocationDirectory
  public let health: HealthStatusBoard
  public let log: WriteAheadLog
  private let grpcServer: GRPCServer
  private let dataDirectory: DataDirectory
  private let logger: Logger
  private let onListening: (@Sendable (SocketAddress) -> Void)?

  /// Builds every part of the server and recovers its state from the log (replaying every
  /// record); nothing listens until ``start()`` or ``run()``.
  ///
  /// - Parameter onLogFailure: called once if the log fails (a write or sync error); the server
  ///   cannot continue and must exit so that a restart recovers from the log. The default logs
  ///   the failure and exits the process with status 70.
  /// - Parameter onListening: called once by ``run()`` when the socket is bound, before any call
  ///   is served (the executable prints the address from it). Because ``run()`` is started by the
  ///   `ServiceGroup` after it has installed its signal handlers, a SIGTERM that follows this
  ///   callback is always a graceful shutdown.
  public init(
    configuration: Configuration, logger: Logger = Logger(label: "omnistock"),
    onListening: (@Sendable (SocketAddress) -> Void)? = nil,
    onLogFailure: (@Sendable (LogFailure) -> Void)? = nil
  ) throws {
    self.configuration = configuration
    self.logger = logger
    self.onListening = onListening
    self.dataDirectory = try DataDirectory(path: configuration.dataDirectory)
    let index = StockIndex(
      configuration: configuration.expectedSlots > 0 ? .init(expectedSlots: configuration.expectedSlots) : .init())
    let directory = LocationDirectory(index: index)
    let health = HealthStatusBoard(services: OmniStockMethods.serviceNames)
    self.index = index
    self.directory = directory
    self.health = health
    logger.info("recovering from the write-ahead log", metadata: ["directory": "\(configuration.dataDirectory)/wal"])
    let started = ContinuousClock.now
    let failureHandler = onLogFailure ?? { [logger] failure in
      logger.critical("write-ahead log failed; stopping so that a restart recovers from the log", metadata: ["error": "\(failure)"])
      exit(70)
    }
    let (log, recovery) = try WriteAheadLog.open(
      .init(
        directory: configuration.dataDirectory + "/wal", segmentBytes: configuration.logSegmentBytes,
        repair: configuration.repairLog),
      onFailure: failureHandler
    ) { record in
      try LogReplay.apply(record, index: index, directory: directory)
    }
    self.log = log
    if let truncation = recovery.truncation { logger.warning("write-ahead log: \(truncation)") }
    logger.info(
      "recovered",
      metadata: [
        "records": "\(recovery.records)", "lastLSN": "\(recovery.lastLSN)", "segments": "\(recovery.segments.count)",
        "positions": "\(index.statistics().slots)", "seconds": "\(ContinuousClock.now - started)",
      ])
    self.grpcServer = GRPCServer(
      configuration: configuration.grpc,
      router: Self.router(writer: StockWriter(index: index, log: log), directory: directory, health: health),
      logger: logger)
  }

  /// The router with every method of the contract.
  public static func router(writer: StockWriter, directory: LocationDirectory, health: HealthStatusBoard) -> RPCRouter {
    var router = RPCRouter()
    AvailabilityService(index: writer.index, directory: directory).register(into: &router)
    IngestService(writer: writer, directory: directory).register(into: &router)
    AdminService(writer: writer, directory: directory).register(into: &router)
    HealthService(board: health).register(into: &router)
    PendingServices.register(into: &router)
    return router
  }

  /// Binds the listening socket. Returns the bound address.
  @discardableResult
  public func start() async throws -> SocketAddress {
    try await grpcServer.start()
  }

  /// Serves until graceful shutdown, then drains and returns.
  public func run() async throws {
    try await withGracefulShutdownHandler {
      if grpcServer.localAddress == nil {
        guard !grpcServer.isStopped else { return }  // shut down before it ever listened
        let address = try await grpcServer.start()
        onListening?(address)
      }
      try await grpcServer.serve()
    } onGracefulShutdown: {
      self.beginGracefulShutdown()
    }
    try await grpcServer.shutdownEventLoops()
    log.close()
    logger.info("omnistock stopped", metadata: ["durableLSN": "\(log.durableLSN)"])
  }

  /// Starts draining: health `NOT_SERVING`, no new connections or calls, in-flight calls finish.
  public func beginGracefulShutdown() {
    logger.info("graceful shutdown: draining connections")
    health.setAll(.notServing)
    health.finishWatchers()
    grpcServer.beginGracefulShutdown()
  }
}
