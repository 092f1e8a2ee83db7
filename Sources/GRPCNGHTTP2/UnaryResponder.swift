/// Answers one unary call, once, from any thread.
///
/// Called on the connection's event loop (the usual case for reads) it completes the call in place;
/// from another thread it hops to that loop. Only the first answer counts; later ones, and answers
/// for a call the client has cancelled or whose deadline has passed, are dropped.
public struct UnaryResponder: Sendable {
  let connection: ConnectionReference
  let streamID: Int32

  /// Sends `message` (a serialized response message) and status `OK`.
  public func respond(with message: [UInt8]) {
    complete(.success(message))
  }

  /// Ends the call with `status` and no response message.
  public func fail(_ status: GRPCStatus) {
    complete(.failure(status))
  }

  /// Sends the response or the failure.
  public func complete(_ result: Result<[UInt8], GRPCStatus>) {
    let streamID = self.streamID
    connection.withConnection { $0.completeUnary(streamID: streamID, result: result) }
  }
}
