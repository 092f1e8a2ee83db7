import GRPCNGHTTP2
import Prometheus
import Synchronization

/// Requests by RPC and status (`omnistock_requests_total{method,code}`) and their latency
/// (`omnistock_request_duration_seconds{method}`), fed by the gRPC layer as each call ends.
///
/// Histograms exist from the start for every method; counters appear with the first call of a
/// (method, status) pair, then are looked up under a short lock.
final class RequestMetrics: CallObserver {
  private static let buckets: [Duration] = [
    .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
    .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
    .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5),
  ]

  private let registry: PrometheusCollectorRegistry
  private let methods: [String]
  private let durations: [DurationHistogram]
  private let counters = Mutex<[Int: Counter]>([:])

  init(registry: PrometheusCollectorRegistry, methods: [RPCMethod]) {
    self.registry = registry
    self.methods = methods.map(\.path)
    durations = self.methods.map { path in
      registry.makeDurationHistogram(
        descriptor: MetricNameDescriptor(
          namespace: "omnistock", metricName: "request_duration", unitName: "seconds",
          helpText: "Time from a call's request headers to its trailers."),
        labels: [("method", path)], buckets: Self.buckets)
    }
  }

  func callEnded(route: Int?, code: GRPCStatusCode, nanoseconds: UInt64) {
    let key = (route ?? -1) * 32 + Int(code.rawValue)
    let counter = counters.withLock { counters -> Counter in
      if let existing = counters[key] { return existing }
      let method = route.map { methods[$0] } ?? "unknown"
      let made = registry.makeCounter(
        descriptor: MetricNameDescriptor(
          namespace: "omnistock", metricName: "requests", unitName: "total", helpText: "Calls ended, by method and status."),
        labels: [("method", method), ("code", code.description)])
      counters[key] = made
      return made
    }
    counter.increment()
    if let route { durations[route].record(.nanoseconds(Int64(clamping: nanoseconds))) }
  }
}
