import Dispatch
public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex
import Synchronization
import SwiftProtobuf
import WriteAheadLog

/// Takes checkpoints: a snapshot of the whole state that lets recovery start from it instead of
/// from the beginning of the log, after which older log segments are deleted.
///
/// ## How a checkpoint stays exact without stopping the server
/// Readers are never stopped. Writers are held only briefly, one index shard at a time: under
/// the write order (``StockWriter/withWriteOrder(_:)``) the shard's positions are copied, exact as
/// of the LSN applied at that moment, the shard's *floor*; then, under the write order once more,
/// everything else (directory, device high-water marks, exceptions, counters, identifier
/// strings) as of the *state LSN*. The file is written outside the lock. Recovery restores it and
/// replays the log after the lowest floor: a position change at or below its shard's floor is
/// already in the checkpoint and skipped; any other change at or below the state LSN touches
/// positions only. No change is applied twice.
///
/// ## Files
/// `<data-dir>/checkpoints/checkpoint-<lsn>-<replay-from>.ckpt` (see ``CheckpointWriter``): the
/// last two are kept; log segments that neither needs are deleted. A checkpoint is committed
/// only once the log is durable through its state LSN, so the log always covers it.
///
/// One checkpoint at a time, on a dedicated queue (never Swift's cooperative pool).
public final class Checkpointer: Sendable {
  /// Identifier strings (or devices, deltas, negative positions) per section: a few MiB at most.
  static let stringsPerSection = 100_000
  /// Reservations per section (up to 1,000 lines each).
  static let reservationsPerSection = 1_000
  /// Groups per section (up to 10,000 members each).
  static let groupsPerSection = 100
  /// Positions per section.
  static let positionsPerSection = 250_000

  let writer: StockWriter
  let directory: LocationDirectory
  /// Where checkpoint files go.
  public let path: String
  private let queue = DispatchQueue(label: "omnistock-checkpoint", qos: .utility)
  private let last: Mutex<CheckpointSummary?>

  public init(writer: StockWriter, directory: LocationDirectory, path: String, last: CheckpointSummary?) {
    self.writer = writer
    self.directory = directory
    self.path = path
    self.last = Mutex(last)
  }

  /// The last checkpoint taken or restored from.
  public var lastCheckpoint: CheckpointSummary? { last.withLock { $0 } }

  /// Takes a checkpoint now (after any in progress) and returns what it holds.
  public func checkpoint() async throws(GRPCStatus) -> CheckpointSummary {
    let result: Result<CheckpointSummary, GRPCStatus> = await withCheckedContinuation { continuation in
      queue.async {
        do {
          continuation.resume(returning: .success(try self.take()))
        } catch {
          continuation.resume(returning: .failure(GRPCStatus(.internal, "the checkpoint failed: \(error)")))
        }
      }
    }
    return try result.get()
  }

