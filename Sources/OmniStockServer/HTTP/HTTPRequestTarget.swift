import GRPCNGHTTP2
import NIOHTTP1

/// A request's target (`/path?name=value&...`), split and percent-decoded.
struct HTTPRequestTarget: Sendable, Equatable {
  /// The longest target accepted, in bytes.
  static let maxBytes = 2_048

  /// The decoded path, e.g. `/api/availability`.
  var path: String
  /// The decoded query parameters; a name given twice keeps its first value.
  var query: [String: String]

  /// Parses `uri` (origin form); `400` for a malformed one, `414` for one too long.
  init(uri: String) throws(HTTPFailure) {
    guard uri.utf8.count <= Self.maxBytes else {
      throw HTTPFailure(.uriTooLong, "the request target is longer than \(Self.maxBytes) bytes")
    }
    guard uri.hasPrefix("/") else { throw HTTPFailure(.badRequest, "the request target must start with '/'") }
    let withoutFragment = uri.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
    let parts = withoutFragment.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
    path = try Self.decode(parts[0], plusIsSpace: false)
    query = [:]
    guard parts.count > 1 else { return }
    for pair in parts[1].split(separator: "&") {
      let nameAndValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      let name = try Self.decode(nameAndValue[0], plusIsSpace: true)
      let value = nameAndValue.count > 1 ? try Self.decode(nameAndValue[1], plusIsSpace: true) : ""
      if query[name] == nil { query[name] = value }
    }
  }

  /// Percent-decodes `text` (and `+` as a space in a query); `400` on a bad escape or bytes that
  /// are not UTF-8.
  static func decode(_ text: Substring, plusIsSpace: Bool) throws(HTTPFailure) -> String {
    guard text.utf8.contains(UInt8(ascii: "%")) || (plusIsSpace && text.utf8.contains(UInt8(ascii: "+"))) else {
      return String(text)
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
      switch byte {
      case UInt8(ascii: "%"):
        guard let high = iterator.next().flatMap(PercentEncoding.hexValue),
          let low = iterator.next().flatMap(PercentEncoding.hexValue)
        else {
          throw HTTPFailure(.badRequest, "malformed percent-escape in '\(text)'")
        }
        bytes.append(high << 4 | low)
      case UInt8(ascii: "+") where plusIsSpace:
        bytes.append(UInt8(ascii: " "))
      default:
        bytes.append(byte)
      }
    }
    guard let decoded = String(validating: bytes, as: UTF8.self) else {
      throw HTTPFailure(.badRequest, "'\(text)' does not decode to UTF-8 text")
    }
    return decoded
  }
}
