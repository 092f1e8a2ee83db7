import OmniStockAPI
import StockIndex
import SwiftProtobuf
import WriteAheadLog

/// Puts a verified checkpoint back into an empty index, directory and engine state, and sets up
/// the replay of the log that follows it (see ``Checkpointer`` for why that is exact).
enum CheckpointRestore {
  /// What was restored.
  struct Restored {
    var summary: CheckpointSummary
    /// The engine state as of the checkpoint's state LSN.
    var state: EngineState
  }

  /// Restores `checkpoint` (already verified by opening it) into `index`, `directory`; returns
  /// the engine state. Throws if a section does not decode or does not fit this server (the
  /// index may then hold part of it: the caller must not start).
  static func restore(_ checkpoint: CheckpointReader, index: StockIndex, directory: LocationDirectory) throws -> Restored {
    func sections(_ type: CheckpointSection) -> [Int] {
      checkpoint.sections.indices.filter { checkpoint.sections[$0].type == type.rawValue }
    }
    func message<M: SwiftProtobuf.Message>(_ type: M.Type, _ section: Int) throws -> M {
      do {
        return try M(serializedBytes: try checkpoint.payload(of: section))
      } catch let failure as LogFailure {
        throw failure
      } catch {
        throw LogFailure("checkpoint \(checkpoint.path): section \(section + 1) does not decode: \(error)")
      }
    }
    guard let headerSection = sections(.header).first else { throw LogFailure("checkpoint \(checkpoint.path) has no header") }
    let header = try message(Omnistock_Log_V1_CheckpointHeader.self, headerSection)
    guard header.shardCount == index.shardCount else {
      throw LogFailure(
        "checkpoint \(checkpoint.path) was taken with \(header.shardCount) index shards; this server has \(index.shardCount)")
    }

    var state = EngineState()
    var skuIDs: [UInt32] = []
    var locationIDs: [UInt32] = []
    for section in sections(.strings) {
      let strings = try message(Omnistock_Log_V1_CheckpointStrings.self, section)
      for value in strings.values {
        switch strings.table {
        case .skus:
          guard let id = index.skus.intern(value) else { throw LogFailure("checkpoint holds more SKUs than the index") }
          skuIDs.append(id)
        case .locations:
          guard let id = index.locations.intern(value) else { throw LogFailure("checkpoint holds more locations than the index") }
          locationIDs.append(id)
        default:
          throw LogFailure("checkpoint \(checkpoint.path): strings of an unknown table")
        }
      }
    }

    for section in sections(.directory) {
      let saved = try message(Omnistock_Log_V1_CheckpointDirectory.self, section)
      for location in saved.locations { directory.restore(location) }
      for group in saved.groups { directory.restore(group) }
      for (location, lastUpdate) in zip(saved.locations, saved.lastUpdateUnixMs) where lastUpdate > 0 {
        if let id = index.locations.id(of: location.locationID) { index.touch(location: id, nowUnixMs: lastUpdate) }
      }
      for (offset, location) in saved.locations.enumerated() {
        guard let id = index.locations.id(of: location.locationID) else { continue }
        if offset < saved.lastEventTimeUnixMs.count, saved.lastEventTimeUnixMs[offset] > 0 {
          state.activity[id, default: LocationActivity()].noteEventTime(saved.lastEventTimeUnixMs[offset])
        }
        if offset < saved.lastSnapshotAsOfUnixMs.count, saved.lastSnapshotAsOfUnixMs[offset] > 0 {
          state.activity[id, default: LocationActivity()].noteSnapshot(asOf: saved.lastSnapshotAsOfUnixMs[offset])
        }
      }
    }

    for section in sections(.devices) {
      let devices = try message(Omnistock_Log_V1_CheckpointDevices.self, section)
      for (device, highWater) in zip(devices.deviceIds, devices.highWater) { state.devices[device] = highWater }
    }
    for section in sections(.engine) {
      let engine = try message(Omnistock_Log_V1_CheckpointEngine.self, section)
      state.exceptions = ExceptionJournal(entries: engine.exceptions, nextID: engine.nextExceptionID)
      state.counters = EngineState.Counters(
        events: engine.eventsTotal, duplicates: engine.duplicatesTotal, gaps: engine.gapsTotal,
        superseded: engine.supersededTotal, rejected: engine.rejectedTotal)
    }
    for section in sections(.negativePositions) {
      for negative in try message(Omnistock_Log_V1_CheckpointNegativePositions.self, section).positions {
        guard let sku = index.skus.id(of: negative.sku), let location = index.locations.id(of: negative.locationID) else {
          continue
        }
        state.negative[PositionKey(sku: sku, location: location)] = EngineState.NegativeSince(
          detectedAtUnixMs: negative.detectedAtUnixMs, lsn: negative.lsn)
      }
    }

    for section in sections(.recentDeltas) {
      let recent = try message(Omnistock_Log_V1_CheckpointRecentDeltas.self, section)
      for row in 0..<min(recent.skus.count, recent.locationIds.count, recent.eventTimeUnixMs.count, recent.amounts.count) {
        guard let sku = index.skus.id(of: recent.skus[row]), let location = index.locations.id(of: recent.locationIds[row])
        else { continue }
        state.recentDeltas.note(
          PositionKey(sku: sku, location: location), amount: recent.amounts[row], eventTimeUnixMs: recent.eventTimeUnixMs[row])
      }
    }
    for section in sections(.reservations) {
      for reservation in try message(Omnistock_Log_V1_CheckpointReservations.self, section).reservations {
        state.reservations.store(reservation)
      }
    }

    var floors = [UInt64](repeating: header.stateLsn, count: index.shardCount)
    var positions: UInt64 = 0
    for section in sections(.positions) {
      let saved = try message(Omnistock_Log_V1_CheckpointPositions.self, section)
      let count = saved.skus.count
      guard Int(saved.shard) < floors.count,
        [saved.locations.count, saved.onHand.count, saved.reserved.count, saved.safetyStock.count, saved.lsn.count,
         saved.lastAbsoluteUnixMs.count, saved.updatedAtUnixSeconds.count, saved.sourceTimeUnixSeconds.count]
          .allSatisfy({ $0 == count })
      else { throw LogFailure("checkpoint \(checkpoint.path): section \(section + 1) has inconsistent columns") }
      floors[Int(saved.shard)] = saved.floorLsn
      for row in 0..<count {
        guard Int(saved.skus[row]) < skuIDs.count, Int(saved.locations[row]) < locationIDs.count else {
          throw LogFailure("checkpoint \(checkpoint.path): section \(section + 1) names an id without a string")
        }
        var position = PositionState()
        position.onHand = saved.onHand[row]
        position.reserved = saved.reserved[row]
        position.safetyStockOverride = saved.safetyStock[row] < 0 ? nil : saved.safetyStock[row]
        position.lsn = saved.lsn[row]
        position.lastAbsoluteTimeUnixMs = saved.lastAbsoluteUnixMs[row]
        position.updatedAtUnixSeconds = saved.updatedAtUnixSeconds[row]
        position.sourceTimeUnixSeconds = saved.sourceTimeUnixSeconds[row]
        let sku = skuIDs[Int(saved.skus[row])]
        let location = locationIDs[Int(saved.locations[row])]
        guard index.restore(sku: sku, location: location, state: position) else {
          throw LogFailure("the index has no room for the checkpoint's positions")
        }
        positions += 1
      }
    }
    index.setRecoveryFloors(floors)
    let replayFrom = (floors.min() ?? header.stateLsn) + 1
    let summary = CheckpointSummary(
      lsn: header.stateLsn, replayFrom: replayFrom, startedAtUnixMs: header.createdAtUnixMs,
      completedAtUnixMs: header.createdAtUnixMs, positions: positions, bytes: 0, removedSegments: 0)
    return Restored(summary: summary, state: state)
  }
}
