import Foundation
import GRPCNGHTTP2
import OmniStockAPI
@testable import OmniStockServer
import StockIndex
import WriteAheadLog

/// The server's engine in-process, without a socket: recovery, event ingestion, admin writes and
/// checkpoints called directly, so engine tests are deterministic and fast. `reopen()` is a
/// restart on the same data directory (use the engine it returns).
final class InProcessEngine: Sendable {
  let directory: String
  let segmentBytes: Int
  let server: OmniStockServer

  init(
    directory: String? = nil, segmentBytes: Int = 1 << 20, faults: LogFaultInjector? = nil,
    onLogFailure: @escaping @Sendable (LogFailure) -> Void = { _ in }
  ) throws {
    self.directory =
      directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("omnistock-engine-\(UUID().uuidString)").path
    self.segmentBytes = segmentBytes
    var configuration = OmniStockServer.Configuration(
      grpc: .init(host: "127.0.0.1", port: 0, threads: 1), dataDirectory: self.directory, logSegmentBytes: segmentBytes,
      checkpointIntervalSeconds: 0, checkpointLogBytes: 0)
    configuration.logFaults = faults
    server = try OmniStockServer(configuration: configuration, onLogFailure: onLogFailure)
  }

  /// Closes the server (log synced) and opens a new one on the same directory: a clean restart.
  func reopen() async throws -> InProcessEngine {
    try await server.close()
    return try InProcessEngine(directory: directory, segmentBytes: segmentBytes)
  }

  /// Closes without deleting the directory.
  func close() async throws { try await server.close() }

  /// Closes and deletes the data directory.
  func destroy() async throws {
    try await server.close()
    try? FileManager.default.removeItem(atPath: directory)
  }

  var writer: StockWriter { server.writer }
  var index: StockIndex { server.index }

  func declare(_ request: Omnistock_V1_UpsertLocationRequest) async throws {
    var record = Omnistock_Log_V1_LocationRecord()
    record.location = request.location
    record.serverTimeUnixMs = WallClock.nowUnixMs()
    let directory = server.directory
    _ = try await writer.write(
      type: .location, payload: ProtobufCoding.encode(record),
      validate: { () throws(GRPCStatus) in try directory.validate(record.location) }
    ) { _, lsn in directory.apply(record.location, lsn: lsn, nowUnixMs: record.serverTimeUnixMs) }
  }

  func declare(_ request: Omnistock_V1_UpsertGroupRequest) async throws {
    var record = Omnistock_Log_V1_GroupRecord()
    record.group = request.group
    record.serverTimeUnixMs = WallClock.nowUnixMs()
    let directory = server.directory
    _ = try await writer.write(
      type: .group, payload: ProtobufCoding.encode(record),
      validate: { () throws(GRPCStatus) in try directory.validate(record.group) }
    ) { _, lsn in directory.apply(record.group, lsn: lsn, nowUnixMs: record.serverTimeUnixMs) }
  }

  func send(_ batch: Omnistock_V1_EventBatch) async throws -> Omnistock_V1_EventAck {
    let ingestion = EventIngestion(writer: writer, directory: server.directory)
    let result: Result<Omnistock_V1_EventAck, GRPCStatus> = await withCheckedContinuation { continuation in
      ingestion.apply(batch) { continuation.resume(returning: $0) }
    }
    return try result.get()
  }

  func send(_ events: [Omnistock_V1_StockEvent]) async throws -> Omnistock_V1_EventAck {
    try await send(Fixtures.batch("b", events))
  }

  /// Runs a reservation decision like the `Reservations` service does.
  func reservation(
    _ decide: @escaping (inout EngineState, Int64) throws(GRPCStatus) -> ReservationDecisions.Decision
  ) async throws -> (Omnistock_V1_Reservation, Bool) {
    let result: Result<(Omnistock_V1_Reservation, Bool), GRPCStatus> = await withCheckedContinuation { continuation in
      ReservationsService.perform(writer, decide) { continuation.resume(returning: $0) }
    }
    return try result.get()
  }

