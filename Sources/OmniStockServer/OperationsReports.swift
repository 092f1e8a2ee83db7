import GRPCNGHTTP2
import OmniStockAPI
import StockIndex
import WriteAheadLog

/// The operator's reports of `omnistock.v1.Admin`: freshness per location, exceptions, and server
/// statistics. Each reads the index without locks and the engine state briefly under the write
/// order (copying only what it reports).
struct OperationsReports: Sendable {
  static let defaultExceptionPage = 100
  static let maxExceptionPage = 10_000

  let writer: StockWriter
  let directory: LocationDirectory
  let checkpointer: Checkpointer
  let startedAtUnixMs: Int64

  var index: StockIndex { writer.index }

  func freshness(_ request: Omnistock_V1_GetFreshnessRequest, nowUnixMs now: Int64) throws(GRPCStatus)
    -> Omnistock_V1_GetFreshnessResponse
  {
    var locations: [Omnistock_V1_Location] = []
    if request.locationIds.isEmpty {
      locations = directory.allLocations()
    } else {
      for id in request.locationIds {
        if let problem = IdentifierRules.problem(with: id, field: "location_ids") { throw GRPCStatus(.invalidArgument, problem) }
        guard let location = directory.location(id) else { throw GRPCStatus(.notFound, "unknown location '\(id)'") }
        locations.append(location)
      }
      locations.sort { $0.locationID < $1.locationID }
    }
    let ids = locations.map { index.locations.id(of: $0.locationID) }
    let activity: [LocationActivity?] = writer.read { state in ids.map { $0.flatMap { state.activity[$0] } } }
    var response = Omnistock_V1_GetFreshnessResponse()
    response.serverTimeUnixMs = now
    for (offset, location) in locations.enumerated() {
      guard let id = ids[offset], request.includeInactive || location.active else { continue }
      var report = Omnistock_V1_LocationFreshnessReport()
      report.freshness = PositionResponses.freshness(
        index: index, location: id, locationID: location.locationID, included: location.active, nowUnixMs: now)
      guard !request.staleOnly || report.freshness.stale else { continue }
      report.active = location.active
      if let recent = activity[offset] {
        report.lastEventTimeUnixMs = recent.lastEventTimeUnixMs
        report.lastSnapshotAsOfUnixMs = recent.lastSnapshotAsOfUnixMs
        report.eventsLastMinute = recent.events.total(atUnixMs: now)
        report.devicesLastHour = UInt32(clamping: recent.devicesLastHour(atUnixMs: now))
      }
      if report.freshness.stale { response.staleLocations += 1 }
      response.locations.append(report)
    }
    return response
  }

  /// Every exception now, newest first: recorded ones, negative on-hand positions and stale
  /// active locations.
  func exceptions(nowUnixMs now: Int64) -> [Omnistock_V1_StockException] {
    let (recorded, negative) = writer.read { state in (state.exceptions.ordered, state.negative) }
    var all = recorded
    for (position, since) in negative {
      var exception = Omnistock_V1_StockException()
      exception.kind = .negativeOnHand
      exception.sku = index.skus.string(for: position.sku) ?? ""
      exception.locationID = index.locations.string(for: position.location) ?? ""
      exception.onHand = index.state(sku: position.sku, location: position.location)?.onHand ?? 0
      exception.detectedAtUnixMs = since.detectedAtUnixMs
      exception.lsn = since.lsn
      exception.message = "on_hand of '\(exception.sku)' at '\(exception.locationID)' is \(exception.onHand): "
        + "the shelf had stock the system did not know about; count it"
      all.append(exception)
    }
    for location in directory.allLocations() where location.active {
      guard let id = index.locations.id(of: location.locationID), index.isStale(location: id, nowUnixMs: now) else { continue }
      let freshness = PositionResponses.freshness(
        index: index, location: id, locationID: location.locationID, included: true, nowUnixMs: now)
      var exception = Omnistock_V1_StockException()
      exception.kind = .staleLocation
      exception.locationID = location.locationID
      exception.ageMs = freshness.ageMs
      exception.detectedAtUnixMs = now - freshness.ageMs + Int64(freshness.staleAfterSeconds) * 1000
      exception.message = "no update from '\(location.locationID)' for \(freshness.ageMs / 1000) s "
        + "(stale after \(freshness.staleAfterSeconds) s)"
      all.append(exception)
    }
    all.sort { ($0.detectedAtUnixMs, $0.exceptionID) > ($1.detectedAtUnixMs, $1.exceptionID) }
    return all
  }

