public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// `omnistock.v1.Ingest`: POS event streams and WMS/ERP snapshots.
///
/// Events are validated one by one (a malformed event is `REJECTED` with its reason, the rest of
/// the batch applies), logged as one record and applied to the ``StockIndex`` under its LSN, and
/// acknowledged once durable. Not yet here (issue 5): exactly-once per device (`DUPLICATE`, `GAP`), `SUPERSEDED` for
/// deltas older than a count; until locations are configured through the engine, an event for an
/// undeclared location declares it with defaults.
public struct IngestService: Sendable {
  /// The most events one batch may carry.
  public static let maxBatchEvents = 10_000
  /// The longest client batch or snapshot id, in bytes.
  public static let maxClientIDBytes = 128

  let writer: StockWriter
  let directory: LocationDirectory

  public init(writer: StockWriter, directory: LocationDirectory) {
    self.writer = writer
    self.directory = directory
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    router.unaryDeferred(OmniStockMethods.Ingest.applyEvents) {
      (batch: Omnistock_V1_EventBatch, _, responder: ProtobufUnaryResponder<Omnistock_V1_EventAck>) in
      self.apply(batch) { result in
        switch result {
        case .success(let ack): responder.respond(ack)
        case .failure(let status): responder.fail(status)
        }
      }
    }
    router.bidirectionalStreaming(OmniStockMethods.Ingest.streamEvents) {
      (batches: ProtobufRequestStream<Omnistock_V1_EventBatch>, acks: ProtobufResponseWriter<Omnistock_V1_EventAck>, _)
      in
      // One batch at a time per stream: its ack is written once it is durable. Many terminals'
      // batches still share each fsync (group commit across streams).
      for try await batch in batches {
        let ack = try await withCheckedThrowingContinuation { continuation in
          self.apply(batch) { continuation.resume(with: $0) }
        }
        try await acks.write(ack)
      }
    }
    router.clientStreaming(OmniStockMethods.Ingest.syncSnapshot) {
      (chunks: ProtobufRequestStream<Omnistock_V1_SnapshotChunk>, _) in
      var assembler = SnapshotAssembler()
      for try await chunk in chunks {
        try assembler.add(chunk)
      }
      return try await assembler.apply(writer: writer, directory: directory, nowUnixMs: WallClock.nowUnixMs())
    }
  }

  /// Validates one batch, logs and applies its accepted events, and calls `completion` with the
  /// ack once they are durable. The ack says what happened to each event not simply applied.
  func apply(_ batch: Omnistock_V1_EventBatch, completion: @escaping @Sendable (Result<Omnistock_V1_EventAck, GRPCStatus>) -> Void) {
    var ack = Omnistock_V1_EventAck()
    ack.batchID = batch.batchID
    ack.received = UInt32(clamping: batch.events.count)
    if let problem = batchProblem(batch) {
      var error = Omnistock_V1_QueryError()
      error.code = Int32(GRPCStatusCode.invalidArgument.rawValue)
      error.message = problem
      ack.error = error
      ack.lsn = writer.index.lsn
      completion(.success(ack))
      return
    }
    let now = WallClock.nowUnixMs()
    var record = Omnistock_Log_V1_StockUpdatesRecord()
    record.serverTimeUnixMs = now
    var accepted: [Int] = []
    var highWater: [String: UInt64] = [:]
    for (index, event) in batch.events.enumerated() {
      if let problem = EventValidation.problem(with: event) {
        ack.outcomes.append(Self.outcome(index, .rejected, code: .invalidArgument, problem))
        continue
      }
      record.updates.append(
        StockUpdateRecords.record(
          sku: event.sku, location: event.locationID, change: EventValidation.change(for: event),
          sourceTimeUnixMs: event.eventTimeUnixMs))
      accepted.append(index)
      highWater[event.deviceID] = max(highWater[event.deviceID] ?? 0, event.deviceSeq)
    }
    ack.highWater = highWater.sorted { $0.key < $1.key }.map { device, seq in
      var mark = Omnistock_V1_DeviceHighWater()
      mark.deviceID = device
      mark.deviceSeq = seq
      return mark
    }
    guard !accepted.isEmpty else {
      ack.rejected = UInt32(ack.outcomes.count)
      ack.lsn = writer.index.lsn
      completion(.success(ack))
      return
    }
    let payload: [UInt8]
    do {
      payload = try ProtobufCoding.encode(record)
    } catch {
      completion(.failure(error))
      return
    }
    let index = writer.index
    let directory = self.directory
    let partialAck = ack
    let acceptedEvents = accepted
    writer.write(
      type: .stockUpdates, payload: payload,
      apply: { lsn in (lsn, StockUpdateRecords.apply(record, lsn: lsn, index: index, directory: directory)) },
      completion: { result in
        completion(
          result.map { lsn, results in
            var ack = partialAck
            ack.lsn = lsn
            ack.durableAtUnixMs = WallClock.nowUnixMs()
            var applied = 0
            for (offset, result) in results.updates.enumerated() {
              switch result {
              case .applied:
                applied += 1
              case .keptNewer(let state):
                ack.outcomes.append(
                  Self.outcome(
                    acceptedEvents[offset], .superseded, code: .ok,
                    "a count or snapshot as of \(state.lastAbsoluteTimeUnixMs) ms is newer than this event; it is already included"))
                ack.superseded += 1
              case .indexFull:
                ack.outcomes.append(
                  Self.outcome(acceptedEvents[offset], .rejected, code: .resourceExhausted, "the stock index has no room for this position"))
              }
            }
            ack.outcomes.sort { $0.index < $1.index }
            ack.applied = UInt32(applied)
            ack.rejected = UInt32(ack.outcomes.filter { $0.kind == .rejected }.count)
            return ack
          })
      })
  }

  static func outcome(_ index: Int, _ kind: Omnistock_V1_OutcomeKind, code: GRPCStatusCode, _ reason: String)
    -> Omnistock_V1_EventOutcome
  {
    var outcome = Omnistock_V1_EventOutcome()
    outcome.index = UInt32(index)
    outcome.kind = kind
    if code != .ok { outcome.code = Int32(code.rawValue) }
    outcome.reason = reason
    return outcome
  }

  private func batchProblem(_ batch: Omnistock_V1_EventBatch) -> String? {
    if batch.events.count > Self.maxBatchEvents {
      return "\(batch.events.count) events in one batch; the limit is \(Self.maxBatchEvents): split the batch"
    }
    if batch.batchID.utf8.count > Self.maxClientIDBytes {
      return "batch_id is \(batch.batchID.utf8.count) bytes; the limit is \(Self.maxClientIDBytes)"
    }
    var lastSeq: [String: UInt64] = [:]
    for event in batch.events {
      if let previous = lastSeq[event.deviceID], event.deviceSeq <= previous {
        return "events of device '\(event.deviceID)' are out of device_seq order (\(event.deviceSeq) after \(previous))"
      }
      lastSeq[event.deviceID] = event.deviceSeq
    }
    return nil
  }
}
