/// Reads a log directory back at start: validates every segment and record, replays records, and
/// decides what a damaged record means.
///
/// ## Torn write or corruption?
/// The writer writes one *group* of records at a time, marks the group's last record, and starts
/// the next group only after `fdatasync` of the previous one returned (and never lets a group span
/// two segments). So after a crash only the last group of the last segment can be partly on disk,
/// in any order of sectors. When a record is damaged (bad checksum, impossible length, wrong LSN,
/// or a zero header where data should end):
/// - if a complete later group exists after it (a valid group-end record after the damage,
///   followed by any valid record), data that was acknowledged is damaged: **corruption**;
/// - in a segment that is not the last, the damage is corruption as well;
/// - otherwise it is the **torn tail** of an unacknowledged group: the bytes from the damage on are
///   copied aside (`<segment>.torn-<offset>`) and the segment is cut there.
/// Corruption refuses to start with the file and offset, unless `repair` is set, which cuts the
/// log at the damage (keeping a copy of everything after it, later segments included).
public enum LogRecovery {
  /// What recovery found.
  public struct Outcome: Sendable {
    /// LSN of the last valid record (0 if the log is empty).
    public var lastLSN: UInt64 = 0
    /// Records read (replayed or skipped as older than `afterLSN`).
    public var records = 0
    /// Segments kept, in LSN order: (file name, first LSN).
    public var segments: [(name: String, firstLSN: UInt64)] = []
    /// Where appending continues in the last segment.
    public var tailOffset = 0
    /// What was cut, if anything: a sentence for the log.
    public var truncation: String?
  }

  /// Recovers the log in `directory`, calling `replay` for each valid record with LSN > `afterLSN`.
  public static func recover(
    directory: String, repair: Bool, maxPayloadBytes: Int, afterLSN: UInt64 = 0,
    replay: (LogRecord) throws -> Void
  ) throws -> Outcome {
    try FileIO.makeDirectory(directory)
    let names = try FileIO.list(directory).filter { SegmentName.firstLSN(of: $0) != nil }
    var outcome = Outcome()
    var expected: UInt64? = nil
    for (position, name) in names.enumerated() {
      let path = directory + "/" + name
      let isLast = position == names.count - 1
      let bytes = try FileIO.readAll(path)
      let damage: (offset: Int, reason: String)?
      var offset = RecordFraming.segmentHeaderBytes
      switch bytes.withUnsafeBytes({ RecordFraming.decodeSegmentHeader($0) }) {
      case .failure(let failure):
        damage = (0, failure.description)
      case .success(let firstLSN):
        if let expected, firstLSN != expected {
          damage = (0, "segment starts at LSN \(firstLSN), expected \(expected)")
        } else {
          if expected == nil { expected = firstLSN }
          outcome.segments.append((name, firstLSN))
          damage = try scan(bytes, from: &offset, expected: &expected!, outcome: &outcome, max: maxPayloadBytes, afterLSN: afterLSN, replay: replay)
        }
      }
      guard let damage else {
        // Appending continues at the next 8-byte boundary: a file that ends inside the last
        // record's padding (the record itself complete) leaves `offset` unaligned, and a record
        // appended there would be read back 8-aligned, mid-record, and cut as a torn tail.
        outcome.tailOffset = (offset + 7) & ~7
        continue
      }
      let laterGroup = bytes.withUnsafeBytes { laterCompleteGroup(in: $0, after: damage.offset, max: maxPayloadBytes) }
      let corrupt = !isLast || laterGroup || damage.offset == 0
      if corrupt && !repair {
        throw LogFailure(
          "log corruption in \(path) at offset \(damage.offset): \(damage.reason); acknowledged data may be damaged. "
            + "Refusing to start. Restart with the repair flag to cut the log there (a copy of what is cut is kept).")
      }
      var note = "\(corrupt ? "repaired corruption" : "torn tail") in \(name) at offset \(damage.offset) (\(damage.reason))"
      if damage.offset == 0 {
        // The segment header itself is damaged: set the whole segment aside.
        try FileIO.rename(path, path + ".cut")
        outcome.segments.removeAll { $0.name == name }
        note += "; segment moved aside as \(name).cut"
        outcome.tailOffset = outcome.segments.isEmpty ? 0 : outcome.tailOffset
      } else {
        try cut(path: path, at: damage.offset, keepingCopyOf: bytes)
        note += "; cut there, copy kept as \(name).torn-\(damage.offset)"
        outcome.tailOffset = damage.offset
      }
      for later in names[(position + 1)...] {
        try FileIO.rename(directory + "/" + later, directory + "/" + later + ".cut")
        note += "; moved aside \(later)"
      }
      outcome.truncation = note
      try FileIO.syncDirectory(directory)
      return outcome
    }
    return outcome
  }

