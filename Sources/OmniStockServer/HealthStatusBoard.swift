public import OmniStockAPI
import Synchronization

/// The serving status of the server (service name `""`) and of each named service, for the
/// standard health protocol. Watchers get every change; a watcher that falls behind sees only the
/// latest status (each watcher's buffer holds one value), so no queue grows without bound.
public final class HealthStatusBoard: Sendable {
  public typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  private struct State {
    var statuses: [String: Status]
    var watchers: [Int: (service: String, continuation: AsyncStream<Status>.Continuation)] = [:]
    var nextWatcher = 0
  }

  private let state: Mutex<State>

  /// Creates a board with `services` (and the overall `""`) all `SERVING`.
  public init(services: [String]) {
    var statuses: [String: Status] = ["": .serving]
    for service in services { statuses[service] = .serving }
    state = Mutex(State(statuses: statuses))
  }

  /// The status of `service`, or `nil` if the server does not know it.
  public func status(of service: String) -> Status? {
    state.withLock { $0.statuses[service] }
  }

  /// Sets every known service (and the server) to `status`, e.g. `NOT_SERVING` while shutting down.
  public func setAll(_ status: Status) {
    let toNotify = state.withLock { state in
      for key in state.statuses.keys { state.statuses[key] = status }
      return state.watchers.values.map(\.continuation)
    }
    for continuation in toNotify { continuation.yield(status) }
  }

  /// A stream of `service`'s status: the current one first (`SERVICE_UNKNOWN` for an unknown
  /// service, which may become known later), then every change. Ends when the board finishes.
  public func watch(_ service: String) -> AsyncStream<Status> {
    let (stream, continuation) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(1))
    let id = state.withLock { state in
      let id = state.nextWatcher
      state.nextWatcher += 1
      state.watchers[id] = (service, continuation)
      continuation.yield(state.statuses[service] ?? .serviceUnknown)
      return id
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
    }
    return stream
  }

  /// Ends every watch stream (server shutdown).
  public func finishWatchers() {
    let continuations = state.withLock { state in
      let all = state.watchers.values.map(\.continuation)
      state.watchers.removeAll()
      return all
    }
    for continuation in continuations { continuation.finish() }
  }
}
