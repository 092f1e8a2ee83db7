/// The section types of a checkpoint file (the payloads are the `Checkpoint*` messages of
/// `proto/omnistock/log/v1/log_records.proto`). Values never change.
enum CheckpointSection: UInt8 {
  /// `CheckpointHeader`.
  case header = 1
  /// `CheckpointStrings`.
  case strings = 2
  /// `CheckpointDirectory`.
  case directory = 3
  /// `CheckpointPositions`.
  case positions = 4
  /// `CheckpointDevices`.
  case devices = 5
  /// `CheckpointEngine`.
  case engine = 6
  /// `CheckpointReservations`.
  case reservations = 7
  /// `CheckpointRecentDeltas`.
  case recentDeltas = 8
  /// `CheckpointNegativePositions`.
  case negativePositions = 9
}
