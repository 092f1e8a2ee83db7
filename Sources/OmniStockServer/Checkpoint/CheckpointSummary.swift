import WriteAheadLog

/// What one checkpoint holds and what taking it cost.
public struct CheckpointSummary: Sendable, Equatable {
  /// Everything up to this LSN is in the checkpoint.
  public var lsn: UInt64
  /// Recovery from it replays the log from this LSN on.
  public var replayFrom: UInt64
  public var startedAtUnixMs: Int64
  public var completedAtUnixMs: Int64
  public var positions: UInt64
  /// Size of the file.
  public var bytes: UInt64
  /// Log segments deleted because no retained checkpoint needs them any more.
  public var removedSegments: Int
}

extension CheckpointSummary {
  /// The checkpoint's file name (in the data directory's `checkpoints/`).
  public var fileName: String { CheckpointName.make(lsn: lsn, replayFrom: replayFrom) }
}
