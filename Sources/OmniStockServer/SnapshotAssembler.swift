import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// Collects the chunks of one `SyncSnapshot` stream, checks them, and applies the whole snapshot
/// at once when the stream completes (nothing applies before, nothing applies on error).
struct SnapshotAssembler {
  /// The most entries one snapshot may carry.
  static let maxEntries = 10_000_000
  /// Updates per log record; a bigger snapshot is logged as several parts (see `StockUpdatesRecord.parts`).
  static let updatesPerPart = 100_000

  private struct LocationPart {
    var mode: Omnistock_V1_SnapshotMode
    var asOfUnixMs: Int64
    var quantities: [String: Int64] = [:]
  }

  private var snapshotID: String?
  private var chunks = 0
  private var entries = 0
  private var order: [String] = []
  private var parts: [String: LocationPart] = [:]

  mutating func add(_ chunk: Omnistock_V1_SnapshotChunk) throws(GRPCStatus) {
    chunks += 1
    let where_ = "chunk \(chunks)"
    if let snapshotID, snapshotID != chunk.snapshotID {
      throw GRPCStatus(.invalidArgument, "\(where_): snapshot_id '\(chunk.snapshotID)' differs from '\(snapshotID)'")
    }
    snapshotID = chunk.snapshotID
    if let problem = IdentifierRules.problem(with: chunk.locationID, field: "location_id") {
      throw GRPCStatus(.invalidArgument, "\(where_): \(problem)")
    }
    guard chunk.mode == .replace || chunk.mode == .upsert else {
      throw GRPCStatus(.invalidArgument, "\(where_): mode is missing; use REPLACE or UPSERT")
    }
    guard chunk.asOfUnixMs > 0 else {
      throw GRPCStatus(.invalidArgument, "\(where_): as_of_unix_ms is missing")
    }
    var part = parts[chunk.locationID] ?? LocationPart(mode: chunk.mode, asOfUnixMs: chunk.asOfUnixMs)
    if parts[chunk.locationID] == nil { order.append(chunk.locationID) }
    guard part.mode == chunk.mode, part.asOfUnixMs == chunk.asOfUnixMs else {
      throw GRPCStatus(
        .invalidArgument, "\(where_): mode and as_of for location '\(chunk.locationID)' differ from its first chunk")
    }
    entries += chunk.entries.count
    guard entries <= Self.maxEntries else {
      throw GRPCStatus(.resourceExhausted, "the snapshot has more than \(Self.maxEntries) entries: split it")
    }
    for entry in chunk.entries {
      if let problem = IdentifierRules.problem(with: entry.sku, field: "sku") {
        throw GRPCStatus(.invalidArgument, "\(where_): \(problem)")
      }
      guard entry.onHand >= 0, entry.onHand <= EventValidation.maxQuantity else {
        throw GRPCStatus(
          .invalidArgument, "\(where_): on_hand \(entry.onHand) for sku '\(entry.sku)' is outside 0...1,000,000,000")
      }
      guard part.quantities.updateValue(entry.onHand, forKey: entry.sku) == nil else {
        throw GRPCStatus(
          .invalidArgument, "\(where_): sku '\(entry.sku)' appears twice for location '\(chunk.locationID)'")
      }
    }
    parts[chunk.locationID] = part
  }

