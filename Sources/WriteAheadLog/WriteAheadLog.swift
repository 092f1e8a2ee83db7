import Foundation

/// An append-only, checksummed, segmented log with group commit: a record is acknowledged only
/// once it is on disk (`fdatasync` returned).
///
/// ## Guarantees
/// - **LSNs are gap-free** and assigned in ``append(type:version:payload:onDurable:)`` call order.
/// - **Durable before acknowledged**: `onDurable` is called with the LSN only after the record and
///   every record before it were written and `fdatasync`ed.
/// - **Group commit**: one dedicated thread (never Swift's cooperative pool or an event loop)
///   writes everything queued since its last write with one `pwrite` and one `fdatasync`; a lone
///   record is written at once (no timer), and an idle log does no I/O.
/// - **Fail-stop**: a write or sync error fails every waiting and later append, forever (an
///   `fsync` error is not retryable: the kernel may have dropped the dirty pages), and calls
///   `onFailure` once so the process can exit and recover from the log on restart.
/// - **Segments** of fixed size, preallocated, created as `*.tmp`, synced, renamed and the
///   directory synced, so a segment file always has a valid header. A write group never spans two
///   segments (see ``LogRecovery`` for why that matters).
///
/// `@unchecked Sendable`: mutable state lives in `shared`, accessed only under `condition`; the
/// descriptor and offsets in `writer` are touched only by the writer thread (and by `open` before
/// the thread starts).
public final class WriteAheadLog: @unchecked Sendable {
  /// Where and how big.
  public struct Configuration: Sendable {
    public var directory: String
    public var segmentBytes: Int
    public var maxPayloadBytes: Int
    /// Cut the log at corruption instead of refusing to start (keeps a copy of what is cut).
    public var repair: Bool
    /// Tests only: injected I/O failures.
    public var faults: LogFaultInjector?

    public init(
      directory: String, segmentBytes: Int = 64 << 20, maxPayloadBytes: Int = 16 << 20, repair: Bool = false,
      faults: LogFaultInjector? = nil
    ) {
      self.faults = faults
      precondition(maxPayloadBytes + RecordFraming.headerBytes + 8 <= segmentBytes - RecordFraming.segmentHeaderBytes)
      self.directory = directory
      self.segmentBytes = segmentBytes
      self.maxPayloadBytes = maxPayloadBytes
      self.repair = repair
    }
  }

  /// The log's life.
  enum State {
    case open
    case failed(LogFailure)
    case closing
    case closed
  }

  private struct Pending {
    let record: LogRecord
    let onDurable: @Sendable (Result<UInt64, LogFailure>) -> Void
  }

  private struct Waiter {
    let lsn: UInt64
    let onDurable: @Sendable (Result<UInt64, LogFailure>) -> Void
  }

  private struct Shared {
    var state = State.open
    var queue: [Pending] = []
    var waiters: [Waiter] = []
    /// The log's segments in LSN order: (file name, first LSN).
    var segments: [(name: String, firstLSN: UInt64)] = []
    var nextLSN: UInt64
    var durableLSN: UInt64
    var groupsWritten: UInt64 = 0
    var bytesWritten: UInt64 = 0
    var recordsWritten: UInt64 = 0
    var syncNanoseconds: UInt64 = 0
  }

  /// Counters since the log was opened.
  public struct Statistics: Sendable {
    /// Write groups (each one `pwrite` and one `fdatasync`; a group crossing a segment boundary counts twice).
    public var groupsWritten: UInt64
    /// Record bytes written.
    public var bytesWritten: UInt64
    /// Records written (records per group = `recordsWritten / groupsWritten`).
    public var recordsWritten: UInt64
    /// Time spent in `fdatasync`, in total (average per group = `syncNanoseconds / groupsWritten`).
    public var syncNanoseconds: UInt64
    /// The highest LSN on disk.
    public var durableLSN: UInt64
    /// Segment files the log holds now.
    public var segments: Int
    /// Bytes those segments take on disk (segments are preallocated to their full size).
    public var bytesOnDisk: UInt64
  }

  /// Counters since the log was opened.
  public var statistics: Statistics {
    condition.lock()
    defer { condition.unlock() }
    return Statistics(
      groupsWritten: shared.groupsWritten, bytesWritten: shared.bytesWritten, recordsWritten: shared.recordsWritten,
      syncNanoseconds: shared.syncNanoseconds, durableLSN: shared.durableLSN,
      segments: shared.segments.count, bytesOnDisk: UInt64(shared.segments.count * configuration.segmentBytes))
  }

