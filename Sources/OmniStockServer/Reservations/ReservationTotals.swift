import OmniStockAPI

/// The sums a reservation's lines carry (allocated, committed, released, held) and its state,
/// recomputed from its allocations after every change.
enum ReservationTotals {
  /// Recomputes every line's sums and `partial`; and, when nothing is held any more, the final
  /// state (`finishing` says how it finished: committed, released or expired).
  static func recompute(_ reservation: inout Omnistock_V1_Reservation, finishing: Omnistock_V1_ReservationState? = nil) {
    var held: Int64 = 0
    var committed: Int64 = 0
    var partial = false
    for index in reservation.lines.indices {
      var line = reservation.lines[index]
      line.allocated = line.allocations.reduce(0) { $0 + $1.quantity }
      line.committed = line.allocations.reduce(0) { $0 + $1.committed }
      line.released = line.allocations.reduce(0) { $0 + $1.released }
      line.held = line.allocated - line.committed - line.released
      held += line.held
      committed += line.committed
      partial = partial || line.allocated < line.line.quantity
      reservation.lines[index] = line
    }
    reservation.partial = partial
    guard held == 0, reservation.state == .active else { return }
    switch finishing {
    case .expired?: reservation.state = .expired
    case .released?: reservation.state = .released
    default: reservation.state = committed > 0 ? .committed : .released
    }
  }

  /// What is still held, per (line, allocation).
  static func held(_ reservation: Omnistock_V1_Reservation) -> [(line: Int, allocation: Int, quantity: Int64)] {
    var result: [(Int, Int, Int64)] = []
    for (lineIndex, line) in reservation.lines.enumerated() {
      for (allocationIndex, allocation) in line.allocations.enumerated() {
        let held = allocation.quantity - allocation.committed - allocation.released
        if held > 0 { result.append((lineIndex, allocationIndex, held)) }
      }
    }
    return result
  }

  /// The wire name of a state, for messages.
  static func name(_ state: Omnistock_V1_ReservationState) -> String {
    switch state {
    case .active: "ACTIVE"
    case .committed: "COMMITTED"
    case .released: "RELEASED"
    case .expired: "EXPIRED"
    case .unspecified, .UNRECOGNIZED: "UNKNOWN"
    }
  }
}
