import NIOHTTP1

/// The operations HTTP server's route table: an exact path to a handler that builds the answer.
/// Routing is a pure function of method and target (``answer(method:uri:)``), so it is tested
/// without a socket.
///
/// Handlers run on the server's worker thread, never on its event loop; they must not wait for
/// anything slow themselves (the engine's write order is taken only for a moment).
struct HTTPRoutes: Sendable {
  /// Builds the answer to a `GET` of the route, or refuses it.
  typealias Handler = @Sendable (HTTPRequestTarget) throws(HTTPFailure) -> HTTPAnswer

  private var handlers: [String: Handler] = [:]

  /// The paths served, sorted.
  var paths: [String] { handlers.keys.sorted() }

  /// Serves `path` with `handler` (replacing any earlier one).
  mutating func add(_ path: String, _ handler: @escaping Handler) {
    handlers[path] = handler
  }

  /// The answer to `method uri`: the route's, or `404` (unknown path), `405` (not `GET`/`HEAD`),
  /// `400`/`414` (malformed or long target) or the handler's refusal. JSON under `/api/`, text
  /// elsewhere.
  func answer(method: HTTPMethod, uri: String) -> HTTPAnswer {
    let target: HTTPRequestTarget
    do {
      target = try HTTPRequestTarget(uri: uri)
    } catch {
      return .failure(error)
    }
    guard let handler = handlers[target.path] else {
      if target.path.hasPrefix("/api/") {
        let known = paths.filter { $0.hasPrefix("/api/") }.joined(separator: ", ")
        return .failure(HTTPFailure(.notFound, "no API endpoint '\(target.path)'; the endpoints are \(known)"))
      }
      return .text("not found: the dashboard is at /, Prometheus metrics at /metrics\n", status: .notFound)
    }
    guard method == .GET || method == .HEAD else {
      return .failure(HTTPFailure(.methodNotAllowed, "\(target.path) answers GET only, not \(method.rawValue)"))
    }
    do {
      return try handler(target)
    } catch {
      return .failure(error)
    }
  }
}
