public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `omnistock.v1.Availability`: the storefront's reads, answered from the ``StockIndex``.
///
/// `GetAvailability`, `BatchGetAvailability` and `WhereAvailable` run inline on the connection's
/// event loop (no task, no hop) unless `min_lsn` makes them wait for a write; the index reads take
/// no lock. `WatchAvailability` streams changes (``AvailabilityWatch``).
public struct AvailabilityService: Sendable {
  /// The most queries one `BatchGetAvailability` may carry.
  public static let maxBatchQueries = 10_000
  /// The most locations `WhereAvailable` returns.
  public static let maxWhereAvailableLimit = 1_000

  let index: StockIndex
  let directory: LocationDirectory
  let writer: StockWriter
  var waiters: AppliedLSNWaiters { writer.appliedWaiters }

  public init(writer: StockWriter, directory: LocationDirectory) {
    self.index = writer.index
    self.directory = directory
    self.writer = writer
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    router.unaryDeferred(OmniStockMethods.Availability.getAvailability) {
      (request: Omnistock_V1_GetAvailabilityRequest, context, responder) in
      self.answer(after: request.options, context, responder, encode: AvailabilityWireEncoding.encode) {
        () throws(GRPCStatus) in
        try self.getAvailability(request, nowUnixMs: WallClock.nowUnixMs())
      }
    }
    router.unaryDeferred(OmniStockMethods.Availability.batchGetAvailability) {
      (request: Omnistock_V1_BatchGetAvailabilityRequest, context, responder) in
      self.answer(after: request.options, context, responder, encode: AvailabilityWireEncoding.encode) {
        () throws(GRPCStatus) in
        try self.batchGetAvailability(request, nowUnixMs: WallClock.nowUnixMs())
      }
    }
    router.unaryDeferred(OmniStockMethods.Availability.whereAvailable) {
      (request: Omnistock_V1_WhereAvailableRequest, context, responder) in
      self.answer(after: request.options, context, responder, encode: ProtobufCoding.encode) { () throws(GRPCStatus) in
        try self.whereAvailable(request, nowUnixMs: WallClock.nowUnixMs())
      }
    }
    let watch = AvailabilityWatch(writer: writer)
    router.serverStreaming(OmniStockMethods.Availability.watchAvailability) {
      (request: Omnistock_V1_WatchAvailabilityRequest, responses, context) in
      try await watch.run(request, responses: responses, context: context)
    }
  }

  func getAvailability(_ request: Omnistock_V1_GetAvailabilityRequest, nowUnixMs: Int64) throws(GRPCStatus)
    -> Omnistock_V1_GetAvailabilityResponse
  {
    guard request.hasQuery else { throw GRPCStatus(.invalidArgument, "query is missing") }
    let lsn = checkMinimumLSN(request.options)
    var response = Omnistock_V1_GetAvailabilityResponse()
    response.availability = try answer(request.query, excludeStale: request.options.excludeStale, nowUnixMs: nowUnixMs)
    response.indexLsn = lsn
    return response
  }

  func batchGetAvailability(_ request: Omnistock_V1_BatchGetAvailabilityRequest, nowUnixMs: Int64) throws(GRPCStatus)
    -> Omnistock_V1_BatchGetAvailabilityResponse
  {
    guard request.queries.count <= Self.maxBatchQueries else {
      throw GRPCStatus(
        .invalidArgument,
        "\(request.queries.count) queries in one batch; the limit is \(Self.maxBatchQueries): split the batch")
    }
    let lsn = checkMinimumLSN(request.options)
    var response = Omnistock_V1_BatchGetAvailabilityResponse()
    response.results.reserveCapacity(request.queries.count)
    for (position, query) in request.queries.enumerated() {
      var result = Omnistock_V1_AvailabilityResult()
      do {
        result.availability = try answer(query, excludeStale: request.options.excludeStale, nowUnixMs: nowUnixMs)
      } catch {
        var queryError = Omnistock_V1_QueryError()
        queryError.code = Int32(error.code.rawValue)
        queryError.message = "queries[\(position)]: \(error.message)"
        result.error = queryError
      }
      response.results.append(result)
    }
    response.indexLsn = lsn
    return response
  }

