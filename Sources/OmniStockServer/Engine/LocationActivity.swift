/// What a location's devices did recently, for the freshness report: events received in the last
/// minute and the devices seen in the last hour (counted live, since the server started), and the
/// times of the last event and snapshot applied there (kept across restarts).
public struct LocationActivity: Sendable {
  /// Devices not seen for this long are forgotten.
  static let deviceHorizonMs: Int64 = 3_600_000

  public private(set) var events = RateWindow()
  /// Device clock of the most recent event applied here (Unix ms; 0 none).
  public var lastEventTimeUnixMs: Int64 = 0
  /// `as_of` of the most recent snapshot applied here (Unix ms; 0 none).
  public var lastSnapshotAsOfUnixMs: Int64 = 0
  private var devices: [String: Int64] = [:]
  private var nextPrune: Int64 = 0

  public init() {}

  /// Notes `count` events from `device` at `unixMs`.
  public mutating func note(device: String, count: Int, atUnixMs unixMs: Int64) {
    events.add(count, atUnixMs: unixMs)
    devices[device] = max(devices[device] ?? 0, unixMs)
    if unixMs >= nextPrune {
      devices = devices.filter { unixMs - $0.value <= Self.deviceHorizonMs }
      nextPrune = unixMs + 60_000
    }
  }

  /// Notes the device time of an applied event.
  public mutating func noteEventTime(_ unixMs: Int64) {
    lastEventTimeUnixMs = max(lastEventTimeUnixMs, unixMs)
  }

  /// Notes the `as_of` of an applied snapshot.
  public mutating func noteSnapshot(asOf unixMs: Int64) {
    lastSnapshotAsOfUnixMs = max(lastSnapshotAsOfUnixMs, unixMs)
  }

  /// Distinct devices seen in the hour up to `unixMs`.
  public func devicesLastHour(atUnixMs unixMs: Int64) -> Int {
    devices.values.reduce(0) { $0 + (unixMs - $1 <= Self.deviceHorizonMs ? 1 : 0) }
  }
}
