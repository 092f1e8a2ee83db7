import Crypto
public import GRPCNGHTTP2
import Synchronization

/// The server's ``CallAuthorizer`` when a tokens file is configured: every call but health checks
/// needs `authorization: Bearer <token>` naming a token of a role that may call the method, within
/// the token's rate limit. Tokens can be replaced while serving (``replace(with:)``, on SIGHUP).
///
/// The presented token is hashed (SHA-256) and its digest compared in constant time with the
/// stored digests that share its first 8 bytes; the secret is never kept. A denied call changes
/// nothing: it ends before its request is read.
public final class AccessPolicy: CallAuthorizer {
  /// Denials since the server started, by kind (for metrics), and per token name since the last
  /// ``takeRecentDenials()`` (for the log's periodic summary).
  public struct Denials: Sendable, Equatable {
    public var unauthenticated = 0
    public var permissionDenied = 0
    public var rateLimited = 0
    /// Permission and rate-limit denials per token name.
    public var byToken: [String: Int] = [:]
    public var total: Int { unauthenticated + permissionDenied + rateLimited }

    mutating func note(_ code: GRPCStatusCode, token: String?) {
      switch code {
      case .unauthenticated: unauthenticated += 1
      case .permissionDenied: permissionDenied += 1
      default: rateLimited += 1
      }
      if let token { byToken[token, default: 0] += 1 }
    }
  }

  private let tokens: Mutex<[UInt64: [AccessToken]]>
  private let totals = Mutex(Denials())
  private let recent = Mutex(Denials())

  public init(_ file: TokensFile) {
    tokens = Mutex(Self.table(file))
  }

  /// Serves `file`'s tokens from now on (calls already started keep their principal).
  public func replace(with file: TokensFile) {
    let table = Self.table(file)
    tokens.withLock { $0 = table }
  }

  /// The number of tokens.
  public var count: Int { tokens.withLock { $0.values.reduce(0) { $0 + $1.count } } }

  /// Denials since the server started.
  public var denials: Denials { totals.withLock { $0 } }

  /// Denials since the previous call (and resets them).
  public func takeRecentDenials() -> Denials {
    recent.withLock { recent in
      defer { recent = Denials() }
      return recent
    }
  }

  public func authorize(_ method: RPCMethod, authorization: String?) -> CallAuthorization {
    if AccessRole.isPublic(method) { return .allowed(nil) }
    guard let authorization else {
      return deny(.unauthenticated, nil, "this server requires a token: send the metadata 'authorization: Bearer <token>'")
    }
    guard let secret = Self.bearerToken(authorization) else {
      return deny(.unauthenticated, nil, "the authorization metadata must be 'Bearer <token>'")
    }
    guard let token = lookup(secret) else {
      return deny(.unauthenticated, nil, "the bearer token is not one this server knows (mistyped, or revoked?)")
    }
    guard token.role.permits(method) else {
      let roles = AccessRole.allCases.filter { $0.permits(method) }.map(\.rawValue).joined(separator: ", ")
      return deny(
        .permissionDenied, token.name,
        "token '\(token.name)' has role \(token.role.rawValue), which may not call \(method.path); roles that may: \(roles)")
    }
    guard token.admitCall() else {
      return deny(
        .resourceExhausted, token.name,
        "token '\(token.name)' exceeded its \(token.callsPerSecond ?? 0) calls per second; slow down and retry")
    }
    return .allowed(token)
  }

  private func deny(_ code: GRPCStatusCode, _ token: String?, _ message: String) -> CallAuthorization {
    totals.withLock { $0.note(code, token: token) }
    recent.withLock { $0.note(code, token: token) }
    return .denied(GRPCStatus(code, message))
  }

  /// The token named by an `authorization` value `Bearer <token>` (scheme case-insensitive).
  static func bearerToken(_ authorization: String) -> Substring? {
    let scheme = authorization.prefix(7)
    guard scheme.count == 7, scheme.lowercased() == "bearer " else { return nil }
    let token = authorization.dropFirst(7).drop { $0 == " " }
    return token.isEmpty ? nil : token
  }

  private func lookup(_ secret: Substring) -> AccessToken? {
    let digest = Array(SHA256.hash(data: Array(secret.utf8)))
    let candidates = tokens.withLock { $0[Self.prefix(digest)] } ?? []
    var found: AccessToken?
    for candidate in candidates where Self.constantTimeEquals(candidate.digest, digest) { found = candidate }
    return found
  }

  /// Equal bytes, in time that depends only on the length (no early exit).
  static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
  }

  private static func prefix(_ digest: [UInt8]) -> UInt64 {
    digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
  }

  private static func table(_ file: TokensFile) -> [UInt64: [AccessToken]] {
    var table: [UInt64: [AccessToken]] = [:]
    for token in file.tokens { table[prefix(token.digest), default: []].append(token) }
    return table
  }
}
