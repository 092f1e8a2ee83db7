public import GRPCNGHTTP2
import OmniStockAPI

/// `omnistock.v1.Ingest`: POS event streams and WMS/ERP snapshots.
///
/// Minimal path of the foundation: events are validated one by one (a malformed event is
/// `REJECTED` with its reason, the rest of the batch applies) and applied atomically per batch to
/// the provisional table. Not yet here, by design (issues 4 and 5): durability, exactly-once per
/// device (`DUPLICATE`, `GAP`), `SUPERSEDED`, declared locations.
public struct IngestService: Sendable {
  /// The most events one batch may carry.
  public static let maxBatchEvents = 10_000
  /// The longest client batch or snapshot id, in bytes.
  public static let maxClientIDBytes = 128

  let table: ProvisionalStockTable

  public init(table: ProvisionalStockTable) {
    self.table = table
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    router.unary(OmniStockMethods.Ingest.applyEvents) { (batch: Omnistock_V1_EventBatch, _) in
      self.apply(batch)
    }
    router.bidirectionalStreaming(OmniStockMethods.Ingest.streamEvents) {
      (batches: ProtobufRequestStream<Omnistock_V1_EventBatch>, acks: ProtobufResponseWriter<Omnistock_V1_EventAck>, _)
      in
      for try await batch in batches {
        try await acks.write(self.apply(batch))
      }
    }
    router.clientStreaming(OmniStockMethods.Ingest.syncSnapshot) {
      (chunks: ProtobufRequestStream<Omnistock_V1_SnapshotChunk>, _) in
      var assembler = SnapshotAssembler()
      for try await chunk in chunks {
        try assembler.add(chunk)
      }
      return try assembler.apply(to: table, nowUnixMs: WallClock.nowUnixMs())
    }
  }

  /// Validates and applies one batch; the ack says what happened to each event that was not
  /// simply applied.
  func apply(_ batch: Omnistock_V1_EventBatch) -> Omnistock_V1_EventAck {
    var ack = Omnistock_V1_EventAck()
    ack.batchID = batch.batchID
    ack.received = UInt32(clamping: batch.events.count)
    if let problem = batchProblem(batch) {
      var error = Omnistock_V1_QueryError()
      error.code = Int32(GRPCStatusCode.invalidArgument.rawValue)
      error.message = problem
      ack.error = error
      ack.lsn = table.lsn
      return ack
    }
    var changes: [ProvisionalStockTable.Change] = []
    changes.reserveCapacity(batch.events.count)
    var highWater: [String: UInt64] = [:]
    for (index, event) in batch.events.enumerated() {
      if let problem = EventValidation.problem(with: event) {
        var outcome = Omnistock_V1_EventOutcome()
        outcome.index = UInt32(index)
        outcome.kind = .rejected
        outcome.code = Int32(GRPCStatusCode.invalidArgument.rawValue)
        outcome.reason = problem
        ack.outcomes.append(outcome)
        continue
      }
      changes.append(EventValidation.change(for: event))
      highWater[event.deviceID] = max(highWater[event.deviceID] ?? 0, event.deviceSeq)
    }
    let now = WallClock.nowUnixMs()
    ack.lsn = table.apply(changes, nowUnixMs: now).lsn
    ack.applied = UInt32(changes.count)
    ack.rejected = UInt32(ack.outcomes.count)
    ack.highWater = highWater.sorted { $0.key < $1.key }.map { device, seq in
      var mark = Omnistock_V1_DeviceHighWater()
      mark.deviceID = device
      mark.deviceSeq = seq
      return mark
    }
    ack.durableAtUnixMs = now
    return ack
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
