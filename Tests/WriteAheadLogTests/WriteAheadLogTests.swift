import Foundation
import Synchronization
import Testing

@testable import WriteAheadLog

@Suite("Write-ahead log: append, rotate, recover", .timeLimit(.minutes(2)))
struct WriteAheadLogTests {
  static func payload(_ lsn: UInt64) -> [UInt8] {
    let length = Int(lsn % 97) + 1
    return (0..<length).map { UInt8(truncatingIfNeeded: Int(lsn) &* 7 &+ $0) }
  }

  static func open(_ directory: String, segmentBytes: Int = 4096, repair: Bool = false) throws -> (WriteAheadLog, [LogRecord], LogRecovery.Outcome) {
    var replayed: [LogRecord] = []
    let (log, outcome) = try WriteAheadLog.open(
      .init(directory: directory, segmentBytes: segmentBytes, maxPayloadBytes: 1024, repair: repair), onFailure: { _ in }
    ) { replayed.append($0) }
    return (log, replayed, outcome)
  }

  @Test("concurrent appends get gap-free LSNs, are durable when acknowledged, and replay exactly after rotation")
  func appendRotateRecover() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let (log, replayed, _) = try Self.open(directory.path)
    #expect(replayed.isEmpty)
    let acknowledged = try await withThrowingTaskGroup(of: [UInt64].self) { group in
      for writer in 0..<4 {
        group.addTask {
          var lsns: [UInt64] = []
          for number in 0..<150 {
            let lsn = try await log.appendAndWait(type: UInt8(1 + writer), payload: Self.payload(UInt64(writer * 1000 + number)))
            #expect(log.durableLSN >= lsn)
            lsns.append(lsn)
          }
          return lsns
        }
      }
      var all: [UInt64] = []
      for try await lsns in group { all += lsns }
      return all.sorted()
    }
    #expect(acknowledged == Array(1...600))
    log.close()
    #expect(try directory.files().filter { $0.hasSuffix(".log") }.count > 10)

