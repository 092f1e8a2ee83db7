import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// The decisions of the `Reservations` calls, taken under the write order against the index and
/// the ``ReservationBook``: what to log (a `ReservationRecord`), or the answer when nothing changes.
///
/// ## Guarantees
/// - A reservation never makes `available` negative: allocations read the index under the write
///   order (no other write can come between the read and the apply), and lines of one request
///   that share a position see each other's allocations.
/// - Every refusal is a status naming the problem, and changes nothing.
enum ReservationDecisions {
  static let maxLines = 1_000
  static let maxReservationIDBytes = 128
  static let maxReferenceBytes = 256
  static let defaultTTLSeconds: UInt32 = 900
  static let maxTTLSeconds: UInt32 = 604_800

  /// What a call does.
  enum Decision {
    /// Log this change.
    case write(Omnistock_Log_V1_ReservationRecord.OneOf_Change)
    /// Nothing changes: answer with the reservation as it is (`replayed` for a repeated Reserve).
    case unchanged(Omnistock_V1_Reservation, replayed: Bool)
  }

  // MARK: - Reserve

  static func reserve(
    _ request: Omnistock_V1_ReserveRequest, nowUnixMs now: Int64, book: ReservationBook, index: StockIndex,
    directory: LocationDirectory
  ) throws(GRPCStatus) -> Decision {
    try checkID(request.reservationID)
    let ttl = try ttlSeconds(request.ttlSeconds)
    guard !request.lines.isEmpty, request.lines.count <= maxLines else {
      throw GRPCStatus(.invalidArgument, "a reservation has 1 to \(maxLines) lines; got \(request.lines.count)")
    }
    guard request.reference.utf8.count <= maxReferenceBytes else {
      throw GRPCStatus(.invalidArgument, "reference is longer than \(maxReferenceBytes) bytes")
    }
    var seen: Set<String> = []
    for (number, line) in request.lines.enumerated() {
      if let problem = IdentifierRules.problem(with: line.sku, field: "lines[\(number)].sku") {
        throw GRPCStatus(.invalidArgument, problem)
      }
      guard (1...EventValidation.maxQuantity).contains(line.quantity) else {
        throw GRPCStatus(.invalidArgument, "lines[\(number)].quantity must be 1...1,000,000,000, got \(line.quantity)")
      }
      let target: String
      switch line.target {
      case .locationID(let location):
        if let problem = IdentifierRules.problem(with: location, field: "lines[\(number)].location_id") {
          throw GRPCStatus(.invalidArgument, problem)
        }
        guard directory.location(location) != nil else {
          throw GRPCStatus(.notFound, "lines[\(number)]: unknown location '\(location)'")
        }
        target = "l:" + location
      case .groupID(let group):
        if let problem = IdentifierRules.problem(with: group, field: "lines[\(number)].group_id") {
          throw GRPCStatus(.invalidArgument, problem)
        }
        guard let id = index.groups.id(of: group), index.members(ofGroup: id) != nil else {
          throw GRPCStatus(.notFound, "lines[\(number)]: unknown group '\(group)'")
        }
        target = "g:" + group
      case nil:
        throw GRPCStatus(.invalidArgument, "lines[\(number)] has no target: give location_id or group_id")
      }
      guard seen.insert(line.sku + "@" + target).inserted else {
        throw GRPCStatus(.invalidArgument, "lines[\(number)] repeats sku '\(line.sku)' at the same target; merge the lines")
      }
    }
    if let existing = book[request.reservationID] {
      guard sameContent(existing, request) else {
        throw GRPCStatus(
          .alreadyExists,
          "reservation '\(request.reservationID)' exists with different content; use a new id for a different reservation")
      }
      return .unchanged(existing, replayed: true)
    }

    var taken: [PositionKey: Int64] = [:]
    var short: [String] = []
    var reservation = Omnistock_V1_Reservation()
    reservation.reservationID = request.reservationID
    reservation.state = .active
    reservation.allowPartial = request.allowPartial
    reservation.ttlSeconds = ttl
    reservation.createdAtUnixMs = now
    reservation.updatedAtUnixMs = now
    reservation.expiresAtUnixMs = now + Int64(ttl) * 1000
    reservation.reference = request.reference
    for (number, line) in request.lines.enumerated() {
      var result = Omnistock_V1_ReservationLineResult()
      result.lineIndex = UInt32(number)
      result.line = line
      let candidates = self.candidates(for: line, index: index, nowUnixMs: now)
      let skuID = index.skus.id(of: line.sku)
      func available(_ location: UInt32, _ name: String) -> Int64 {
        guard let skuID else { return 0 }
        return max(0, candidates.first { $0.location == location }!.available - (taken[PositionKey(sku: skuID, location: location)] ?? 0))
      }
      var remaining = line.quantity
      // One location if one can hold the whole line (priority order), else split: most available first.
      if let single = candidates.first(where: { available($0.location, $0.name) >= remaining }) {
        result.allocations.append(allocation(single.name, remaining))
        taken[PositionKey(sku: skuID!, location: single.location), default: 0] += remaining
        remaining = 0
      } else {
        let ordered = candidates.enumerated().sorted { lhs, rhs in
          let (left, right) = (available(lhs.element.location, ""), available(rhs.element.location, ""))
          return left != right ? left > right : lhs.offset < rhs.offset
        }
        for (_, candidate) in ordered where remaining > 0 {
          let quantity = min(remaining, available(candidate.location, candidate.name))
          guard quantity > 0, let skuID else { continue }
          result.allocations.append(allocation(candidate.name, quantity))
          taken[PositionKey(sku: skuID, location: candidate.location), default: 0] += quantity
          remaining -= quantity
        }
      }
      if remaining > 0 {
        short.append("line \(number) ('\(line.sku)' at \(describe(line))): \(line.quantity - remaining) available of \(line.quantity)")
      }
      reservation.lines.append(result)
    }
    ReservationTotals.recompute(&reservation)
    let allocated = reservation.lines.reduce(0) { $0 + $1.allocated }
    if !short.isEmpty && (!request.allowPartial || allocated == 0) {
      let listed = short.prefix(10).joined(separator: "; ") + (short.count > 10 ? "; and \(short.count - 10) more lines" : "")
      throw GRPCStatus(
        .failedPrecondition,
        "not enough available stock: " + listed + "; nothing was reserved"
          + (request.allowPartial ? "" : " (set allow_partial to take what is available)"))
    }
    return .write(.created(reservation))
  }

