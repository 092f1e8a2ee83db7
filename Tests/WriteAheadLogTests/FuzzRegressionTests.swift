import Foundation
import Testing

@testable import WriteAheadLog

/// Inputs found by the log-decoder fuzz target (`tools/fuzz.sh log-decoder`; the inputs are also
/// in `tools/Fuzz/corpus/log-decoder/regression-*`): segment files with valid checksums whose
/// header names a first LSN the log never assigns, or whose data ends inside a record's padding;
/// and a closed log that LeakSanitizer saw never freed.
@Suite("Write-ahead log: fuzz findings", .timeLimit(.minutes(1)))
struct FuzzRegressionTests {
  /// Writes a segment file whose header names `firstLSN`, followed by `records`.
  static func writeSegment(in directory: String, name: String, firstLSN: UInt64, records: [LogRecord]) throws {
    var bytes = RecordFraming.segmentHeader(firstLSN: firstLSN, segmentBytes: 4096, createdUnixMs: 0)
    for record in records { RecordFraming.encode(record, into: &bytes) }
    bytes += [UInt8](repeating: 0, count: 4096 - bytes.count)
    try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
  }

  static func configuration(_ directory: String, repair: Bool = false) -> WriteAheadLog.Configuration {
    .init(directory: directory, segmentBytes: 4096, maxPayloadBytes: 1024, repair: repair)
  }

  @Test("a segment header naming first LSN 0 is damage, not an empty log that loses its next record")
  func firstLSNZero() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    try Self.writeSegment(
      in: directory.path, name: "wal-00000000000000000000.log", firstLSN: 0, records: [])
    let header = RecordFraming.segmentHeader(firstLSN: 0, segmentBytes: 4096, createdUnixMs: 0)
    #expect(throws: LogFailure.self) { try header.withUnsafeBytes { try RecordFraming.decodeSegmentHeader($0).get() } }

    // Before the fix the log opened, handed out LSN 1 into that segment, acknowledged it, and the
    // next recovery (expecting LSN 0 there) cut it as a torn tail. Now opening refuses.
    #expect(throws: LogFailure.self) {
      _ = try WriteAheadLog.open(Self.configuration(directory.path), onFailure: { _ in }, replay: { _ in })
    }

    // With repair the segment is set aside and the log starts over, keeping what it acknowledges.
    let (log, outcome) = try WriteAheadLog.open(
      Self.configuration(directory.path, repair: true), onFailure: { _ in }, replay: { _ in })
    #expect(outcome.truncation?.contains("first LSN 0") == true)
    let lsn = try log.append(type: 7, payload: Array("kept".utf8)) { _ in }
    log.close()
    #expect(lsn == 1)
    var replayed: [LogRecord] = []
    let again = try LogRecovery.recover(directory: directory.path, repair: false, maxPayloadBytes: 1024) {
      replayed.append($0)
    }
    #expect(again.truncation == nil)
    #expect(replayed.map(\.lsn) == [1])
  }

  @Test("a segment header naming a first LSN near 2^64 is refused cleanly, not an overflow trap")
  func firstLSNNearMax() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    // Before the fix, recovery counted past UInt64.max after this record and trapped, so the
    // server could not start even with the repair flag.
    try Self.writeSegment(
      in: directory.path, name: "wal-18446744073709551615.log", firstLSN: .max,
      records: [LogRecord(lsn: .max, type: 1, payload: [0x78])])
    #expect(throws: LogFailure.self) {
      _ = try LogRecovery.recover(directory: directory.path, repair: false, maxPayloadBytes: 1024) { _ in }
    }
    let repaired = try LogRecovery.recover(directory: directory.path, repair: true, maxPayloadBytes: 1024) { _ in }
    #expect(repaired.lastLSN == 0)
    #expect(repaired.segments.isEmpty)
    #expect(try directory.files() == ["wal-18446744073709551615.log.cut"])

    let largest = RecordFraming.segmentHeader(firstLSN: RecordFraming.maxFirstLSN, segmentBytes: 4096, createdUnixMs: 0)
    #expect(try largest.withUnsafeBytes { try RecordFraming.decodeSegmentHeader($0).get() } == RecordFraming.maxFirstLSN)
  }

  @Test("a segment that ends inside its last record's padding: appending continues 8-byte aligned")
  func tailInsidePadding() throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    // Records 1...3; the last one's 5-byte payload is padded to 8, and the file ends 3 bytes into
    // that padding: the record is whole, but the data's end is not 8-byte aligned.
    var bytes = RecordFraming.segmentHeader(firstLSN: 1, segmentBytes: 4096, createdUnixMs: 0)
    for lsn in UInt64(1)...3 {
      RecordFraming.encode(LogRecord(lsn: lsn, type: 1, payload: Array("abcde".utf8)), into: &bytes)
    }
    bytes.removeLast(3)
    try Data(bytes).write(to: URL(fileURLWithPath: directory.path + "/wal-00000000000000000001.log"))

    let (log, outcome) = try WriteAheadLog.open(Self.configuration(directory.path), onFailure: { _ in }, replay: { _ in })
    #expect(outcome.lastLSN == 3)
    #expect(outcome.tailOffset % 8 == 0)
    let lsn = try log.append(type: 7, payload: Array("acknowledged".utf8)) { _ in }
    log.close()
    #expect(lsn == 4)

    // Before the fix LSN 4 was written 5 bytes after record 3's payload; recovery, stepping over
    // record 3's full padding, landed inside it and cut it as a torn tail: an acknowledged record lost.
    var replayed: [UInt64] = []
    let again = try LogRecovery.recover(directory: directory.path, repair: false, maxPayloadBytes: 1024) {
      replayed.append($0.lsn)
    }
    #expect(again.truncation == nil)
    #expect(replayed == [1, 2, 3, 4])
  }

  @Test("a closed log is freed (its writer thread no longer holds it)")
  func closedLogIsFreed() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    weak var released: WriteAheadLog?
    do {
      let (log, _) = try WriteAheadLog.open(Self.configuration(directory.path), onFailure: { _ in }, replay: { _ in })
      released = log
      _ = try await log.appendAndWait(type: 1, payload: [1])
      log.close()
    }
    // The writer thread lets go of the log as it exits, just after close() returns.
    for _ in 0..<200 where released != nil { try await Task.sleep(for: .milliseconds(10)) }
    #expect(released == nil)
  }
}
