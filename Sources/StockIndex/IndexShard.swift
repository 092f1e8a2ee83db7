import Atomics
import Synchronization

/// The read side of one shard: its key table and its slot chunks, as plain pointers (a struct of
/// pointers, so reading through it never touches a reference count).
struct ShardView: Sendable {
  /// Payload words per slot (positions and group totals alike), plus one sequence word.
  static let payloadWords = 5
  static let slotWords = payloadWords + 1
  static let chunkBits = 12
  static let chunkSlots = 1 << chunkBits
  static let maxChunks = (IndexKey.maxSlotsPerShard + chunkSlots) / chunkSlots

  let table: PublishedTable
  /// Address of each chunk of slots; 0 until the chunk exists.
  let directory: AtomicWords

  /// The slot of `key`, if present. Lock-free.
  @inline(__always)
  func find(_ key: UInt64) -> SeqlockSlot? {
    let index = table.probe(hash: IndexKey.hash(key)) { entry -> Int? in
      entry & IndexKey.keyMask == key ? IndexKey.slot(of: entry) : nil
    }
    return index.map { slot($0) }
  }

  @inline(__always)
  func slot(_ index: Int) -> SeqlockSlot {
    let address = directory[index >> Self.chunkBits].load(ordering: .acquiring)
    let chunk = UnsafeMutablePointer<WordStorage>(bitPattern: UInt(address))!
    return SeqlockSlot(words: chunk + (index & (Self.chunkSlots - 1)) * Self.slotWords)
  }
}

/// The write side of one shard: a mutex that serializes its writers, and their bookkeeping.
///
/// `@unchecked Sendable`: `view` is immutable; everything it points to is read through atomics and
/// written only by the holder of `lock`; memory is freed only in `deinit`.
final class IndexShard: @unchecked Sendable {
  let view: ShardView
  let lock: Mutex<Writer>

  struct Writer: Sendable {
    var table: PublishedTable.Writer
    var slotCount = 0
    var chunks: [AtomicWords] = []
    /// During recovery from a checkpoint: the LSN through which the checkpoint already holds this
    /// shard's positions (changes at or below it are skipped). 0 otherwise.
    var recoveryFloor: UInt64 = 0
    /// Positions (not group totals) in this shard.
    var positionCount = 0
  }

  init(initialCapacity: Int) {
    let (table, tableWriter) = PublishedTable.make(initialCapacity: initialCapacity)
    view = ShardView(table: table, directory: AtomicWords.allocate(count: ShardView.maxChunks))
    lock = Mutex(Writer(table: tableWriter))
  }

  deinit {
    lock.withLock { writer in
      writer.table.deallocateRetired()
      for chunk in writer.chunks { chunk.deallocate() }
    }
    view.table.deallocate()
    view.directory.deallocate()
  }
}

extension IndexShard.Writer {
  /// The slot of `key`, creating it (all payload words zero) if absent; `nil` if the shard is full.
  /// The caller holds the shard's lock.
  mutating func findOrInsert(_ key: UInt64, in view: ShardView) -> (slot: SeqlockSlot, created: Bool)? {
    if let existing = view.find(key) { return (existing, false) }
    guard slotCount < IndexKey.maxSlotsPerShard else { return nil }
    let index = slotCount
    let chunkIndex = index >> ShardView.chunkBits
    if chunkIndex == chunks.count {
      let chunk = AtomicWords.allocate(count: ShardView.chunkSlots * ShardView.slotWords)
      chunks.append(chunk)
      view.directory[chunkIndex].store(UInt64(UInt(bitPattern: chunk.base)), ordering: .releasing)
    }
    slotCount += 1
    // Published last, with release: a reader that finds the entry sees the zeroed slot and chunk.
    table.insert(
      key | UInt64(index + 1), into: view.table, hash: IndexKey.hash, entryHash: IndexKey.hash(key))
    return (view.slot(index), true)
  }

  /// Bytes allocated for this shard's slots and tables.
  func allocatedBytes(_ view: ShardView) -> Int {
    chunks.count * ShardView.chunkSlots * ShardView.slotWords * 8 + view.table.liveBytes + table.retiredBytes
      + ShardView.maxChunks * 8
  }
}
