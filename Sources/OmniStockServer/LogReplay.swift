import GRPCNGHTTP2
import OmniStockAPI
import StockIndex
import SwiftProtobuf
import WriteAheadLog

/// Rebuilds the server's state from its write-ahead log at start: each record is applied exactly
/// as it was when first written (same function, same LSN, the recorded server time).
enum LogReplay {
  static func apply(_ record: LogRecord, index: StockIndex, directory: LocationDirectory) throws {
    guard let type = LogRecordType(rawValue: record.type) else {
      throw LogFailure(
        "log record \(record.lsn) has type \(record.type), unknown to this version of omnistock: "
          + "was the data directory written by a newer version?")
    }
    do {
      switch type {
      case .stockUpdates:
        let batch = try Omnistock_Log_V1_StockUpdatesRecord(serializedBytes: record.payload)
        StockUpdateRecords.apply(batch, lsn: record.lsn, index: index, directory: directory)
      case .location:
        let location = try Omnistock_Log_V1_LocationRecord(serializedBytes: record.payload)
        directory.apply(location.location, lsn: record.lsn, nowUnixMs: location.serverTimeUnixMs)
      case .group:
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
}
