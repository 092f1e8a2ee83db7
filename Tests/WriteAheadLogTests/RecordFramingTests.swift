import Testing

@testable import WriteAheadLog

@Suite("Record framing")
struct RecordFramingTests {
  @Test("records round-trip at every payload size around the padding boundary", arguments: [0, 1, 7, 8, 9, 15, 16, 1000])
  func roundTrip(size: Int) {
    let record = LogRecord(lsn: 42, type: 7, version: 3, payload: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    var buffer: [UInt8] = []
    RecordFraming.encode(record, groupEnd: size % 2 == 0, into: &buffer)
    #expect(buffer.count == RecordFraming.encodedSize(payloadBytes: size))
    #expect(buffer.count % 8 == 0)
    let decoded = buffer.withUnsafeBytes { RecordFraming.decode($0, maxPayloadBytes: 1 << 20) }
    #expect(decoded == .record(record, size: buffer.count, groupEnd: size % 2 == 0))
  }

  @Test("any single flipped bit in a record is detected")
  func everyBitFlip() {
    let record = LogRecord(lsn: 9, type: 1, payload: Array("SALE SKU-1 store-1 qty 2".utf8))
    var buffer: [UInt8] = []
    RecordFraming.encode(record, into: &buffer)
    let covered = RecordFraming.headerBytes + record.payload.count
    for bit in 0..<(covered * 8) {
      var damaged = buffer
      damaged[bit / 8] ^= 1 << (bit % 8)
      let decoded = damaged.withUnsafeBytes { RecordFraming.decode($0, maxPayloadBytes: 1 << 20) }
      if case .record(let read, _, _) = decoded {
        Issue.record("bit \(bit) flipped and the record still decoded as \(read)")
        return
      }
    }
  }

  @Test("an all-zero header is the end of data; a short or oversize record is invalid")
  func endAndInvalid() {
    let zeros = [UInt8](repeating: 0, count: 64)
    #expect(zeros.withUnsafeBytes { RecordFraming.decode($0, maxPayloadBytes: 100) } == .end)
    var buffer: [UInt8] = []
    RecordFraming.encode(LogRecord(lsn: 1, type: 1, payload: Array(repeating: 1, count: 200)), into: &buffer)
    if case .invalid = buffer.withUnsafeBytes({ RecordFraming.decode($0, maxPayloadBytes: 100) }) {} else {
      Issue.record("an oversize record was accepted")
    }
    if case .invalid = Array(buffer.prefix(100)).withUnsafeBytes({ RecordFraming.decode($0, maxPayloadBytes: 1000) }) {} else {
      Issue.record("a cut-short record was accepted")
    }
  }

  @Test("CRC-32C matches the standard check value")
  func crcCheckValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    let text = Array("The quick brown fox jumps over the lazy dog".utf8)
    let whole = CRC32C.checksum(text)
    let pieces = text.withUnsafeBytes { bytes in
      CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[13...]), continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[..<13])))
    }
    #expect(whole == pieces)
  }
}
