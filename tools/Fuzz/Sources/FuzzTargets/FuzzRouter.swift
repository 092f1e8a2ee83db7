public import GRPCNGHTTP2
import OmniStockAPI
import SwiftProtobuf

/// The router the gRPC fuzz target serves: OmniStock's method paths with handlers that decode the
/// real request messages through ``ProtobufCoding`` (the server's own decoding path) and answer on
/// the spot.
///
/// Every handler is answered on the connection's event loop, so the whole call runs on the fuzzing
/// thread: no task, no other thread, nothing left running after an input (streaming handlers run
/// in tasks, which an `EmbeddedChannel` cannot host; the streaming wire path is the same
/// deframer, reached through the unary methods).
public enum FuzzRouter {
  /// Method paths, spelled as `OmniStockMethods` spells them (this package does not link the server).
  public enum Path {
    public static let applyEvents = RPCMethod(service: "omnistock.v1.Ingest", method: "ApplyEvents")
    public static let syncSnapshot = RPCMethod(service: "omnistock.v1.Ingest", method: "SyncSnapshot")
    public static let getAvailability = RPCMethod(service: "omnistock.v1.Availability", method: "GetAvailability")
    public static let batchGetAvailability = RPCMethod(service: "omnistock.v1.Availability", method: "BatchGetAvailability")
    public static let whereAvailable = RPCMethod(service: "omnistock.v1.Availability", method: "WhereAvailable")
    public static let reserve = RPCMethod(service: "omnistock.v1.Reservations", method: "Reserve")
    public static let commit = RPCMethod(service: "omnistock.v1.Reservations", method: "Commit")
    public static let upsertLocation = RPCMethod(service: "omnistock.v1.Admin", method: "UpsertLocation")
    public static let healthCheck = RPCMethod(service: "grpc.health.v1.Health", method: "Check")
  }

  /// The `authorization` value the fuzz authorizer refuses (`PERMISSION_DENIED`); any other value
  /// or none is let in.
  public static let deniedAuthorization = "Bearer denied"

  public static func make() -> RPCRouter {
    var router = RPCRouter()
    router.unary(Path.applyEvents) { (batch: Omnistock_V1_EventBatch, _) in
      var ack = Omnistock_V1_EventAck()
      ack.batchID = batch.batchID
      ack.received = UInt32(clamping: batch.events.count)
      for (index, event) in batch.events.enumerated() where event.quantity < 0 {
        var outcome = Omnistock_V1_EventOutcome()
        outcome.index = UInt32(clamping: index)
        outcome.reason = event.sku
        ack.outcomes.append(outcome)
      }
      return ack
    }
    router.unaryDeferred(Path.getAvailability) {
      (request: Omnistock_V1_GetAvailabilityRequest, _, responder: ProtobufUnaryResponder<Omnistock_V1_GetAvailabilityResponse>) in
      guard !request.query.sku.isEmpty else {
        responder.fail(GRPCStatus(.invalidArgument, "sku is required: \(request.query.sku)"))
        return
      }
      responder.respond(Omnistock_V1_GetAvailabilityResponse())
    }
    router.unary(Path.batchGetAvailability) { (request: Omnistock_V1_BatchGetAvailabilityRequest, _) in
      var response = Omnistock_V1_BatchGetAvailabilityResponse()
      response.results = request.queries.prefix(64).map { _ in Omnistock_V1_AvailabilityResult() }
      return response
    }
    router.unary(Path.whereAvailable) { (_: Omnistock_V1_WhereAvailableRequest, _) in
      Omnistock_V1_WhereAvailableResponse()
    }
    router.unary(Path.reserve) { (request: Omnistock_V1_ReserveRequest, _) in
      // Round-trips the decoded request through the encoder too.
      _ = try ProtobufCoding.encode(request)
      return Omnistock_V1_ReserveResponse()
    }
    router.unary(Path.commit) { (_: Omnistock_V1_CommitRequest, _) throws -> Omnistock_V1_CommitResponse in
      throw GRPCStatus(.failedPrecondition, "no such reservation (fuzz router: every commit fails)")
    }
    router.unary(Path.upsertLocation) { (_: Omnistock_V1_UpsertLocationRequest, _) in
      Omnistock_V1_UpsertLocationResponse()
    }
    router.unary(Path.healthCheck) { (_: Grpc_Health_V1_HealthCheckRequest, _) in
      var response = Grpc_Health_V1_HealthCheckResponse()
      response.status = .serving
      return response
    }
    router.unimplemented(Path.syncSnapshot, reason: "client-streaming methods are not fuzzed through this router")
    return router
  }
}

/// Denies ``FuzzRouter/deniedAuthorization``, lets everything else in.
struct FuzzAuthorizer: CallAuthorizer {
  func authorize(_ method: RPCMethod, authorization: String?) -> CallAuthorization {
    authorization == FuzzRouter.deniedAuthorization
      ? .denied(GRPCStatus(.permissionDenied, "this token may not call \(method.path)")) : .allowed(nil)
  }
}

/// Exists so that the server's observer path runs too; reports each call's end to
/// ``GRPCServerFuzzTarget/onCallEnded`` when set (the driver's `--verbose`).
final class FuzzObserver: CallObserver {
  func callEnded(route: Int?, code: GRPCStatusCode, nanoseconds: UInt64) {
    GRPCServerFuzzTarget.onCallEnded?(route.map { GRPCServerFuzzTarget.router.methods[$0].path } ?? "unknown", "\(code)")
  }
}
