import CNGHTTP2

/// The constant header names and values the server sends, in memory that lives for the whole
/// process, so they can be handed to libnghttp2 with its `NO_COPY` flags (no per-call copies).
///
/// `@unchecked Sendable` is safe: the bytes are written once in `init`, before the instance is
/// published through the `static let`, and are never mutated or freed afterwards; every later use
/// only reads them.
final class StaticHeaderStrings: @unchecked Sendable {
  /// One header name or value: a pointer into the storage and its length.
  struct Bytes {
    let pointer: UnsafeMutablePointer<UInt8>
    let count: Int
  }

  static let shared = StaticHeaderStrings()

  let status: Bytes
  let status200: Bytes
  let status405: Bytes
  let status415: Bytes
  let contentType: Bytes
  let applicationGRPC: Bytes
  let grpcStatus: Bytes
  let grpcMessage: Bytes
  let grpcAcceptEncoding: Bytes
  let identity: Bytes
  /// `"0"` ... `"16"`, indexed by ``GRPCStatusCode`` raw value.
  let statusDigits: [Bytes]

  private init() {
    var strings = [
      ":status", "200", "405", "415", "content-type", "application/grpc", "grpc-status", "grpc-message",
      "grpc-accept-encoding", "identity",
    ]
    strings += GRPCStatusCode.allCases.map { "\($0.rawValue)" }
    let total = strings.reduce(0) { $0 + $1.utf8.count }
    let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: total)
    var offset = 0
    var placed: [Bytes] = []
    for string in strings {
      let utf8 = Array(string.utf8)
      (storage + offset).initialize(from: utf8, count: utf8.count)
      placed.append(Bytes(pointer: storage + offset, count: utf8.count))
      offset += utf8.count
    }
    status = placed[0]
    status200 = placed[1]
    status405 = placed[2]
    status415 = placed[3]
    contentType = placed[4]
    applicationGRPC = placed[5]
    grpcStatus = placed[6]
    grpcMessage = placed[7]
    grpcAcceptEncoding = placed[8]
    identity = placed[9]
    statusDigits = Array(placed[10...])
  }

  /// A header field whose name and value both live in this storage (nghttp2 copies neither).
  static func field(_ name: Bytes, _ value: Bytes) -> nghttp2_nv {
    nghttp2_nv(
      name: name.pointer, value: value.pointer, namelen: name.count, valuelen: value.count,
      flags: UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue))
  }
}
