/// The outcome of an RPC: a status code and a message for a person to act on.
///
/// Handlers throw a `GRPCStatus` to end a call with that status; the server sends it in the
/// `grpc-status` and (percent-encoded) `grpc-message` trailers. Any other error thrown by a handler
/// ends the call with ``GRPCStatusCode/internal`` and the error's description.
public struct GRPCStatus: Error, Sendable, Hashable, CustomStringConvertible {
  /// The status code.
  public var code: GRPCStatusCode
  /// A human-readable explanation; empty for `OK`.
  public var message: String

  /// Creates a status.
  public init(_ code: GRPCStatusCode, _ message: String = "") {
    self.code = code
    self.message = message
  }

  /// The successful status.
  public static let ok = GRPCStatus(.ok)

  public var description: String {
    message.isEmpty ? code.description : "\(code): \(message)"
  }
}

extension GRPCStatus {
  /// Maps any error thrown by a handler to the status sent to the client.
  static func from(_ error: any Error) -> GRPCStatus {
    if let status = error as? GRPCStatus { return status }
    if error is CancellationError { return GRPCStatus(.cancelled, "the call was cancelled") }
    return GRPCStatus(.internal, "\(error)")
  }
}
