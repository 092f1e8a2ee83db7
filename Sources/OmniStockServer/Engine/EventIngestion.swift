import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// Turns one `EventBatch` into a durable write and its `EventAck` (SPEC section 3, the contract in
/// `ingest.proto`).
///
/// Under the write order each event is classified: malformed or for an unknown location
/// (`REJECTED` with a reason and a code), at or below its device's high-water mark (`DUPLICATE`),
/// or new. (An inactive location accepts events: its stock stays current while it sells nothing.)
/// Every received event counts toward the location's and the server's event rates. The new ones are logged as one `EventsRecord` and applied by ``EventRecords`` (which
/// decides `GAP` and `SUPERSEDED`, identically on replay). The ack is sent once the record is
/// durable; a batch with nothing new is acknowledged once everything logged before it is durable,
/// so a `DUPLICATE` is never acknowledged ahead of its original.
struct EventIngestion: Sendable {
  /// The most events one batch may carry.
  static let maxBatchEvents = 10_000
  /// The longest client batch or snapshot id, in bytes.
  static let maxClientIDBytes = 128

  let writer: StockWriter
  let directory: LocationDirectory

  /// Validates, logs and applies `batch`, and calls `completion` with its ack once durable.
  /// `token` is the caller's access token, if the server checks tokens: an event at a location
  /// the token may not write is REJECTED (PERMISSION_DENIED), leaves no trace at that location,
  /// and the rest of the batch applies.
  func apply(
    _ batch: Omnistock_V1_EventBatch, token: AccessToken? = nil,
    completion: @escaping @Sendable (Result<Omnistock_V1_EventAck, GRPCStatus>) -> Void
  ) {
    var ack = Omnistock_V1_EventAck()
    ack.batchID = batch.batchID
    ack.received = UInt32(clamping: batch.events.count)
    if let problem = Self.batchProblem(batch) {
      var error = Omnistock_V1_QueryError()
      error.code = Int32(GRPCStatusCode.invalidArgument.rawValue)
      error.message = problem
      ack.error = error
      ack.lsn = writer.index.lsn
      completion(.success(ack))
      return
    }
    let now = WallClock.nowUnixMs()
    let index = writer.index
    let directory = self.directory
    writer.write({ state throws(GRPCStatus) -> StockWriter.Plan<Omnistock_V1_EventAck> in
      var record = Omnistock_Log_V1_EventsRecord()
      record.serverTimeUnixMs = now
      var accepted: [Int] = []
      var pending: [String: UInt64] = [:]
      var devices: [String] = []
      var seen: Set<String> = []
      for (position, event) in batch.events.enumerated() {
        if seen.insert(event.deviceID).inserted { devices.append(event.deviceID) }
        if let token, !token.mayWrite(at: event.locationID) {
          ack.outcomes.append(
            Self.outcome(
              position, .rejected, code: .permissionDenied,
              "token '\(token.name)' may not write events at location '\(event.locationID)'"))
          ack.rejected += 1
          continue
        }
        state.noteReceived(location: index.locations.id(of: event.locationID), device: event.deviceID, atUnixMs: now)
        if let (code, reason) = Self.rejection(of: event, directory: directory) {
          ack.outcomes.append(Self.outcome(position, .rejected, code: code, reason))
          ack.rejected += 1
          continue
        }
        let highWater = pending[event.deviceID] ?? state.devices[event.deviceID] ?? 0
        guard event.deviceSeq > highWater else {
          ack.outcomes.append(
            Self.outcome(
              position, .duplicate, code: .ok,
              "device_seq \(event.deviceSeq) is at or below device '\(event.deviceID)' high-water mark \(highWater): already applied"))
          ack.duplicates += 1
          continue
        }
        pending[event.deviceID] = event.deviceSeq
        accepted.append(position)
        record.events.append(event)
      }
      state.counters.rejected += UInt64(ack.rejected)
      state.counters.duplicates += UInt64(ack.duplicates)
      guard !record.events.isEmpty else {
        ack.highWater = Self.highWater(devices, state)
        return .answer(ack)
      }
      record.corrections = Self.countCorrections(record.events, index: index, recent: state.recentDeltas)
      let payload = try ProtobufCoding.encode(record)
      return .append(.events, payloads: [payload]) { state, lsn in
        let results = EventRecords.apply(
          record, lsn: lsn, index: index, directory: directory, state: &state, recordsEngineState: true)
        var ack = ack
        ack.lsn = lsn
        for (position, result) in zip(accepted, results) {
          switch result {
          case .applied(nil):
            ack.applied += 1
          case .applied(let gap?):
            ack.applied += 1
            ack.gaps += 1
            var outcome = Self.outcome(
              position, .gap, code: .ok, "device_seq \(gap.lowerBound)...\(gap.upperBound) never arrived")
            outcome.gapFrom = gap.lowerBound
            outcome.gapTo = gap.upperBound
            ack.outcomes.append(outcome)
          case .superseded(let asOf):
            ack.superseded += 1
            ack.outcomes.append(
              Self.outcome(
                position, .superseded, code: .ok,
                "a count or snapshot as of \(asOf) ms is newer than this event and already includes it"))
          case .noRoom:
            ack.rejected += 1
            ack.outcomes.append(
              Self.outcome(position, .rejected, code: .resourceExhausted, "the stock index has no room for this position"))
          }
        }
        ack.outcomes.sort { $0.index < $1.index }
        ack.highWater = Self.highWater(devices, state)
        return ack
      }
    }, completion: { result in
      completion(
        result.map { ack in
          var ack = ack
          if ack.lsn == 0 { ack.lsn = index.lsn }
          ack.durableAtUnixMs = WallClock.nowUnixMs()
          return ack
        })
    })
  }

