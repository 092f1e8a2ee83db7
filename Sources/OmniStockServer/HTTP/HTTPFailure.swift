import NIOHTTP1

/// A request the operations HTTP server refuses: a 4xx status and a sentence saying why (sent as
/// `{"error": ...}`).
struct HTTPFailure: Error, Sendable, Equatable {
  var status: HTTPResponseStatus
  var message: String

  init(_ status: HTTPResponseStatus, _ message: String) {
    self.status = status
    self.message = message
  }
}
