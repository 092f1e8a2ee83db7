public import GRPCNGHTTP2
import NIOCore
import Synchronization

/// One entry of the tokens file, as the server holds it: who the token belongs to, what it may
/// do, and its rate limit. Only the SHA-256 of the secret is kept; the secret never is. Handed to
/// handlers as the call's ``CallPrincipal``.
public final class AccessToken: CallPrincipal {
  /// A name for people and logs (e.g. `store-12-pos`); never the secret.
  public let name: String
  public let role: AccessRole
  /// For `pos` and `sync` tokens: the locations it may write (`nil`: any, for `sync` tokens that
  /// list none).
  public let locations: Set<String>?
  /// SHA-256 of the secret.
  let digest: [UInt8]
  private let rate: Mutex<TokenBucket?>
  private let isRateLimited: Bool

  init(name: String, role: AccessRole, locations: Set<String>?, digest: [UInt8], callsPerSecond: Int?) {
    self.name = name
    self.role = role
    self.locations = locations
    self.digest = digest
    isRateLimited = callsPerSecond != nil
    rate = Mutex(callsPerSecond.map { TokenBucket(perSecond: $0, nowNanos: Self.nowNanos()) })
  }

  /// The calls per second this token may make, if limited.
  public var callsPerSecond: Int? { rate.withLock { $0?.perSecond } }

  /// Whether this token may write events or snapshots at `locationID`.
  public func mayWrite(at locationID: String) -> Bool {
    guard role != .admin else { return true }
    guard role.isScopedToLocations else { return false }
    return locations?.contains(locationID) ?? true
  }

  /// Takes one call from the token's rate limit; `false` when it is spent.
  func admitCall() -> Bool {
    guard isRateLimited else { return true }
    let now = Self.nowNanos()
    return rate.withLock { bucket in
      guard var limited = bucket else { return true }
      defer { bucket = limited }
      return limited.take(nowNanos: now)
    }
  }

  private static func nowNanos() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}