  /// The locations a line may draw from, in priority order, with their available stock.
  private static func candidates(for line: Omnistock_V1_ReservationLine, index: StockIndex, nowUnixMs: Int64)
    -> [(location: UInt32, name: String, available: Int64)]
  {
    let sku = index.skus.id(of: line.sku) ?? StockIndex.unknownSKU
    switch line.target {
    case .locationID(let name):
      guard let location = index.locations.id(of: name) else { return [] }
      return [(location, name, index.position(sku: sku, location: location, nowUnixMs: nowUnixMs).available)]
    case .groupID(let name):
      guard let group = index.groups.id(of: name), let members = index.members(ofGroup: group) else { return [] }
      let excludeStale = !index.includesStale(group: group)
      return members.compactMap { member in
        guard let memberName = index.locations.string(for: member) else { return nil }
        return (member, memberName, index.position(sku: sku, location: member, nowUnixMs: nowUnixMs, excludeStale: excludeStale).available)
      }
    case nil:
      return []
    }
  }

  private static func allocation(_ location: String, _ quantity: Int64) -> Omnistock_V1_Allocation {
    var allocation = Omnistock_V1_Allocation()
    allocation.locationID = location
    allocation.quantity = quantity
    return allocation
  }

  private static func describe(_ line: Omnistock_V1_ReservationLine) -> String {
    switch line.target {
    case .locationID(let location): "location '\(location)'"
    case .groupID(let group): "group '\(group)'"
    case nil: "no target"
    }
  }

