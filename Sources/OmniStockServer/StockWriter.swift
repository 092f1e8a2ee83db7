public import GRPCNGHTTP2
public import StockIndex
import Synchronization
public import WriteAheadLog

/// Writes every change through the write-ahead log: decides it against the current state,
/// assigns its LSN (the log's), applies it under that LSN, and reports when it is durable.
///
/// ## Guarantees
/// - **One write order**: deciding, appending and applying happen under one lock, which also
///   guards the ``EngineState``. So LSN order is apply order: once the index reports LSN n, every
///   change up to n is visible (what `ReadOptions.min_lsn` relies on); and a decision (say, that
///   an event is a duplicate) holds when its record is applied.
/// - **Acknowledged means durable**: the completion runs only after the log's `fdatasync` of the
///   change's record, or, for a write that logs nothing (every event a duplicate), of every
///   record appended before it (a duplicate is acknowledged only once the original is durable).
///   Readers may see a change a moment before it is acknowledged; a change is lost only if the
///   server crashed before acknowledging it.
/// - Reads of the index never take this lock.
public final class StockWriter: Sendable {
  /// What a write does, decided under the write order.
  public enum Plan<Value> {
    /// Log the change as a record of `type` (or, when too big for one record, as consecutive
    /// records: parts that recovery applies all or nothing), then `apply` it under the (last) LSN.
    case append(LogRecordType, payloads: [[UInt8]], apply: (inout EngineState, UInt64) -> Value)
    /// Nothing to log: answer `value` once everything logged so far is durable.
    case answer(Value)
  }

  public let index: StockIndex
  public let log: WriteAheadLog
  /// Reads waiting for an LSN to be applied (`ReadOptions.min_lsn`).
  public let appliedWaiters = AppliedLSNWaiters()
  /// Open watches, told about every position a write changed.
  public let watches = WatchHub()
  /// Open `StreamEvents` streams.
  public let eventStreams = StreamGauge()
  private let order: Mutex<EngineState>

  public init(index: StockIndex, log: WriteAheadLog, state: EngineState = EngineState()) {
    self.index = index
    self.log = log
    self.order = Mutex(state)
  }

  /// Runs `plan` under the write order, carries it out, and calls `completion` once the result
  /// is durable (from the log's thread) or with the status that refused it (before anything was
  /// logged) or the log's failure.
  public func write<Value: Sendable>(
    _ plan: (inout EngineState) throws(GRPCStatus) -> Plan<Value>,
    completion: @escaping @Sendable (Result<Value, GRPCStatus>) -> Void
  ) {
    let joined = DurableCompletion<Value> { result in
      completion(result.mapError { GRPCStatus(.unavailable, "the write-ahead log failed (\($0)); the server is stopping") })
    }
    var changed: [PositionKey] = []
    let outcome: WriteOutcome<Value> = order.withLock { state in
      state.collectsChanges = watches.isActive
      defer { swap(&changed, &state.changed) }
      do throws(GRPCStatus) {
        switch try plan(&state) {
        case .append(let type, let payloads, let apply):
          let lsn = try append(type, payloads, joined)
          let value = apply(&state, lsn)
          index.noteApplied(lsn)
          return .applied(value, lsn)
        case .answer(let value):
          return .waitFor(log.nextLSN - 1, value)
        }
      } catch {
        return .refused(error)
      }
    }
    switch outcome {
    case .applied(let value, let lsn):
      watches.publish(changed, lsn: lsn)
      appliedWaiters.applied(lsn)
      joined.applied(value)
    case .waitFor(let lsn, let value):
      joined.applied(value)
      log.whenDurable(lsn) { joined.durable($0) }
    case .refused(let status):
      completion(.failure(status))
    }
  }

  /// Appends `payloads` as consecutive records; `joined` learns when the last one is durable
  /// (hence all of them: the log is durable in LSN order and fails whole). Returns the last LSN.
  private func append<Value>(_ type: LogRecordType, _ payloads: [[UInt8]], _ joined: DurableCompletion<Value>)
    throws(GRPCStatus) -> UInt64
  {
    var lsn: UInt64 = 0
    do {
      for (offset, payload) in payloads.enumerated() {
        let last = offset == payloads.count - 1
        lsn = try log.append(type: type.rawValue, payload: payload) { result in if last { joined.durable(result) } }
      }
    } catch {
      throw GRPCStatus(.unavailable, "the write-ahead log is not accepting writes: \(error)")
    }
    return lsn
  }

  /// Logs `payloads` as records of `type` (one change; several payloads are its parts) and runs
  /// `apply` with the last LSN; `validate` runs first, under the write order, and may refuse the
  /// change before anything is logged.
  public func write<Value: Sendable>(
    type: LogRecordType, payloads: [[UInt8]], validate: () throws(GRPCStatus) -> Void = {},
    apply: @escaping (inout EngineState, UInt64) -> Value,
    completion: @escaping @Sendable (Result<Value, GRPCStatus>) -> Void
  ) {
    write({ _ throws(GRPCStatus) in
      try validate()
      return .append(type, payloads: payloads, apply: apply)
    }, completion: completion)
  }

  /// ``write(type:payloads:validate:apply:completion:)`` for `async` callers.
  public func write<Value: Sendable>(
    type: LogRecordType, payload: [UInt8], validate: () throws(GRPCStatus) -> Void = {},
    apply: @escaping (inout EngineState, UInt64) -> Value
  ) async throws(GRPCStatus) -> Value {
    try await write(type: type, payloads: [payload], validate: validate, apply: apply)
  }

  /// ``write(type:payloads:validate:apply:completion:)`` for `async` callers.
  public func write<Value: Sendable>(
    type: LogRecordType, payloads: [[UInt8]], validate: () throws(GRPCStatus) -> Void = {},
    apply: @escaping (inout EngineState, UInt64) -> Value
  ) async throws(GRPCStatus) -> Value {
    let result: Result<Value, GRPCStatus> = await withCheckedContinuation { continuation in
      write(type: type, payloads: payloads, validate: validate, apply: apply) { continuation.resume(returning: $0) }
    }
    return try result.get()
  }

  /// Runs `body` under the write order: no change is being decided or applied meanwhile. Keep it
  /// short (writers wait); a checkpoint uses it to copy state exactly as of one LSN.
  public func withWriteOrder<T>(_ body: (inout EngineState) throws -> T) rethrows -> T {
    try order.withLock { try body(&$0) }
  }

  /// Reads the engine state under the write order without copying it (keep `body` short).
  public func read<T>(_ body: (borrowing EngineState) -> T) -> T {
    order.withLock { body($0) }
  }
}

/// How a write's decision turned out, before durability.
private enum WriteOutcome<Value> {
  case applied(Value, UInt64)
  case waitFor(UInt64, Value)
  case refused(GRPCStatus)
}
