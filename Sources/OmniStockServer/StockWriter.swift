public import GRPCNGHTTP2
public import StockIndex
import Synchronization
public import WriteAheadLog

/// Writes every change through the write-ahead log: assigns its LSN (the log's), applies it to
/// the index under that LSN, and reports when it is durable.
///
/// ## Guarantees
/// - **LSN order is apply order**: appending and applying happen under one lock, so once the
///   index reports LSN n, every change up to n is visible (what `ReadOptions.min_lsn` relies on).
/// - **Acknowledged means durable**: the completion runs only after the log's `fdatasync`.
///   Readers may see a change a moment before it is acknowledged; a change is lost only if the
///   server crashed before acknowledging it.
/// - Reads never take this lock.
public final class StockWriter: Sendable {
  public let index: StockIndex
  public let log: WriteAheadLog
  private let order = Mutex(())

  public init(index: StockIndex, log: WriteAheadLog) {
    self.index = index
    self.log = log
  }

  /// Logs `payload` as a record of `type`, runs `apply` with its LSN (in LSN order), and calls
  /// `completion` with `apply`'s result once the record is durable (from the log's thread).
  /// `validate` runs first, under the same lock, and may refuse the change before anything is
  /// logged.
  public func write<Value: Sendable>(
    type: LogRecordType, payload: [UInt8], validate: () throws(GRPCStatus) -> Void = {},
    apply: (UInt64) -> Value, completion: @escaping @Sendable (Result<Value, GRPCStatus>) -> Void
  ) {
    let joined = DurableCompletion<Value> { result in
      completion(result.mapError { GRPCStatus(.unavailable, "the write-ahead log failed (\($0)); the server is stopping") })
    }
    let outcome: Result<Value, GRPCStatus> = order.withLock { _ in
      do throws(GRPCStatus) {
        try validate()
        let lsn: UInt64
        do {
          lsn = try log.append(type: type.rawValue, payload: payload) { joined.durable($0) }
        } catch {
          throw GRPCStatus(.unavailable, "the write-ahead log is not accepting writes: \(error)")
        }
        let value = apply(lsn)
        index.noteApplied(lsn)
        return .success(value)
      } catch {
        return .failure(error)
      }
    }
    switch outcome {
    case .success(let value): joined.applied(value)
    case .failure(let status): completion(.failure(status))
    }
  }

  /// ``write(type:payload:validate:apply:completion:)`` for `async` callers.
  public func write<Value: Sendable>(
    type: LogRecordType, payload: [UInt8], validate: () throws(GRPCStatus) -> Void = {}, apply: (UInt64) -> Value
  ) async throws(GRPCStatus) -> Value {
    let result: Result<Value, GRPCStatus> = await withCheckedContinuation { continuation in
      write(type: type, payload: payload, validate: validate, apply: apply) { continuation.resume(returning: $0) }
    }
    return try result.get()
  }
}
