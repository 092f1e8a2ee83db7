#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a checkpoint file written by ``CheckpointWriter``.
///
/// Opening it verifies the whole file (every section's checksum and numbering, and the end
/// section) and notes where each section is, without keeping the payloads; the caller then reads
/// the sections it needs in the order it needs them (each is checked again as it is read). A
/// caller can so refuse a damaged checkpoint before restoring anything from it.
public final class CheckpointReader {
  /// Where one section is.
  public struct Section: Sendable {
    public var type: UInt8
    var offset: Int
    var length: Int
  }

  /// The file.
  public let path: String
  /// Its sections in file order (the end section excluded).
  public private(set) var sections: [Section] = []
  private let descriptor: Int32
  private let maxSectionBytes: Int

  /// Checkpoints in `directory`, newest first.
  public static func checkpoints(in directory: String) throws(LogFailure) -> [(path: String, lsn: UInt64, replayFrom: UInt64)] {
    try FileIO.makeDirectory(directory)
    return try FileIO.list(directory).compactMap { name in
      CheckpointName.parse(name).map { (directory + "/" + name, $0.lsn, $0.replayFrom) }
    }.sorted { $0.lsn > $1.lsn }
  }

  /// Opens and verifies the checkpoint at `path`; throws, naming the file and offset, if it is
  /// damaged or incomplete.
  public init(path: String, maxSectionBytes: Int = 256 << 20) throws(LogFailure) {
    self.path = path
    self.maxSectionBytes = maxSectionBytes
    descriptor = try FileIO.open(path, flags: O_RDONLY)
    let size = try FileIO.size(descriptor, path: path)
    let magic = try FileIO.read(descriptor, count: CheckpointWriter.magic.count, at: 0, path: path)
    guard magic == CheckpointWriter.magic else { throw LogFailure("\(path) is not an OmniStock checkpoint (bad magic)") }
    var offset = magic.count
    while true {
      guard offset + RecordFraming.headerBytes <= size else {
        throw LogFailure("checkpoint \(path) ends at offset \(offset) without its end section")
      }
      let header = try FileIO.read(descriptor, count: RecordFraming.headerBytes, at: offset, path: path)
      let length = Int(UInt32(littleEndian: header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }))
      guard length <= maxSectionBytes, offset + RecordFraming.encodedSize(payloadBytes: length) <= size else {
        throw LogFailure("checkpoint \(path) has a damaged section header at offset \(offset)")
      }
      let record = try read(at: offset, length: length, expected: UInt64(sections.count + 1))
      if record.type == CheckpointWriter.endSection {
        let count = record.payload.count == 8
          ? UInt64(littleEndian: record.payload.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) : UInt64.max
        guard count == UInt64(sections.count) else { throw LogFailure("checkpoint \(path) has a wrong end section") }
        return
      }
      sections.append(Section(type: record.type, offset: offset, length: length))
      offset += RecordFraming.encodedSize(payloadBytes: length)
    }
  }

  deinit { Glibc.close(descriptor) }

  /// The payload of `sections[index]`, checked again.
  public func payload(of index: Int) throws(LogFailure) -> [UInt8] {
    let section = sections[index]
    return try read(at: section.offset, length: section.length, expected: UInt64(index + 1)).payload
  }

  private func read(at offset: Int, length: Int, expected: UInt64) throws(LogFailure) -> LogRecord {
    let framed = try FileIO.read(descriptor, count: RecordFraming.encodedSize(payloadBytes: length), at: offset, path: path)
    let decoded = framed.withUnsafeBytes { RecordFraming.decode($0, maxPayloadBytes: maxSectionBytes) }
    guard case .record(let record, _, _) = decoded, record.lsn == expected else {
      throw LogFailure("checkpoint \(path) is damaged at offset \(offset): \(decoded)")
    }
    return record
  }
}