  /// Scans records from `offset`; returns the first damage, or nil when the segment's data ended
  /// cleanly (zero header or end of file).
  private static func scan(
    _ bytes: [UInt8], from offset: inout Int, expected: inout UInt64, outcome: inout Outcome, max: Int, afterLSN: UInt64,
    replay: (LogRecord) throws -> Void
  ) throws -> (offset: Int, reason: String)? {
    try bytes.withUnsafeBytes { all in
      while offset < all.count {
        let rest = UnsafeRawBufferPointer(rebasing: all[offset...])
        switch RecordFraming.decode(rest, maxPayloadBytes: max) {
        case .record(let record, let size, _):
          guard record.lsn == expected else {
            return (offset, "record has LSN \(record.lsn), expected \(expected)")
          }
          if record.lsn > afterLSN { try replay(record) }
          outcome.records += 1
          outcome.lastLSN = record.lsn
          expected += 1
          offset += size
        case .end:
          // Zeros: the data ends here, unless valid records follow (then this is damage).
          if laterValidRecord(in: all, after: offset, max: max) { return (offset, "zeroed record header") }
          return nil
        case .invalid(let reason):
          return (offset, reason)
        }
      }
      return nil
    }
  }

  /// Whether any valid record starts at an 8-byte boundary after `offset`.
  private static func laterValidRecord(in bytes: UnsafeRawBufferPointer, after offset: Int, max: Int) -> Bool {
    var position = offset + 8
    while let candidate = nextCandidate(in: bytes, from: position) {
      if case .record = RecordFraming.decode(UnsafeRawBufferPointer(rebasing: bytes[candidate...]), maxPayloadBytes: max) {
        return true
      }
      position = candidate + 8
    }
    return false
  }

  /// The first 8-byte-aligned position at or after `position` where a record could start: a valid
  /// record has a non-zero type byte at +16, so runs of zeros (the preallocated rest of a segment)
  /// are skipped a word at a time instead of decoded at every offset.
  private static func nextCandidate(in bytes: UnsafeRawBufferPointer, from position: Int) -> Int? {
    guard position + RecordFraming.headerBytes <= bytes.count else { return nil }
    var word = (position + 16) & ~7
    while word + 8 <= bytes.count {
      if bytes.loadUnaligned(fromByteOffset: word, as: UInt64.self) != 0 {
        let candidate = Swift.max(position, (word - 16) & ~7)
        return candidate + RecordFraming.headerBytes <= bytes.count ? candidate : nil
      }
      word += 8
    }
    return nil
  }

  /// Whether, after `offset`, a valid group-end record is followed by another valid record: proof
  /// that a later write group was made durable after the damaged bytes were written.
  private static func laterCompleteGroup(in bytes: UnsafeRawBufferPointer, after offset: Int, max: Int) -> Bool {
    var position = offset + 8
    var sawGroupEnd = false
    while let candidate = nextCandidate(in: bytes, from: position) {
      if case .record(_, let size, let groupEnd) = RecordFraming.decode(
        UnsafeRawBufferPointer(rebasing: bytes[candidate...]), maxPayloadBytes: max)
      {
        if sawGroupEnd { return true }
        if groupEnd { sawGroupEnd = true }
        position = candidate + size
      } else {
        position = candidate + 8
      }
    }
    return false
  }

  /// Keeps a copy of the segment from `offset` on, then zeroes it from there (keeping its size).
  private static func cut(path: String, at offset: Int, keepingCopyOf bytes: [UInt8]) throws {
    let copyPath = path + ".torn-\(offset)"
    let copy = try FileIO.open(copyPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
    defer { close(copy) }
    // The copy runs to the last non-zero byte (the rest of a preallocated segment is zeros).
    let end = (bytes.lastIndex { $0 != 0 }).map { $0 + 1 } ?? offset
    if offset < end {
      try bytes.withUnsafeBytes { all in
        try FileIO.writeAll(copy, UnsafeRawBufferPointer(rebasing: all[offset..<end]), at: 0, path: copyPath)
      }
    }
    try FileIO.dataSync(copy, path: copyPath)
    let descriptor = try FileIO.open(path, flags: O_RDWR)
    defer { close(descriptor) }
    try FileIO.truncate(descriptor, bytes: offset, path: path)
    try FileIO.preallocate(descriptor, bytes: bytes.count, path: path)
    try FileIO.dataSync(descriptor, path: path)
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
