/// One entry of the log: an LSN, a type and an opaque payload. The log knows bytes, not inventory;
/// what a type means is the caller's business.
public struct LogRecord: Sendable, Hashable {
  /// Log sequence number: gap-free, starting at 1.
  public var lsn: UInt64
  /// The caller's record type (0 is reserved).
  public var type: UInt8
  /// The caller's format version for this type.
  public var version: UInt8
  /// The record's bytes.
  public var payload: [UInt8]

  public init(lsn: UInt64, type: UInt8, version: UInt8 = 1, payload: [UInt8]) {
    self.lsn = lsn
    self.type = type
    self.version = version
    self.payload = payload
  }
}
