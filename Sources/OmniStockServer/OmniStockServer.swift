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
  /// This build's version.
  public static let version = "0.1.0"

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
    /// A checkpoint is taken when this much time passed since the last one and something changed
    /// (0: never by time).
    public var checkpointIntervalSeconds: Int
    /// A checkpoint is taken when the log grew by this many bytes since the last one (0: never by
    /// size).
    public var checkpointLogBytes: Int
    /// A network file (JSON, see ``NetworkFile``) whose locations and groups are declared at start
    /// wherever they differ from the stored ones.
    public var locationsFile: String?
    /// Tests only: injected log I/O failures.
    public var logFaults: LogFaultInjector?
    /// Port of the operations HTTP server: Prometheus metrics (`GET /metrics`) and the dashboard
    /// (`GET /`, JSON under `/api/`); 0 picks a free one; `nil` serves neither.
    public var metricsPort: Int?
    /// Address of the operations HTTP server. It has no authentication, so it listens on loopback
    /// unless the operator says otherwise.
    public var metricsHost = "127.0.0.1"
    /// TLS certificate, key and (for mutual TLS) client CA files; `nil`: cleartext HTTP/2.
    public var tls: ServerTLS.Files?
    /// The tokens file (see ``TokensFile``); `nil`: no tokens are checked (loopback only, unless
    /// the operator insists).
    public var tokensFile: String?
    /// Rate limit for tokens whose entry sets none (`nil`: unlimited).
    public var tokenCallsPerSecond: Int?

    public init(
      grpc: GRPCServer.Configuration = .init(), dataDirectory: String = "./omnistock-data", repairLog: Bool = false,
      logSegmentBytes: Int = 64 << 20, expectedSlots: Int = 0, checkpointIntervalSeconds: Int = 300,
      checkpointLogBytes: Int = 128 << 20, locationsFile: String? = nil, metricsPort: Int? = nil
    ) {
      self.metricsPort = metricsPort
      self.expectedSlots = expectedSlots
      self.checkpointIntervalSeconds = checkpointIntervalSeconds
      self.checkpointLogBytes = checkpointLogBytes
      self.locationsFile = locationsFile
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
  public let writer: StockWriter
  public let checkpointer: Checkpointer
  private let grpcServer: GRPCServer
  private let network: Omnistock_Config_V1_LocationNetwork?
  private let dataDirectory: DataDirectory
  private let logger: Logger
  private let onListening: (@Sendable (SocketAddress) -> Void)?
  private let onMetricsListening: (@Sendable (SocketAddress) -> Void)?
  /// The metrics the endpoint serves.
  public let metrics: ServerMetrics
  /// Who may call what, when a tokens file is configured.
  public let accessPolicy: AccessPolicy?
  private let tls: ServerTLS?
  /// The dashboard's JSON API (and its throughput history).
  let dashboard: DashboardAPI

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
    onMetricsListening: (@Sendable (SocketAddress) -> Void)? = nil,
    onLogFailure: (@Sendable (LogFailure) -> Void)? = nil
  ) throws {
    self.onMetricsListening = onMetricsListening
    self.configuration = configuration
    self.logger = logger
    self.onListening = onListening
    logger.info(
      "omnistock starting",
      metadata: [
        "version": "\(Self.version)", "pid": "\(getpid())", "dataDirectory": "\(configuration.dataDirectory)",
        "host": "\(configuration.grpc.host)", "port": "\(configuration.grpc.port)", "threads": "\(configuration.grpc.threads)",
      ])
    self.network = try configuration.locationsFile.map { path throws(NetworkFileError) in try NetworkFile.load(path: path) }
    self.tls = try configuration.tls.map { try ServerTLS(files: $0) }
    self.accessPolicy = try configuration.tokensFile.map { path throws(TokensFileError) in
      AccessPolicy(try TokensFile(path: path, defaultCallsPerSecond: configuration.tokenCallsPerSecond))
    }
    self.dataDirectory = try DataDirectory(path: configuration.dataDirectory)
    let index = StockIndex(
      configuration: configuration.expectedSlots > 0 ? .init(expectedSlots: configuration.expectedSlots) : .init())
    let directory = LocationDirectory(index: index)
    let health = HealthStatusBoard(services: OmniStockMethods.serviceNames)
    self.index = index
    self.directory = directory
    self.health = health
    let checkpointDirectory = configuration.dataDirectory + "/checkpoints"
    let started = ContinuousClock.now
    var restored: CheckpointRestore.Restored?
    for candidate in try CheckpointReader.checkpoints(in: checkpointDirectory) {
      let checkpoint: CheckpointReader
      do {
        checkpoint = try CheckpointReader(path: candidate.path)
      } catch {
        logger.error(
          "checkpoint unusable, set aside as .damaged; trying an older one",
          metadata: ["file": "\(candidate.path)", "error": "\(error)"])
        try CheckpointWriter.setAside(candidate.path)
        continue
      }
      logger.info("restoring checkpoint", metadata: ["file": "\(candidate.path)"])
      restored = try CheckpointRestore.restore(checkpoint, index: index, directory: directory)
      break
    }
    var state = restored?.state ?? EngineState()
    let stateLSN = restored?.summary.lsn ?? 0
    var replay = LogReplay(index: index, directory: directory, stateLSN: stateLSN)
    logger.info(
      "recovering from the write-ahead log",
      metadata: [
        "directory": "\(configuration.dataDirectory)/wal", "checkpointLSN": "\(stateLSN)",
        "positions": "\(restored?.summary.positions ?? 0)",
      ])
    let failureHandler = onLogFailure ?? { [logger] failure in
      logger.critical("write-ahead log failed; stopping so that a restart recovers from the log", metadata: ["error": "\(failure)"])
      exit(70)
    }
    let (log, recovery) = try WriteAheadLog.open(
      .init(
        directory: configuration.dataDirectory + "/wal", segmentBytes: configuration.logSegmentBytes,
        maxPayloadBytes: min(16 << 20, configuration.logSegmentBytes / 2), repair: configuration.repairLog,
        faults: configuration.logFaults),
      afterLSN: (restored?.summary.replayFrom ?? 1) - 1, requiredThrough: stateLSN,
      onFailure: failureHandler
    ) { record in
      try replay.apply(record, state: &state)
    }
    replay.finish()
    for dropped in replay.droppedParts {
      logger.warning(
        "dropped an incomplete multi-record change (never acknowledged)",
        metadata: ["firstLSN": "\(dropped.lsn)", "partsFound": "\(dropped.count)"])
    }
    index.endRecovery()
    self.log = log
    if let truncation = recovery.truncation { logger.warning("write-ahead log: \(truncation)") }
    logger.info(
      "recovered",
      metadata: [
        "records": "\(recovery.records)", "lastLSN": "\(recovery.lastLSN)", "segments": "\(recovery.segments.count)",
        "positions": "\(index.statistics().slots)", "seconds": "\(ContinuousClock.now - started)",
      ])
    let writer = StockWriter(index: index, log: log, state: state)
    self.writer = writer
    self.checkpointer = Checkpointer(
      writer: writer, directory: directory, path: checkpointDirectory, last: restored?.summary)
    let metrics = ServerMetrics(writer: writer, directory: directory, checkpointer: checkpointer)
    self.metrics = metrics
    let startedAtUnixMs = WallClock.nowUnixMs()
    let router = Self.router(
      writer: writer, directory: directory, health: health, checkpointer: checkpointer, startedAtUnixMs: startedAtUnixMs)
    let dashboard = DashboardAPI(
      writer: writer, directory: directory, checkpointer: checkpointer, startedAtUnixMs: startedAtUnixMs, methods: router.methods)
    self.dashboard = dashboard
    var grpc = configuration.grpc
    if configuration.metricsPort != nil {
      grpc.observer = CallObserverGroup([metrics.requestObserver(methods: router.methods), dashboard.sampler.recorder])
    }
    grpc.authorizer = accessPolicy
    grpc.tls = tls
    self.grpcServer = GRPCServer(configuration: grpc, router: router, logger: logger)
    metrics.observe(grpcServer, access: accessPolicy)
  }

  /// The router with every method of the contract.
  public static func router(
    writer: StockWriter, directory: LocationDirectory, health: HealthStatusBoard, checkpointer: Checkpointer,
    startedAtUnixMs: Int64
  ) -> RPCRouter {
    var router = RPCRouter()
    AvailabilityService(writer: writer, directory: directory).register(into: &router)
    IngestService(writer: writer, directory: directory).register(into: &router)
    AdminService(writer: writer, directory: directory, checkpointer: checkpointer, startedAtUnixMs: startedAtUnixMs)
      .register(into: &router)
    HealthService(board: health).register(into: &router)
    ReservationsService(writer: writer, directory: directory).register(into: &router)
    return router
  }

  /// Binds the listening socket. Returns the bound address.
  @discardableResult
  public func start() async throws -> SocketAddress {
    try await grpcServer.start()
  }

  /// Serves until graceful shutdown, then drains and returns.
  ///
  /// The parts run as services of one `ServiceGroup`, in this order: the write-ahead log, the
  /// checkpoint schedule, reservation expiry, the access-denial summary, the dashboard's sampler,
  /// the metrics and dashboard HTTP server, the gRPC server. Graceful shutdown goes the other way, each part finishing before the next is
  /// told: gRPC drains first (calls in flight complete, their writes acknowledged once durable),
  /// and the log closes last.
  public func run() async throws {
    logger.info(
      "security",
      metadata: [
        "tls": "\(tls == nil ? "off (cleartext HTTP/2)" : configuration.tls?.clientCA == nil ? "on" : "on, client certificates required")",
        "tokens": "\(accessPolicy.map { "\($0.count) from \(configuration.tokensFile ?? "")" } ?? "off: every caller may call everything")",
      ])
    let schedule = CheckpointSchedule(
      checkpointer: checkpointer, intervalSeconds: configuration.checkpointIntervalSeconds,
      logBytes: configuration.checkpointLogBytes, logger: logger)
    var services: [any Service] = [
      WriteAheadLogService(log: log, logger: logger),
      BackgroundTaskService("checkpoint schedule") { await schedule.run() },
      BackgroundTaskService("reservation expiry") { [writer] in await ReservationExpiry(writer: writer).run() },
    ]
    if let accessPolicy {
      services.append(BackgroundTaskService("access denial summary") { [logger] in
        await AccessDenialReport(policy: accessPolicy, logger: logger).run()
      })
    }
    if let port = configuration.metricsPort {
      services.append(BackgroundTaskService("dashboard throughput sampler") { [dashboard] in await dashboard.sampler.run() })
      // Bound before the group starts, so that its address is reported before the gRPC server's.
      let server = try await OperationsHTTPServer(host: configuration.metricsHost, port: port, routes: operationsRoutes())
      if let address = server.localAddress {
        logger.info("metrics and dashboard listening", metadata: ["address": "\(address)"])
        onMetricsListening?(address)
      }
      services.append(OperationsHTTPService(server: server))
    }
    services.append(
      GRPCService(
        server: grpcServer, prepare: { try await self.declareNetworkFile() }, onListening: onListening,
        beginDraining: { self.beginGracefulShutdown() }))
    let group = ServiceGroup(
      configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    try await group.run()
    logger.info("omnistock stopped", metadata: ["durableLSN": "\(log.durableLSN)"])
  }

  /// Declares the `--locations` file's locations and groups where they differ from the stored ones.
  private func declareNetworkFile() async throws {
    guard let network, let file = configuration.locationsFile else { return }
    let written = try await NetworkDeclaration.declare(network, writer: writer, directory: directory)
    logger.info(
      "network file declared",
      metadata: [
        "file": "\(file)", "locations": "\(network.locations.count)", "groups": "\(network.groups.count)",
        "locationsChanged": "\(written.locations)", "groupsChanged": "\(written.groups)",
      ])
  }

  /// Releases a server that was built but never run (its event loops and log); for tools and
  /// tests that use the recovered state in-process.
  public func close() async throws {
    try await grpcServer.shutdownEventLoops()
    log.close()
    dataDirectory.release()
  }

  /// Reads the TLS files and the tokens file again (SIGHUP). New connections get the new
  /// certificate, new calls the new tokens; open connections are not dropped. A file that fails to
  /// load changes nothing of its own kind, and the error is logged.
  public func reloadSecurity() {
    if let tls {
      do {
        try tls.reload()
        logger.info("TLS certificate reloaded", metadata: ["certificate": "\(tls.files.certificateChain)"])
      } catch {
        logger.error("TLS reload failed; still serving the previous certificate", metadata: ["error": "\(error)"])
      }
    }
    if let accessPolicy, let path = configuration.tokensFile {
      do {
        accessPolicy.replace(with: try TokensFile(path: path, defaultCallsPerSecond: configuration.tokenCallsPerSecond))
        logger.info("tokens reloaded", metadata: ["file": "\(path)", "tokens": "\(accessPolicy.count)"])
      } catch {
        logger.error("tokens reload failed; still serving the previous tokens", metadata: ["error": "\(error)"])
      }
    }
  }

  /// Starts draining: health `NOT_SERVING`, no new connections or calls, in-flight calls finish.
  public func beginGracefulShutdown() {
    logger.info("graceful shutdown: draining connections")
    health.setAll(.notServing)
    health.finishWatchers()
    writer.watches.finishAll()
    grpcServer.beginGracefulShutdown()
  }
}
