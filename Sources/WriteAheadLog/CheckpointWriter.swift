#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one checkpoint file: a sequence of checksummed sections, made visible only once it is
/// complete and on disk.
///
/// ## Format
/// The 8 bytes `OMNICKP1`, then sections framed exactly like log records (``RecordFraming``:
/// CRC-32C over header and payload, padded to 8 bytes), numbered from 1 in the LSN field, and a
/// final section of type ``endSection`` whose payload is the number of sections before it
/// (8 bytes, little-endian). What each other section type means is the caller's business.
///
/// ## Guarantees
/// - The file is written as `<name>.tmp`, `fdatasync`ed, renamed to its final name, and the
///   directory synced: a file with a checkpoint name is complete (``CheckpointReader`` still
///   verifies every checksum and the end section).
/// - ``commit(lsn:replayFrom:)`` publishes the file; ``prune(directory:)`` then deletes all but
///   the newest ``retained`` (call it only once the new file was read back and verified).
/// - Memory stays bounded: sections are written out once ``flushBytes`` are buffered.
public final class CheckpointWriter {
  /// Section type of the closing section.
  public static let endSection: UInt8 = 255
  /// How many checkpoints are kept.
  public static let retained = 2
  static let magic: [UInt8] = Array("OMNICKP1".utf8)
  static let flushBytes = 4 << 20

  private let directory: String
  private let temporary: String
  private var descriptor: Int32
  private var buffer: [UInt8] = []
  private var offset = 0
  private var sections: UInt64 = 0
  /// Bytes written so far.
  public var bytes: Int { offset + buffer.count }

  /// Starts a checkpoint in `directory` (created if missing), as a temporary file.
  public init(directory: String) throws(LogFailure) {
    try FileIO.makeDirectory(directory)
    let temporary = directory + "/checkpoint.tmp"
    let descriptor = try FileIO.open(temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
    self.directory = directory
    self.temporary = temporary
    self.descriptor = descriptor
    buffer.reserveCapacity(Self.flushBytes + (1 << 20))
    buffer.append(contentsOf: Self.magic)
  }

  deinit {
    if descriptor >= 0 {
      Glibc.close(descriptor)
      Glibc.unlink(temporary)
    }
  }

  /// Appends a section (`type` 1...254) holding `payload`.
  public func append(type: UInt8, payload: [UInt8]) throws(LogFailure) {
    precondition(type != 0 && type != Self.endSection, "section type \(type) is reserved")
    sections += 1
    RecordFraming.encode(LogRecord(lsn: sections, type: type, payload: payload), into: &buffer)
    if buffer.count >= Self.flushBytes { try flush() }
  }

  /// Ends the file and makes it durable and visible under its name (see ``CheckpointName``).
  /// Returns its path.
  @discardableResult
  public func commit(lsn: UInt64, replayFrom: UInt64) throws(LogFailure) -> String {
    let path = directory + "/" + CheckpointName.make(lsn: lsn, replayFrom: replayFrom)
    var count = sections.littleEndian
    let payload = withUnsafeBytes(of: &count) { Array($0) }
    RecordFraming.encode(LogRecord(lsn: sections + 1, type: Self.endSection, payload: payload), into: &buffer)
    precondition(descriptor >= 0, "commit() called twice")
    try flush()
    try FileIO.dataSync(descriptor, path: temporary)
    Glibc.close(descriptor)
    descriptor = -1
    try FileIO.rename(temporary, path)
    try FileIO.syncDirectory(directory)
    return path
  }

  /// Deletes all checkpoints of `directory` but the newest ``retained``; returns those kept,
  /// newest first.
  @discardableResult
  public static func prune(directory: String) throws(LogFailure) -> [(path: String, lsn: UInt64, replayFrom: UInt64)] {
    let all = try CheckpointReader.checkpoints(in: directory)
    for old in all.dropFirst(retained) { try FileIO.unlink(old.path) }
    if all.count > retained { try FileIO.syncDirectory(directory) }
    return Array(all.prefix(retained))
  }

  /// Moves a checkpoint that failed verification aside (`<name>.damaged`), so it is neither used
  /// nor counted among the retained ones.
  public static func setAside(_ path: String) throws(LogFailure) {
    try FileIO.rename(path, path + ".damaged")
  }

  private func flush() throws(LogFailure) {
    guard !buffer.isEmpty else { return }
    var failure: LogFailure?
    buffer.withUnsafeBytes { bytes in
      do throws(LogFailure) { try FileIO.writeAll(descriptor, bytes, at: offset, path: temporary) } catch { failure = error }
    }
    if let failure { throw failure }
    offset += buffer.count
    buffer.removeAll(keepingCapacity: true)
  }
}
