public import GRPCNGHTTP2
public import Logging
public import NIOCore
public import ServiceLifecycle
public import StockIndex
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
    /// Where the server keeps its data (created if missing).
    public var dataDirectory: String

    public init(grpc: GRPCServer.Configuration = .init(), dataDirectory: String = "./omnistock-data") {
      self.grpc = grpc
      self.dataDirectory = dataDirectory
    }
  }

  public let configuration: Configuration
  public let index: StockIndex
  public let directory: LocationDirectory
  public let health: HealthStatusBoard
  private let grpcServer: GRPCServer
  private let dataDirectory: DataDirectory
  private let logger: Logger
  private let onListening: (@Sendable (SocketAddress) -> Void)?

  /// Builds every part of the server; nothing listens until ``start()`` or ``run()``.
  ///
  /// - Parameter onListening: called once by ``run()`` when the socket is bound, before any call
  ///   is served (the executable prints the address from it). Because ``run()`` is started by the
  ///   `ServiceGroup` after it has installed its signal handlers, a SIGTERM that follows this
  ///   callback is always a graceful shutdown.
  public init(
    configuration: Configuration, logger: Logger = Logger(label: "omnistock"),
    onListening: (@Sendable (SocketAddress) -> Void)? = nil
  ) throws {
    self.configuration = configuration
    self.logger = logger
    self.onListening = onListening
    self.dataDirectory = try DataDirectory(path: configuration.dataDirectory)
    let index = StockIndex()
    let directory = LocationDirectory(index: index)
    let health = HealthStatusBoard(services: OmniStockMethods.serviceNames)
    self.index = index
    self.directory = directory
    self.health = health
    self.grpcServer = GRPCServer(
      configuration: configuration.grpc, router: Self.router(index: index, directory: directory, health: health),
      logger: logger)
  }

  /// The router with every method of the contract.
  public static func router(index: StockIndex, directory: LocationDirectory, health: HealthStatusBoard) -> RPCRouter {
    var router = RPCRouter()
    let writer = StockWriter(index: index)
    AvailabilityService(index: index, directory: directory).register(into: &router)
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
    logger.info("omnistock stopped")
  }

  /// Starts draining: health `NOT_SERVING`, no new connections or calls, in-flight calls finish.
  public func beginGracefulShutdown() {
    logger.info("graceful shutdown: draining connections")
    health.setAll(.notServing)
    health.finishWatchers()
    grpcServer.beginGracefulShutdown()
  }
}
