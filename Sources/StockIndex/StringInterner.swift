import Atomics
import Synchronization

/// Maps identifier strings (SKUs, locations, groups) to dense integer ids, once, at the edge.
///
/// ## Guarantees
/// - ``id(of:)`` is lock-free and allocation-free for native Swift strings: it hashes the UTF-8
///   bytes, probes a ``PublishedTable`` and compares bytes; it never waits for ``intern(_:)``.
/// - Ids are dense, start at 0, never change and are never reused; ``intern(_:)`` of a known
///   string returns its id.
/// - Growth publishes a bigger table and retires the old one (see ``PublishedTable``), so readers
///   are never blocked by it.
/// - At most ``capacity`` strings (the id space of the index's packed keys); beyond it
///   ``intern(_:)`` returns `nil`.
///
/// `@unchecked Sendable`: the stored pointers are immutable after `init`; the memory they point to
/// is read by any thread only through atomics or after an acquire load that happens-after the
/// bytes were written (string bytes are immutable once published); all mutation happens under
/// `writer`. Memory is freed only in `deinit`, when no reader can hold a reference.
public final class StringInterner: @unchecked Sendable {
  /// The most strings this interner holds.
  public let capacity: Int
  private static let chunkBits = 12
  private static let chunkSize = 1 << chunkBits

  private let table: PublishedTable
  /// Chunk directory: address of each chunk of (bytes address, byte count) pairs.
  private let directory: AtomicWords
  private let writer: Mutex<Writer>

  private struct Writer: Sendable {
    var table: PublishedTable.Writer
    var count = 0
    var chunks: [AtomicWords] = []
    var strings: [AtomicWords] = []
  }

  /// Creates an empty interner for up to `capacity` strings.
  public init(capacity: Int, initialTableCapacity: Int = 1024) {
    self.capacity = capacity
    let (table, tableWriter) = PublishedTable.make(initialCapacity: initialTableCapacity)
    self.table = table
    self.directory = AtomicWords.allocate(count: (capacity + Self.chunkSize - 1) / Self.chunkSize)
    self.writer = Mutex(Writer(table: tableWriter))
  }

  deinit {
    writer.withLock { writer in
      writer.table.deallocateRetired()
      for chunk in writer.chunks { chunk.deallocate() }
      for bytes in writer.strings { bytes.deallocate() }
    }
    table.deallocate()
    directory.deallocate()
  }

  /// How many strings are interned.
  public var count: Int { writer.withLock { $0.count } }

  /// The id of `string`, or `nil` if it was never interned. Lock-free.
  public func id(of string: String) -> UInt32? {
    // Native strings expose their UTF-8 in place (no copy, no retain); others are copied once.
    if let found = string.utf8.withContiguousStorageIfAvailable({ id(ofUTF8: UnsafeRawBufferPointer($0)) }) {
      return found
    }
    var copy = string
    return copy.withUTF8 { id(ofUTF8: UnsafeRawBufferPointer($0)) }
  }

  /// The id of a UTF-8 byte string, or `nil`. Lock-free, allocation-free.
  public func id(ofUTF8 bytes: UnsafeRawBufferPointer) -> UInt32? {
    let hash = Self.hash(bytes)
    return table.probe(hash: mix64(UInt64(hash))) { entry -> UInt32? in
      guard UInt32(truncatingIfNeeded: entry) == hash else { return nil }
      let id = UInt32(truncatingIfNeeded: entry >> 32) - 1
      return self.bytesEqual(id: id, bytes) ? id : nil
    }
  }

  /// The id of `string`, interning it if new; `nil` when the interner is full.
  public func intern(_ string: String) -> UInt32? {
    if let id = id(of: string) { return id }
    var string = string
    return string.withUTF8 { utf8 in
      let bytes = UnsafeRawBufferPointer(utf8)
      return writer.withLock { writer -> UInt32? in
        if let id = id(ofUTF8: bytes) { return id }  // another writer won the race
        guard writer.count < capacity else { return nil }
        let id = writer.count
        let chunkIndex = id >> Self.chunkBits
        if chunkIndex == writer.chunks.count {
          let chunk = AtomicWords.allocate(count: Self.chunkSize * 2)
          writer.chunks.append(chunk)
          directory[chunkIndex].store(UInt64(UInt(bitPattern: chunk.base)), ordering: .releasing)
        }
        // String bytes live in word-aligned blocks, written once before publication, then immutable.
        let block = AtomicWords.allocate(count: max(1, (bytes.count + 7) / 8))
        let copy = UnsafeMutableRawPointer(block.base)
        if let base = bytes.baseAddress { copy.copyMemory(from: base, byteCount: bytes.count) }
        writer.strings.append(block)
        let chunk = writer.chunks[chunkIndex]
        let offset = (id & (Self.chunkSize - 1)) * 2
        chunk[offset].store(UInt64(UInt(bitPattern: copy)), ordering: .relaxed)
        chunk[offset + 1].store(UInt64(bytes.count), ordering: .relaxed)
        let hash = Self.hash(bytes)
        // The entry is published last (release): a reader that finds it sees the bytes above.
        writer.table.insert(
          UInt64(id + 1) << 32 | UInt64(hash), into: table,
          hash: { mix64($0 & 0xFFFF_FFFF) }, entryHash: mix64(UInt64(hash)))
        writer.count += 1
        return UInt32(id)
      }
    }
  }

  /// The string with `id`, or `nil` for an unknown id.
  public func string(for id: UInt32) -> String? {
    guard let (pointer, count) = storedBytes(id: id) else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
  }

  private func storedBytes(id: UInt32) -> (UnsafeRawPointer, Int)? {
    let chunkIndex = Int(id) >> Self.chunkBits
    guard chunkIndex < (capacity + Self.chunkSize - 1) / Self.chunkSize else { return nil }
    let chunkAddress = directory[chunkIndex].load(ordering: .acquiring)
    guard chunkAddress != 0 else { return nil }
    let chunk = AtomicWords(base: UnsafeMutablePointer(bitPattern: UInt(chunkAddress))!)
    let offset = (Int(id) & (Self.chunkSize - 1)) * 2
    let address = chunk[offset].load(ordering: .acquiring)
    guard address != 0 else { return nil }
    return (UnsafeRawPointer(bitPattern: UInt(address))!, Int(chunk[offset + 1].load(ordering: .relaxed)))
  }

  private func bytesEqual(id: UInt32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let (pointer, count) = storedBytes(id: id), count == bytes.count else { return false }
    guard count > 0 else { return true }
    return memcmp(pointer, bytes.baseAddress!, count) == 0
  }

  /// FNV-1a over the bytes, folded to 32 bits.
  static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01B3
    }
    return UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
