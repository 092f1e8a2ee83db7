import Atomics

/// Group membership, readable without a lock: per group id, the address of an immutable block
/// `[count, includeStale, member ids...]`. Changing a group publishes a new block (release) and
/// retires the old one (freed when the index is destroyed; membership changes are rare).
struct GroupTable {
  let directory: AtomicWords
  let capacity: Int

  init(capacity: Int) {
    self.capacity = capacity
    directory = AtomicWords.allocate(count: capacity)
  }

  /// A group as readers see it.
  struct Members {
    let base: UnsafeMutablePointer<WordStorage>?

    var exists: Bool { base != nil }
    var count: Int { base.map { Int(UnsafeAtomic<UInt64>(at: $0).load(ordering: .relaxed)) } ?? 0 }
    var includeStale: Bool { base.map { UnsafeAtomic<UInt64>(at: $0 + 1).load(ordering: .relaxed) != 0 } ?? false }

    subscript(index: Int) -> UInt32 {
      UInt32(truncatingIfNeeded: UnsafeAtomic<UInt64>(at: base! + 2 + index).load(ordering: .relaxed))
    }
  }

  func members(_ group: UInt32) -> Members {
    let address = directory[Int(group)].load(ordering: .acquiring)
    return Members(base: UnsafeMutablePointer(bitPattern: UInt(address)))
  }

  /// Publishes a new membership; returns the block it replaced (to retire), if any.
  func publish(_ group: UInt32, members: [UInt32], includeStale: Bool) -> AtomicWords? {
    let block = AtomicWords.allocate(count: members.count + 2)
    block[0].store(UInt64(members.count), ordering: .relaxed)
    block[1].store(includeStale ? 1 : 0, ordering: .relaxed)
    for (index, member) in members.enumerated() { block[2 + index].store(UInt64(member), ordering: .relaxed) }
    let old = directory[Int(group)].exchange(UInt64(UInt(bitPattern: block.base)), ordering: .acquiringAndReleasing)
    return old == 0 ? nil : AtomicWords(base: UnsafeMutablePointer(bitPattern: UInt(old))!)
  }
}
