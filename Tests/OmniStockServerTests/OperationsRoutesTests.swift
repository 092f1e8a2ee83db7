import Foundation
import NIOHTTP1
@testable import OmniStockServer
import Testing

/// The operations HTTP server's routing, without a socket: what each method and target answers.
@Suite("Operations HTTP routes", .timeLimit(.minutes(1)))
struct OperationsRoutesTests {
  /// The answer's body as a JSON object.
  static func object(_ answer: HTTPAnswer) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
  }

  static func header(_ answer: HTTPAnswer, _ name: String) -> String? {
    answer.headers.first { $0.name == name }?.value
  }

  @Test("the page, its script and style, metrics and the API are served; other paths are 404")
  func served() async throws {
    let engine = try await DashboardAPITests.engine()
    let routes = engine.server.operationsRoutes()
    #expect(
      routes.paths == [
        "/", "/api/availability", "/api/exceptions", "/api/overview", "/api/throughput", "/dashboard.css", "/dashboard.js",
        "/metrics",
      ])
    let page = routes.answer(method: .GET, uri: "/")
    #expect(page.status == .ok && page.contentType.hasPrefix("text/html"))
    #expect(String(decoding: page.body, as: UTF8.self).contains(#"<script src="/dashboard.js" defer></script>"#))
    #expect(Self.header(page, "content-security-policy")?.contains("default-src 'none'") == true)
    #expect(routes.answer(method: .GET, uri: "/dashboard.js").contentType.hasPrefix("text/javascript"))
    #expect(routes.answer(method: .HEAD, uri: "/dashboard.css").status == .ok)
    let metrics = routes.answer(method: .GET, uri: "/metrics?x=1")
    #expect(String(decoding: metrics.body, as: UTF8.self).contains("omnistock_events_applied_total 6"))
    let overview = routes.answer(method: .GET, uri: "/api/overview")
    #expect(overview.contentType == "application/json; charset=utf-8" && Self.header(overview, "cache-control") == "no-store")
    #expect((try Self.object(overview)["summary"] as? [String: Any])?["locations"] as? Int == 3)
    let sku = try Self.object(routes.answer(method: .GET, uri: "/api/availability?sku=SKU-1#ignored"))
    #expect(sku["sku"] as? String == "SKU-1")
    let other = routes.answer(method: .GET, uri: "/elsewhere")
    #expect(other.status == .notFound && other.contentType.hasPrefix("text/plain"))
    try await engine.destroy()
  }

  @Test("bad requests get a 4xx with a JSON message saying what is wrong")
  func refusals() async throws {
    let engine = try await DashboardAPITests.engine()
    let routes = engine.server.operationsRoutes()
    let cases: [(HTTPMethod, String, HTTPResponseStatus, String)] = [
      (.GET, "/api/availability", .badRequest, "which SKU"),
      (.GET, "/api/availability?sku=a%20b", .badRequest, "outside [A-Za-z0-9._:/-]"),
      (.GET, "/api/availability?sku=%zz", .badRequest, "malformed percent-escape"),
      (.GET, "/api/availability?sku=nope", .notFound, "no location has reported SKU 'nope'"),
      (.GET, "/api/exceptions?limit=0", .badRequest, "limit must be a whole number from 1 to 1000"),
      (.GET, "/api/nothing", .notFound, "the endpoints are /api/availability, /api/exceptions, /api/overview, /api/throughput"),
      (.POST, "/api/overview", .methodNotAllowed, "answers GET only, not POST"),
      (.GET, "/api/availability?sku=" + String(repeating: "x", count: 3_000), .uriTooLong, "longer than 2048 bytes"),
      (.GET, "api/overview", .badRequest, "must start with '/'"),
    ]
    for (method, uri, status, words) in cases {
      let answer = routes.answer(method: method, uri: uri)
      #expect(answer.status == status, "\(method) \(uri.prefix(60))")
      let body = try Self.object(answer)
      #expect((body["error"] as? String)?.contains(words) == true, "\(body)")
      #expect(body["status"] as? Int == Int(status.code))
    }
    #expect(Self.header(routes.answer(method: .DELETE, uri: "/"), "allow") == "GET, HEAD")
    try await engine.destroy()
  }

  @Test("request targets are split and percent-decoded")
  func targets() throws {
    let target = try HTTPRequestTarget(uri: "/api/availability?sku=A%2FB%3A1&sku=second&flag&q=a+b")
    #expect(target.path == "/api/availability")
    #expect(target.query == ["sku": "A/B:1", "flag": "", "q": "a b"])
    #expect(try HTTPRequestTarget(uri: "/a%20b").path == "/a b")
    #expect(throws: HTTPFailure.self) { try HTTPRequestTarget(uri: "/x?sku=%FF") }
  }
}
