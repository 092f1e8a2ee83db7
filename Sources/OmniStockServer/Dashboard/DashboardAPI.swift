import GRPCNGHTTP2
import NIOHTTP1
import OmniStockAPI
import StockIndex

/// The dashboard's JSON API: builds each ``DashboardJSON`` document from the index (lock-free
/// reads), the ``LocationDirectory`` and the engine state (copied under the write order only for
/// a moment, through ``OperationsReports`` as the admin RPCs do), and the ``ThroughputSampler``.
///
/// Endpoints (``register(into:)``):
/// - `GET /api/overview`
/// - `GET /api/availability?sku=SKU` (`400` without a valid SKU, `404` for one never reported)
/// - `GET /api/exceptions[?limit=N]` (rows per kind, 1...1000, default 100; `400` otherwise)
/// - `GET /api/throughput`
///
/// Each builder takes the time as an argument, so tests get the same document every time.
struct DashboardAPI: Sendable {
  static let defaultExceptionLimit = 100
  static let maxExceptionLimit = 1_000

  /// Kinds in the order the dashboard shows them, with their names for people.
  static let kinds: [(kind: Omnistock_V1_LocationKind, name: String, label: String)] = [
    (.warehouse, "WAREHOUSE", "Warehouses"), (.thirdPartyLogistics, "THIRD_PARTY_LOGISTICS", "3PL warehouses"),
    (.darkStore, "DARK_STORE", "Dark stores"), (.dropshipVendor, "DROPSHIP_VENDOR", "Dropship vendors"),
    (.store, "STORE", "Stores"),
  ]

  let reports: OperationsReports
  let sampler: ThroughputSampler
  var index: StockIndex { reports.index }
  var directory: LocationDirectory { reports.directory }

  /// `methods`: the gRPC router's methods in route order (for the lookup counts).
  init(writer: StockWriter, directory: LocationDirectory, checkpointer: Checkpointer, startedAtUnixMs: Int64, methods: [RPCMethod]) {
    self.init(
      reports: OperationsReports(writer: writer, directory: directory, checkpointer: checkpointer, startedAtUnixMs: startedAtUnixMs),
      sampler: ThroughputSampler(writer: writer, recorder: CallRateRecorder(methods: methods)))
  }

  init(reports: OperationsReports, sampler: ThroughputSampler) {
    self.reports = reports
    self.sampler = sampler
  }

  /// Adds the API's endpoints to `routes`.
  func register(into routes: inout HTTPRoutes) {
    routes.add("/api/overview") { _ in .json(overview(nowUnixMs: WallClock.nowUnixMs())) }
    routes.add("/api/availability") { target throws(HTTPFailure) in
      .json(try availability(sku: target.query["sku"], nowUnixMs: WallClock.nowUnixMs()))
    }
    routes.add("/api/exceptions") { target throws(HTTPFailure) in
      .json(try exceptions(limit: target.query["limit"], nowUnixMs: WallClock.nowUnixMs()))
    }
    routes.add("/api/throughput") { _ in .json(throughput(nowUnixMs: WallClock.nowUnixMs())) }
  }

