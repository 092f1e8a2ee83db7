import GRPCNGHTTP2
import OmniStockAPI
import SwiftProtobuf

/// Declares a network file's locations and groups at start, through the log like any admin
/// change, but only those that differ from what the server already holds: restarting with the
/// same file writes nothing; editing one store upserts that store.
enum NetworkDeclaration {
  /// Upserts what differs (locations first, then groups); returns how many of each were written.
  static func declare(_ network: Omnistock_Config_V1_LocationNetwork, writer: StockWriter, directory: LocationDirectory)
    async throws(GRPCStatus) -> (locations: Int, groups: Int)
  {
    let now = WallClock.nowUnixMs()
    var written = (locations: 0, groups: 0)
    for location in network.locations where directory.differs(location) {
      var record = Omnistock_Log_V1_LocationRecord()
      record.location = location
      record.serverTimeUnixMs = now
      _ = try await writer.write(
        type: .location, payload: ProtobufCoding.encode(record),
        validate: { () throws(GRPCStatus) in try directory.validate(location) }
      ) { _, lsn in directory.apply(location, lsn: lsn, nowUnixMs: now) }
      written.locations += 1
    }
    for group in network.groups where directory.differs(group) {
      var record = Omnistock_Log_V1_GroupRecord()
      record.group = group
      record.serverTimeUnixMs = now
      _ = try await writer.write(
        type: .group, payload: ProtobufCoding.encode(record),
        validate: { () throws(GRPCStatus) in try directory.validate(group) }
      ) { _, lsn in directory.apply(group, lsn: lsn, nowUnixMs: now) }
      written.groups += 1
    }
    return written
  }
}
