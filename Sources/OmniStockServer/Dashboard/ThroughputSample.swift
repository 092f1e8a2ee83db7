/// One second of the server's traffic, as the dashboard's sparklines draw it.
struct ThroughputSample: Sendable, Equatable {
  /// When the second ended (server clock, Unix ms).
  var unixMs: Int64
  /// Events received (any outcome) per second.
  var eventsPerSecond: Double
  /// Availability lookup calls per second.
  var lookupsPerSecond: Double
  /// 99th percentile latency of those lookups, in milliseconds; `nil` when there were none.
  var lookupP99Ms: Double?
}