  func reserve(_ request: Omnistock_V1_ReserveRequest) async throws -> (Omnistock_V1_Reservation, Bool) {
    let index = self.index
    let directory = server.directory
    return try await reservation { state, now throws(GRPCStatus) in
      try ReservationDecisions.reserve(request, nowUnixMs: now, book: state.reservations, index: index, directory: directory)
    }
  }

  func onHand(_ sku: String, at location: String) -> Int64? {
    index.position(sku: sku, location: location, nowUnixMs: WallClock.nowUnixMs())?.state.onHand
  }

  /// Everything recovery must rebuild, by strings: positions (without `updated_at`, which is
  /// whole seconds of wall time), device high-water marks, recorded exceptions, counters, and
  /// group availability of every SKU in every group.
  struct State: Equatable, CustomStringConvertible {
    var positions: [String: PositionState] = [:]
    var devices: [String: UInt64] = [:]
    var exceptions: [Omnistock_V1_StockException] = []
    var negative: Set<String> = []
    var counters = EngineState.Counters()
    var groups: [String: Int64] = [:]
    var reservations: [String: Omnistock_V1_Reservation] = [:]

    var description: String {
      "\(positions.count) positions, \(devices.count) devices, \(exceptions.count) exceptions, \(negative.count) negative"
    }

    /// What differs from `other`, for a failure message.
    func differences(from other: State) -> String {
      var lines: [String] = []
      for key in Set(positions.keys).union(other.positions.keys).sorted() where positions[key] != other.positions[key] {
        lines.append("position \(key): \(String(describing: positions[key])) vs \(String(describing: other.positions[key]))")
      }
      if devices != other.devices { lines.append("devices \(devices) vs \(other.devices)") }
      if exceptions != other.exceptions {
        for (mine, theirs) in zip(exceptions, other.exceptions) where mine != theirs {
          lines.append("exception \(mine) vs \(theirs)")
          break
        }
        if exceptions.count != other.exceptions.count { lines.append("exceptions \(exceptions.count) vs \(other.exceptions.count)") }
      }
      if negative != other.negative { lines.append("negative \(negative) vs \(other.negative)") }
      for key in Set(reservations.keys).union(other.reservations.keys).sorted() where reservations[key] != other.reservations[key] {
        lines.append("reservation \(key): \(String(describing: reservations[key])) vs \(String(describing: other.reservations[key]))")
      }
      if counters != other.counters { lines.append("counters \(counters) vs \(other.counters)") }
      for key in Set(groups.keys).union(other.groups.keys).sorted() where groups[key] != other.groups[key] {
        lines.append("group \(key): \(String(describing: groups[key])) vs \(String(describing: other.groups[key]))")
      }
      return lines.prefix(10).joined(separator: "\n")
    }
  }

  func state() -> State {
    var result = State()
    let index = self.index
    for shard in 0..<index.shardCount {
      let copy = index.positions(inShard: shard)
      for row in 0..<copy.count {
        let key = "\(index.skus.string(for: copy.skus[row])!)@\(index.locations.string(for: copy.locations[row])!)"
        result.positions[key] = copy.states[row]
      }
    }
    let engine = writer.read { state in state }
    result.devices = engine.devices
    result.exceptions = engine.exceptions.ordered
    result.negative = Set(
      engine.negative.keys.map { "\(index.skus.string(for: $0.sku)!)@\(index.locations.string(for: $0.location)!)" })
    result.counters = engine.counters
    result.reservations = engine.reservations.reservations
    // Duplicates and rejections are not logged (nothing changed): their counts survive a restart
    // only through checkpoints, so they are not part of the state recovery must rebuild.
    result.counters.duplicates = 0
    result.counters.rejected = 0
    for group in server.directory.allGroups() {
      for skuID in 0..<index.skus.count {
        let sku = index.skus.string(for: UInt32(skuID))!
        result.groups["\(sku)@\(group.groupID)"] =
          index.group(sku: sku, group: group.groupID, nowUnixMs: WallClock.nowUnixMs())?.totals.onHand
      }
    }
    return result
  }
}