  /// Logs the whole snapshot as one record and applies it under its LSN (each position
  /// atomically for readers); returns once it is durable.
  func apply(writer: StockWriter, directory: LocationDirectory, nowUnixMs: Int64) async throws(GRPCStatus)
    -> Omnistock_V1_SnapshotResult
  {
    guard chunks > 0 else { throw GRPCStatus(.invalidArgument, "the snapshot stream carried no chunks") }
    var record = Omnistock_Log_V1_StockUpdatesRecord()
    record.serverTimeUnixMs = nowUnixMs
    var owners: [Int] = []
    for (offset, locationID) in order.enumerated() {
      let part = parts[locationID]!
      for (sku, quantity) in part.quantities.sorted(by: { $0.key < $1.key }) {
        record.updates.append(
          StockUpdateRecords.record(
            sku: sku, location: locationID, change: .set(onHand: quantity, asOfUnixMs: part.asOfUnixMs),
            sourceTimeUnixMs: part.asOfUnixMs))
        owners.append(offset)
      }
      if part.mode == .replace {
        var scope = Omnistock_Log_V1_ReplaceScope()
        scope.locationID = locationID
        scope.asOfUnixMs = part.asOfUnixMs
        record.replace.append(scope)
      }
    }
    let index = writer.index
    let locations = order
    let base = record
    let written: Result<(UInt64, StockUpdateRecords.Applied, [Int]), GRPCStatus> = await withCheckedContinuation { continuation in
      writer.write({ state throws(GRPCStatus) in
        // Under the write order: no location changes between this check and the apply, and the
        // corrections below see exactly the deltas applied before the snapshot.
        for id in locations where directory.location(id) == nil {
          throw GRPCStatus(
            .notFound, "location '\(id)' is not declared: declare it with Admin.UpsertLocation or the --locations file")
        }
        let (corrected, extraOwners) = Self.correct(base, locations: locations, index: index, recent: state.recentDeltas)
        let payloads = try Self.parts(of: corrected)
        return .append(.stockUpdates, payloads: payloads) { state, lsn in
          let applied = StockUpdateRecords.apply(
            corrected, lsn: lsn, index: index, directory: directory, state: &state, recordsEngineState: true)
          return (lsn, applied, extraOwners)
        }
      }, completion: { continuation.resume(returning: $0) })
    }
    let (lsn, outcomes, extraOwners) = try written.get()
    var results = order.map { locationID -> Omnistock_V1_SnapshotLocationResult in
      let part = parts[locationID]!
      var location = Omnistock_V1_SnapshotLocationResult()
      location.locationID = locationID
      location.mode = part.mode
      location.asOfUnixMs = part.asOfUnixMs
      location.entries = UInt64(part.quantities.count)
      return location
    }
    for (scope, zeroed) in zip(record.replace, outcomes.zeroed) {
      if let owner = order.firstIndex(of: scope.locationID) { results[owner].positionsZeroed = UInt64(zeroed) }
    }
    for (offset, outcome) in outcomes.updates.enumerated() {
      guard offset < owners.count else {
        // An unlisted position of a REPLACE location, zeroed plus the deltas that followed as_of.
        if case .applied = outcome { results[extraOwners[offset - owners.count]].positionsZeroed += 1 }
        continue
      }
      switch outcome {
      case .applied, .alreadyIncluded: results[owners[offset]].positionsSet += 1
      case .keptNewer: results[owners[offset]].positionsKeptNewer += 1
      case .indexFull: throw GRPCStatus(.resourceExhausted, "the stock index has no room for more positions")
      }
      if outcomes.variances[offset] { results[owners[offset]].variances += 1 }
    }
    var result = Omnistock_V1_SnapshotResult()
    result.snapshotID = snapshotID ?? ""
    result.lsn = lsn
    result.chunks = UInt32(clamping: chunks)
    result.entries = UInt64(entries)
    result.locations = results
    return result
  }

  /// `record` with every absolute value raised by the deltas applied before it arrived whose
  /// event time is after its `as_of` (so a late sync never erases a later sale), plus, for each
  /// REPLACE location, an explicit update for every unlisted position such deltas touched (0 plus
  /// them). Returns the owners (index in `locations`) of those extra updates.
  static func correct(
    _ record: Omnistock_Log_V1_StockUpdatesRecord, locations: [String], index: StockIndex, recent: RecentDeltas
  ) -> (Omnistock_Log_V1_StockUpdatesRecord, [Int]) {
    var corrected = record
    var listed: [UInt32: Set<UInt32>] = [:]
    for offset in corrected.updates.indices {
      let update = corrected.updates[offset]
      guard let sku = index.skus.id(of: update.sku), let location = index.locations.id(of: update.locationID) else { continue }
      listed[location, default: []].insert(sku)
      corrected.updates[offset].amount &+= recent.sum(PositionKey(sku: sku, location: location), after: update.asOfUnixMs)
    }
    var owners: [Int] = []
    for scope in record.replace {
      guard let location = index.locations.id(of: scope.locationID), let owner = locations.firstIndex(of: scope.locationID)
      else { continue }
      for sku in index.skus(atLocation: location) where !(listed[location]?.contains(sku) ?? false) {
        let later = recent.sum(PositionKey(sku: sku, location: location), after: scope.asOfUnixMs)
        guard later != 0, let name = index.skus.string(for: sku) else { continue }
        corrected.updates.append(
          StockUpdateRecords.record(
            sku: name, location: scope.locationID, change: .set(onHand: later, asOfUnixMs: scope.asOfUnixMs),
            sourceTimeUnixMs: scope.asOfUnixMs))
        owners.append(owner)
      }
    }
    return (corrected, owners)
  }

  /// `record` encoded as one record, or as parts of at most ``updatesPerPart`` updates each (the
  /// REPLACE scopes travel in the last part).
  static func parts(of record: Omnistock_Log_V1_StockUpdatesRecord, updatesPerPart: Int = updatesPerPart)
    throws(GRPCStatus) -> [[UInt8]]
  {
    guard record.updates.count > updatesPerPart else { return [try ProtobufCoding.encode(record)] }
    let count = (record.updates.count + updatesPerPart - 1) / updatesPerPart
    var payloads: [[UInt8]] = []
    for part in 0..<count {
      var piece = Omnistock_Log_V1_StockUpdatesRecord()
      piece.serverTimeUnixMs = record.serverTimeUnixMs
      piece.part = UInt32(part)
      piece.parts = UInt32(count)
      piece.updates = Array(record.updates[(part * updatesPerPart)..<min(record.updates.count, (part + 1) * updatesPerPart)])
      if part == count - 1 { piece.replace = record.replace }
      payloads.append(try ProtobufCoding.encode(piece))
    }
    return payloads
  }
}
