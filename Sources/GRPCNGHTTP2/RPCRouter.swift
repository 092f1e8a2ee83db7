import NIOCore

/// The table of methods a server serves, looked up by the raw bytes of the HTTP/2 `:path`.
///
/// Lookup hashes the path bytes (FNV-1a) and confirms with a byte comparison, so routing a call
/// allocates nothing (no `String` is built from the header). Unknown paths get `UNIMPLEMENTED`.
public struct RPCRouter: Sendable {
  struct Route: Sendable {
    let method: RPCMethod
    let handler: RPCHandler
    let pathBytes: [UInt8]
  }

  private(set) var routes: [Route] = []
  private var indexByHash: [UInt64: Int] = [:]

  /// Creates an empty router.
  public init() {}

  /// The registered methods, in registration order.
  public var methods: [RPCMethod] { routes.map(\.method) }

  /// Registers (or replaces) the handler for `method`.
  public mutating func register(_ method: RPCMethod, _ handler: RPCHandler) {
    let bytes = Array(method.path.utf8)
    let hash = bytes.withUnsafeBytes { Self.hash($0) }
    if let existing = indexByHash[hash] {
      precondition(
        routes[existing].pathBytes == bytes,
        "RPC paths \(routes[existing].method.path) and \(method.path) collide in the router's hash; rename one")
      routes[existing] = Route(method: method, handler: handler, pathBytes: bytes)
    } else {
      indexByHash[hash] = routes.count
      routes.append(Route(method: method, handler: handler, pathBytes: bytes))
    }
  }

  /// The index of the route for a `:path` value, or `nil` if no method has that path.
  func routeIndex(forPath path: UnsafeRawBufferPointer) -> Int? {
    guard let index = indexByHash[Self.hash(path)] else { return nil }
    let expected = routes[index].pathBytes
    guard expected.count == path.count else { return nil }
    let equal = expected.withUnsafeBytes { $0.elementsEqual(path) }
    return equal ? index : nil
  }

  /// FNV-1a, 64-bit: tiny, allocation-free and good enough for a few dozen method paths.
  static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01B3
    }
    return hash
  }
}
