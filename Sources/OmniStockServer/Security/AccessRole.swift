public import GRPCNGHTTP2

/// What a bearer token may do (see the README's "Securing a deployment").
///
/// | role | may call |
/// |---|---|
/// | `pos` | `Ingest.StreamEvents`, `Ingest.ApplyEvents`, for its listed locations only |
/// | `sync` | `Ingest.SyncSnapshot` (for its listed locations, if it lists any) |
/// | `storefront` | `Availability.*` (reads and watches) |
/// | `oms` | `Reservations.*` and `Availability.*` |
/// | `admin` | everything |
///
/// `grpc.health.v1.Health` needs no token, so load balancers can probe the server.
public enum AccessRole: String, Sendable, CaseIterable, Codable {
  case pos
  case sync
  case storefront
  case oms
  case admin

  /// Whether a token of this role may call `method`.
  public func permits(_ method: RPCMethod) -> Bool {
    switch self {
    case .admin: true
    case .pos: method == OmniStockMethods.Ingest.streamEvents || method == OmniStockMethods.Ingest.applyEvents
    case .sync: method == OmniStockMethods.Ingest.syncSnapshot
    case .storefront: method.service == OmniStockMethods.Availability.service
    case .oms: method.service == OmniStockMethods.Availability.service || method.service == OmniStockMethods.Reservations.service
    }
  }

  /// Whether tokens of this role are limited to listed locations.
  public var isScopedToLocations: Bool { self == .pos || self == .sync }

  /// Methods anyone may call, with or without a token.
  public static func isPublic(_ method: RPCMethod) -> Bool {
    method.service == OmniStockMethods.Health.service
  }
}
