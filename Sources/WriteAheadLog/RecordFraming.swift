/// The on-disk form of a record, and of a segment's header.
///
/// Record: a 24-byte header, the payload, then zero padding to a multiple of 8 bytes.
/// ```
/// offset 0  crc32c  UInt32  over bytes 4..<24 of the header and the payload
///        4  length  UInt32  payload bytes
///        8  lsn     UInt64
///       16  type    UInt8   (0 never appears in a valid record)
///       17  version UInt8
///       18  flags   UInt16  (bit 0: last record of its write group, i.e. of one fdatasync)
///       20  unused  UInt32  (0)
/// ```
/// All integers little-endian. A header of all zeros marks the end of a segment's data (segments
/// are preallocated with zeros).
///
/// Segment header: the first 64 bytes of every segment file:
/// `magic "OMNIWAL1"`, `format UInt32`, `unused UInt32`, `first LSN UInt64`, `segment size UInt64`,
/// `created (Unix ms) Int64`, zeros, and at offset 60 a CRC-32C of bytes 0..<60.
public enum RecordFraming {
  public static let headerBytes = 24
  public static let segmentHeaderBytes = 64
  public static let formatVersion: UInt32 = 1
  static let magic: [UInt8] = Array("OMNIWAL1".utf8)
  /// The largest first LSN a valid segment header names (2^63 - 1): far beyond any LSN the log
  /// assigns, and low enough that counting records after it cannot overflow.
  public static let maxFirstLSN = UInt64(Int64.max)

  /// Bytes a record with `payloadBytes` occupies on disk.
  public static func encodedSize(payloadBytes: Int) -> Int {
    (headerBytes + payloadBytes + 7) & ~7
  }

  /// Flag of the last record of a write group (one write + one fdatasync).
  public static let groupEndFlag: UInt16 = 1

  /// Appends the framed record to `buffer`.
  public static func encode(_ record: LogRecord, groupEnd: Bool = true, into buffer: inout [UInt8]) {
    let start = buffer.count
    let total = encodedSize(payloadBytes: record.payload.count)
    buffer.append(contentsOf: repeatElement(0, count: total))
    buffer.withUnsafeMutableBytes { bytes in
      let base = bytes.baseAddress! + start
      base.storeBytes(of: UInt32(record.payload.count).littleEndian, toByteOffset: 4, as: UInt32.self)
      base.storeBytes(of: record.lsn.littleEndian, toByteOffset: 8, as: UInt64.self)
      base.storeBytes(of: record.type, toByteOffset: 16, as: UInt8.self)
      base.storeBytes(of: record.version, toByteOffset: 17, as: UInt8.self)
      base.storeBytes(of: (groupEnd ? groupEndFlag : 0).littleEndian, toByteOffset: 18, as: UInt16.self)
      record.payload.withUnsafeBytes { payload in
        if let source = payload.baseAddress { (base + headerBytes).copyMemory(from: source, byteCount: payload.count) }
      }
      let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: base + 4, count: headerBytes - 4 + record.payload.count))
      base.storeBytes(of: crc.littleEndian, toByteOffset: 0, as: UInt32.self)
    }
  }

  /// What is at a record position.
  public enum Decoded: Equatable {
    /// A valid record, the bytes it occupies, and whether it ends its write group.
    case record(LogRecord, size: Int, groupEnd: Bool)
    /// All-zero header: no more data in this segment.
    case end
    /// Not a valid record (checksum, length or type wrong, or cut short), with the reason.
    case invalid(String)
  }

  /// Decodes the record at the start of `bytes` (which runs to the end of the segment's data).
  public static func decode(_ bytes: UnsafeRawBufferPointer, maxPayloadBytes: Int) -> Decoded {
    guard bytes.count >= headerBytes else {
      return bytes.allSatisfy { $0 == 0 } ? .end : .invalid("a record header is cut short")
    }
    let header = UnsafeRawBufferPointer(rebasing: bytes[0..<headerBytes])
    if header.allSatisfy({ $0 == 0 }) { return .end }
    let crc = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
    let length = Int(UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
    let lsn = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    let type = header[16]
    let version = header[17]
    let flags = UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 18, as: UInt16.self))
    guard length <= maxPayloadBytes else { return .invalid("record length \(length) exceeds the limit") }
    guard headerBytes + length <= bytes.count else { return .invalid("a record of \(length) bytes is cut short") }
    guard type != 0 else { return .invalid("record type 0") }
    let covered = UnsafeRawBufferPointer(rebasing: bytes[4..<(headerBytes + length)])
    guard CRC32C.checksum(covered) == crc else { return .invalid("checksum mismatch") }
    let payload = Array(UnsafeRawBufferPointer(rebasing: bytes[headerBytes..<(headerBytes + length)]))
    return .record(
      LogRecord(lsn: lsn, type: type, version: version, payload: payload),
      size: min(bytes.count, encodedSize(payloadBytes: length)), groupEnd: flags & groupEndFlag != 0)
  }

  /// The 64-byte segment header.
  public static func segmentHeader(firstLSN: UInt64, segmentBytes: Int, createdUnixMs: Int64) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: segmentHeaderBytes)
    header.withUnsafeMutableBytes { bytes in
      bytes.copyBytes(from: magic)
      bytes.storeBytes(of: formatVersion.littleEndian, toByteOffset: 8, as: UInt32.self)
      bytes.storeBytes(of: firstLSN.littleEndian, toByteOffset: 16, as: UInt64.self)
      bytes.storeBytes(of: UInt64(segmentBytes).littleEndian, toByteOffset: 24, as: UInt64.self)
      bytes.storeBytes(of: createdUnixMs.littleEndian, toByteOffset: 32, as: Int64.self)
      let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<60]))
      bytes.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
    }
    return header
  }

  /// The first LSN recorded in a segment header, or why the header is not valid.
  public static func decodeSegmentHeader(_ bytes: UnsafeRawBufferPointer) -> Result<UInt64, LogFailure> {
    guard bytes.count >= segmentHeaderBytes else { return .failure(.init("segment header is cut short")) }
    guard Array(bytes[0..<8]) == magic else { return .failure(.init("not an OmniStock log segment (bad magic)")) }
    let crc = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 60, as: UInt32.self))
    guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<60])) == crc else {
      return .failure(.init("segment header checksum mismatch"))
    }
    let format = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    guard format == formatVersion else { return .failure(.init("unsupported segment format \(format)")) }
    let firstLSN = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
    // LSNs start at 1 and grow by one: a header naming 0 would make an empty log hand out LSN 1
    // into a segment that recovery then reads as starting at 0 (and cuts that acknowledged record
    // as a torn tail); one naming a first LSN near 2^64 would overflow the LSNs counted after it.
    guard firstLSN > 0, firstLSN <= maxFirstLSN else {
      return .failure(.init("segment header names first LSN \(firstLSN), outside 1...\(maxFirstLSN)"))
    }
    return .success(firstLSN)
  }
}

/// A failure of the log, with a message naming what and where.
public struct LogFailure: Error, Sendable, Hashable, CustomStringConvertible {
  public let description: String

  public init(_ description: String) {
    self.description = description
  }
}
