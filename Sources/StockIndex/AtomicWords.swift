import Atomics

/// One 64-bit word of shared memory, read and written only atomically.
typealias WordStorage = UInt64.AtomicRepresentation

/// A block of atomic 64-bit words in raw, manually managed memory (cache-line aligned, zeroed).
///
/// Readers of the index use plain pointers into these blocks, so a read never retains or releases
/// an object; every access is an atomic load or store (a racy plain read would be undefined
/// behaviour even when a seqlock retry discards its result).
///
/// `@unchecked Sendable`: a handle (an address) to memory that every thread accesses only through
/// atomic operations; sending the handle to another thread shares no non-atomic state.
struct AtomicWords: @unchecked Sendable {
  let base: UnsafeMutablePointer<WordStorage>

  /// Allocates `count` zeroed words aligned to 64 bytes.
  static func allocate(count: Int) -> AtomicWords {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 8, alignment: 64)
    let words = raw.bindMemory(to: WordStorage.self, capacity: count)
    for index in 0..<count { (words + index).initialize(to: WordStorage(0)) }
    return AtomicWords(base: words)
  }

  func deallocate() {
    UnsafeMutableRawPointer(base).deallocate()
  }

  @inline(__always)
  subscript(index: Int) -> UnsafeAtomic<UInt64> {
    UnsafeAtomic(at: base + index)
  }
}
