import SwiftProtobuf

/// Writes protobuf binary encoding field by field, for the few responses that are on the read hot
/// path (``AvailabilityWireEncoding``).
///
/// Why not swift-protobuf's `serializedBytes()` there: it is not inlinable, so it walks a message
/// through unspecialized generic visitors (witness-table calls and metadata lookups per field),
/// twice (once to size, once to write). For a 60-byte `GetAvailabilityResponse` that was ~10% of
/// the server's CPU per lookup, and encoding a 100-result batch took 3.7x protobuf-c's time
/// (`BENCHMARKS.md`, codec-bench). This writer does one pass with concrete types.
///
/// ## Guarantees
/// - Proto3 rules as swift-protobuf applies them: a singular scalar is written only when it is not
///   its default (0, false, empty); the caller writes fields in field-number order, oneof members
///   and set message fields always. Output is then byte-identical to `serializedBytes()`
///   (`WireEncodingTests` checks that on seeded random messages).
/// - Nested messages are written in place with their length patched in afterwards (one byte is
///   reserved; longer lengths shift the body, which is rare: bodies over 127 bytes).
struct ProtobufWireWriter {
  private(set) var bytes: [UInt8] = []

  init(capacity: Int = 128) {
    bytes.reserveCapacity(capacity)
  }

  // MARK: Fields

  mutating func int64(_ field: Int, _ value: Int64) {
    guard value != 0 else { return }
    key(field, wireType: 0)
    varint(UInt64(bitPattern: value))
  }

  /// `int32` (and enum values): negative values are sign-extended to 10 bytes, as protobuf says.
  mutating func int32(_ field: Int, _ value: Int32) {
    guard value != 0 else { return }
    key(field, wireType: 0)
    varint(UInt64(bitPattern: Int64(value)))
  }

  mutating func uint64(_ field: Int, _ value: UInt64) {
    guard value != 0 else { return }
    key(field, wireType: 0)
    varint(value)
  }

  mutating func uint32(_ field: Int, _ value: UInt32) {
    uint64(field, UInt64(value))
  }

  mutating func bool(_ field: Int, _ value: Bool) {
    guard value else { return }
    key(field, wireType: 0)
    bytes.append(1)
  }

  mutating func `enum`(_ field: Int, _ value: some Enum) {
    int32(field, Int32(truncatingIfNeeded: value.rawValue))
  }

  /// A singular string: nothing when empty.
  mutating func string(_ field: Int, _ value: String) {
    guard !value.isEmpty else { return }
    presentString(field, value)
  }

  /// A string that is written even when empty (a oneof member).
  mutating func presentString(_ field: Int, _ value: String) {
    key(field, wireType: 2)
    var value = value
    value.withUTF8 { utf8 in
      varint(UInt64(utf8.count))
      bytes.append(contentsOf: utf8)
    }
  }

  /// A message field (set, or a repeated element, or a oneof member): always written, even empty.
  mutating func message(_ field: Int, _ body: (inout ProtobufWireWriter) -> Void) {
    key(field, wireType: 2)
    let lengthAt = bytes.count
    bytes.append(0)
    body(&self)
    let length = bytes.count - lengthAt - 1
    if length < 0x80 {
      bytes[lengthAt] = UInt8(length)
      return
    }
    var prefix: [UInt8] = []
    var remaining = UInt64(length)
    while remaining >= 0x80 {
      prefix.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
      remaining >>= 7
    }
    prefix.append(UInt8(remaining))
    bytes.replaceSubrange(lengthAt..<(lengthAt + 1), with: prefix)
  }

  /// Fields this server does not know, kept by the message (written last, as swift-protobuf does).
  mutating func unknown(_ storage: UnknownStorage) {
    guard !storage.data.isEmpty else { return }
    bytes.append(contentsOf: storage.data)
  }

  // MARK: Wire primitives

  private mutating func key(_ field: Int, wireType: UInt64) {
    varint(UInt64(field) << 3 | wireType)
  }

  private mutating func varint(_ value: UInt64) {
    var remaining = value
    while remaining >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
      remaining >>= 7
    }
    bytes.append(UInt8(remaining))
  }
}
