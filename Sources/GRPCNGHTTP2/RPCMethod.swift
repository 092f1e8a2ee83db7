/// The fully qualified name of an RPC, e.g. service `omnistock.v1.Availability`, method
/// `GetAvailability`, path `/omnistock.v1.Availability/GetAvailability`.
///
/// A class so that handing it to every call (``CallContext/method``) costs one reference count,
/// not one per string. Immutable; equal when the paths are equal.
public final class RPCMethod: Sendable, Hashable, CustomStringConvertible {
  /// The fully qualified service name, e.g. `grpc.health.v1.Health`.
  public let service: String
  /// The method name, e.g. `Check`.
  public let method: String
  /// The HTTP/2 `:path` of the method: `/service/method`.
  public let path: String

  /// Creates a method descriptor.
  public init(service: String, method: String) {
    self.service = service
    self.method = method
    self.path = "/\(service)/\(method)"
  }

  public var description: String { path }

  public static func == (lhs: RPCMethod, rhs: RPCMethod) -> Bool {
    lhs.path == rhs.path
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(path)
  }
}