  /// Takes a checkpoint on the calling thread.
  func take() throws -> CheckpointSummary {
    let started = WallClock.nowUnixMs()
    let index = writer.index
    let file = try CheckpointWriter(directory: path)
    var floors: [UInt64] = []
    var positions: UInt64 = 0
    for shard in 0..<index.shardCount {
      let (floor, copy) = writer.withWriteOrder { _ in (index.lsn, index.positions(inShard: shard)) }
      floors.append(floor)
      positions += UInt64(copy.count)
      var start = 0
      repeat {
        let end = min(copy.count, start + Self.positionsPerSection)
        try file.append(
          type: CheckpointSection.positions.rawValue,
          payload: ProtobufCoding.encode(Self.section(shard: shard, floor: floor, copy, start..<end)))
        start = end
      } while start < copy.count
    }
    let (stateLSN, state, locations, groups, skuCount, locationCount) = writer.withWriteOrder { state in
      (index.lsn, state, directory.allLocations(), directory.allGroups(), index.skus.count, index.locations.count)
    }
    var header = Omnistock_Log_V1_CheckpointHeader()
    header.stateLsn = stateLSN
    header.createdAtUnixMs = started
    header.shardCount = UInt32(index.shardCount)
    header.serverVersion = OmniStockServer.version
    try file.append(type: CheckpointSection.header.rawValue, payload: ProtobufCoding.encode(header))
    try Self.appendStrings(.locations, count: locationCount, interner: index.locations, to: file)
    try Self.appendStrings(.skus, count: skuCount, interner: index.skus, to: file)
    var directorySection = Omnistock_Log_V1_CheckpointDirectory()
    directorySection.locations = locations
    let ids = locations.map { index.locations.id(of: $0.locationID) }
    directorySection.lastUpdateUnixMs = ids.map { id in id.map { index.lastUpdateUnixMs(location: $0) } ?? 0 }
    directorySection.lastEventTimeUnixMs = ids.map { id in id.flatMap { state.activity[$0]?.lastEventTimeUnixMs } ?? 0 }
    directorySection.lastSnapshotAsOfUnixMs = ids.map { id in id.flatMap { state.activity[$0]?.lastSnapshotAsOfUnixMs } ?? 0 }
    try file.append(type: CheckpointSection.directory.rawValue, payload: ProtobufCoding.encode(directorySection))
    // Groups follow in their own sections (after every location, which they name).
    try Self.appendChunked(groups, as: .directory, perSection: Self.groupsPerSection, to: file) {
      (section: inout Omnistock_Log_V1_CheckpointDirectory, group) in section.groups.append(group)
    }
    try Self.appendChunked(Array(state.devices), as: .devices, perSection: Self.stringsPerSection, to: file) {
      (section: inout Omnistock_Log_V1_CheckpointDevices, device) in
      section.deviceIds.append(device.key)
      section.highWater.append(device.value)
    }
    var engine = Omnistock_Log_V1_CheckpointEngine()
    engine.exceptions = state.exceptions.ordered
    engine.nextExceptionID = state.exceptions.nextID
    engine.eventsTotal = state.counters.events
    engine.duplicatesTotal = state.counters.duplicates
    engine.gapsTotal = state.counters.gaps
    engine.supersededTotal = state.counters.superseded
    engine.rejectedTotal = state.counters.rejected
    try file.append(type: CheckpointSection.engine.rawValue, payload: ProtobufCoding.encode(engine))
    try Self.appendChunked(Array(state.negative), as: .negativePositions, perSection: Self.stringsPerSection, to: file) {
      (section: inout Omnistock_Log_V1_CheckpointNegativePositions, entry) in
      var negative = Omnistock_Log_V1_NegativePosition()
      negative.sku = index.skus.string(for: entry.key.sku) ?? ""
      negative.locationID = index.locations.string(for: entry.key.location) ?? ""
      negative.detectedAtUnixMs = entry.value.detectedAtUnixMs
      negative.lsn = entry.value.lsn
      section.positions.append(negative)
    }
    try Self.appendChunked(state.recentDeltas.all, as: .recentDeltas, perSection: Self.stringsPerSection, to: file) {
      (section: inout Omnistock_Log_V1_CheckpointRecentDeltas, delta) in
      section.skus.append(index.skus.string(for: delta.position.sku) ?? "")
      section.locationIds.append(index.locations.string(for: delta.position.location) ?? "")
      section.eventTimeUnixMs.append(delta.eventTimeUnixMs)
      section.amounts.append(delta.amount)
    }
    let reservations = state.reservations.reservations.values.sorted { $0.reservationID < $1.reservationID }
    try Self.appendChunked(reservations, as: .reservations, perSection: Self.reservationsPerSection, to: file) {
      (section: inout Omnistock_Log_V1_CheckpointReservations, reservation) in section.reservations.append(reservation)
    }
    try Self.waitUntilDurable(stateLSN, log: writer.log)
    let replayFrom = (floors.min() ?? stateLSN) + 1
    let committed = try file.commit(lsn: stateLSN, replayFrom: replayFrom)
    let bytes = UInt64(file.bytes)
    // Read it back before anything older is deleted: a checkpoint that cannot be restored must
    // never cost the log or the previous checkpoint.
    _ = try CheckpointReader(path: committed)
    let retained = try CheckpointWriter.prune(directory: path)
    var removed = 0
    if retained.count == CheckpointWriter.retained, let oldest = retained.map(\.replayFrom).min() {
      removed = try writer.log.removeSegments(below: oldest).count
    }
    let summary = CheckpointSummary(
      lsn: stateLSN, replayFrom: replayFrom, startedAtUnixMs: started, completedAtUnixMs: WallClock.nowUnixMs(),
      positions: positions, bytes: bytes, removedSegments: removed)
    last.withLock { $0 = summary }
    return summary
  }

  private static func waitUntilDurable(_ lsn: UInt64, log: WriteAheadLog) throws {
    let done = DispatchSemaphore(value: 0)
    let outcome = Mutex<Result<UInt64, LogFailure>?>(nil)
    log.whenDurable(lsn) { result in
      outcome.withLock { $0 = result }
      done.signal()
    }
    done.wait()
    _ = try outcome.withLock { $0! }.get()
  }

  static func section(shard: Int, floor: UInt64, _ copy: ShardPositions, _ range: Range<Int>)
    -> Omnistock_Log_V1_CheckpointPositions
  {
    var section = Omnistock_Log_V1_CheckpointPositions()
    section.shard = UInt32(shard)
    section.floorLsn = floor
    section.skus = Array(copy.skus[range])
    section.locations = Array(copy.locations[range])
    let states = copy.states[range]
    section.onHand = states.map(\.onHand)
    section.reserved = states.map(\.reserved)
    section.safetyStock = states.map { $0.safetyStockOverride ?? -1 }
    section.lsn = states.map(\.lsn)
    section.lastAbsoluteUnixMs = states.map(\.lastAbsoluteTimeUnixMs)
    section.updatedAtUnixSeconds = states.map(\.updatedAtUnixSeconds)
    section.sourceTimeUnixSeconds = states.map(\.sourceTimeUnixSeconds)
    return section
  }

  /// Appends `items` as sections of `type`, at most `perSection` items each (sections stay a few
  /// MiB, well under what ``CheckpointReader`` accepts), each built by `add`.
  private static func appendChunked<Item, Section: SwiftProtobuf.Message>(
    _ items: [Item], as type: CheckpointSection, perSection: Int, to file: CheckpointWriter,
    _ add: (inout Section, Item) -> Void
  ) throws {
    for start in stride(from: 0, to: items.count, by: perSection) {
      var section = Section()
      for item in items[start..<min(items.count, start + perSection)] { add(&section, item) }
      try file.append(type: type.rawValue, payload: ProtobufCoding.encode(section))
    }
  }

  private static func appendStrings(
    _ table: Omnistock_Log_V1_CheckpointStrings.Table, count: Int, interner: StringInterner, to file: CheckpointWriter
  ) throws {
    var first = 0
    repeat {
      var section = Omnistock_Log_V1_CheckpointStrings()
      section.table = table
      section.firstID = UInt32(first)
      let end = min(count, first + stringsPerSection)
      section.values = (first..<end).map { interner.string(for: UInt32($0)) ?? "" }
      try file.append(type: CheckpointSection.strings.rawValue, payload: ProtobufCoding.encode(section))
      first = end
    } while first < count
  }
}
