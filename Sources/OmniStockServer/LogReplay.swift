import GRPCNGHTTP2
import OmniStockAPI
import StockIndex
import SwiftProtobuf
import WriteAheadLog

/// Rebuilds the server's state from its write-ahead log at start: each record is applied exactly
/// as it was when first written (same function, same LSN, the recorded server time).
///
/// After a checkpoint, records at or below its `stateLSN` are already in the restored engine
/// state and directory: only their position changes are applied, and the index skips those its
/// restored shards already hold (see ``StockIndex/setRecoveryFloors(_:)``).
///
/// A change logged in parts (`StockUpdatesRecord.parts`) is collected and applied once its last
/// part is read; parts without their last one (the server stopped while writing them, so the
/// change was never acknowledged) are dropped.
struct LogReplay {
  let index: StockIndex
  let directory: LocationDirectory
  let stateLSN: UInt64
  private var parts: Omnistock_Log_V1_StockUpdatesRecord?
  /// Parts dropped because their change was incomplete, as (first LSN, parts seen).
  private(set) var droppedParts: [(lsn: UInt64, count: Int)] = []
  private var partsFirstLSN: UInt64 = 0

  init(index: StockIndex, directory: LocationDirectory, stateLSN: UInt64) {
    self.index = index
    self.directory = directory
    self.stateLSN = stateLSN
  }

  mutating func apply(_ record: LogRecord, state: inout EngineState) throws {
    guard let type = LogRecordType(rawValue: record.type) else {
      throw LogFailure(
        "log record \(record.lsn) has type \(record.type), unknown to this version of omnistock: "
          + "was the data directory written by a newer version?")
    }
    let recordsEngineState = record.lsn > stateLSN
    do {
      switch type {
      case .stockUpdates:
        let batch = try Omnistock_Log_V1_StockUpdatesRecord(serializedBytes: record.payload)
        guard let whole = collect(batch, lsn: record.lsn) else { break }
        StockUpdateRecords.apply(
          whole, lsn: record.lsn, index: index, directory: directory, state: &state, recordsEngineState: recordsEngineState)
      case .events:
        dropIncompleteParts()
        let batch = try Omnistock_Log_V1_EventsRecord(serializedBytes: record.payload)
        EventRecords.apply(
          batch, lsn: record.lsn, index: index, directory: directory, state: &state, recordsEngineState: recordsEngineState)
      case .reservation:
        dropIncompleteParts()
        let change = try Omnistock_Log_V1_ReservationRecord(serializedBytes: record.payload)
        ReservationRecords.apply(change, lsn: record.lsn, index: index, state: &state, recordsEngineState: recordsEngineState)
      case .location:
        dropIncompleteParts()
        guard recordsEngineState else { break }
        let location = try Omnistock_Log_V1_LocationRecord(serializedBytes: record.payload)
        directory.apply(location.location, lsn: record.lsn, nowUnixMs: location.serverTimeUnixMs)
      case .group:
        dropIncompleteParts()
        guard recordsEngineState else { break }
        let group = try Omnistock_Log_V1_GroupRecord(serializedBytes: record.payload)
        directory.apply(group.group, lsn: record.lsn, nowUnixMs: group.serverTimeUnixMs)
      }
    } catch let failure as LogFailure {
      throw failure
    } catch {
      throw LogFailure("log record \(record.lsn) (type \(type)) does not decode: \(error)")
    }
    index.noteApplied(record.lsn)
  }

  /// After the last record: parts still waiting for their last one are dropped.
  mutating func finish() { dropIncompleteParts() }

  /// The whole change once `batch` completes it (`batch` itself when not split), else `nil`.
  private mutating func collect(_ batch: Omnistock_Log_V1_StockUpdatesRecord, lsn: UInt64)
    -> Omnistock_Log_V1_StockUpdatesRecord?
  {
    guard batch.parts > 1 else {
      dropIncompleteParts()
      return batch
    }
    if batch.part == 0 {
      dropIncompleteParts()
      parts = batch
      partsFirstLSN = lsn
    } else if var collected = parts, batch.part == collected.part + 1, batch.parts == collected.parts {
      collected.updates.append(contentsOf: batch.updates)
      collected.replace = batch.replace
      collected.part = batch.part
      parts = collected
    } else {
      dropIncompleteParts()
      return nil
    }
    guard batch.part == batch.parts - 1, let whole = parts else { return nil }
    parts = nil
    return whole
  }

  private mutating func dropIncompleteParts() {
    if let pending = parts { droppedParts.append((partsFirstLSN, Int(pending.part) + 1)) }
    parts = nil
  }
}