    let (reopened, records, outcome) = try Self.open(directory.path)
    #expect(records.map(\.lsn) == Array(1...600))
    #expect(outcome.truncation == nil)
    #expect(reopened.nextLSN == 601)
    #expect(try await reopened.appendAndWait(type: 1, payload: [1, 2, 3]) == 601)
    reopened.close()
    let (last, again, _) = try Self.open(directory.path)
    last.close()
    #expect(again.count == 601)
    #expect(again.last?.payload == [1, 2, 3])
  }

  /// Writes `groups` groups of records (one append-and-wait each) into a single segment, returns
  /// the segment's path and, for every record, where its data ends (its padding after that is
  /// zeros that need not survive).
  static func writeGroups(_ directory: String, groups: Int) async throws -> (path: String, ends: [Int]) {
    let (log, _, _) = try open(directory, segmentBytes: 1 << 16)
    for lsn in 1...groups { _ = try await log.appendAndWait(type: 1, payload: payload(UInt64(lsn))) }
    log.close()
    var ends: [Int] = []
    var offset = RecordFraming.segmentHeaderBytes
    for lsn in 1...groups {
      let length = payload(UInt64(lsn)).count
      ends.append(offset + RecordFraming.headerBytes + length)
      offset += RecordFraming.encodedSize(payloadBytes: length)
    }
    return (directory + "/" + SegmentName.make(firstLSN: 1), ends)
  }

  @Test("a cut at every byte offset of the last records recovers exactly the records before the cut")
  func truncationAtEveryOffset() async throws {
    let source = try TemporaryDirectory()
    defer { source.remove() }
    let (segment, ends) = try await Self.writeGroups(source.path, groups: 6)
    let original = try Data(contentsOf: URL(fileURLWithPath: segment))
    for cut in ends[2]...ends[5] {
      let copy = try TemporaryDirectory()
      defer { copy.remove() }
      var torn = original
      torn.replaceSubrange(cut..<torn.count, with: Data(count: torn.count - cut))  // never-written bytes read as zeros
      try torn.write(to: URL(fileURLWithPath: copy.path + "/" + SegmentName.make(firstLSN: 1)))
      let (log, records, outcome) = try Self.open(copy.path, segmentBytes: 1 << 16)
      let expected = ends.filter { $0 <= cut }.count
      #expect(records.count == expected, "cut at \(cut)")
      #expect(records.map(\.lsn) == Array(1...UInt64(max(expected, 1))).prefix(expected).map { $0 })
      #expect(log.nextLSN == UInt64(expected + 1))
      // A cut strictly inside a record's header or payload damages it, and recovery says so; a cut
      // at a record boundary or in padding leaves only clean zeros.
      let insideRecord = ends.indices.contains { index in
        let start = index == 0 ? RecordFraming.segmentHeaderBytes : (ends[index - 1] + 7) & ~7
        return cut > start && cut < ends[index]
      }
      #expect((outcome.truncation != nil) == insideRecord, "cut at \(cut)")
      log.close()
    }
  }

  @Test("a torn tail keeps a copy of the cut bytes and appending continues after the last good record")
  func tornTailCopyAndContinue() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let (segment, ends) = try await Self.writeGroups(directory.path, groups: 4)
    var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
    bytes[ends[2] + 12] ^= 0xFF  // damage in the last record's header: an unacknowledged torn write
    try bytes.write(to: URL(fileURLWithPath: segment))
    let (log, records, outcome) = try Self.open(directory.path, segmentBytes: 1 << 16)
    #expect(records.count == 3)
    #expect(outcome.truncation?.contains("torn tail") == true)
    #expect(try directory.files().contains { $0.contains(".torn-") })
    #expect(try await log.appendAndWait(type: 2, payload: [9]) == 4)
    log.close()
    let (last, again, _) = try Self.open(directory.path, segmentBytes: 1 << 16)
    last.close()
    #expect(again.map(\.lsn) == [1, 2, 3, 4])
    #expect(again.last?.payload == [9])
  }

  @Test("a flipped bit in acknowledged data refuses start, naming file and offset; repair cuts there")
  func corruptionRefusesStart() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let (segment, ends) = try await Self.writeGroups(directory.path, groups: 5)
    var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
    let recordTwo = (ends[0] + 7) & ~7
    bytes[recordTwo + 20] ^= 0x04  // inside record 2's header; records 3-5 (later groups) are intact
    try bytes.write(to: URL(fileURLWithPath: segment))
    do {
      _ = try Self.open(directory.path, segmentBytes: 1 << 16)
      Issue.record("a corrupted log was opened")
    } catch let failure as LogFailure {
      #expect(failure.description.contains(SegmentName.make(firstLSN: 1)))
      #expect(failure.description.contains("offset \(recordTwo)"))
      #expect(failure.description.contains("repair"))
    }
    let (log, records, outcome) = try Self.open(directory.path, segmentBytes: 1 << 16, repair: true)
    #expect(records.map(\.lsn) == [1])
    #expect(outcome.truncation?.contains("repaired corruption") == true)
    #expect(log.nextLSN == 2)
    log.close()
  }

  @Test("damage in a segment that is not the last is corruption, even at its end")
  func olderSegmentDamage() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let (log, _, _) = try Self.open(directory.path, segmentBytes: 4096)
    for number in 0..<200 { _ = try await log.appendAndWait(type: 1, payload: Self.payload(UInt64(number))) }
    log.close()
    let segments = try directory.files().filter { $0.hasSuffix(".log") }
    #expect(segments.count >= 3)
    let first = URL(fileURLWithPath: directory.path + "/" + segments[0])
    var bytes = try Data(contentsOf: first)
    bytes[RecordFraming.segmentHeaderBytes + 5] ^= 0x01
    try bytes.write(to: first)
    #expect(throws: LogFailure.self) { try Self.open(directory.path) }
  }
}
