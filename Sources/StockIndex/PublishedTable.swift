import Atomics

/// An open-addressing table of 64-bit entries (0 = empty) that readers probe without a lock while
/// one writer at a time inserts, and that grows by publishing a larger copy.
///
/// ## Guarantees
/// - Readers load the current table's address with acquire ordering, then probe entries with
///   acquire loads; an entry is stored (release) only after everything it refers to is written,
///   so a reader that sees an entry sees its referent.
/// - Entries are never removed or changed once inserted (insert-only), so probing stops at the
///   first empty entry.
/// - Growth builds a table of twice the capacity, copies every entry, publishes it with a release
///   store, and *retires* the old one: retired tables stay allocated until the owner is destroyed
///   (a reader may still be probing one), and since capacities double, all retired tables together
///   are smaller than the live one.
/// - The handle is immutable (`Sendable`-friendly, no exclusivity conflicts between readers and
///   the writer); the writer's bookkeeping lives in a separate ``Writer`` that the owner keeps
///   under its lock, which serializes ``Writer/insert(_:into:hash:entryHash:)``.
struct PublishedTable: Sendable {
  /// Address of the current table block: word 0 = capacity (a power of two), then the entries.
  let head: AtomicWords
  /// Grow when the count would exceed this fraction of the capacity.
  static let maxLoadNumerator = 3
  static let maxLoadDenominator = 4

  /// Allocates the table; `writer` is its bookkeeping, to keep under the owner's lock.
  static func make(initialCapacity: Int) -> (PublishedTable, Writer) {
    let head = AtomicWords.allocate(count: 1)
    let block = makeBlock(capacity: max(16, initialCapacity.nextPowerOfTwo))
    head[0].store(UInt64(UInt(bitPattern: block.base)), ordering: .releasing)
    return (PublishedTable(head: head), Writer())
  }

  static func makeBlock(capacity: Int) -> AtomicWords {
    let block = AtomicWords.allocate(count: capacity + 1)
    block[0].store(UInt64(capacity), ordering: .relaxed)
    return block
  }

  /// The current block, for readers (acquire).
  @inline(__always)
  func current() -> (entries: UnsafeMutablePointer<WordStorage>, mask: Int) {
    let address = head[0].load(ordering: .acquiring)
    let block = UnsafeMutablePointer<WordStorage>(bitPattern: UInt(address))!
    let capacity = Int(UnsafeAtomic<UInt64>(at: block).load(ordering: .relaxed))
    return (block + 1, capacity - 1)
  }

  /// Calls `body` with each entry in probe order for `hash` until it returns a result or an empty
  /// entry is reached. Lock-free.
  @inline(__always)
  func probe<Result>(hash: UInt64, _ body: (UInt64) -> Result?) -> Result? {
    let (entries, mask) = current()
    var index = Int(truncatingIfNeeded: hash) & mask
    while true {
      let entry = UnsafeAtomic<UInt64>(at: entries + index).load(ordering: .acquiring)
      if entry == 0 { return nil }
      if let result = body(entry) { return result }
      index = (index + 1) & mask
    }
  }

  /// The writer's bookkeeping: how many entries, which blocks are retired.
  struct Writer: Sendable {
    private(set) var count = 0
    private(set) var retired: [AtomicWords] = []

    /// Inserts `entry` (non-zero) at its probe position `entryHash`. The caller holds the owner's
    /// lock and has checked that no equal key is present. Grows first if needed; `hash` gives
    /// the probe hash of any existing entry.
    mutating func insert(
      _ entry: UInt64, into table: PublishedTable, hash: (UInt64) -> UInt64, entryHash: UInt64
    ) {
      precondition(entry != 0)
      growIfNeeded(table, hash: hash)
      let (entries, mask) = table.current()
      var index = Int(truncatingIfNeeded: entryHash) & mask
      while UnsafeAtomic<UInt64>(at: entries + index).load(ordering: .relaxed) != 0 {
        index = (index + 1) & mask
      }
      UnsafeAtomic<UInt64>(at: entries + index).store(entry, ordering: .releasing)
      count += 1
    }

    private mutating func growIfNeeded(_ table: PublishedTable, hash: (UInt64) -> UInt64) {
      let (entries, mask) = table.current()
      let capacity = mask + 1
      guard (count + 1) * maxLoadDenominator > capacity * maxLoadNumerator else { return }
      let bigger = makeBlock(capacity: capacity * 2)
      let newMask = capacity * 2 - 1
      for index in 0..<capacity {
        let entry = UnsafeAtomic<UInt64>(at: entries + index).load(ordering: .relaxed)
        guard entry != 0 else { continue }
        var slot = Int(truncatingIfNeeded: hash(entry)) & newMask
        while bigger[1 + slot].load(ordering: .relaxed) != 0 { slot = (slot + 1) & newMask }
        bigger[1 + slot].store(entry, ordering: .relaxed)
      }
      table.head[0].store(UInt64(UInt(bitPattern: bigger.base)), ordering: .releasing)
      retired.append(AtomicWords(base: entries - 1))
    }

    /// Bytes held by retired blocks.
    var retiredBytes: Int {
      retired.reduce(0) { total, block in total + (Int(block[0].load(ordering: .relaxed)) + 1) * 8 }
    }

    /// Frees the retired blocks. Only when no reader can be running (owner's deinit).
    func deallocateRetired() {
      for block in retired { block.deallocate() }
    }
  }

  /// Every entry of the current table (writer side, or a consistent-enough scan).
  func forEachEntry(_ body: (UInt64) -> Void) {
    let (entries, mask) = current()
    for index in 0...mask {
      let entry = UnsafeAtomic<UInt64>(at: entries + index).load(ordering: .acquiring)
      if entry != 0 { body(entry) }
    }
  }

  /// Bytes held by the live block.
  var liveBytes: Int {
    (current().mask + 2) * 8
  }

  /// Frees the live block and the head. Only when no reader can be running (owner's deinit).
  func deallocate() {
    AtomicWords(base: current().entries - 1).deallocate()
    head.deallocate()
  }
}

extension Int {
  var nextPowerOfTwo: Int {
    self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
  }
}

/// A 64-bit mixer (the finalizer of MurmurHash3): spreads nearby ids over the whole table.
@inline(__always)
func mix64(_ value: UInt64) -> UInt64 {
  var x = value
  x ^= x >> 33
  x &*= 0xff51_afd7_ed55_8ccd
  x ^= x >> 33
  x &*= 0xc4ce_b9fe_1a85_ec53
  x ^= x >> 33
  return x
}
