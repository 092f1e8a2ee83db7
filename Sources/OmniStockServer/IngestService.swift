public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// `omnistock.v1.Ingest`: POS event streams and WMS/ERP snapshots.
///
/// Events are validated one by one (a malformed event is `REJECTED` with its reason, the rest of
/// the batch applies) and applied to the ``StockIndex`` under one LSN per batch. Not yet here
/// (issues 4 and 5): durability, exactly-once per device (`DUPLICATE`, `GAP`), `SUPERSEDED` for
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
      return try assembler.apply(writer: writer, directory: directory, nowUnixMs: WallClock.nowUnixMs())
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
      ack.lsn = writer.index.lsn
      return ack
    }
    let now = WallClock.nowUnixMs()
    var updates: [StockUpdate] = []
    var updateEvents: [Int] = []
    updates.reserveCapacity(batch.events.count)
    var highWater: [String: UInt64] = [:]
    func reject(_ index: Int, _ code: GRPCStatusCode, _ reason: String) {
      var outcome = Omnistock_V1_EventOutcome()
      outcome.index = UInt32(index)
      outcome.kind = .rejected
      outcome.code = Int32(code.rawValue)
      outcome.reason = reason
      ack.outcomes.append(outcome)
    }
    for (index, event) in batch.events.enumerated() {
      if let problem = EventValidation.problem(with: event) {
        reject(index, .invalidArgument, problem)
        continue
      }
      guard let location = directory.ensureLocation(event.locationID, nowUnixMs: now) else {
        reject(index, .resourceExhausted, "no room for location '\(event.locationID)': the server holds the maximum")
        continue
      }
      guard let sku = writer.index.skus.intern(event.sku) else {
        reject(index, .resourceExhausted, "no room for sku '\(event.sku)': the server holds the maximum of SKUs")
        continue
      }
      updates.append(
        StockUpdate(sku: sku, location: location, change: EventValidation.change(for: event), sourceTimeUnixMs: event.eventTimeUnixMs))
      updateEvents.append(index)
      highWater[event.deviceID] = max(highWater[event.deviceID] ?? 0, event.deviceSeq)
    }
    let (lsn, results) = writer.commit(updates, nowUnixMs: now)
    ack.lsn = lsn
    var applied = 0
    for (offset, result) in results.enumerated() {
      switch result {
      case .applied:
        applied += 1
      case .keptNewer(let state):
        var outcome = Omnistock_V1_EventOutcome()
        outcome.index = UInt32(updateEvents[offset])
        outcome.kind = .superseded
        outcome.reason =
          "a count or snapshot as of \(state.lastAbsoluteTimeUnixMs) ms is newer than this event; it is already included"
        ack.outcomes.append(outcome)
        ack.superseded += 1
      case .indexFull:
        reject(updateEvents[offset], .resourceExhausted, "the stock index has no room for another position of this SKU")
      }
    }
    ack.outcomes.sort { $0.index < $1.index }
    ack.applied = UInt32(applied)
    ack.rejected = UInt32(ack.outcomes.filter { $0.kind == .rejected }.count)
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