  /// The content compared for idempotency: lines, allow_partial, reference (not the TTL).
  private static func sameContent(_ existing: Omnistock_V1_Reservation, _ request: Omnistock_V1_ReserveRequest) -> Bool {
    existing.lines.map(\.line) == request.lines && existing.allowPartial == request.allowPartial
      && existing.reference == request.reference
  }

  // MARK: - Extend, Commit, Release

  static func extend(_ request: Omnistock_V1_ExtendRequest, nowUnixMs now: Int64, book: ReservationBook) throws(GRPCStatus)
    -> Decision
  {
    let reservation = try active(request.reservationID, book: book, call: "Extend", nowUnixMs: now)
    let ttl = try ttlSeconds(request.ttlSeconds)
    var extended = Omnistock_Log_V1_ReservationExtended()
    extended.reservationID = reservation.reservationID
    extended.expiresAtUnixMs = now + Int64(ttl) * 1000
    extended.ttlSeconds = ttl
    return .write(.extended(extended))
  }

  static func commit(_ request: Omnistock_V1_CommitRequest, nowUnixMs now: Int64, book: ReservationBook) throws(GRPCStatus)
    -> Decision
  {
    let reservation = try existing(request.reservationID, book: book)
    if reservation.state == .active && reservation.expiresAtUnixMs <= now {
      throw GRPCStatus(
        .failedPrecondition,
        "reservation '\(reservation.reservationID)' is EXPIRED (at \(reservation.expiresAtUnixMs) ms); nothing to commit")
    }
    switch reservation.state {
    case .committed: return .unchanged(reservation, replayed: false)
    case .released, .expired:
      throw GRPCStatus(
        .failedPrecondition,
        "reservation '\(reservation.reservationID)' is \(ReservationTotals.name(reservation.state)); nothing to commit")
    default: break
    }
    var settled = Omnistock_Log_V1_ReservationSettled()
    settled.reservationID = reservation.reservationID
    settled.reason = .commit
    // Units to commit now, per "line/location".
    var committing: [String: Int64] = [:]
    if request.lines.isEmpty {
      for (line, slot, held) in ReservationTotals.held(reservation) {
        committing["\(line)/\(reservation.lines[line].allocations[slot].locationID)"] = held
      }
    } else {
      for (number, commit) in request.lines.enumerated() {
        guard Int(commit.lineIndex) < reservation.lines.count else {
          throw GRPCStatus(.invalidArgument, "lines[\(number)].line_index \(commit.lineIndex) is not a line of the reservation")
        }
        guard commit.quantity >= 0 else {
          throw GRPCStatus(.invalidArgument, "lines[\(number)].quantity must be >= 0 (0 commits everything held)")
        }
        let line = reservation.lines[Int(commit.lineIndex)]
        // `quantity` is the cumulative total to have committed (0: everything), for one
        // allocation or, without location_id, for the line's allocations in allocation order.
        let allocations = commit.locationID.isEmpty ? line.allocations : line.allocations.filter { $0.locationID == commit.locationID }
        guard !allocations.isEmpty else {
          throw GRPCStatus(
            .invalidArgument, "lines[\(number)]: location '\(commit.locationID)' holds nothing for line \(commit.lineIndex)")
        }
        let committable = allocations.reduce(0) { $0 + $1.quantity - $1.released }
        let target = commit.quantity == 0 ? committable : commit.quantity
        guard target <= committable else {
          throw GRPCStatus(
            .invalidArgument,
            "lines[\(number)]: quantity \(commit.quantity) exceeds the \(committable) units line \(commit.lineIndex) can commit"
              + (commit.locationID.isEmpty ? "" : " at '\(commit.locationID)'"))
        }
        var more = target - allocations.reduce(0) { $0 + $1.committed }
        for allocation in allocations where more > 0 {
          let key = "\(commit.lineIndex)/\(allocation.locationID)"
          let held = allocation.quantity - allocation.committed - allocation.released - (committing[key] ?? 0)
          let now = min(more, held)
          if now > 0 { committing[key, default: 0] += now }
          more -= max(0, now)
        }
      }
    }
    for (line, slot, held) in ReservationTotals.held(reservation) {
      let location = reservation.lines[line].allocations[slot].locationID
      let committed = committing["\(line)/\(location)"] ?? 0
      let released = request.releaseRemainder ? held - committed : 0
      guard committed > 0 || released > 0 else { continue }
      settled.changes.append(change(reservation, line: line, location: location, committed: committed, released: released))
    }
    guard !settled.changes.isEmpty else { return .unchanged(reservation, replayed: false) }
    return .write(.settled(settled))
  }