  /// For each COUNT among `events` (the accepted events of one batch, in order) that will apply,
  /// the deltas that happened after it but were applied before it, in earlier batches (`recent`)
  /// or earlier in this batch: the count adds them back, so a late count never erases a later
  /// sale. Decided here, under the write order, and logged with the events.
  static func countCorrections(
    _ events: [Omnistock_V1_StockEvent], index: StockIndex, recent: RecentDeltas
  ) -> [Omnistock_Log_V1_CountCorrection] {
    struct Pending {
      var lastAbsolute: Int64
      var deltas: [(time: Int64, amount: Int64)] = []
    }
    // Only counts get corrections: most batches have none, and need no position bookkeeping.
    guard events.contains(where: { $0.type == .count }) else { return [] }
    var positions: [String: Pending] = [:]
    var corrections: [Omnistock_Log_V1_CountCorrection] = []
    for (offset, event) in events.enumerated() {
      let name = event.sku + "\u{0}" + event.locationID
      let key = index.skus.id(of: event.sku).flatMap { sku in
        index.locations.id(of: event.locationID).map { PositionKey(sku: sku, location: $0) }
      }
      var pending =
        positions[name]
        ?? Pending(lastAbsolute: key.flatMap { index.state(sku: $0.sku, location: $0.location)?.lastAbsoluteTimeUnixMs } ?? 0)
      let time = event.eventTimeUnixMs
      guard time >= pending.lastAbsolute else { continue }  // superseded: changes nothing
      switch EventValidation.change(for: event) {
      case .delta(let amount, _):
        pending.deltas.append((time, amount))
      case .set:
        let later = (key.map { recent.sum($0, after: time) } ?? 0)
          &+ pending.deltas.reduce(0) { $1.time > time ? $0 &+ $1.amount : $0 }
        if later != 0 {
          var correction = Omnistock_Log_V1_CountCorrection()
          correction.event = UInt32(offset)
          correction.laterDeltas = later
          corrections.append(correction)
        }
        pending.lastAbsolute = time
        pending.deltas.removeAll { $0.time <= time }
      default:
        break
      }
      positions[name] = pending
    }
    return corrections
  }

  /// Why `event` is rejected, as a status code and a sentence; `nil` if it is acceptable.
  static func rejection(of event: Omnistock_V1_StockEvent, directory: LocationDirectory) -> (GRPCStatusCode, String)? {
    if let problem = EventValidation.problem(with: event) { return (.invalidArgument, problem) }
    guard directory.location(event.locationID) != nil else {
      return (
        .notFound,
        "location '\(event.locationID)' is not declared: declare it with Admin.UpsertLocation or the server's --locations file"
      )
    }
    return nil
  }

  static func highWater(_ devices: [String], _ state: borrowing EngineState) -> [Omnistock_V1_DeviceHighWater] {
    devices.map { device in
      var mark = Omnistock_V1_DeviceHighWater()
      mark.deviceID = device
      mark.deviceSeq = state.devices[device] ?? 0
      return mark
    }
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

  static func batchProblem(_ batch: Omnistock_V1_EventBatch) -> String? {
    if batch.events.count > maxBatchEvents {
      return "\(batch.events.count) events in one batch; the limit is \(maxBatchEvents): split the batch"
    }
    if batch.batchID.utf8.count > maxClientIDBytes {
      return "batch_id is \(batch.batchID.utf8.count) bytes; the limit is \(maxClientIDBytes)"
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
