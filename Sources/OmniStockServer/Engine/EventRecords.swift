import OmniStockAPI
import StockIndex

/// Applies an `EventsRecord` (record type 4): the one function used both when the events are
/// first written and when the log is replayed, so both give the same state.
enum EventRecords {
  /// What applying one event did.
  enum Result: Sendable, Equatable {
    /// Applied; `gap` is the range of device_seq numbers skipped before it, if any.
    case applied(gap: ClosedRange<UInt64>?)
    /// Not applied: the position's last count or snapshot (as of the time given) includes it.
    case superseded(lastAbsoluteTimeUnixMs: Int64)
    /// Not applied: the index has no room for the position.
    case noRoom
  }

  /// Applies `record` under `lsn`. `recordsEngineState` is false during recovery for records the
  /// checkpoint's engine state already includes (then only positions change, and only where the
  /// checkpoint does not hold them yet).
  @discardableResult
  static func apply(
    _ record: Omnistock_Log_V1_EventsRecord, lsn: UInt64, index: StockIndex, directory: LocationDirectory,
    state: inout EngineState, recordsEngineState: Bool
  ) -> [Result] {
    let now = record.serverTimeUnixMs
    var results: [Result] = []
    results.reserveCapacity(record.events.count)
    var corrections: [Int: Int64] = [:]
    for correction in record.corrections { corrections[Int(correction.event)] = correction.laterDeltas }
    for (offset, event) in record.events.enumerated() {
      guard let location = index.locations.id(of: event.locationID), let sku = index.skus.intern(event.sku) else {
        results.append(.noRoom)
        continue
      }
      var prior: UInt64 = 0
      if recordsEngineState {
        // One hash of the device id: read and raise the mark in place.
        state.devices[event.deviceID, default: 0].raise(to: event.deviceSeq, previous: &prior)
      }
      let gap = event.deviceSeq > prior &+ 1 ? (prior + 1)...(event.deviceSeq - 1) : nil
      if recordsEngineState {
        if let gap {
          state.counters.gaps += 1
          state.recordGap(
            device: event.deviceID, location: event.locationID, from: gap.lowerBound, to: gap.upperBound, lsn: lsn,
            nowUnixMs: now)
        }
        state.activity[location, default: LocationActivity()].noteEventTime(event.eventTimeUnixMs)
      }
      let correction = corrections[offset] ?? 0
      var change = EventValidation.change(for: event)
      if case .set(let counted, let asOf) = change { change = .set(onHand: counted &+ correction, asOfUnixMs: asOf) }
      let outcome = index.apply(
        StockUpdate(sku: sku, location: location, change: change, sourceTimeUnixMs: event.eventTimeUnixMs),
        lsn: lsn, nowUnixMs: now)
      let position = PositionKey(sku: sku, location: location)
      state.track(outcome, position: position, lsn: lsn, nowUnixMs: now)
      switch outcome {
      case .applied(let before, _):
        if recordsEngineState {
          state.counters.events += 1
          switch change {
          case .delta(let amount, let eventTime):
            state.recentDeltas.note(position, amount: amount, eventTimeUnixMs: eventTime)
          case .set(_, let asOf):
            state.recentDeltas.forget(position, through: asOf)
            _ = state.checkVariance(
              expected: before.onHand &- correction, counted: event.quantity, sku: event.sku,
              location: directory.location(event.locationID), device: event.deviceID, lsn: lsn, nowUnixMs: now)
          default:
            break
          }
        }
        results.append(.applied(gap: gap))
      case .alreadyIncluded:
        results.append(.applied(gap: gap))
      case .keptNewer(let position):
        if recordsEngineState { state.counters.superseded += 1 }
        results.append(.superseded(lastAbsoluteTimeUnixMs: position.lastAbsoluteTimeUnixMs))
      case .indexFull:
        results.append(.noRoom)
      }
    }
    return results
  }
}

extension UInt64 {
  /// Raises a high-water mark to `value` (never lowers it), reporting the mark before.
  fileprivate mutating func raise(to value: UInt64, previous: inout UInt64) {
    previous = self
    self = Swift.max(self, value)
  }
}
