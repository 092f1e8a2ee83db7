public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex
import SwiftProtobuf

/// `omnistock.v1.Admin`: locations and groups (upsert, get, list), the operator's reports
/// (``OperationsReports``) and checkpoints on demand.
///
/// Upserts are logged and acknowledged once durable.
public struct AdminService: Sendable {
  static let defaultPageSize = 100
  static let maxPageSize = 1_000

  let writer: StockWriter
  let directory: LocationDirectory
  let checkpointer: Checkpointer
  let reports: OperationsReports

  public init(writer: StockWriter, directory: LocationDirectory, checkpointer: Checkpointer, startedAtUnixMs: Int64) {
    self.writer = writer
    self.directory = directory
    self.checkpointer = checkpointer
    self.reports = OperationsReports(
      writer: writer, directory: directory, checkpointer: checkpointer, startedAtUnixMs: startedAtUnixMs)
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    router.unaryDeferred(OmniStockMethods.Admin.upsertLocation) {
      (request: Omnistock_V1_UpsertLocationRequest, _, responder: ProtobufUnaryResponder<Omnistock_V1_UpsertLocationResponse>) in
      guard request.hasLocation else { return responder.fail(GRPCStatus(.invalidArgument, "location is missing")) }
      var record = Omnistock_Log_V1_LocationRecord()
      record.location = request.location
      record.serverTimeUnixMs = WallClock.nowUnixMs()
      let index = writer.index
      Self.write(writer, .location, record, responder, validate: { () throws(GRPCStatus) in try directory.validate(request.location) }) { state, lsn in
        let (location, created) = directory.apply(record.location, lsn: lsn, nowUnixMs: record.serverTimeUnixMs)
        state.noteSettingsChanged(atLocations: [record.location.locationID], index: index)
        var response = Omnistock_V1_UpsertLocationResponse()
        response.location = location
        response.created = created
        return response
      }
    }
    router.unary(OmniStockMethods.Admin.getLocation) { (request: Omnistock_V1_GetLocationRequest, _) in
      if let problem = IdentifierRules.problem(with: request.locationID, field: "location_id") {
        throw GRPCStatus(.invalidArgument, problem)
      }
      guard let location = directory.location(request.locationID), let id = writer.index.locations.id(of: request.locationID)
      else { throw GRPCStatus(.notFound, "unknown location '\(request.locationID)'") }
      let now = WallClock.nowUnixMs()
      var response = Omnistock_V1_GetLocationResponse()
      response.location = location
      response.freshness = PositionResponses.freshness(
        index: writer.index, location: id, locationID: location.locationID, included: location.active, nowUnixMs: now)
      response.groupIds = directory.allGroups().filter { $0.locationIds.contains(request.locationID) }.map(\.groupID)
      response.positions = UInt64(writer.index.skus(atLocation: id).count)
      return response
    }
    router.unary(OmniStockMethods.Admin.listLocations) { (request: Omnistock_V1_ListLocationsRequest, _) in
      let size = try Self.pageSize(request.pageSize)
      try Self.checkPageToken(request.pageToken)
      var members: Set<String>?
      if !request.groupID.isEmpty {
        guard let group = directory.group(request.groupID) else {
          throw GRPCStatus(.notFound, "unknown group '\(request.groupID)'")
        }
        members = Set(group.locationIds)
      }
      let matching = directory.allLocations().filter { location in
        (request.kind == .unspecified || location.kind == request.kind) && (!request.activeOnly || location.active)
          && (members?.contains(location.locationID) ?? true) && location.locationID > request.pageToken
      }
      var response = Omnistock_V1_ListLocationsResponse()
      response.locations = Array(matching.prefix(size))
      if matching.count > size { response.nextPageToken = response.locations.last!.locationID }
      return response
    }
    router.unaryDeferred(OmniStockMethods.Admin.upsertGroup) {
      (request: Omnistock_V1_UpsertGroupRequest, _, responder: ProtobufUnaryResponder<Omnistock_V1_UpsertGroupResponse>) in
      guard request.hasGroup else { return responder.fail(GRPCStatus(.invalidArgument, "group is missing")) }
      var record = Omnistock_Log_V1_GroupRecord()
      record.group = request.group
      record.serverTimeUnixMs = WallClock.nowUnixMs()
      let index = writer.index
      Self.write(writer, .group, record, responder, validate: { () throws(GRPCStatus) in try directory.validate(request.group) }) { state, lsn in
        let (group, created) = directory.apply(record.group, lsn: lsn, nowUnixMs: record.serverTimeUnixMs)
        state.noteSettingsChanged(atLocations: record.group.locationIds, index: index)
        var response = Omnistock_V1_UpsertGroupResponse()
        response.group = group
        response.created = created
        return response
      }
    }
    router.unary(OmniStockMethods.Admin.listGroups) { (request: Omnistock_V1_ListGroupsRequest, _) in
      let size = try Self.pageSize(request.pageSize)
      try Self.checkPageToken(request.pageToken)
      let matching = directory.allGroups().filter { group in
        (request.locationID.isEmpty || group.locationIds.contains(request.locationID)) && group.groupID > request.pageToken
      }
      var response = Omnistock_V1_ListGroupsResponse()
      response.groups = Array(matching.prefix(size))
      if matching.count > size { response.nextPageToken = response.groups.last!.groupID }
      return response
    }
    router.unary(OmniStockMethods.Admin.getFreshness) { (request: Omnistock_V1_GetFreshnessRequest, _) in
      try reports.freshness(request, nowUnixMs: WallClock.nowUnixMs())
    }
    router.unary(OmniStockMethods.Admin.listExceptions) { (request: Omnistock_V1_ListExceptionsRequest, _) in
      try reports.listExceptions(request, nowUnixMs: WallClock.nowUnixMs())
    }
    router.unary(OmniStockMethods.Admin.getStats) { (_: Omnistock_V1_GetStatsRequest, _) in
      reports.stats(nowUnixMs: WallClock.nowUnixMs())
    }
    router.unaryAsync(OmniStockMethods.Admin.checkpoint) { (_: Omnistock_V1_CheckpointRequest, _) in
      let summary = try await checkpointer.checkpoint()
      var response = Omnistock_V1_CheckpointResponse()
      response.lsn = summary.lsn
      response.startedAtUnixMs = summary.startedAtUnixMs
      response.completedAtUnixMs = summary.completedAtUnixMs
      response.positions = summary.positions
      response.sizeBytes = summary.bytes
      response.segmentsDeleted = UInt32(summary.removedSegments)
      response.fileName = "checkpoints/" + summary.fileName
      return response
    }
  }

