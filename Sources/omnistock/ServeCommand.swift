import ArgumentParser
import Foundation
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
      finish, and it exits 0. SIGHUP reloads the TLS files and the tokens file without dropping \
      connections.

      Without --tokens every caller may call everything, so the server listens on loopback only \
      unless --insecure is given (and then warns at every start). See the README's "Securing a \
      deployment".
      """
  )

  @Option(help: "Address to listen on (env OMNISTOCK_HOST). A non-loopback address needs --tokens (or --insecure).")
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
      Serve the operations HTTP endpoint on this port of --metrics-host: Prometheus metrics (GET /metrics) and \
      the operations dashboard (open http://HOST:PORT/ in a browser); 0 picks a free one; omitted: neither \
      (env OMNISTOCK_METRICS_PORT).
      """)
  var metricsPort: Int?

  @Option(
    name: .customLong("metrics-host"),
    help: """
      Address of the metrics and dashboard endpoint, which has no authentication: a non-loopback address \
      needs --insecure (env OMNISTOCK_METRICS_HOST).
      """)
  var metricsHost: String = Environment.string("OMNISTOCK_METRICS_HOST") ?? "127.0.0.1"

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

  @Option(
    name: .customLong("config"),
    help: """
      A JSON file of flag names to values, e.g. {"port": 8980, "tokens": "/etc/omnistock/tokens.json"} (env \
      OMNISTOCK_CONFIG). The command line wins over the environment, which wins over the file.
      """)
  var configFile: String?

  @Flag(help: "Allow listening on a non-loopback address without --tokens (env OMNISTOCK_INSECURE).")
  var insecure: Bool = Environment.flag("OMNISTOCK_INSECURE")

  @Option(name: .customLong("tls-cert"), help: "TLS certificate chain, PEM (env OMNISTOCK_TLS_CERT); with --tls-key.")
  var tlsCertificateOption: String?
  var tlsCertificate: String? { tlsCertificateOption ?? Environment.string("OMNISTOCK_TLS_CERT") }

  @Option(name: .customLong("tls-key"), help: "TLS private key, PEM (env OMNISTOCK_TLS_KEY).")
  var tlsKeyOption: String?
  var tlsKey: String? { tlsKeyOption ?? Environment.string("OMNISTOCK_TLS_KEY") }

  @Option(
    name: .customLong("tls-client-ca"),
    help: "Require client certificates signed by these CAs, PEM (mutual TLS; env OMNISTOCK_TLS_CLIENT_CA).")
  var tlsClientCAOption: String?
  var tlsClientCA: String? { tlsClientCAOption ?? Environment.string("OMNISTOCK_TLS_CLIENT_CA") }

  @Option(
    name: .customLong("tokens"),
    help: "Tokens file (JSON; see `omnistock token create`): every call but health checks needs a token (env OMNISTOCK_TOKENS).")
  var tokensFileOption: String?
  var tokensFile: String? { tokensFileOption ?? Environment.string("OMNISTOCK_TOKENS") }

  @Option(
    name: .customLong("token-calls-per-second"),
    help: "Rate limit for tokens whose entry sets none; 0: unlimited (env OMNISTOCK_TOKEN_CALLS_PER_SECOND).")
  var tokenCallsPerSecond: Int = Environment.int("OMNISTOCK_TOKEN_CALLS_PER_SECOND") ?? 0

  @Option(
    name: .customLong("max-connections"),
    help: "Open connections at most; more are sent GOAWAY and closed (env OMNISTOCK_MAX_CONNECTIONS).")
  var maxConnections: Int = Environment.int("OMNISTOCK_MAX_CONNECTIONS") ?? 10_000

  @Option(
    name: .customLong("idle-timeout-seconds"),
    help: "Close connections with no call for this long; 0: never (env OMNISTOCK_IDLE_TIMEOUT_SECONDS).")
  var idleTimeoutSeconds: Int = Environment.int("OMNISTOCK_IDLE_TIMEOUT_SECONDS") ?? 300

  @Option(
    name: .customLong("request-read-timeout-seconds"),
    help: "Cancel a call whose headers or unary request have not fully arrived within this; 0: never (env OMNISTOCK_REQUEST_READ_TIMEOUT_SECONDS).")
  var requestReadTimeoutSeconds: Int = Environment.int("OMNISTOCK_REQUEST_READ_TIMEOUT_SECONDS") ?? 30

  @Option(
    name: .customLong("max-calls-per-second-per-connection"),
    help: "Calls one connection may start per second, beyond which RESOURCE_EXHAUSTED; 0: unlimited (env OMNISTOCK_MAX_CALLS_PER_SECOND_PER_CONNECTION).")
  var maxCallsPerSecondPerConnection: Int = Environment.int("OMNISTOCK_MAX_CALLS_PER_SECOND_PER_CONNECTION") ?? 0

  @Option(
    name: .customLong("max-header-list-bytes"),
    help: "Largest request header list (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE) (env OMNISTOCK_MAX_HEADER_LIST_BYTES).")
  var maxHeaderListBytes: Int = Environment.int("OMNISTOCK_MAX_HEADER_LIST_BYTES") ?? 16 * 1024

  func validate() throws {
    switch ConfigurationFile.current {
    case .failure(let error): throw ValidationError(error.description)
    case .success(let file):
      let unknown = file.unknownKeys(known: Self.flagNames)
      guard unknown.isEmpty else {
        throw ValidationError(
          "configuration file \(file.path): unknown settings \(unknown.joined(separator: ", ")); "
            + "keys are the long flag names of `omnistock serve --help`, without the dashes")
      }
    case nil: break
    }
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
    if tokensFile == nil && !insecure && !Self.isLoopback(host) {
      throw ValidationError(
        "refusing to listen on \(host) without --tokens: anyone who can reach it could change stock. "
          + "Give a tokens file (see `omnistock token create`), listen on 127.0.0.1, or pass --insecure if this network is trusted.")
    }
    if !insecure && !Self.isLoopback(metricsHost) {
      throw ValidationError(
        "refusing to serve metrics and the dashboard on \(metricsHost): that endpoint has no authentication. "
          + "Keep it on 127.0.0.1 (reach it through an SSH tunnel or a proxy that authenticates), or pass --insecure.")
    }
    guard (tlsCertificate == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    if tlsClientCA != nil && tlsCertificate == nil {
      throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
    }
    guard tokenCallsPerSecond >= 0, maxCallsPerSecondPerConnection >= 0, idleTimeoutSeconds >= 0, requestReadTimeoutSeconds >= 0 else {
      throw ValidationError(
        "--token-calls-per-second, --max-calls-per-second-per-connection, --idle-timeout-seconds and --request-read-timeout-seconds must be >= 0")
    }
    guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--max-connections must be 1...1000000") }
    guard (1024...1 << 20).contains(maxHeaderListBytes) else {
      throw ValidationError("--max-header-list-bytes must be 1024...1048576")
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
    if tokensFile == nil && !Self.isLoopback(host) {
      logger.warning(
        "listening on a non-loopback address without tokens (--insecure): anyone who can reach this port can change stock",
        metadata: ["host": "\(host)"])
    }
    var grpc = GRPCServer.Configuration(
      host: host, port: port, threads: threads, maxReceiveMessageBytes: maxMessageBytes,
      maxConcurrentStreams: UInt32(maxConcurrentStreams), maxHeaderListBytes: UInt32(maxHeaderListBytes),
      gracefulShutdownTimeout: .seconds(shutdownGraceSeconds))
    grpc.maxConnections = maxConnections
    grpc.idleTimeout = idleTimeoutSeconds > 0 ? .seconds(idleTimeoutSeconds) : nil
    grpc.requestReadTimeout = requestReadTimeoutSeconds > 0 ? .seconds(requestReadTimeoutSeconds) : nil
    grpc.maxCallsPerSecondPerConnection = maxCallsPerSecondPerConnection > 0 ? maxCallsPerSecondPerConnection : nil
    var configuration = OmniStockServer.Configuration(
      grpc: grpc, dataDirectory: dataDirectory, repairLog: repairLog, expectedSlots: expectedPositions,
      checkpointIntervalSeconds: checkpointIntervalSeconds, checkpointLogBytes: checkpointLogBytes,
      locationsFile: locationsFile ?? Environment.string("OMNISTOCK_LOCATIONS"),
      metricsPort: metricsPort ?? Environment.int("OMNISTOCK_METRICS_PORT"))
    if let tlsCertificate, let tlsKey {
      configuration.tls = ServerTLS.Files(certificateChain: tlsCertificate, privateKey: tlsKey, clientCA: tlsClientCA)
    }
    configuration.tokensFile = tokensFile
    configuration.metricsHost = metricsHost
    configuration.tokenCallsPerSecond = tokenCallsPerSecond > 0 ? tokenCallsPerSecond : nil
    let server: OmniStockServer
    do {
      server = try OmniStockServer(
        configuration: configuration,
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
    // SIGHUP: reload certificates and tokens in place.
    let reloads = Task {
      for await _ in await UnixSignalsSequence(trapping: .sighup) { server.reloadSecurity() }
    }
    defer { reloads.cancel() }
    try await group.run()
  }

  /// The long names of this command's flags (from its help, so the list never drifts).
  static let flagNames: Set<String> = {
    let help = ServeCommand.helpMessage(columns: 10_000)
    var names: Set<String> = []
    var rest = Substring(help)
    while let range = rest.range(of: "--") {
      let name = rest[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
      if !name.isEmpty { names.insert(String(name)) }
      rest = rest[range.upperBound...]
    }
    names.remove("config")
    names.remove("help")
    return names
  }()

  static func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host.hasPrefix("127.")
  }
}
