/// Told about every call the server ends: which route (its index in the router's
/// ``RPCRouter/methods``, `nil` for an unknown path), the status, and how long the call took
/// from its request headers to its trailers. Called on the connection's event loop: keep it
/// short and non-blocking (increment counters, record a histogram).
public protocol CallObserver: Sendable {
  func callEnded(route: Int?, code: GRPCStatusCode, nanoseconds: UInt64)
}
