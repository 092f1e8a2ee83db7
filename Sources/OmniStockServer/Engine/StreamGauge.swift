import Synchronization

/// A count of open streams of one kind (e.g. POS event streams), for `GetStats` and metrics.
public final class StreamGauge: Sendable {
  private let open = Atomic<Int>(0)

  public init() {}

  /// Streams open now.
  public var count: Int { open.load(ordering: .relaxed) }

  /// Counts a stream as open while `body` runs.
  public func tracking<T>(_ body: () async throws -> T) async rethrows -> T {
    open.add(1, ordering: .relaxed)
    defer { open.subtract(1, ordering: .relaxed) }
    return try await body()
  }
}
