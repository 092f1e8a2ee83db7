public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// `omnistock.v1.Admin`: locations and groups (upsert, get, list).
///
/// **Interim**: configuration lives in memory until the log makes it durable (issue 4);
/// freshness, exceptions, stats and checkpoints answer `UNIMPLEMENTED` until issues 4 and 5.
public struct AdminService: Sendable {
  static let defaultPageSize = 100
  static let maxPageSize = 1_000

  let writer: StockWriter
  let directory: LocationDirectory

  public init(writer: StockWriter, directory: LocationDirectory) {
    self.writer = writer
    self.directory = directory
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    router.unary(OmniStockMethods.Admin.upsertLocation) { (request: Omnistock_V1_UpsertLocationRequest, _) in
      guard request.hasLocation else { throw GRPCStatus(.invalidArgument, "location is missing") }
      let now = WallClock.nowUnixMs()
      let (location, created) = try writer.commit { lsn throws(GRPCStatus) in
        try directory.upsert(request.location, lsn: lsn, nowUnixMs: now)
      }
      var response = Omnistock_V1_UpsertLocationResponse()
      response.location = location
      response.created = created
      return response
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
    router.unary(OmniStockMethods.Admin.upsertGroup) { (request: Omnistock_V1_UpsertGroupRequest, _) in
      guard request.hasGroup else { throw GRPCStatus(.invalidArgument, "group is missing") }
      let now = WallClock.nowUnixMs()
      let (group, created) = try writer.commit { lsn throws(GRPCStatus) in
        try directory.upsert(request.group, lsn: lsn, nowUnixMs: now)
      }
      var response = Omnistock_V1_UpsertGroupResponse()
      response.group = group
      response.created = created
      return response
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
    for method in [
      OmniStockMethods.Admin.getFreshness, OmniStockMethods.Admin.listExceptions, OmniStockMethods.Admin.getStats,
    ] {
      router.unimplemented(method, reason: "operations reports arrive with the inventory engine (issue 5)")
    }
    router.unimplemented(OmniStockMethods.Admin.checkpoint, reason: "checkpoints arrive with the write-ahead log (issue 4)")
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
