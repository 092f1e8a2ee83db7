public import GRPCNGHTTP2

/// Every RPC of the OmniStock wire contract (`proto/`), by service.
///
/// The server does not link the generated grpc-swift stubs, so the paths are spelled here; a test
/// checks each against the generated descriptors so the two cannot drift apart.
public enum OmniStockMethods {
  /// `omnistock.v1.Availability`: storefront and search reads.
  public enum Availability {
    static let service = "omnistock.v1.Availability"
    public static let getAvailability = RPCMethod(service: service, method: "GetAvailability")
    public static let batchGetAvailability = RPCMethod(service: service, method: "BatchGetAvailability")
    public static let whereAvailable = RPCMethod(service: service, method: "WhereAvailable")
    public static let watchAvailability = RPCMethod(service: service, method: "WatchAvailability")
    public static let all = [getAvailability, batchGetAvailability, whereAvailable, watchAvailability]
  }

  /// `omnistock.v1.Ingest`: POS streams and WMS/ERP snapshots.
  public enum Ingest {
    static let service = "omnistock.v1.Ingest"
    public static let streamEvents = RPCMethod(service: service, method: "StreamEvents")
    public static let applyEvents = RPCMethod(service: service, method: "ApplyEvents")
    public static let syncSnapshot = RPCMethod(service: service, method: "SyncSnapshot")
    public static let all = [streamEvents, applyEvents, syncSnapshot]
  }

  /// `omnistock.v1.Reservations`: order management.
  public enum Reservations {
    static let service = "omnistock.v1.Reservations"
    public static let reserve = RPCMethod(service: service, method: "Reserve")
    public static let extend = RPCMethod(service: service, method: "Extend")
    public static let commit = RPCMethod(service: service, method: "Commit")
    public static let release = RPCMethod(service: service, method: "Release")
    public static let getReservation = RPCMethod(service: service, method: "GetReservation")
    public static let all = [reserve, extend, commit, release, getReservation]
  }

  /// `omnistock.v1.Admin`: operators.
  public enum Admin {
    static let service = "omnistock.v1.Admin"
    public static let upsertLocation = RPCMethod(service: service, method: "UpsertLocation")
    public static let getLocation = RPCMethod(service: service, method: "GetLocation")
    public static let listLocations = RPCMethod(service: service, method: "ListLocations")
    public static let upsertGroup = RPCMethod(service: service, method: "UpsertGroup")
    public static let listGroups = RPCMethod(service: service, method: "ListGroups")
    public static let getFreshness = RPCMethod(service: service, method: "GetFreshness")
    public static let listExceptions = RPCMethod(service: service, method: "ListExceptions")
    public static let getStats = RPCMethod(service: service, method: "GetStats")
    public static let checkpoint = RPCMethod(service: service, method: "Checkpoint")
    public static let all = [
      upsertLocation, getLocation, listLocations, upsertGroup, listGroups, getFreshness, listExceptions, getStats,
      checkpoint,
    ]
  }

  /// `grpc.health.v1.Health`: the standard health-checking protocol.
  public enum Health {
    static let service = "grpc.health.v1.Health"
    public static let check = RPCMethod(service: service, method: "Check")
    public static let watch = RPCMethod(service: service, method: "Watch")
    public static let all = [check, watch]
  }

  /// Every method of the contract.
  public static let all = Availability.all + Ingest.all + Reservations.all + Admin.all + Health.all

  /// The method with this service and name, if the contract has it.
  public static func method(service: String, method: String) -> RPCMethod? {
    all.first { $0.service == service && $0.method == method }
  }

  /// The fully qualified names of the OmniStock services (as health checks name them).
  public static let serviceNames = [
    Availability.service, Ingest.service, Reservations.service, Admin.service,
  ]
}
