public import OmniStockAPI

/// Every reservation the server holds: active ones, and finished ones (committed, released,
/// expired) for ``retentionMs`` after they finished, so retries of finished calls get the same
/// answer.
///
/// ## Guarantees
/// - Changes only under the write order or during recovery, through ``ReservationRecords`` (the
///   same function for both), so a replay rebuilds it exactly; it is part of checkpoints.
/// - ``expired(atUnixMs:)`` lists the active reservations due, in expiry order.
public struct ReservationBook: Sendable {
  /// How long finished reservations stay readable.
  public static let retentionMs: Int64 = 24 * 3_600_000

  public private(set) var reservations: [String: Omnistock_V1_Reservation] = [:]
  /// Active reservations' expiry times.
  private var expiries: [String: Int64] = [:]

  public init() {}

  /// Active reservations.
  public var activeCount: Int { expiries.count }

  subscript(id: String) -> Omnistock_V1_Reservation? { reservations[id] }

  /// Stores `reservation` (new or changed), keeping the expiry index in step.
  mutating func store(_ reservation: Omnistock_V1_Reservation) {
    reservations[reservation.reservationID] = reservation
    if reservation.state == .active {
      expiries[reservation.reservationID] = reservation.expiresAtUnixMs
    } else {
      expiries[reservation.reservationID] = nil
    }
  }

  /// Active reservations whose expiry is at or before `now`, earliest first.
  func expired(atUnixMs now: Int64) -> [String] {
    expiries.filter { $0.value <= now }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
  }

  /// The earliest expiry of an active reservation.
  var nextExpiryUnixMs: Int64? { expiries.values.min() }

  /// Forgets finished reservations that finished before `now - retentionMs`.
  mutating func purge(atUnixMs now: Int64) {
    reservations = reservations.filter { _, reservation in
      reservation.state == .active || reservation.updatedAtUnixMs >= now - Self.retentionMs
    }
  }
}