  func overview(nowUnixMs now: Int64) -> DashboardJSON.Overview {
    var request = Omnistock_V1_GetFreshnessRequest()
    request.includeInactive = true
    // Without location ids the report cannot fail.
    let freshness = (try? reports.freshness(request, nowUnixMs: now)) ?? Omnistock_V1_GetFreshnessResponse()
    let records = Dictionary(directory.allLocations().map { ($0.locationID, $0) }, uniquingKeysWith: { first, _ in first })
    var sections = Self.kinds.map { DashboardJSON.KindSection(kind: $0.name, label: $0.label, fresh: 0, stale: 0, inactive: 0, locations: []) }
    var eventsLastMinute: UInt64 = 0
    for report in freshness.locations {
      guard let record = records[report.freshness.locationID],
        let section = Self.kinds.firstIndex(where: { $0.kind == record.kind })
      else { continue }
      let tile = DashboardJSON.LocationTile(
        id: record.locationID, name: record.displayName.isEmpty ? record.locationID : record.displayName,
        active: report.active, stale: report.freshness.stale, ageMs: report.freshness.ageMs,
        lastUpdateUnixMs: report.freshness.lastUpdateUnixMs, staleAfterSeconds: report.freshness.staleAfterSeconds,
        eventsLastMinute: report.eventsLastMinute, devicesLastHour: report.devicesLastHour)
      if !tile.active {
        sections[section].inactive += 1
      } else if tile.stale {
        sections[section].stale += 1
      } else {
        sections[section].fresh += 1
      }
      sections[section].locations.append(tile)
      eventsLastMinute += tile.eventsLastMinute
    }
    let stats = reports.stats(nowUnixMs: now)
    let active = sections.reduce(0) { $0 + $1.fresh + $1.stale }
    let stale = sections.reduce(0) { $0 + $1.stale }
    let summary = DashboardJSON.Summary(
      version: stats.version, startedAtUnixMs: stats.startedAtUnixMs, locations: records.count, activeLocations: active,
      freshLocations: active - stale, staleLocations: stale, eventsLastMinute: eventsLastMinute,
      eventsPerSecond: stats.eventsPerSecond, positions: stats.positions, skus: stats.skus, devices: stats.devices,
      activeReservations: stats.activeReservations, exceptions: stats.exceptions, appliedLsn: stats.appliedLsn)
    return DashboardJSON.Overview(serverTimeUnixMs: now, summary: summary, kinds: sections.filter { !$0.locations.isEmpty })
  }

  func availability(sku: String?, nowUnixMs now: Int64) throws(HTTPFailure) -> DashboardJSON.Availability {
    guard let sku, !sku.isEmpty else {
      throw HTTPFailure(.badRequest, "which SKU? Ask for /api/availability?sku=SKU")
    }
    if let problem = IdentifierRules.problem(with: sku, field: "sku") { throw HTTPFailure(.badRequest, problem) }
    let lsn = index.lsn
    guard let skuID = index.skus.id(of: sku) else {
      throw HTTPFailure(.notFound, "no location has reported SKU '\(sku)' yet")
    }
    var answer = DashboardJSON.Availability(
      sku: sku, serverTimeUnixMs: now, indexLsn: lsn, groups: [], locations: [], unrecordedLocations: 0)
    for group in directory.allGroups() {
      guard let groupID = index.groups.id(of: group.groupID),
        let reading = index.group(sku: skuID, group: groupID, nowUnixMs: now)
      else { continue }
      let totals = reading.totals
      answer.groups.append(
        DashboardJSON.AvailabilityRow(
          id: group.groupID, name: group.displayName.isEmpty ? group.groupID : group.displayName, kind: "GROUP",
          onHand: totals.onHand, reserved: totals.reserved, safetyStock: totals.safetyStock, available: totals.available,
          status: Self.statusName(reading.status), stale: reading.anyStale,
          locationsWithStock: UInt32(clamping: totals.locationsWithStock),
          contributingLocations: UInt32(clamping: reading.contributingLocations)))
    }
    let locations = directory.allLocations()
    for (kind, name, _) in Self.kinds {
      for location in locations where location.kind == kind {
        guard let locationID = index.locations.id(of: location.locationID) else { continue }
        let reading = index.position(sku: skuID, location: locationID, nowUnixMs: now)
        guard reading.exists else {
          answer.unrecordedLocations += 1
          continue
        }
        let state = reading.state
        answer.locations.append(
          DashboardJSON.AvailabilityRow(
            id: location.locationID, name: location.displayName.isEmpty ? location.locationID : location.displayName,
            kind: name, onHand: state.onHand, reserved: state.reserved, safetyStock: reading.safetyStock,
            available: reading.available, status: Self.statusName(reading.status), stale: reading.stale,
            locationsWithStock: reading.available > 0 ? 1 : 0, contributingLocations: reading.contributes ? 1 : 0,
            updatedAtUnixMs: Int64(state.updatedAtUnixSeconds) * 1000))
      }
    }
    return answer
  }

