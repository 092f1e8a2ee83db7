public import GRPCNGHTTP2
import OmniStockAPI

/// `omnistock.v1.Availability`: the storefront's reads.
///
/// `GetAvailability` and `BatchGetAvailability` are answered inline on the connection's event loop
/// (no task, no hop) from the stock table. `WhereAvailable` and `WatchAvailability` are part of the
/// contract and answer `UNIMPLEMENTED` until the index and the engine land (issues 3 and 5).
public struct AvailabilityService: Sendable {
  /// The most queries one `BatchGetAvailability` may carry.
  public static let maxBatchQueries = 10_000

  let table: ProvisionalStockTable

  public init(table: ProvisionalStockTable) {
    self.table = table
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    router.unary(OmniStockMethods.Availability.getAvailability) {
      (request: Omnistock_V1_GetAvailabilityRequest, _) in
      try self.getAvailability(request)
    }
    router.unary(OmniStockMethods.Availability.batchGetAvailability) {
      (request: Omnistock_V1_BatchGetAvailabilityRequest, _) in
      try self.batchGetAvailability(request)
    }
    router.unimplemented(
      OmniStockMethods.Availability.whereAvailable, reason: "location search needs the stock index (issue 3)")
    router.unimplemented(
      OmniStockMethods.Availability.watchAvailability, reason: "watching changes needs the inventory engine (issue 5)")
  }

  func getAvailability(_ request: Omnistock_V1_GetAvailabilityRequest) throws(GRPCStatus)
    -> Omnistock_V1_GetAvailabilityResponse
  {
    guard request.hasQuery else { throw GRPCStatus(.invalidArgument, "query is missing") }
    let lsn = try checkMinimumLSN(request.options)
    var response = Omnistock_V1_GetAvailabilityResponse()
    response.availability = try answer(request.query)
    response.indexLsn = lsn
    return response
  }

  func batchGetAvailability(_ request: Omnistock_V1_BatchGetAvailabilityRequest) throws(GRPCStatus)
    -> Omnistock_V1_BatchGetAvailabilityResponse
  {
    guard request.queries.count <= Self.maxBatchQueries else {
      throw GRPCStatus(
        .invalidArgument,
        "\(request.queries.count) queries in one batch; the limit is \(Self.maxBatchQueries): split the batch")
    }
    let lsn = try checkMinimumLSN(request.options)
    var response = Omnistock_V1_BatchGetAvailabilityResponse()
    response.results.reserveCapacity(request.queries.count)
    for (index, query) in request.queries.enumerated() {
      var result = Omnistock_V1_AvailabilityResult()
      do {
        result.availability = try answer(query)
      } catch {
        var queryError = Omnistock_V1_QueryError()
        queryError.code = Int32(error.code.rawValue)
        queryError.message = "queries[\(index)]: \(error.message)"
        result.error = queryError
      }
      response.results.append(result)
    }
    response.indexLsn = lsn
    return response
  }

  /// The table applies each change before it is acknowledged, so any LSN a client has seen is
  /// already visible; a larger one was never issued by this server.
  private func checkMinimumLSN(_ options: Omnistock_V1_ReadOptions) throws(GRPCStatus) -> UInt64 {
    let lsn = table.lsn
    if options.minLsn > lsn {
      throw GRPCStatus(
        .failedPrecondition,
        "options.min_lsn \(options.minLsn) is ahead of the server's latest LSN \(lsn); use an LSN this server returned")
    }
    return lsn
  }

  private func answer(_ query: Omnistock_V1_AvailabilityQuery) throws(GRPCStatus) -> Omnistock_V1_PositionAvailability {
    if let problem = IdentifierRules.problem(with: query.sku, field: "sku") {
      throw GRPCStatus(.invalidArgument, problem)
    }
    switch query.target {
    case .locationID(let locationID):
      if let problem = IdentifierRules.problem(with: locationID, field: "location_id") {
        throw GRPCStatus(.invalidArgument, problem)
      }
      let (position, _) = table.read(.init(sku: query.sku, locationID: locationID))
      return Self.availability(sku: query.sku, locationID: locationID, position: position)
    case .groupID(let groupID):
      if let problem = IdentifierRules.problem(with: groupID, field: "group_id") {
        throw GRPCStatus(.invalidArgument, problem)
      }
      throw GRPCStatus(
        .notFound, "unknown group '\(groupID)': location groups arrive with the inventory engine (issue 5)")
    case nil:
      throw GRPCStatus(.invalidArgument, "query target is not set: give location_id or group_id")
    }
  }

  static func availability(
    sku: String, locationID: String, position: ProvisionalStockTable.Position?
  ) -> Omnistock_V1_PositionAvailability {
    var result = Omnistock_V1_PositionAvailability()
    result.sku = sku
    result.locationID = locationID
    result.exists = position != nil
    result.contributingLocations = 1
    guard let position else {
      result.status = .outOfStock
      return result
    }
    result.onHand = position.onHand
    result.available = max(0, position.onHand)
    result.status = result.available > 0 ? .inStock : .outOfStock
    result.locationsWithStock = result.available > 0 ? 1 : 0
    result.lsn = position.lsn
    result.updatedAtUnixMs = position.updatedAtUnixMs
    result.sourceTimeUnixMs = position.sourceTimeUnixMs
    result.lastAbsoluteTimeUnixMs = position.lastAbsoluteTimeUnixMs
    return result
  }
}