  func whereAvailable(_ request: Omnistock_V1_WhereAvailableRequest, nowUnixMs: Int64) throws(GRPCStatus)
    -> Omnistock_V1_WhereAvailableResponse
  {
    if let problem = IdentifierRules.problem(with: request.sku, field: "sku") { throw GRPCStatus(.invalidArgument, problem) }
    if let problem = IdentifierRules.problem(with: request.groupID, field: "group_id") {
      throw GRPCStatus(.invalidArgument, problem)
    }
    guard request.limit <= Self.maxWhereAvailableLimit else {
      throw GRPCStatus(.invalidArgument, "limit must be at most \(Self.maxWhereAvailableLimit)")
    }
    if request.radiusKm != 0 && !request.hasNear {
      throw GRPCStatus(.invalidArgument, "radius_km needs a `near` point")
    }
    guard request.radiusKm >= 0, request.radiusKm.isFinite else {
      throw GRPCStatus(.invalidArgument, "radius_km must be a non-negative number")
    }
    if request.hasNear {
      guard (-90...90).contains(request.near.latitude), (-180...180).contains(request.near.longitude) else {
        throw GRPCStatus(.invalidArgument, "near is out of range: latitude -90...90, longitude -180...180")
      }
    }
    let lsn = checkMinimumLSN(request.options)
    guard let groupID = index.groups.id(of: request.groupID), let members = index.members(ofGroup: groupID) else {
      throw GRPCStatus(.notFound, "unknown group '\(request.groupID)'")
    }
    let excludeStale = request.options.excludeStale || !index.includesStale(group: groupID)
    let minimum = max(1, request.minAvailable)
    let skuID = index.skus.id(of: request.sku)
    var found: [(rank: Int, distance: Double?, location: Omnistock_V1_AvailableLocation)] = []
    for (rank, member) in members.enumerated() {
      guard let skuID, index.settings(ofLocation: member) != nil, let locationID = index.locations.string(for: member)
      else { continue }
      let reading = index.position(sku: skuID, location: member, nowUnixMs: nowUnixMs, excludeStale: excludeStale)
      guard reading.available >= minimum, let record = directory.location(locationID) else { continue }
      if !request.requiredCapabilities.allSatisfy(record.capabilities.contains) { continue }
      var distance: Double?
      if request.hasNear, record.hasCoordinates {
        distance = Self.greatCircleKm(request.near, record.coordinates)
      }
      if request.radiusKm > 0 {
        guard let distance, distance <= request.radiusKm else { continue }
      }
      var entry = Omnistock_V1_AvailableLocation()
      entry.availability = PositionResponses.position(
        sku: request.sku, locationID: locationID, location: member, reading: reading, index: index, nowUnixMs: nowUnixMs)
      entry.kind = record.kind
      entry.displayName = record.displayName
      entry.capabilities = record.capabilities
      if record.hasCoordinates { entry.coordinates = record.coordinates }
      if let distance { entry.distanceKm = distance }
      found.append((rank, distance, entry))
    }
    if request.hasNear {
      found.sort { lhs, rhs in
        switch (lhs.distance, rhs.distance) {
        case let (left?, right?) where left != right: return left < right
        case (.some, nil): return true
        case (nil, .some): return false
        default: return lhs.location.availability.available > rhs.location.availability.available
        }
      }
    }
    var response = Omnistock_V1_WhereAvailableResponse()
    response.totalAvailable = found.reduce(0) { $0 + $1.location.availability.available }
    response.totalLocations = UInt32(found.count)
    let limit = request.limit == 0 ? 50 : Int(request.limit)
    response.locations = found.prefix(limit).map(\.location)
    response.indexLsn = lsn
    return response
  }

