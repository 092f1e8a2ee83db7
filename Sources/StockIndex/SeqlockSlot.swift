import Atomics

/// A fixed number of 64-bit payload words guarded by a sequence counter (a seqlock), so that one
/// writer at a time can update them while any number of readers copy them out without a lock.
///
/// Layout: word 0 is the sequence number, words 1...`payloadWords` the payload; all are atomics.
///
/// ## Memory-ordering argument
/// Writers are serialized by their shard's mutex. A write is
/// `seq ← s+1 (relaxed); fence(release); payload stores (relaxed); seq ← s+2 (release)`.
/// A read is `s1 ← seq (acquire); payload loads (relaxed); fence(acquire); s2 ← seq (relaxed)`,
/// retried while `s1` is odd or `s1 ≠ s2`.
/// - If a reader's payload load observed any store of a write W, the acquire fence after the
///   payload loads synchronizes with W's release fence, so the reader's later load of `seq`
///   observes `s+1` or later: `s2 ≠ s1` (since `s1`, read before, was at most `s`) and it retries.
/// - If `s1 = s2 = s` (even), `s1` was read with acquire from the release store that ended the
///   write producing `s`, so every payload store of that write is visible, and no store of a later
///   write was observed (previous point). The copy is exactly the state after one whole write.
/// This is the construction of H.-J. Boehm, "Can seqlocks get along with programming language
/// memory models?" (MSPC 2012). A reader never writes shared memory, never allocates and touches
/// no reference count; it may spin only while a write to the same slot is in progress.
struct SeqlockSlot {
  let words: UnsafeMutablePointer<WordStorage>

  @inline(__always)
  private func word(_ index: Int) -> UnsafeAtomic<UInt64> {
    UnsafeAtomic(at: words + index)
  }

  /// Copies the payload words into `out` (which must hold `count` words), consistently.
  @inline(__always)
  func read(into out: UnsafeMutablePointer<UInt64>, count: Int) {
    let sequence = word(0)
    while true {
      let before = sequence.load(ordering: .acquiring)
      if before & 1 == 1 { continue }
      for index in 0..<count { out[index] = word(1 + index).load(ordering: .relaxed) }
      atomicMemoryFence(ordering: .acquiring)
      if sequence.load(ordering: .relaxed) == before { return }
    }
  }

  /// Replaces the payload with `values`. Callers must hold the slot's writer lock.
  @inline(__always)
  func write(_ values: UnsafePointer<UInt64>, count: Int) {
    let sequence = word(0)
    let current = sequence.load(ordering: .relaxed)
    sequence.store(current &+ 1, ordering: .relaxed)
    atomicMemoryFence(ordering: .releasing)
    for index in 0..<count { word(1 + index).store(values[index], ordering: .relaxed) }
    sequence.store(current &+ 2, ordering: .releasing)
  }

  /// Reads the payload without the seqlock protocol. Only for the slot's writer (holding the lock),
  /// which is the only thread that changes it.
  @inline(__always)
  func readAsWriter(into out: UnsafeMutablePointer<UInt64>, count: Int) {
    for index in 0..<count { out[index] = word(1 + index).load(ordering: .relaxed) }
  }
}
