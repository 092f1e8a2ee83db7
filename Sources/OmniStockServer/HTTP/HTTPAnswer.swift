#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOHTTP1

/// A response of the operations HTTP server: status, content type, body and extra headers.
struct HTTPAnswer: Sendable {
  var status: HTTPResponseStatus = .ok
  var contentType: String
  var body: [UInt8]
  /// Headers besides content type and length (which the server adds).
  var headers: [(name: String, value: String)] = []

  /// `value` as JSON (keys sorted, so equal values give equal bytes). Never cached by browsers:
  /// the dashboard polls for the current state.
  static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok) -> HTTPAnswer {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let body: [UInt8]
    do {
      body = Array(try encoder.encode(value))
    } catch {
      // Only non-finite numbers fail to encode; the builders never produce them.
      return .text("cannot encode the answer: \(error)\n", status: .internalServerError)
    }
    return HTTPAnswer(
      status: status, contentType: "application/json; charset=utf-8", body: body,
      headers: [("cache-control", "no-store")])
  }

  /// The refusal as `{"error": message, "status": code}`.
  static func failure(_ failure: HTTPFailure) -> HTTPAnswer {
    var answer = json(FailureBody(error: failure.message, status: Int(failure.status.code)), status: failure.status)
    if failure.status == .methodNotAllowed { answer.headers.append(("allow", "GET, HEAD")) }
    return answer
  }

  /// Plain text.
  static func text(_ text: String, status: HTTPResponseStatus = .ok) -> HTTPAnswer {
    HTTPAnswer(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
  }

  private struct FailureBody: Encodable {
    var error: String
    var status: Int
  }
}
