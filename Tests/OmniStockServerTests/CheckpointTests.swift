import Foundation
import OmniStockAPI
@testable import OmniStockServer
import StockIndex
import Testing
import WriteAheadLog

/// Checkpoints: a restart from a checkpoint plus the log gives exactly the state before it, also
/// when the checkpoint was taken while writers were busy; old segments go; a damaged newest
/// checkpoint falls back to the previous one.
@Suite("Checkpoints", .timeLimit(.minutes(3)))
struct CheckpointTests {
  static func engine(segmentBytes: Int = 1 << 20) async throws -> InProcessEngine {
    let engine = try InProcessEngine(segmentBytes: segmentBytes)
    try await engine.declare(Fixtures.location("store-1", safety: 1))
    try await engine.declare(Fixtures.location("store-2"))
    try await engine.declare(Fixtures.group("both", members: ["store-1", "store-2"]))
    return engine
  }

  @Test("restart from a checkpoint and the log after it rebuilds the same state")
  func restartFromCheckpoint() async throws {
    let engine = try await Self.engine()
    var random = SystemRandomNumberGenerator()
    try await EngineWorkload.run(on: engine, batches: 40, using: &random)
    let summary = try await engine.server.checkpointer.checkpoint()
    #expect(summary.lsn == engine.index.lsn && summary.positions > 0)
    try await EngineWorkload.run(on: engine, batches: 40, using: &random)
    let before = engine.state()
    let restarted = try await engine.reopen()
    #expect(restarted.server.checkpointer.lastCheckpoint?.lsn == summary.lsn)
    #expect(restarted.state() == before, "\(restarted.state().differences(from: before))")
    try await restarted.destroy()
  }

  @Test("a checkpoint taken while writers are busy is exact: nothing lost, nothing applied twice")
  func checkpointUnderLoad() async throws {
    let engine = try await Self.engine()
    let writers = Task {
      var random = SystemRandomNumberGenerator()
      try await EngineWorkload.run(on: engine, batches: 300, devices: 6, skus: 40, using: &random)
    }
    var taken: [CheckpointSummary] = []
    for _ in 0..<3 {
      taken.append(try await engine.server.checkpointer.checkpoint())
    }
    try await writers.value
    #expect(taken.count == 3)
    let before = engine.state()
    let restarted = try await engine.reopen()
    let after = restarted.state()
    #expect(after == before, "\(after.differences(from: before))")
    try await restarted.destroy()
  }

  @Test("log segments no retained checkpoint needs are deleted; recovery still complete")
  func segmentsDeleted() async throws {
    let engine = try await Self.engine(segmentBytes: 32 << 10)
    var random = SystemRandomNumberGenerator()
    try await EngineWorkload.run(on: engine, batches: 1000, using: &random)
    let segmentsBefore = engine.writer.log.statistics.segments
    #expect(segmentsBefore > 3)
    _ = try await engine.server.checkpointer.checkpoint()
    try await EngineWorkload.run(on: engine, batches: 400, using: &random)
    let second = try await engine.server.checkpointer.checkpoint()
    #expect(second.removedSegments > 0)
    #expect(engine.writer.log.statistics.segments < segmentsBefore)
    let files = try FileManager.default.contentsOfDirectory(atPath: engine.directory + "/checkpoints")
    #expect(files.filter { $0.hasSuffix(".ckpt") }.count == 2, "\(files)")
    _ = try await engine.server.checkpointer.checkpoint()
    let kept = try FileManager.default.contentsOfDirectory(atPath: engine.directory + "/checkpoints")
    #expect(kept.filter { $0.hasSuffix(".ckpt") }.count == 2, "only the last two are kept")
    let before = engine.state()
    let restarted = try await engine.reopen()
    #expect(restarted.state() == before, "\(restarted.state().differences(from: before))")
    try await restarted.destroy()
  }

  @Test("a damaged newest checkpoint is skipped for the previous one, and the state is still complete")
  func damagedCheckpointFallsBack() async throws {
    let engine = try await Self.engine()
    var random = SystemRandomNumberGenerator()
    try await EngineWorkload.run(on: engine, batches: 30, using: &random)
    let older = try await engine.server.checkpointer.checkpoint()
    try await EngineWorkload.run(on: engine, batches: 30, using: &random)
    let newer = try await engine.server.checkpointer.checkpoint()
    try await EngineWorkload.run(on: engine, batches: 10, using: &random)
    let before = engine.state()
    try await engine.close()
    let path = engine.directory + "/checkpoints/" + newer.fileName
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    bytes[bytes.count / 2] ^= 0x40
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let restarted = try InProcessEngine(directory: engine.directory)
    #expect(restarted.server.checkpointer.lastCheckpoint?.lsn == older.lsn)
    #expect(restarted.state() == before, "\(restarted.state().differences(from: before))")
    try await restarted.destroy()
  }

  @Test("when no checkpoint is readable and the log no longer starts at 1, the server refuses to start")
  func noUsableCheckpointRefusesStart() async throws {
    let engine = try await Self.engine(segmentBytes: 32 << 10)
    var random = SystemRandomNumberGenerator()
    try await EngineWorkload.run(on: engine, batches: 600, using: &random)
    _ = try await engine.server.checkpointer.checkpoint()
    try await EngineWorkload.run(on: engine, batches: 400, using: &random)
    let second = try await engine.server.checkpointer.checkpoint()
    #expect(second.removedSegments > 0, "the log's first segments are gone")
    try await engine.close()
    let directory = engine.directory + "/checkpoints"
    for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".ckpt") {
      var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
      bytes[bytes.count / 3] ^= 0x01
      try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
    }
    #expect {
      _ = try InProcessEngine(directory: engine.directory)
    } throws: { error in
      "\(error)".contains("checkpoint")
    }
    try? FileManager.default.removeItem(atPath: engine.directory)
  }

  @Test("a checkpoint whose log records are missing refuses to start, naming what is missing")
  func missingLogRefusesStart() async throws {
    let engine = try await Self.engine(segmentBytes: 64 << 10)
    var random = SystemRandomNumberGenerator()
    try await EngineWorkload.run(on: engine, batches: 200, using: &random)
    _ = try await engine.server.checkpointer.checkpoint()
    try await EngineWorkload.run(on: engine, batches: 100, using: &random)
    try await engine.close()
    let wal = engine.directory + "/wal"
    let segments = try FileManager.default.contentsOfDirectory(atPath: wal).filter { $0.hasSuffix(".log") }.sorted()
    try FileManager.default.removeItem(atPath: wal + "/" + segments.last!)
    #expect {
      _ = try InProcessEngine(directory: engine.directory)
    } throws: { error in
      "\(error)".contains("missing")
    }
    try? FileManager.default.removeItem(atPath: engine.directory)
  }
}
