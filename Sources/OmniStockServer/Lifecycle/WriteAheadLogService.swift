import Logging
import ServiceLifecycle
import WriteAheadLog

/// The write-ahead log as a service. The log is open from recovery on; this service's only job is
/// to close it (every acknowledged record is already on disk; closing stops its writer thread) and
/// to do so **last**: it is the first service of the group, and a group shuts its services down in
/// reverse order, so every call that could still write has finished before the log closes.
struct WriteAheadLogService: Service, CustomStringConvertible {
  let log: WriteAheadLog
  let logger: Logger
  var description: String { "write-ahead log" }

  func run() async throws {
    try? await gracefulShutdown()  // returns on graceful shutdown, throws on cancellation: close either way
    log.close()
    logger.info("write-ahead log closed", metadata: ["durableLSN": "\(log.durableLSN)"])
  }
}
