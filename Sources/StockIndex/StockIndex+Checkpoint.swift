import Synchronization

/// Copying the index out for a checkpoint and putting it back at start.
///
/// A checkpoint copies one shard at a time (``positions(inShard:)``) while the caller keeps other
/// writers out, so each shard's copy is exact as of one LSN, its *floor*; readers are never
/// stopped. At start, ``restore(sku:location:state:)`` puts the positions back (group totals
/// follow, as for any write), ``setRecoveryFloors(_:)`` makes the replay of the log skip, shard by
/// shard, the changes the checkpoint already holds, and ``endRecovery()`` turns that off.
extension StockIndex {
  /// Number of shards.
  public var shardCount: Int { shards.count }

  /// The shard that holds `sku`'s positions and group totals.
  public func shard(ofSKU sku: UInt32) -> Int { IndexKey.shard(sku: sku, mask: shardMask) }

  /// Every position of shard `shard`. The caller must keep writers out of the index meanwhile
  /// (the server holds its write-order lock) for the copy to be one state; readers go on.
  public func positions(inShard shard: Int) -> ShardPositions {
    let view = views[shard]
    return shards[shard].lock.withLock { writer in
      var result = ShardPositions()
      result.reserveCapacity(writer.slotCount)
      withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ShardView.payloadWords) { buffer in
        let words = buffer.baseAddress!
        view.table.forEachEntry { entry in
          guard !IndexKey.isGroup(entry) else { return }
          view.slot(IndexKey.slot(of: entry)).readAsWriter(into: words, count: ShardView.payloadWords)
          result.skus.append(IndexKey.sku(of: entry))
          result.locations.append(IndexKey.target(of: entry))
          result.states.append(PositionState(words: words))
        }
      }
      return result
    }
  }

  /// Puts a position back as it was checkpointed (its groups' totals move accordingly). Returns
  /// `false` when the index has no room for it.
  @discardableResult
  public func restore(sku: UInt32, location: UInt32, state: PositionState) -> Bool {
    precondition(Int(location) <= Self.maxLocations && Int(sku) <= Self.maxSKUs)
    let outcome = modify(sku: sku, location: location, lsn: 0) { _ in state }
    noteApplied(state.lsn)
    if case .indexFull = outcome { return false }
    return true
  }

  /// Before replaying the log over a restored checkpoint: `floors[k]` is the LSN through which
  /// the checkpoint holds shard `k`; changes at or below it are `alreadyIncluded` and skipped.
  public func setRecoveryFloors(_ floors: [UInt64]) {
    precondition(floors.count == shards.count)
    for (shard, floor) in zip(shards, floors) {
      shard.lock.withLock { $0.recoveryFloor = floor }
    }
    if let lowest = floors.min() { noteApplied(lowest) }
  }

  /// After recovery: every change applies again.
  public func endRecovery() {
    for shard in shards { shard.lock.withLock { $0.recoveryFloor = 0 } }
  }
}
