import Dispatch
import Foundation
@testable import WriteAheadLog

/// Fuzz target (b): arbitrary bytes as a write-ahead log segment.
///
/// For the input as given, and again with its checksums recomputed (``withValidChecksums(_:)``,
/// so that mutated lengths, LSNs, types and flags get past CRC-32C, which a fuzzer cannot forge):
/// 1. **In memory**: the segment header is decoded, and records are decoded one after another both
///    from offset 64 (after a segment header) and from offset 0 (a bare record stream); each step
///    must make progress and stay inside the bytes.
/// 2. **On disk**: the bytes become the only segment of a log directory (on tmpfs when there is
///    one; named after the first LSN in its header, as the writer names segments) and ``LogRecovery`` runs on it, without repair (it may refuse), then with repair (it
///    must succeed), then once more without repair, which must find the log clean: no
///    truncation, the same last LSN and record count. Recovery is idempotent.
/// 3. Then the log is opened for appending (it may refuse cleanly), one record is appended and
///    made durable, the log is closed, and recovery must find that record as the last one.
///
/// Failure is a crash: a trap (overflow, out of bounds), a sanitizer report, or one of the
/// properties above failing (`fatalError` with what was expected and found).
public enum LogDecoderFuzzTarget {
  /// Payload limit the fuzzed log is read with (the seeds were written with it).
  public static let maxPayloadBytes = 1024
  /// Segment size the seeds were written with; the harness opens the log with it.
  public static let segmentBytes = 4096