  func exceptions(limit text: String?, nowUnixMs now: Int64) throws(HTTPFailure) -> DashboardJSON.Exceptions {
    var limit = Self.defaultExceptionLimit
    if let text {
      guard let value = Int(text), (1...Self.maxExceptionLimit).contains(value) else {
        throw HTTPFailure(.badRequest, "limit must be a whole number from 1 to \(Self.maxExceptionLimit), not '\(text)'")
      }
      limit = value
    }
    let names = Dictionary(directory.allLocations().map { ($0.locationID, $0.displayName) }, uniquingKeysWith: { first, _ in first })
    var answer = DashboardJSON.Exceptions(
      serverTimeUnixMs: now, limit: limit,
      counts: .init(negativeStock: 0, countVariances: 0, staleLocations: 0, sequenceGaps: 0, invariantViolations: 0, total: 0),
      negativeStock: [], countVariances: [], staleLocations: [], sequenceGaps: [], invariantViolations: [])
    for exception in reports.exceptions(nowUnixMs: now) {
      var row = DashboardJSON.ExceptionRow(detectedAtUnixMs: exception.detectedAtUnixMs, message: exception.message)
      if !exception.sku.isEmpty { row.sku = exception.sku }
      if !exception.locationID.isEmpty {
        row.locationId = exception.locationID
        row.locationName = names[exception.locationID].flatMap { $0.isEmpty ? nil : $0 }
      }
      if !exception.deviceID.isEmpty { row.deviceId = exception.deviceID }
      switch exception.kind {
      case .negativeOnHand:
        row.onHand = exception.onHand
        Self.add(row, to: &answer.negativeStock, count: &answer.counts.negativeStock, limit: limit)
      case .countVariance:
        row.onHand = exception.onHand
        row.counted = exception.counted
        row.variance = exception.variance
        Self.add(row, to: &answer.countVariances, count: &answer.counts.countVariances, limit: limit)
      case .staleLocation:
        row.ageMs = exception.ageMs
        if let id = index.locations.id(of: exception.locationID) {
          row.staleAfterSeconds = UInt32(clamping: index.settings(ofLocation: id)?.staleAfterSeconds ?? 0)
        }
        Self.add(row, to: &answer.staleLocations, count: &answer.counts.staleLocations, limit: limit)
      case .sequenceGap:
        row.gapFrom = exception.gapFrom
        row.gapTo = exception.gapTo
        Self.add(row, to: &answer.sequenceGaps, count: &answer.counts.sequenceGaps, limit: limit)
      case .invariantViolation, .unspecified, .UNRECOGNIZED:
        Self.add(row, to: &answer.invariantViolations, count: &answer.counts.invariantViolations, limit: limit)
      }
      answer.counts.total += 1
    }
    return answer
  }

  func throughput(nowUnixMs now: Int64) -> DashboardJSON.Throughput {
    let samples = sampler.samples
    return DashboardJSON.Throughput(
      serverTimeUnixMs: now, intervalSeconds: 1, capacity: sampler.capacity, times: samples.map(\.unixMs),
      eventsPerSecond: samples.map(\.eventsPerSecond), lookupsPerSecond: samples.map(\.lookupsPerSecond),
      lookupP99Ms: samples.map(\.lookupP99Ms))
  }

  static func statusName(_ status: StockStatus) -> String {
    switch status {
    case .outOfStock: "OUT_OF_STOCK"
    case .lowStock: "LOW_STOCK"
    case .inStock: "IN_STOCK"
    }
  }

  private static func add(
    _ row: DashboardJSON.ExceptionRow, to rows: inout [DashboardJSON.ExceptionRow], count: inout Int, limit: Int
  ) {
    count += 1
    if rows.count < limit { rows.append(row) }
  }
}
