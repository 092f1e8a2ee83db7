import Foundation
import GRPCNGHTTP2
@testable import OmniStockServer
import Testing

/// The tokens file and the access policy, in-process.
@Suite("Security: tokens file and access policy")
struct AccessTokensTests {
  static func file(_ entries: String) throws(TokensFileError) -> TokensFile {
    try TokensFile(json: Data("{\"tokens\": [\(entries)]}".utf8))
  }

  static let digest = String(repeating: "ab", count: 32)

  @Test(
    "a tokens file with a mistake is refused with a reason a person can act on",
    arguments: [
      (#"{"name": "a", "role": "cashier", "sha256": "\#(digest)"}"#, "unknown role 'cashier'"),
      (#"{"name": "a", "role": "pos", "sha256": "\#(digest)"}"#, "must list its locations"),
      (#"{"name": "a", "role": "oms", "locations": ["x"], "sha256": "\#(digest)"}"#, "locations apply to pos and sync"),
      (#"{"name": "a", "role": "oms", "sha256": "abc"}"#, "64 hex digits"),
      (#"{"name": "a", "role": "oms", "sha256": "\#(digest)", "role_typo": 1}"#, "unknown field 'role_typo'"),
      (#"{"name": "a", "role": "oms", "sha256": "\#(digest)"}, {"name": "a", "role": "admin", "sha256": "\#(String(repeating: "cd", count: 32))"}"#, "used twice"),
      (#"{"name": "a", "role": "oms", "sha256": "\#(digest)"}, {"name": "b", "role": "admin", "sha256": "\#(digest)"}"#, "appears twice"),
      (#"{"role": "oms", "sha256": "\#(digest)"}"#, "missing field 'name'"),
    ])
  func refusesMistakes(entry: String, reason: String) {
    #expect {
      _ = try Self.file(entry)
    } throws: { error in
      (error as? TokensFileError)?.reason.contains(reason) == true
    }
  }

  @Test("a token is found by its SHA-256 only, with the right role; the secret is never stored")
  func authorizes() throws {
    let token = TokenIssuer.newToken()
    let entry = try TokenIssuer.entry(name: "store-1-pos", role: .pos, locations: ["store-1"], callsPerSecond: nil, token: token)
    #expect(!entry.contains(token))
    let policy = AccessPolicy(try Self.file(entry))
    let apply = OmniStockMethods.Ingest.applyEvents
    guard case .allowed(let principal) = policy.authorize(apply, authorization: "Bearer \(token)"),
      let granted = principal as? AccessToken
    else {
      Issue.record("the token was not accepted")
      return
    }
    #expect(granted.name == "store-1-pos" && granted.mayWrite(at: "store-1") && !granted.mayWrite(at: "store-2"))
    #expect(Self.code(policy.authorize(apply, authorization: "bearer \(token)")) == nil)  // the scheme is case-insensitive
    #expect(Self.code(policy.authorize(apply, authorization: "Bearer \(token)x")) == .unauthenticated)
    #expect(Self.code(policy.authorize(apply, authorization: token)) == .unauthenticated)
    #expect(Self.code(policy.authorize(apply, authorization: nil)) == .unauthenticated)
    #expect(Self.code(policy.authorize(OmniStockMethods.Availability.getAvailability, authorization: "Bearer \(token)")) == .permissionDenied)
    #expect(Self.code(policy.authorize(OmniStockMethods.Health.check, authorization: nil)) == nil)
    #expect(policy.denials.unauthenticated == 3 && policy.denials.permissionDenied == 1)
    #expect(policy.takeRecentDenials().byToken == ["store-1-pos": 1])
    #expect(policy.takeRecentDenials().total == 0)
  }

  @Test("a token's rate limit: a burst of its calls per second, then RESOURCE_EXHAUSTED")
  func rateLimit() throws {
    let token = TokenIssuer.newToken()
    let policy = AccessPolicy(try Self.file(try TokenIssuer.entry(name: "w", role: .storefront, locations: [], callsPerSecond: 5, token: token)))
    let codes = (0..<8).map { _ in Self.code(policy.authorize(OmniStockMethods.Availability.getAvailability, authorization: "Bearer \(token)")) }
    #expect(codes.prefix(5).allSatisfy { $0 == nil })
    #expect(codes.suffix(3).contains(.resourceExhausted))
  }

  @Test("constant-time comparison compares every byte")
  func constantTime() {
    #expect(AccessPolicy.constantTimeEquals([1, 2, 3], [1, 2, 3]))
    #expect(!AccessPolicy.constantTimeEquals([1, 2, 3], [1, 2, 4]))
    #expect(!AccessPolicy.constantTimeEquals([9, 2, 3], [1, 2, 3]))
    #expect(!AccessPolicy.constantTimeEquals([1, 2], [1, 2, 3]))
  }

  static func code(_ verdict: CallAuthorization) -> GRPCStatusCode? {
    if case .denied(let status) = verdict { status.code } else { nil }
  }
}