  static let directory: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/omnistock-fuzz-wal-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    // libFuzzer ends the process itself (exit) when its time is up: remove the directory then.
    atexit { LogDecoderFuzzTarget.cleanUp() }
    return path
  }()

  /// The segment's file name: after the first LSN its header names, as the writer names segments
  /// (LSN 1 when the header does not decode).
  static func segmentName(for bytes: [UInt8]) -> String {
    let first: UInt64
    switch bytes.withUnsafeBytes({ RecordFraming.decodeSegmentHeader($0) }) {
    case .success(let lsn): first = lsn
    case .failure: first = 1
    }
    return SegmentName.make(firstLSN: first)
  }

  public static func run(_ input: UnsafeRawBufferPointer) {
    let raw = Array(input)
    decodeInMemory(raw)
    recoverOnDisk(raw, appendAfter: false)
    let fixed = withValidChecksums(raw)
    if fixed != raw {
      decodeInMemory(fixed)
      recoverOnDisk(fixed, appendAfter: true)
    } else {
      recoverOnDisk(raw, appendAfter: true)
    }
  }

  // MARK: In memory

  static func decodeInMemory(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { all in
      _ = RecordFraming.decodeSegmentHeader(all)
      walk(all, from: min(all.count, RecordFraming.segmentHeaderBytes))
      walk(all, from: 0)
    }
  }

  private static func walk(_ all: UnsafeRawBufferPointer, from start: Int) {
    var offset = start
    while offset < all.count {
      switch RecordFraming.decode(UnsafeRawBufferPointer(rebasing: all[offset...]), maxPayloadBytes: maxPayloadBytes) {
      case .record(let record, let size, _):
        check(size > 0 && offset + size <= all.count, "record at \(offset) claims \(size) bytes of \(all.count - offset)")
        check(record.payload.count <= maxPayloadBytes, "payload of \(record.payload.count) bytes passed the limit")
        check(record.type != 0, "a record of type 0 was accepted")
        offset += size
      case .end, .invalid:
        return
      }
    }
  }

  // MARK: On disk

  static func recoverOnDisk(_ bytes: [UInt8], appendAfter: Bool) {
    resetDirectory()
    let path = directory + "/" + segmentName(for: bytes)
    check(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "could not write \(path)")

    // Without repair: may refuse (corruption), may cut a torn tail.
    var refused = false
    do {
      _ = try LogRecovery.recover(directory: directory, repair: false, maxPayloadBytes: maxPayloadBytes) { _ in }
    } catch is LogFailure {
      refused = true
    } catch {
      fatalError("recovery threw something other than a LogFailure: \(error)")
    }
    // With repair: must always come up.
    let repaired: LogRecovery.Outcome
    do {
      repaired = try LogRecovery.recover(directory: directory, repair: true, maxPayloadBytes: maxPayloadBytes) { _ in }
    } catch {
      fatalError("recovery with repair failed (refused without repair: \(refused)): \(error)")
    }
    // And then the log is clean.
    let again: LogRecovery.Outcome
    do {
      again = try LogRecovery.recover(directory: directory, repair: false, maxPayloadBytes: maxPayloadBytes) { _ in }
    } catch {
      fatalError("recovery after a repair refused the log: \(error)")
    }
    check(again.truncation == nil, "recovery after a repair cut again: \(again.truncation ?? "")")
    check(
      again.lastLSN == repaired.lastLSN && again.records == repaired.records,
      "recovery after a repair found \(again.records) records to LSN \(again.lastLSN), repair kept \(repaired.records) to \(repaired.lastLSN)"
    )
    if appendAfter { appendAndRecover(after: again) }
  }

  /// Opens the recovered log, appends one record, closes, and recovers it again.
  private static func appendAndRecover(after outcome: LogRecovery.Outcome) {
    let configuration = WriteAheadLog.Configuration(
      directory: directory, segmentBytes: segmentBytes, maxPayloadBytes: maxPayloadBytes)
    let log: WriteAheadLog
    do {
      (log, _) = try WriteAheadLog.open(configuration, onFailure: { _ in }, replay: { _ in })
    } catch is LogFailure {
      return  // refused cleanly (e.g. a log that starts after LSN 1 with no checkpoint)
    } catch {
      fatalError("opening the log threw something other than a LogFailure: \(error)")
    }
    let done = DispatchSemaphore(value: 0)
    let lsn: UInt64
    do {
      lsn = try log.append(type: 7, payload: Array("after recovery".utf8)) { _ in done.signal() }
    } catch {
      fatalError("append after recovery failed: \(error)")
    }
    done.wait()
    log.close()
    check(lsn == outcome.lastLSN + 1, "append after recovery to LSN \(outcome.lastLSN) got LSN \(lsn)")
    var last: LogRecord?
    do {
      let reopened = try LogRecovery.recover(directory: directory, repair: false, maxPayloadBytes: maxPayloadBytes) {
        last = $0
      }
      check(reopened.lastLSN == lsn, "after appending LSN \(lsn), recovery ends at \(reopened.lastLSN)")
    } catch {
      fatalError("recovery after an append refused the log: \(error)")
    }
    check(last?.lsn == lsn && last?.type == 7, "the appended record was not replayed last (got \(String(describing: last)))")
  }

  private static func resetDirectory() {
    let manager = FileManager.default
    if let names = try? manager.contentsOfDirectory(atPath: directory) {
      for name in names { try? manager.removeItem(atPath: directory + "/" + name) }
    } else {
      try? manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
  }

  /// Removes the scratch directory (call at exit).
  public static func cleanUp() {
    try? FileManager.default.removeItem(atPath: directory)
  }

  // MARK: Checksums

  /// `bytes` with a valid segment-header checksum (if it starts with the magic) and a valid
  /// checksum in every record the decoder would reach: records are walked from offset 64 by their
  /// length fields; zero words are skipped 8 bytes at a time so that records after a gap (which
  /// recovery looks for to tell a torn tail from corruption) are fixed too.
  public static func withValidChecksums(_ bytes: [UInt8]) -> [UInt8] {
    var bytes = bytes
    bytes.withUnsafeMutableBytes { all in
      let headerBytes = RecordFraming.headerBytes
      if all.count >= RecordFraming.segmentHeaderBytes, Array(all[0..<8]) == RecordFraming.magic {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[0..<60]))
        all.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
      }
      var offset = RecordFraming.segmentHeaderBytes
      while offset + headerBytes <= all.count {
        let header = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + headerBytes)])
        if header.allSatisfy({ $0 == 0 }) {
          offset += 8
          continue
        }
        let length = Int(UInt32(littleEndian: all.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
        guard length <= maxPayloadBytes, offset + headerBytes + length <= all.count else {
          offset += 8
          continue
        }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[(offset + 4)..<(offset + headerBytes + length)]))
        all.storeBytes(of: crc.littleEndian, toByteOffset: offset, as: UInt32.self)
        offset += RecordFraming.encodedSize(payloadBytes: length)
      }
    }
    return bytes
  }

  private static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("log decoder property failed: \(message())") }
  }
}
