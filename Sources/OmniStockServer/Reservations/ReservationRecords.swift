import OmniStockAPI
import StockIndex

/// Applies a `ReservationRecord` (record type 5): the one function used both when a reservation
/// change is first written and when the log is replayed.
enum ReservationRecords {
  /// Applies `record` under `lsn`: the position changes always (the index skips those a restored
  /// checkpoint already holds), the reservation book only when `recordsEngineState`.
  static func apply(
    _ record: Omnistock_Log_V1_ReservationRecord, lsn: UInt64, index: StockIndex, state: inout EngineState,
    recordsEngineState: Bool
  ) {
    let now = record.serverTimeUnixMs
    func change(_ sku: String, _ location: String, _ change: StockUpdate.Change) {
      guard let skuID = index.skus.intern(sku), let locationID = index.locations.id(of: location) else { return }
      let outcome = index.apply(StockUpdate(sku: skuID, location: locationID, change: change), lsn: lsn, nowUnixMs: now)
      let position = PositionKey(sku: skuID, location: locationID)
      state.track(outcome, position: position, lsn: lsn, nowUnixMs: now)
      // A commit takes units off the shelf at this (server) time: a count taken before it but
      // arriving after it must not bring them back.
      if recordsEngineState, case .applied = outcome, case .commit(let quantity) = change {
        state.recentDeltas.note(position, amount: -quantity, eventTimeUnixMs: now)
      }
    }
    switch record.change {
    case .created(let reservation):
      for line in reservation.lines {
        for allocation in line.allocations { change(line.line.sku, allocation.locationID, .reserve(delta: allocation.quantity)) }
      }
      if recordsEngineState {
        var stored = reservation
        stored.lsn = lsn
        state.reservations.store(stored)
      }
    case .extended(let extended):
      guard recordsEngineState, var reservation = state.reservations[extended.reservationID] else { return }
      reservation.expiresAtUnixMs = extended.expiresAtUnixMs
      reservation.ttlSeconds = extended.ttlSeconds
      reservation.updatedAtUnixMs = now
      reservation.lsn = lsn
      state.reservations.store(reservation)
    case .settled(let settled):
      for item in settled.changes {
        if item.committed > 0 { change(item.sku, item.locationID, .commit(quantity: item.committed)) }
        if item.released > 0 { change(item.sku, item.locationID, .reserve(delta: -item.released)) }
      }
      guard recordsEngineState, var reservation = state.reservations[settled.reservationID] else { return }
      for item in settled.changes {
        let line = Int(item.lineIndex)
        guard line < reservation.lines.count,
          let slot = reservation.lines[line].allocations.firstIndex(where: { $0.locationID == item.locationID })
        else { continue }
        reservation.lines[line].allocations[slot].committed += item.committed
        reservation.lines[line].allocations[slot].released += item.released
      }
      reservation.updatedAtUnixMs = now
      reservation.lsn = lsn
      let finishing: Omnistock_V1_ReservationState? =
        switch settled.reason {
        case .expiry: .expired
        case .release: .released
        default: nil
        }
      ReservationTotals.recompute(&reservation, finishing: finishing)
      state.reservations.store(reservation)
    case nil:
      break
    }
  }
}
