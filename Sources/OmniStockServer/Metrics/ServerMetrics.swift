public import GRPCNGHTTP2
import OmniStockAPI
import Prometheus
import StockIndex
import Synchronization
import WriteAheadLog

/// The server's metrics in Prometheus text format: read from the engine, the index and the log
/// when scraped (so the write path pays nothing for them), into a swift-prometheus registry.
///
/// ## Guarantees
/// - Counters never go down: each scrape adds what the source counted since the previous scrape.
/// - A scrape takes the write order only for the moment it copies a few numbers.
public final class ServerMetrics: Sendable {
  private let registry = PrometheusCollectorRegistry()
  private let writer: StockWriter
  private let directory: LocationDirectory
  private let checkpointer: Checkpointer
  private let reported = Mutex<[String: UInt64]>([:])
  /// Where connection and access figures come from, once the server has them.
  private let sources = Mutex<(server: GRPCServer?, access: AccessPolicy?)>((nil, nil))

  public init(writer: StockWriter, directory: LocationDirectory, checkpointer: Checkpointer) {
    self.writer = writer
    self.directory = directory
    self.checkpointer = checkpointer
  }

  /// Reports `server`'s connections and `access`'s denials from now on.
  public func observe(_ server: GRPCServer, access: AccessPolicy?) {
    sources.withLock { $0 = (server, access) }
  }

  /// Per-RPC request counts and latencies, to install as the gRPC server's call observer.
  public func requestObserver(methods: [RPCMethod]) -> any CallObserver {
    RequestMetrics(registry: registry, methods: methods)
  }

  /// The metrics now, as Prometheus text (exposition format 0.0.4).
  public func scrape() -> [UInt8] {
    let index = writer.index
    let now = WallClock.nowUnixMs()
    let (counters, devices, active, negative, recorded) = writer.read { state in
      (
        state.counters, state.devices.count, state.reservations.activeCount, state.negative.count,
        state.exceptions.entries.count
      )
    }
    let log = writer.log.statistics
    count("events_applied_total", "Events applied (GAP included).", counters.events)
    count("events_duplicate_total", "Events acknowledged DUPLICATE.", counters.duplicates)
    count("events_gap_total", "Events acknowledged GAP.", counters.gaps)
    count("events_superseded_total", "Events acknowledged SUPERSEDED.", counters.superseded)
    count("events_rejected_total", "Events acknowledged REJECTED.", counters.rejected)
    count("log_fsyncs_total", "Write groups of the log (one fdatasync each).", log.groupsWritten)
    count("log_bytes_written_total", "Record bytes written to the log.", log.bytesWritten)
    count("log_records_written_total", "Records written to the log (records per fsync: divide by log_fsyncs_total).", log.recordsWritten)
    count(
      "log_fsync_microseconds_total", "Time spent in fdatasync (average latency: divide by log_fsyncs_total).",
      log.syncNanoseconds / 1_000)
    gauge("log_durable_lsn", "Highest LSN on disk.", Double(log.durableLSN))
    gauge("index_applied_lsn", "Highest LSN applied to the index.", Double(index.lsn))
    gauge("log_segments", "Log segment files.", Double(log.segments))
    gauge("log_size_bytes", "Bytes the log's segments take on disk.", Double(log.bytesOnDisk))
    gauge("positions", "Positions (SKU x location).", Double(index.positionCount))
    gauge("skus", "Distinct SKUs.", Double(index.skus.count))
    let locations = directory.allLocations()
    gauge("locations", "Declared locations.", Double(locations.count))
    let stale = locations.filter { location in
      location.active && index.locations.id(of: location.locationID).map { index.isStale(location: $0, nowUnixMs: now) } == true
    }.count
    gauge("locations_stale", "Active locations whose data is stale.", Double(stale))
    gauge("devices", "Devices with a high-water mark.", Double(devices))
    gauge("reservations_active", "ACTIVE reservations.", Double(active))
    gauge("exceptions", "Exceptions listed now (recorded, negative on-hand, stale).", Double(recorded + negative + stale))
    gauge("watchers", "Open WatchAvailability streams.", Double(writer.watches.count))
    gauge("event_streams", "Open StreamEvents streams.", Double(writer.eventStreams.count))
    let (server, access) = sources.withLock { $0 }
    if let server {
      let connections = server.connectionCounts
      gauge("connections", "Open gRPC connections.", Double(connections.open))
      count("connections_refused_total", "Connections turned away over --max-connections.", UInt64(connections.refused))
    }
    if let access {
      let denials = access.denials
      count("auth_unauthenticated_total", "Calls refused UNAUTHENTICATED (no, malformed or unknown token).", UInt64(denials.unauthenticated))
      count("auth_permission_denied_total", "Calls refused PERMISSION_DENIED (role may not call the method).", UInt64(denials.permissionDenied))
      count("auth_rate_limited_total", "Calls refused RESOURCE_EXHAUSTED by a token's rate limit.", UInt64(denials.rateLimited))
    }
    if let last = checkpointer.lastCheckpoint {
      gauge("checkpoint_lsn", "LSN of the last checkpoint.", Double(last.lsn))
      gauge(
        "checkpoint_duration_seconds", "How long the last checkpoint took.",
        Double(last.completedAtUnixMs - last.startedAtUnixMs) / 1000)
    }
    return registry.emitToBuffer()
  }

  private func gauge(_ name: String, _ help: String, _ value: Double) {
    registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "omnistock", metricName: name, unitName: "", helpText: help))
      .set(value)
  }

  /// Adds to counter `name` what `total` grew by since the last scrape.
  private func count(_ name: String, _ help: String, _ total: UInt64) {
    let delta = reported.withLock { reported -> UInt64 in
      let previous = reported[name] ?? 0
      reported[name] = max(previous, total)
      return total > previous ? total - previous : 0
    }
    registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "omnistock", metricName: name, unitName: "", helpText: help))
      .increment(by: Int64(clamping: delta))
  }
}