  /// Answers with `body`, encoded by `encode`, at once (inline, the common case: every LSN this
  /// server acknowledged is applied already), or once the index has applied `options.min_lsn`;
  /// `DEADLINE_EXCEEDED` if that does not happen before the call's deadline (10 s without one).
  private func answer<Response>(
    after options: Omnistock_V1_ReadOptions, _ context: CallContext, _ responder: ProtobufUnaryResponder<Response>,
    encode: @escaping @Sendable (Response) throws(GRPCStatus) -> [UInt8],
    _ body: @escaping @Sendable () throws(GRPCStatus) -> Response
  ) {
    @Sendable func respond() {
      do { responder.respond(encoded: try encode(try body())) } catch { responder.fail(error) }
    }
    let minimum = options.minLsn
    guard minimum > index.lsn else { return respond() }
    let index = self.index
    waiters.wait(for: minimum, current: { index.lsn }, eventLoop: context.eventLoop, deadline: context.deadline) { reached in
      guard reached else {
        return responder.fail(
          GRPCStatus(
            .deadlineExceeded,
            "options.min_lsn \(minimum) was not applied before the deadline; the server has applied up to \(index.lsn)"))
      }
      respond()
    }
  }

  /// The LSN the answer reflects (at least `options.min_lsn`, which ``answer(after:_:_:_:)``
  /// waited for).
  private func checkMinimumLSN(_ options: Omnistock_V1_ReadOptions) -> UInt64 {
    index.lsn
  }

  private func answer(_ query: Omnistock_V1_AvailabilityQuery, excludeStale: Bool, nowUnixMs: Int64) throws(GRPCStatus)
    -> Omnistock_V1_PositionAvailability
  {
    if let problem = IdentifierRules.problem(with: query.sku, field: "sku") {
      throw GRPCStatus(.invalidArgument, problem)
    }
    switch query.target {
    case .locationID(let locationID):
      if let problem = IdentifierRules.problem(with: locationID, field: "location_id") {
        throw GRPCStatus(.invalidArgument, problem)
      }
      guard let location = index.locations.id(of: locationID), index.settings(ofLocation: location) != nil else {
        throw GRPCStatus(.notFound, "unknown location '\(locationID)'")
      }
      let reading = index.position(
        sku: index.skus.id(of: query.sku) ?? StockIndex.unknownSKU, location: location, nowUnixMs: nowUnixMs,
        excludeStale: excludeStale)
      return PositionResponses.position(
        sku: query.sku, locationID: locationID, location: location, reading: reading, index: index, nowUnixMs: nowUnixMs)
    case .groupID(let groupID):
      if let problem = IdentifierRules.problem(with: groupID, field: "group_id") {
        throw GRPCStatus(.invalidArgument, problem)
      }
      guard let group = index.groups.id(of: groupID),
        let reading = index.group(sku: index.skus.id(of: query.sku) ?? StockIndex.unknownSKU, group: group, nowUnixMs: nowUnixMs, excludeStale: excludeStale)
      else {
        throw GRPCStatus(.notFound, "unknown group '\(groupID)'")
      }
      return PositionResponses.group(
        sku: query.sku, groupID: groupID, group: group, reading: reading, index: index, excludeStale: excludeStale,
        nowUnixMs: nowUnixMs)
    case nil:
      throw GRPCStatus(.invalidArgument, "query target is not set: give location_id or group_id")
    }
  }

  /// Great-circle distance (haversine, mean Earth radius 6,371 km).
  static func greatCircleKm(_ from: Omnistock_V1_GeoPoint, _ to: Omnistock_V1_GeoPoint) -> Double {
    let radians = Double.pi / 180
    let dLat = (to.latitude - from.latitude) * radians
    let dLon = (to.longitude - from.longitude) * radians
    let a =
      sin(dLat / 2) * sin(dLat / 2) + cos(from.latitude * radians) * cos(to.latitude * radians) * sin(dLon / 2) * sin(dLon / 2)
    return 6_371 * 2 * atan2(a.squareRoot(), (1 - a).squareRoot())
  }
}
