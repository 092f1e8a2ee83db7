/// Just enough of an HTTP/2 client to write seed inputs by hand: frames, and HPACK header blocks
/// made of indexed static-table fields and literals without indexing (no Huffman coding), which
/// is all a decoder must accept and keeps the bytes readable for a fuzzer to mutate.
public struct HTTP2Frames {
  public private(set) var bytes: [UInt8] = []

  public enum FrameType: UInt8 {
    case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, ping = 6, goaway = 7, windowUpdate = 8
    case continuation = 9
  }

  public enum Flag {
    public static let endStream: UInt8 = 0x1
    public static let ack: UInt8 = 0x1
    public static let endHeaders: UInt8 = 0x4
  }

  /// Starts with the client connection preface and an empty SETTINGS frame.
  public init(preface: Bool = true) {
    if preface {
      bytes += GRPCServerFuzzTarget.clientPreface
      frame(.settings, flags: 0, stream: 0, [])
    }
  }

  public mutating func frame(_ type: FrameType, flags: UInt8, stream: UInt32, _ payload: [UInt8]) {
    let length = UInt32(payload.count)
    bytes += [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type.rawValue, flags]
    bytes += Self.bigEndian(stream & 0x7fff_ffff)
    bytes += payload
  }

  /// The request headers of a gRPC call to `path`, plus `extra` fields.
  public static func requestHeaderBlock(path: String, extra: [(String, String)] = [], method: String = "POST")
    -> [UInt8]
  {
    var block: [UInt8] = []
    if method == "POST" { block.append(0x83) } else { literal(":method", method, into: &block) }  // static 3
    block.append(0x86)  // :scheme http (static 6)
    literal(":path", path, into: &block)
    literal(":authority", "127.0.0.1:8980", into: &block)
    literal("content-type", "application/grpc", into: &block)
    literal("te", "trailers", into: &block)
    for (name, value) in extra { literal(name, value, into: &block) }
    return block
  }

  /// HEADERS with END_HEADERS (and END_STREAM if asked).
  public mutating func headers(stream: UInt32, _ block: [UInt8], endStream: Bool = false) {
    frame(.headers, flags: Flag.endHeaders | (endStream ? Flag.endStream : 0), stream: stream, block)
  }

  /// A gRPC length-prefixed message.
  public static func grpcMessage(_ payload: [UInt8], compressed: Bool = false, declaredLength: Int? = nil) -> [UInt8] {
    [compressed ? 1 : 0] + bigEndian(UInt32(declaredLength ?? payload.count)) + payload
  }

  public mutating func data(stream: UInt32, _ payload: [UInt8], endStream: Bool = true) {
    frame(.data, flags: endStream ? Flag.endStream : 0, stream: stream, payload)
  }

  public mutating func settingsAck() { frame(.settings, flags: Flag.ack, stream: 0, []) }

  public mutating func ping(_ opaque: UInt64 = 0x0102_0304_0506_0708) {
    frame(.ping, flags: 0, stream: 0, Self.bigEndian(UInt32(opaque >> 32)) + Self.bigEndian(UInt32(opaque & 0xffff_ffff)))
  }

  public mutating func windowUpdate(stream: UInt32, increment: UInt32) {
    frame(.windowUpdate, flags: 0, stream: stream, Self.bigEndian(increment))
  }

  public mutating func rstStream(stream: UInt32, code: UInt32 = 8) {  // CANCEL
    frame(.rstStream, flags: 0, stream: stream, Self.bigEndian(code))
  }

  public mutating func goaway(lastStream: UInt32, code: UInt32 = 0) {
    frame(.goaway, flags: 0, stream: 0, Self.bigEndian(lastStream) + Self.bigEndian(code))
  }

  static func literal(_ name: String, _ value: String, into block: inout [UInt8]) {
    block.append(0x00)  // literal without indexing, new name
    integer(name.utf8.count, prefixBits: 7, into: &block)
    block += Array(name.utf8)
    integer(value.utf8.count, prefixBits: 7, into: &block)
    block += Array(value.utf8)
  }

  /// HPACK integer with an N-bit prefix (RFC 7541 5.1), first byte's high bits zero.
  static func integer(_ value: Int, prefixBits: Int, into block: inout [UInt8]) {
    let limit = (1 << prefixBits) - 1
    guard value >= limit else {
      block.append(UInt8(value))
      return
    }
    block.append(UInt8(limit))
    var rest = value - limit
    while rest >= 128 {
      block.append(UInt8(rest % 128 + 128))
      rest /= 128
    }
    block.append(UInt8(rest))
  }

  static func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
  }
}
