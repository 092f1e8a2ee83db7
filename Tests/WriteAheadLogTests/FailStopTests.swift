import Foundation
import Synchronization
import Testing

@testable import WriteAheadLog

/// Fail-stop: a failed write or `fdatasync` fails every waiting append, refuses every later one,
/// reports the failure once, and loses nothing that was acknowledged before it.
@Suite("Write-ahead log: fail-stop on I/O errors", .timeLimit(.minutes(2)))
struct FailStopTests {
  func run(failing call: LogFaultInjector.Call) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let faults = LogFaultInjector()
    let reported = Mutex<[String]>([])
    let (log, _) = try WriteAheadLog.open(
      .init(directory: directory.path, segmentBytes: 1 << 20, maxPayloadBytes: 1024, faults: faults),
      onFailure: { failure in reported.withLock { $0.append(failure.description) } }
    ) { _ in }
    var acknowledged: [UInt64] = []
    for number in 0..<20 { acknowledged.append(try await log.appendAndWait(type: 1, payload: [UInt8(number)])) }

    faults.fail(call)
    let results = await withTaskGroup(of: Result<UInt64, any Error>.self) { group in
      for number in 0..<8 {
        group.addTask {
          do { return .success(try await log.appendAndWait(type: 1, payload: [UInt8(number)])) } catch { return .failure(error) }
        }
      }
      var all: [Result<UInt64, any Error>] = []
      for await result in group { all.append(result) }
      return all
    }
    // Whatever was in flight when the disk failed is refused, never acknowledged.
    #expect(results.allSatisfy { if case .failure = $0 { true } else { false } })
    #expect(throws: LogFailure.self) { try log.append(type: 1, payload: [1]) { _ in } }
    let sawFailure = Mutex(false)
    log.whenDurable(log.nextLSN) { result in if case .failure = result { sawFailure.withLock { $0 = true } } }
    #expect(sawFailure.withLock { $0 })
    #expect(reported.withLock { $0.count } == 1)
    #expect(reported.withLock { $0.first?.contains("injected") } == true)
    log.close()

    // Restart: every acknowledged record is there (the failed group may or may not be).
    var replayed: [UInt64] = []
    let (again, _) = try WriteAheadLog.open(.init(directory: directory.path, segmentBytes: 1 << 20, maxPayloadBytes: 1024), onFailure: { _ in }) {
      replayed.append($0.lsn)
    }
    again.close()
    #expect(Array(replayed.prefix(acknowledged.count)) == acknowledged)
  }

  @Test("a failed write fails the group in flight and every later append; acknowledged records survive")
  func failedWrite() async throws { try await run(failing: .write) }

  @Test("a failed fdatasync is not retried: the group in flight and every later append fail")
  func failedSync() async throws { try await run(failing: .sync) }
}