  private struct WriterFiles {
    var descriptor: Int32 = -1
    var path = ""
    var offset = 0
  }

  public let configuration: Configuration
  private let condition = NSCondition()
  private var shared: Shared
  private var writer = WriterFiles()
  private var thread: Thread?
  private let onFailure: @Sendable (LogFailure) -> Void

  /// Recovers the log in `configuration.directory` (see ``LogRecovery``), replaying every record
  /// after `afterLSN`, then opens it for appending.
  ///
  /// Recovering after a checkpoint, pass its replay point as `afterLSN` and its state LSN as
  /// `requiredThrough`: the log must then hold every record from `afterLSN + 1` through
  /// `requiredThrough` (else segments are missing, and opening throws rather than lose them).
  public static func open(
    _ configuration: Configuration, afterLSN: UInt64 = 0, requiredThrough: UInt64 = 0,
    onFailure: @escaping @Sendable (LogFailure) -> Void, replay: (LogRecord) throws -> Void
  ) throws -> (log: WriteAheadLog, recovery: LogRecovery.Outcome) {
    try FileIO.makeDirectory(configuration.directory)
    let first = try FileIO.list(configuration.directory).compactMap { SegmentName.firstLSN(of: $0) }.min()
    // The log must hold every record recovery needs: from the start (no checkpoint) or from the
    // checkpoint's replay point. Segments a checkpoint made unnecessary may have been deleted, so
    // a log that starts later means that checkpoint is gone or unreadable: never start without it.
    if let first, first > afterLSN + 1 {
      throw LogFailure(
        "the log in \(configuration.directory) starts at LSN \(first), but recovery needs it from LSN \(afterLSN + 1): "
          + (afterLSN == 0
            ? "the checkpoint that covers the earlier records is missing or unreadable (see checkpoints/)"
            : "log segments are missing"))
    }
    if first == nil && afterLSN > 0 {
      throw LogFailure(
        "the log in \(configuration.directory) is empty, but the checkpoint needs it from LSN \(afterLSN + 1): "
          + "log segments are missing")
    }
    let outcome = try LogRecovery.recover(
      directory: configuration.directory, repair: configuration.repair, maxPayloadBytes: configuration.maxPayloadBytes,
      afterLSN: afterLSN, replay: replay)
    guard max(outcome.lastLSN, afterLSN) >= requiredThrough else {
      throw LogFailure(
        "the log in \(configuration.directory) ends at LSN \(outcome.lastLSN), before the checkpoint's LSN "
          + "\(requiredThrough): log records are missing")
    }
    let log = WriteAheadLog(configuration: configuration, lastLSN: max(outcome.lastLSN, afterLSN), onFailure: onFailure)
    log.shared.segments = outcome.segments
    if let last = outcome.segments.last {
      log.writer.path = configuration.directory + "/" + last.name
      log.writer.descriptor = try FileIO.open(log.writer.path, flags: O_RDWR)
      log.writer.offset = outcome.tailOffset
    } else {
      try log.createSegment(firstLSN: max(outcome.lastLSN, afterLSN) + 1)
    }
    log.start()
    return (log, outcome)
  }

  private init(configuration: Configuration, lastLSN: UInt64, onFailure: @escaping @Sendable (LogFailure) -> Void) {
    self.configuration = configuration
    self.shared = Shared(nextLSN: lastLSN + 1, durableLSN: lastLSN)
    self.onFailure = onFailure
  }

  deinit {
    if writer.descriptor >= 0 { Glibc.close(writer.descriptor) }
  }

  /// The highest LSN known to be on disk.
  public var durableLSN: UInt64 {
    condition.lock()
    defer { condition.unlock() }
    return shared.durableLSN
  }

  /// The LSN the next append will get.
  public var nextLSN: UInt64 {
    condition.lock()
    defer { condition.unlock() }
    return shared.nextLSN
  }

