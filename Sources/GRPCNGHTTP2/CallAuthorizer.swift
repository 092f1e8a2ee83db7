/// Who is calling, as an authorizer established it: handed to the handler in
/// ``CallContext/principal`` so that it can check finer rules (e.g. which locations a token may
/// write). A class, so that passing it per call copies a reference and allocates nothing.
public protocol CallPrincipal: AnyObject, Sendable {}

/// An authorizer's verdict on one call.
public enum CallAuthorization: Sendable {
  /// The call may proceed; `principal` (if any) reaches the handler.
  case allowed((any CallPrincipal)?)
  /// The call ends with this status (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
  /// `RESOURCE_EXHAUSTED`) before any of its request is read or decoded.
  case denied(GRPCStatus)
}

/// Decides, from the method and the `authorization` header alone, whether a call may start.
///
/// The server asks on the connection's event loop once per call, after the headers and before the
/// handler runs; a denied call changes nothing. Implementations must be fast and must not block.
public protocol CallAuthorizer: Sendable {
  func authorize(_ method: RPCMethod, authorization: String?) -> CallAuthorization
}