  func listExceptions(_ request: Omnistock_V1_ListExceptionsRequest, nowUnixMs now: Int64) throws(GRPCStatus)
    -> Omnistock_V1_ListExceptionsResponse
  {
    guard request.pageSize <= Self.maxExceptionPage else {
      throw GRPCStatus(.invalidArgument, "page_size must be at most \(Self.maxExceptionPage)")
    }
    let size = request.pageSize == 0 ? Self.defaultExceptionPage : Int(request.pageSize)
    let offset: Int
    if request.pageToken.isEmpty {
      offset = 0
    } else if let value = Int(request.pageToken), value > 0 {
      offset = value
    } else {
      throw GRPCStatus(.invalidArgument, "page_token '\(request.pageToken)' was not issued by this server; pass next_page_token as given")
    }
    if !request.locationID.isEmpty, let problem = IdentifierRules.problem(with: request.locationID, field: "location_id") {
      throw GRPCStatus(.invalidArgument, problem)
    }
    if !request.sku.isEmpty, let problem = IdentifierRules.problem(with: request.sku, field: "sku") {
      throw GRPCStatus(.invalidArgument, problem)
    }
    let kinds = Set(request.kinds.filter { $0 != .unspecified })
    let matching = exceptions(nowUnixMs: now).filter { exception in
      (kinds.isEmpty || kinds.contains(exception.kind))
        && (request.locationID.isEmpty || exception.locationID == request.locationID)
        && (request.sku.isEmpty || exception.sku == request.sku)
        && exception.detectedAtUnixMs >= request.sinceUnixMs
    }
    var response = Omnistock_V1_ListExceptionsResponse()
    response.total = UInt64(matching.count)
    response.exceptions = Array(matching.dropFirst(offset).prefix(size))
    if offset + size < matching.count { response.nextPageToken = String(offset + size) }
    return response
  }

  func stats(nowUnixMs now: Int64) -> Omnistock_V1_GetStatsResponse {
    var response = Omnistock_V1_GetStatsResponse()
    response.serverTimeUnixMs = now
    response.startedAtUnixMs = startedAtUnixMs
    response.version = OmniStockServer.version
    response.positions = UInt64(index.positionCount)
    response.skus = UInt64(index.skus.count)
    response.locations = UInt32(directory.allLocations().count)
    response.groups = UInt32(directory.allGroups().count)
    let (devices, counters, perSecond, recorded, negative, reservations) = writer.read { state in
      (
        state.devices.count, state.counters, state.events.total(atUnixMs: now, seconds: 10), state.exceptions.entries.count,
        state.negative.count, state.reservations.activeCount
      )
    }
    response.activeReservations = UInt64(reservations)
    response.devices = UInt64(devices)
    response.eventsPerSecond = Double(perSecond) / 10
    response.eventsTotal = counters.events + counters.duplicates + counters.superseded + counters.rejected
    response.duplicatesTotal = counters.duplicates
    response.gapsTotal = counters.gaps
    response.supersededTotal = counters.superseded
    response.rejectedTotal = counters.rejected
    let log = writer.log.statistics
    response.logSizeBytes = log.bytesOnDisk
    response.logSegments = UInt32(log.segments)
    response.durableLsn = log.durableLSN
    response.appliedLsn = index.lsn
    if let last = checkpointer.lastCheckpoint {
      response.lastCheckpointLsn = last.lsn
      response.lastCheckpointUnixMs = last.completedAtUnixMs
    }
    let stale = directory.allLocations().filter { location in
      location.active && index.locations.id(of: location.locationID).map { index.isStale(location: $0, nowUnixMs: now) } == true
    }.count
    response.exceptions = UInt64(recorded + negative + stale)
    response.watchers = UInt32(clamping: writer.watches.count)
    response.eventStreams = UInt32(clamping: writer.eventStreams.count)
    return response
  }
}