  /// Queues a record and returns its LSN at once; `onDurable` is called (on the log's thread; keep
  /// it short) when the record is on disk, or with the failure that stopped the log.
  @discardableResult
  public func append(
    type: UInt8, version: UInt8 = 1, payload: [UInt8], onDurable: @escaping @Sendable (Result<UInt64, LogFailure>) -> Void
  ) throws(LogFailure) -> UInt64 {
    guard type != 0 else { throw LogFailure("record type 0 is reserved") }
    guard payload.count <= configuration.maxPayloadBytes else {
      throw LogFailure("record of \(payload.count) bytes exceeds the log's limit of \(configuration.maxPayloadBytes)")
    }
    condition.lock()
    defer { condition.unlock() }
    switch shared.state {
    case .open: break
    case .failed(let failure): throw failure
    case .closing, .closed: throw LogFailure("the log is closed")
    }
    let lsn = shared.nextLSN
    shared.nextLSN += 1
    shared.queue.append(Pending(record: LogRecord(lsn: lsn, type: type, version: version, payload: payload), onDurable: onDurable))
    condition.signal()
    return lsn
  }

  /// Calls `onDurable` (on the log's thread, or at once on the caller's if it already holds) when
  /// every record up to `lsn` is on disk, or with the failure that stopped the log. For a caller
  /// that must not answer before earlier changes are durable but has nothing to append.
  public func whenDurable(_ lsn: UInt64, _ onDurable: @escaping @Sendable (Result<UInt64, LogFailure>) -> Void) {
    condition.lock()
    if case .failed(let failure) = shared.state {
      condition.unlock()
      onDurable(.failure(failure))
      return
    }
    guard lsn > shared.durableLSN else {
      let durable = shared.durableLSN
      condition.unlock()
      onDurable(.success(durable))
      return
    }
    shared.waiters.append(Waiter(lsn: lsn, onDurable: onDurable))
    condition.unlock()
  }

  /// Deletes the segments whose records are all below `lsn` (never the segment being written),
  /// after a checkpoint made them unnecessary; returns their names.
  @discardableResult
  public func removeSegments(below lsn: UInt64) throws(LogFailure) -> [String] {
    condition.lock()
    var removable: [String] = []
    var index = 0
    while index + 1 < shared.segments.count, shared.segments[index + 1].firstLSN <= lsn {
      removable.append(shared.segments[index].name)
      index += 1
    }
    shared.segments.removeFirst(index)
    condition.unlock()
    for name in removable { try FileIO.unlink(configuration.directory + "/" + name) }
    if !removable.isEmpty { try FileIO.syncDirectory(configuration.directory) }
    return removable
  }

  /// Appends and waits until the record is durable; returns its LSN.
  public func appendAndWait(type: UInt8, version: UInt8 = 1, payload: [UInt8]) async throws -> UInt64 {
    try await withCheckedThrowingContinuation { continuation in
      do {
        try append(type: type, version: version, payload: payload) { result in continuation.resume(with: result) }
      } catch {
        continuation.resume(throwing: error)
      }
    }
  }

  /// Writes everything queued, syncs, and stops the log's thread. Appends after this fail.
  public func close() {
    condition.lock()
    if case .open = shared.state { shared.state = .closing }
    condition.broadcast()
    while true {
      if case .closed = shared.state { break }
      if case .failed = shared.state, thread == nil { break }
      condition.wait()
    }
    condition.unlock()
  }

  // MARK: - The log's thread

  private func start() {
    let thread = Thread { [self] in run() }
    thread.name = "omnistock-wal"
    thread.qualityOfService = .userInitiated
    self.thread = thread
    thread.start()
  }

  private func run() {
    while true {
      condition.lock()
      while shared.queue.isEmpty, case .open = shared.state { condition.wait() }
      let batch = shared.queue
      shared.queue.removeAll(keepingCapacity: true)
      let closing: Bool
      if case .closing = shared.state { closing = true } else { closing = false }
      condition.unlock()

      if !batch.isEmpty {
        do {
          try write(batch)
          condition.lock()
          let durable = batch.last!.record.lsn
          shared.durableLSN = durable
          var ready: [Waiter] = []
          if !shared.waiters.isEmpty {
            ready = shared.waiters.filter { $0.lsn <= durable }
            shared.waiters.removeAll { $0.lsn <= durable }
          }
          condition.unlock()
          for pending in batch { pending.onDurable(.success(pending.record.lsn)) }
          for waiter in ready { waiter.onDurable(.success(durable)) }
        } catch {
          fail(error as? LogFailure ?? LogFailure("\(error)"), pending: batch)
          return
        }
      }
      if closing && batch.isEmpty {
        condition.lock()
        shared.state = .closed
        // The thread's closure holds the log: let go of the thread, or a closed log is never freed.
        thread = nil
        if writer.descriptor >= 0 {
          Glibc.close(writer.descriptor)
          writer.descriptor = -1
        }
        condition.broadcast()
        condition.unlock()
        return
      }
    }
  }

