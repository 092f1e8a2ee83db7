/// File names of checkpoints: `checkpoint-<state LSN>-<replay-from LSN>.ckpt`, each 20 digits, so
/// that names sort in LSN order and say, without opening the file, where the log must start for
/// recovery from it.
public enum CheckpointName {
  static let prefix = "checkpoint-"
  static let suffix = ".ckpt"

  /// The name of a checkpoint holding the state as of `lsn`, to be followed by the log from
  /// `replayFrom` on.
  public static func make(lsn: UInt64, replayFrom: UInt64) -> String {
    prefix + digits(lsn) + "-" + digits(replayFrom) + suffix
  }

  /// The LSNs in a checkpoint's name, or `nil` if `name` is not one (temporary files are not).
  public static func parse(_ name: String) -> (lsn: UInt64, replayFrom: UInt64)? {
    guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
    let parts = name.dropFirst(prefix.count).dropLast(suffix.count).split(separator: "-")
    guard parts.count == 2, let lsn = UInt64(parts[0]), let replayFrom = UInt64(parts[1]) else { return nil }
    return (lsn, replayFrom)
  }

  private static func digits(_ value: UInt64) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, 20 - text.count)) + text
  }
}
