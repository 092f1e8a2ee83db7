import Logging
import StockIndex
import WriteAheadLog

/// Takes checkpoints periodically: when the log grew by ``logBytes`` since the last one, or
/// ``intervalSeconds`` passed and something changed. Checks once a second; stops when its task is
/// cancelled.
struct CheckpointSchedule: Sendable {
  let checkpointer: Checkpointer
  let intervalSeconds: Int
  let logBytes: Int
  let logger: Logger

  func run() async {
    guard intervalSeconds > 0 || logBytes > 0 else { return }
    let log = checkpointer.writer.log
    var bytesAtLast = log.statistics.bytesWritten
    var lastTaken = ContinuousClock.now
    var lsnAtLast = checkpointer.lastCheckpoint?.lsn ?? 0
    while !Task.isCancelled {
      do { try await Task.sleep(for: .seconds(1)) } catch { return }
      let bytes = log.statistics.bytesWritten
      let changed = checkpointer.writer.index.lsn > lsnAtLast
      let bySize = logBytes > 0 && bytes - bytesAtLast >= UInt64(logBytes)
      let byTime = intervalSeconds > 0 && changed && ContinuousClock.now - lastTaken >= .seconds(intervalSeconds)
      guard bySize || byTime else { continue }
      do {
        let summary = try await checkpointer.checkpoint()
        logger.info(
          "checkpoint written",
          metadata: [
            "lsn": "\(summary.lsn)", "positions": "\(summary.positions)", "bytes": "\(summary.bytes)",
            "ms": "\(summary.completedAtUnixMs - summary.startedAtUnixMs)", "segmentsDeleted": "\(summary.removedSegments)",
            "reason": "\(bySize ? "log size" : "interval")",
          ])
        lsnAtLast = summary.lsn
      } catch {
        logger.error("checkpoint failed; will retry", metadata: ["error": "\(error)"])
      }
      bytesAtLast = bytes
      lastTaken = ContinuousClock.now
    }
  }
}
