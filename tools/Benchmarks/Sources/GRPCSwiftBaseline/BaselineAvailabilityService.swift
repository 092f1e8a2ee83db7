import GRPCCore
import OmniStockAPI
import OmniStockAPIGRPC
import Synchronization

/// `omnistock.v1.Availability/GetAvailability` with a trivial in-memory handler: decode (done by
/// grpc-swift-protobuf), check the query is present, validate the sku and location_id as
/// identifiers, read the LSN and look the position up in a mutex-guarded dictionary, build the
/// `PositionAvailability` (sku, location_id, exists, status, contributing_locations, and the
/// quantities when the position exists), encode. That is the work `omnistock serve` did per call
/// when this baseline was written (its `ProvisionalStockTable`, commit 93fad29); it is kept fixed on
/// purpose, as the price of a minimal grpc-swift-2 call, while our server grows a real index.
///
/// The dictionary starts empty, so the benchmark's query answers exists = false, OUT_OF_STOCK.
/// The other methods answer UNIMPLEMENTED.
struct BaselineAvailabilityService: Omnistock_V1_Availability.SimpleServiceProtocol {
  struct Key: Hashable, Sendable {
    var sku: String
    var locationID: String
  }

  struct Position: Sendable {
    var onHand: Int64
    var lsn: UInt64
    var updatedAtUnixMs: Int64
    var sourceTimeUnixMs: Int64
    var lastAbsoluteTimeUnixMs: Int64
  }

  final class Table: Sendable {
    struct State {
      var positions: [Key: Position] = [:]
      var lsn: UInt64 = 0
    }
    let state = Mutex(State())
  }

  let table = Table()

  func getAvailability(
    request: Omnistock_V1_GetAvailabilityRequest,
    context: ServerContext
  ) async throws -> Omnistock_V1_GetAvailabilityResponse {
    guard request.hasQuery else { throw RPCError(code: .invalidArgument, message: "query is missing") }
    let query = request.query
    if let problem = Self.identifierProblem(query.sku, field: "sku") {
      throw RPCError(code: .invalidArgument, message: problem)
    }
    guard case .locationID(let locationID) = query.target else {
      throw RPCError(code: .invalidArgument, message: "query target must be a location_id in this baseline")
    }
    if let problem = Self.identifierProblem(locationID, field: "location_id") {
      throw RPCError(code: .invalidArgument, message: problem)
    }
    let lsn = table.state.withLock { $0.lsn }
    if request.options.minLsn > lsn {
      throw RPCError(code: .failedPrecondition, message: "options.min_lsn is ahead of the server's latest LSN")
    }
    let key = Key(sku: query.sku, locationID: locationID)
    let position = table.state.withLock { $0.positions[key] }

    var availability = Omnistock_V1_PositionAvailability()
    availability.sku = query.sku
    availability.locationID = locationID
    availability.exists = position != nil
    availability.contributingLocations = 1
    if let position {
      availability.onHand = position.onHand
      availability.available = max(0, position.onHand)
      availability.status = availability.available > 0 ? .inStock : .outOfStock
      availability.locationsWithStock = availability.available > 0 ? 1 : 0
      availability.lsn = position.lsn
      availability.updatedAtUnixMs = position.updatedAtUnixMs
      availability.sourceTimeUnixMs = position.sourceTimeUnixMs
      availability.lastAbsoluteTimeUnixMs = position.lastAbsoluteTimeUnixMs
    } else {
      availability.status = .outOfStock
    }
    var response = Omnistock_V1_GetAvailabilityResponse()
    response.availability = availability
    response.indexLsn = lsn
    return response
  }

  func batchGetAvailability(
    request: Omnistock_V1_BatchGetAvailabilityRequest,
    context: ServerContext
  ) async throws -> Omnistock_V1_BatchGetAvailabilityResponse {
    throw RPCError(code: .unimplemented, message: "the baseline serves GetAvailability only")
  }

  func whereAvailable(
    request: Omnistock_V1_WhereAvailableRequest,
    context: ServerContext
  ) async throws -> Omnistock_V1_WhereAvailableResponse {
    throw RPCError(code: .unimplemented, message: "the baseline serves GetAvailability only")
  }

  func watchAvailability(
    request: Omnistock_V1_WatchAvailabilityRequest,
    response: RPCWriter<Omnistock_V1_WatchAvailabilityResponse>,
    context: ServerContext
  ) async throws {
    throw RPCError(code: .unimplemented, message: "the baseline serves GetAvailability only")
  }

  /// The identifier rule of the OmniStock contract: 1 to 64 bytes of [A-Za-z0-9._:/-].
  static func identifierProblem(_ value: String, field: String) -> String? {
    let utf8 = value.utf8
    if utf8.isEmpty || utf8.count > 64 { return "\(field) must be 1 to 64 bytes" }
    for byte in utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
        UInt8(ascii: "/"), UInt8(ascii: "-"):
        continue
      default:
        return "\(field) contains a character outside [A-Za-z0-9._:/-]"
      }
    }
    return nil
  }
}