  private func fail(_ failure: LogFailure, pending: [Pending]) {
    condition.lock()
    shared.state = .failed(failure)
    let queued = shared.queue
    let waiters = shared.waiters
    shared.queue.removeAll()
    shared.waiters.removeAll()
    thread = nil
    condition.broadcast()
    condition.unlock()
    for waiter in pending + queued { waiter.onDurable(.failure(failure)) }
    for waiter in waiters { waiter.onDurable(.failure(failure)) }
    onFailure(failure)
  }

  /// Writes `batch` as one or more groups (one per segment it touches), each synced.
  private func write(_ batch: [Pending]) throws {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(batch.reduce(0) { $0 + RecordFraming.encodedSize(payloadBytes: $1.record.payload.count) })
    var groupStart = 0
    var groupRecords = 0
    for (index, pending) in batch.enumerated() {
      let size = RecordFraming.encodedSize(payloadBytes: pending.record.payload.count)
      if writer.offset + (buffer.count - groupStart) + size > configuration.segmentBytes {
        try flushGroup(&buffer, from: groupStart, records: groupRecords)
        groupRecords = 0
        try createSegment(firstLSN: pending.record.lsn)
        buffer.removeAll(keepingCapacity: true)
        groupStart = 0
      }
      let last = index == batch.count - 1
      let nextSize = last ? 0 : RecordFraming.encodedSize(payloadBytes: batch[index + 1].record.payload.count)
      let endsGroup = last || writer.offset + buffer.count + size + nextSize > configuration.segmentBytes
      RecordFraming.encode(pending.record, groupEnd: endsGroup, into: &buffer)
      groupRecords += 1
    }
    try flushGroup(&buffer, from: groupStart, records: groupRecords)
  }

  private func flushGroup(_ buffer: inout [UInt8], from start: Int, records: Int) throws {
    guard buffer.count > start else { return }
    try configuration.faults?.check(.write, path: writer.path)
    try buffer.withUnsafeBytes { bytes in
      try FileIO.writeAll(writer.descriptor, UnsafeRawBufferPointer(rebasing: bytes[start...]), at: writer.offset, path: writer.path)
    }
    try configuration.faults?.check(.sync, path: writer.path)
    let syncStarted = ContinuousClock.now
    try FileIO.dataSync(writer.descriptor, path: writer.path)
    let synced = ContinuousClock.now - syncStarted
    writer.offset += buffer.count - start
    condition.lock()
    shared.groupsWritten += 1
    shared.bytesWritten += UInt64(buffer.count - start)
    shared.recordsWritten += UInt64(records)
    shared.syncNanoseconds += UInt64(synced.components.seconds) * 1_000_000_000 + UInt64(synced.components.attoseconds / 1_000_000_000)
    condition.unlock()
  }

  /// Creates, syncs and publishes a new segment starting at `firstLSN`, and switches to it.
  private func createSegment(firstLSN: UInt64) throws(LogFailure) {
    let name = SegmentName.make(firstLSN: firstLSN)
    let path = configuration.directory + "/" + name
    let temporary = path + ".tmp"
    let descriptor = try FileIO.open(temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
    do throws(LogFailure) {
      try FileIO.preallocate(descriptor, bytes: configuration.segmentBytes, path: temporary)
      let header = RecordFraming.segmentHeader(
        firstLSN: firstLSN, segmentBytes: configuration.segmentBytes, createdUnixMs: FileIO.nowUnixMs())
      var written: LogFailure?
      header.withUnsafeBytes { bytes in
        do throws(LogFailure) { try FileIO.writeAll(descriptor, bytes, at: 0, path: temporary) } catch { written = error }
      }
      if let written { throw written }
      try FileIO.dataSync(descriptor, path: temporary)
      try FileIO.rename(temporary, path)
      try FileIO.syncDirectory(configuration.directory)
    } catch {
      Glibc.close(descriptor)
      throw error
    }
    if writer.descriptor >= 0 { Glibc.close(writer.descriptor) }
    writer = WriterFiles(descriptor: descriptor, path: path, offset: RecordFraming.segmentHeaderBytes)
    condition.lock()
    shared.segments.append((name, firstLSN))
    condition.unlock()
  }
}
