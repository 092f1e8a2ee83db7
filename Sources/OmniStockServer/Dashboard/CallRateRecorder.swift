import GRPCNGHTTP2
import Synchronization

/// Counts the storefront's availability lookups (`GetAvailability`, `BatchGetAvailability`,
/// `WhereAvailable`) and their latencies as calls end, until ``take()`` hands the window so far to
/// the ``ThroughputSampler`` (once a second) and starts a new one.
///
/// Installed as (part of) the gRPC server's ``CallObserver``: a call of another method costs one
/// array read; a lookup, one short uncontended lock (as the Prometheus histograms take).
final class CallRateRecorder: CallObserver {
  /// What was recorded since the last ``take()``.
  struct Window: Sendable, Equatable {
    var lookups: UInt64 = 0
    var latency = LatencyHistogram()
  }

  /// The unary read methods whose calls count as lookups.
  static let lookupMethods: Set<RPCMethod> = [
    OmniStockMethods.Availability.getAvailability, OmniStockMethods.Availability.batchGetAvailability,
    OmniStockMethods.Availability.whereAvailable,
  ]

  /// Per route (the router's method index): whether it is a lookup.
  private let isLookup: [Bool]
  private let window = Mutex(Window())

  /// `methods`: the router's methods, in route order.
  init(methods: [RPCMethod]) {
    isLookup = methods.map(Self.lookupMethods.contains)
  }

  func callEnded(route: Int?, code: GRPCStatusCode, nanoseconds: UInt64) {
    guard let route, route < isLookup.count, isLookup[route] else { return }
    window.withLock { window in
      window.lookups += 1
      window.latency.record(nanoseconds: nanoseconds)
    }
  }

  /// The window since the last call, and a new empty one started.
  func take() -> Window {
    window.withLock { window in
      defer { window = Window() }
      return window
    }
  }
}
