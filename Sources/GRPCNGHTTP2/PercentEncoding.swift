/// The percent-encoding gRPC uses for the `grpc-message` trailer.
///
/// Bytes outside printable ASCII (0x20...0x7E) and `%` itself are written as `%XX` (upper-case hex)
/// of their UTF-8 bytes; decoding is lenient, as the protocol asks: a malformed escape is kept as is.
public enum PercentEncoding {
  /// The longest encoded `grpc-message` sent (clients commonly limit metadata to 8 KiB in all).
  public static let maxEncodedBytes = 4_096

  /// Encodes `message` for the `grpc-message` trailer, cut (never inside an escape) to
  /// ``maxEncodedBytes`` with a note that it was.
  public static func encodeBounded(_ message: String) -> [UInt8] {
    var encoded = encode(message)
    guard encoded.count > maxEncodedBytes else { return encoded }
    let note = Array(" ... (message truncated)".utf8)
    var cut = maxEncodedBytes - note.count
    // Do not split a %XX escape.
    if cut >= 1, encoded[cut - 1] == UInt8(ascii: "%") { cut -= 1 }
    if cut >= 2, encoded[cut - 2] == UInt8(ascii: "%") { cut -= 2 }
    encoded.removeSubrange(cut...)
    encoded += note
    return encoded
  }

  /// Encodes `message` for the `grpc-message` trailer.
  public static func encode(_ message: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(message.utf8.count)
    for byte in message.utf8 {
      if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
        out.append(byte)
      } else {
        out.append(UInt8(ascii: "%"))
        out.append(hexDigit(byte >> 4))
        out.append(hexDigit(byte & 0x0F))
      }
    }
    return out
  }

  /// Decodes a `grpc-message` value back into text.
  public static func decode(_ bytes: some Collection<UInt8>) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var index = bytes.startIndex
    while index != bytes.endIndex {
      let byte = bytes[index]
      if byte == UInt8(ascii: "%"),
        let first = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex), first != bytes.endIndex,
        let second = bytes.index(first, offsetBy: 1, limitedBy: bytes.endIndex), second != bytes.endIndex,
        let high = hexValue(bytes[first]), let low = hexValue(bytes[second])
      {
        out.append(high << 4 | low)
        index = bytes.index(after: second)
      } else {
        out.append(byte)
        index = bytes.index(after: index)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  private static func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
  }

  /// The value of an ASCII hex digit (either case), `nil` for any other byte.
  public static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    default: nil
    }
  }
}
