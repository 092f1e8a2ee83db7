import GRPCNGHTTP2
import OmniStockAPI

/// Releases reservations that reach their expiry, exactly once each, through the log (so an
/// expiry survives a crash and is never applied twice), and forgets finished reservations after
/// their retention. Checks ten times a second; also right after a restart, so reservations that
/// expired while the server was down are released at start.
struct ReservationExpiry: Sendable {
  let writer: StockWriter

  func run() async {
    var nextPurge: Int64 = 0
    while !Task.isCancelled {
      let now = WallClock.nowUnixMs()
      await expireDue(nowUnixMs: now)
      if now >= nextPurge {
        writer.withWriteOrder { $0.reservations.purge(atUnixMs: now) }
        nextPurge = now + 60_000
      }
      do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
    }
  }

  /// Releases every active reservation whose expiry is at or before `now`; returns how many.
  @discardableResult
  func expireDue(nowUnixMs now: Int64) async -> Int {
    let due = writer.read { state in state.reservations.expired(atUnixMs: now) }
    var expired = 0
    for id in due {
      let index = writer.index
      let done: Result<Bool, GRPCStatus> = await withCheckedContinuation { continuation in
        writer.write({ state throws(GRPCStatus) -> StockWriter.Plan<Bool> in
          // Decided again under the write order: a Commit or Release may have come first.
          guard let reservation = state.reservations[id], reservation.state == .active,
            reservation.expiresAtUnixMs <= now
          else { return .answer(false) }
          var record = Omnistock_Log_V1_ReservationRecord()
          record.serverTimeUnixMs = now
          record.settled = ReservationDecisions.settlement(of: reservation, reason: .expiry)
          let payload = try ProtobufCoding.encode(record)
          return .append(.reservation, payloads: [payload]) { state, lsn in
            ReservationRecords.apply(record, lsn: lsn, index: index, state: &state, recordsEngineState: true)
            return true
          }
        }, completion: { continuation.resume(returning: $0) })
      }
      if case .success(true) = done { expired += 1 }
    }
    return expired
  }
}
