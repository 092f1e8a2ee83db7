import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import GRPCNGHTTP2
import Logging
import NIOCore
import OmniStockServer
import ServiceLifecycle
import UnixSignals
import WriteAheadLog

/// `omnistock serve`: runs the server until SIGTERM or SIGINT, then shuts down gracefully.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run the OmniStock gRPC server.",
    discussion: """
      Every flag has an environment-variable equivalent (shown in its help); a flag given on the \
      command line wins. The server prints one line 'omnistock listening on HOST:PORT' on standard \
      output once it accepts connections (with --port 0 that is how to learn the port). SIGTERM or \
      SIGINT stops it gracefully: health turns NOT_SERVING, connections get GOAWAY, calls in flight \
      finish, and it exits 0.
      """
  )

  @Option(help: "Address to listen on (env OMNISTOCK_HOST). Non-loopback addresses need --insecure until authentication exists.")
  var host: String = Environment.string("OMNISTOCK_HOST") ?? "127.0.0.1"

  @Option(help: "TCP port; 0 picks a free one (env OMNISTOCK_PORT).")
  var port: Int = Environment.int("OMNISTOCK_PORT") ?? 8980

  @Option(name: .customLong("data-dir"), help: "Data directory, created if missing (env OMNISTOCK_DATA_DIR).")
  var dataDirectory: String = Environment.string("OMNISTOCK_DATA_DIR") ?? "./omnistock-data"

  @Option(help: "Event-loop threads (env OMNISTOCK_THREADS); default: one per core.")
  var threads: Int = Environment.int("OMNISTOCK_THREADS") ?? System.coreCount

  @Option(
    name: .customLong("max-message-bytes"),
    help: "Largest request message accepted, in bytes (env OMNISTOCK_MAX_MESSAGE_BYTES).")
  var maxMessageBytes: Int = Environment.int("OMNISTOCK_MAX_MESSAGE_BYTES") ?? 4 * 1024 * 1024

  @Option(
    name: .customLong("max-concurrent-streams"),
    help: "Calls in flight per connection (env OMNISTOCK_MAX_CONCURRENT_STREAMS).")
  var maxConcurrentStreams: Int = Environment.int("OMNISTOCK_MAX_CONCURRENT_STREAMS") ?? 256

  @Option(
    name: .customLong("shutdown-grace-seconds"),
    help: "How long graceful shutdown waits for calls in flight (env OMNISTOCK_SHUTDOWN_GRACE_SECONDS).")
  var shutdownGraceSeconds: Int = Environment.int("OMNISTOCK_SHUTDOWN_GRACE_SECONDS") ?? 30

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env OMNISTOCK_LOG_LEVEL).")
  var logLevel: String = Environment.string("OMNISTOCK_LOG_LEVEL") ?? "info"

  @Option(
    name: .customLong("expected-positions"),
    help: """
      Positions (SKU x location, plus SKU x group totals) to size the index for, so its tables never grow \
      (saves ~13 bytes a position); 0 grows as needed (env OMNISTOCK_EXPECTED_POSITIONS).
      """)
  var expectedPositions: Int = Environment.int("OMNISTOCK_EXPECTED_POSITIONS") ?? 0

  @Option(
    name: .customLong("locations"),
    help: """
      A network file (JSON: {"locations": [...], "groups": [...]}, see examples/network.json) declared at start: \
      locations and groups that differ from the stored ones are upserted through the log (env OMNISTOCK_LOCATIONS).
      """)
  var locationsFile: String?

  @Option(
    name: .customLong("metrics-port"),
    help: """
      Serve the operations HTTP endpoint on this port of --host: Prometheus metrics (GET /metrics) and the \
      operations dashboard (open http://HOST:PORT/ in a browser); 0 picks a free one; omitted: neither \
      (env OMNISTOCK_METRICS_PORT).
      """)
  var metricsPort: Int?

  @Option(
    name: .customLong("checkpoint-interval-seconds"),
    help: "Take a checkpoint this often when anything changed; 0 never by time (env OMNISTOCK_CHECKPOINT_INTERVAL_SECONDS).")
  var checkpointIntervalSeconds: Int = Environment.int("OMNISTOCK_CHECKPOINT_INTERVAL_SECONDS") ?? 300

  @Option(
    name: .customLong("checkpoint-log-bytes"),
    help: "Take a checkpoint whenever the log grew by this many bytes; 0 never by size (env OMNISTOCK_CHECKPOINT_LOG_BYTES).")
  var checkpointLogBytes: Int = Environment.int("OMNISTOCK_CHECKPOINT_LOG_BYTES") ?? 128 * 1024 * 1024

  @Flag(
    name: .customLong("repair-log"),
    help: """
      If the write-ahead log holds corrupted acknowledged data, cut it there (keeping a copy of what is cut) \
      instead of refusing to start. Data after the damage is lost: use only when the damage is understood \
      (env OMNISTOCK_REPAIR_LOG).
      """)
  var repairLog: Bool = Environment.flag("OMNISTOCK_REPAIR_LOG")

  @Flag(help: "Allow listening on a non-loopback address without authentication (env OMNISTOCK_INSECURE).")
  var insecure: Bool = Environment.flag("OMNISTOCK_INSECURE")

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535, got \(port)") }
    guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    guard maxMessageBytes >= 1024 else { throw ValidationError("--max-message-bytes must be at least 1024") }
    guard (1...1_000_000).contains(maxConcurrentStreams) else {
      throw ValidationError("--max-concurrent-streams must be 1...1000000")
    }
    guard (0...500_000_000).contains(expectedPositions) else {
      throw ValidationError("--expected-positions must be 0...500000000")
    }
    if let metricsPort, !(0...65535).contains(metricsPort) {
      throw ValidationError("--metrics-port must be 0...65535, got \(metricsPort)")
    }
    guard checkpointIntervalSeconds >= 0, checkpointLogBytes >= 0 else {
      throw ValidationError("--checkpoint-interval-seconds and --checkpoint-log-bytes must be >= 0")
    }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
    }
    if !insecure && !Self.isLoopback(host) {
      throw ValidationError(
        "refusing to listen on \(host) without authentication: OmniStock has no tokens configured yet. "
          + "Listen on 127.0.0.1 or pass --insecure if this network is trusted.")
    }
  }

  func run() async throws {
    let level = Logger.Level(rawValue: logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "omnistock")
    let server: OmniStockServer
    do {
      server = try OmniStockServer(
        configuration: .init(
          grpc: .init(
            host: host, port: port, threads: threads, maxReceiveMessageBytes: maxMessageBytes,
            maxConcurrentStreams: UInt32(maxConcurrentStreams),
            gracefulShutdownTimeout: .seconds(shutdownGraceSeconds)),
          dataDirectory: dataDirectory, repairLog: repairLog, expectedSlots: expectedPositions,
          checkpointIntervalSeconds: checkpointIntervalSeconds, checkpointLogBytes: checkpointLogBytes,
          locationsFile: locationsFile ?? Environment.string("OMNISTOCK_LOCATIONS"),
          metricsPort: metricsPort ?? Environment.int("OMNISTOCK_METRICS_PORT")),
        logger: logger,
        onListening: { address in
          // The contract with scripts and tests: one line on stdout once calls are accepted.
          print("omnistock listening on \(address.ipAddress ?? "?"):\(address.port ?? 0)")
          fflush(nil)
        },
        onMetricsListening: { address in
          print("omnistock metrics on \(address.ipAddress ?? "?"):\(address.port ?? 0)")
          fflush(nil)
        })
    } catch {
      // Recovery refused (e.g. log corruption) or the data directory is unusable: say why, plainly.
      logger.critical("cannot start: \(error)")
      if error is LogFailure {
        logger.critical("the repair flag is `omnistock serve --repair-log` (env OMNISTOCK_REPAIR_LOG=1)")
      }
      throw ExitCode(2)
    }
    let group = ServiceGroup(
      configuration: .init(
        services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
  }

  static func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host.hasPrefix("127.")
  }
}