  /// Logs `record`, applies it, and answers once it is durable.
  static func write<Record: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
    _ writer: StockWriter, _ type: LogRecordType, _ record: Record, _ responder: ProtobufUnaryResponder<Response>,
    validate: () throws(GRPCStatus) -> Void, apply: @escaping (inout EngineState, UInt64) -> Response
  ) {
    let payload: [UInt8]
    do {
      payload = try ProtobufCoding.encode(record)
    } catch {
      return responder.fail(error)
    }
    writer.write(type: type, payloads: [payload], validate: validate, apply: apply) { result in
      switch result {
      case .success(let response): responder.respond(response)
      case .failure(let status): responder.fail(status)
      }
    }
  }

  /// A page token is the last id of the previous page (empty for the first page).
  static func checkPageToken(_ token: String) throws(GRPCStatus) {
    guard token.isEmpty || IdentifierRules.problem(with: token, field: "page_token") == nil else {
      throw GRPCStatus(.invalidArgument, "page_token '\(token)' was not issued by this server; pass next_page_token as given")
    }
  }

  static func pageSize(_ requested: UInt32) throws(GRPCStatus) -> Int {
    guard requested <= maxPageSize else { throw GRPCStatus(.invalidArgument, "page_size must be at most \(maxPageSize)") }
    return requested == 0 ? defaultPageSize : Int(requested)
  }
}