  static func release(_ request: Omnistock_V1_ReleaseRequest, book: ReservationBook) throws(GRPCStatus) -> Decision {
    let reservation = try existing(request.reservationID, book: book)
    switch reservation.state {
    case .released, .expired: return .unchanged(reservation, replayed: false)
    case .committed:
      throw GRPCStatus(
        .failedPrecondition, "reservation '\(reservation.reservationID)' is COMMITTED: nothing is held, nothing to release")
    default: break
    }
    return .write(.settled(settlement(of: reservation, reason: .release)))
  }

  /// Releasing everything `reservation` still holds (by `Release` or expiry).
  static func settlement(of reservation: Omnistock_V1_Reservation, reason: Omnistock_Log_V1_ReservationSettled.Reason)
    -> Omnistock_Log_V1_ReservationSettled
  {
    var settled = Omnistock_Log_V1_ReservationSettled()
    settled.reservationID = reservation.reservationID
    settled.reason = reason
    for (line, slot, held) in ReservationTotals.held(reservation) {
      settled.changes.append(
        change(reservation, line: line, location: reservation.lines[line].allocations[slot].locationID, committed: 0, released: held))
    }
    return settled
  }

  private static func change(_ reservation: Omnistock_V1_Reservation, line: Int, location: String, committed: Int64, released: Int64)
    -> Omnistock_Log_V1_AllocationChange
  {
    var change = Omnistock_Log_V1_AllocationChange()
    change.lineIndex = UInt32(line)
    change.sku = reservation.lines[line].line.sku
    change.locationID = location
    change.committed = committed
    change.released = released
    return change
  }

  // MARK: - Checks

  static func checkID(_ id: String) throws(GRPCStatus) {
    if let problem = IdentifierRules.problem(with: id, field: "reservation_id", maxLength: maxReservationIDBytes) {
      throw GRPCStatus(.invalidArgument, problem)
    }
  }

  static func existing(_ id: String, book: ReservationBook) throws(GRPCStatus) -> Omnistock_V1_Reservation {
    try checkID(id)
    guard let reservation = book[id] else { throw GRPCStatus(.notFound, "unknown reservation '\(id)'") }
    return reservation
  }

  private static func active(_ id: String, book: ReservationBook, call: String, nowUnixMs now: Int64) throws(GRPCStatus)
    -> Omnistock_V1_Reservation
  {
    let reservation = try existing(id, book: book)
    guard reservation.state == .active else {
      throw GRPCStatus(
        .failedPrecondition, "reservation '\(id)' is \(ReservationTotals.name(reservation.state)); \(call) needs an ACTIVE one")
    }
    // Past its expiry it is as good as expired, even before the expiry task has released it.
    guard reservation.expiresAtUnixMs > now else {
      throw GRPCStatus(
        .failedPrecondition, "reservation '\(id)' is EXPIRED (at \(reservation.expiresAtUnixMs) ms); \(call) needs an ACTIVE one")
    }
    return reservation
  }

  private static func ttlSeconds(_ requested: UInt32) throws(GRPCStatus) -> UInt32 {
    if requested == 0 { return defaultTTLSeconds }
    guard requested <= maxTTLSeconds else {
      throw GRPCStatus(.invalidArgument, "ttl_seconds must be 1...\(maxTTLSeconds) (7 days), or 0 for 900; got \(requested)")
    }
    return requested
  }
}
