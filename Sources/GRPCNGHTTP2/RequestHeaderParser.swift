/// Reads the request headers the server acts on into a ``ServerStream``, without building strings
/// for the common ones (names are matched by length, then bytes).
enum RequestHeaderParser {
  static func apply(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, to stream: ServerStream, router: RPCRouter) {
    switch name.count {
    case 5 where equals(name, ":path"):
      if let index = router.routeIndex(forPath: value) {
        stream.routeIndex = index
      } else {
        stream.unknownPath = Array(value)
      }
    case 7 where equals(name, ":method"):
      stream.isPost = equals(value, "POST")
    case 12 where equals(name, "content-type"):
      stream.hasGRPCContentType = isGRPCContentType(value)
    case 12 where equals(name, "grpc-timeout"):
      if let nanos = GRPCTimeout.nanoseconds(value) {
        stream.timeoutNanos = nanos
      } else {
        stream.malformedTimeout = String(decoding: value, as: UTF8.self)
      }
    case 13 where equals(name, "grpc-encoding"):
      if !equals(value, "identity") {
        stream.unsupportedEncoding = String(decoding: value, as: UTF8.self)
      }
    case 13 where equals(name, "authorization"):
      stream.authorization = String(decoding: value, as: UTF8.self)
    default:
      break
    }
  }

  /// `application/grpc`, optionally followed by `+format` or `;parameters`.
  static func isGRPCContentType(_ value: UnsafeRawBufferPointer) -> Bool {
    let prefix: StaticString = "application/grpc"
    guard value.count >= prefix.utf8CodeUnitCount,
      equals(UnsafeRawBufferPointer(rebasing: value[0..<prefix.utf8CodeUnitCount]), prefix)
    else { return false }
    if value.count == prefix.utf8CodeUnitCount { return true }
    let next = value[prefix.utf8CodeUnitCount]
    return next == UInt8(ascii: "+") || next == UInt8(ascii: ";")
  }

  static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
    guard bytes.count == literal.utf8CodeUnitCount else { return false }
    return literal.withUTF8Buffer { UnsafeRawBufferPointer($0).elementsEqual(bytes) }
  }
}
