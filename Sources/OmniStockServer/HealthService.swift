public import GRPCNGHTTP2
import OmniStockAPI

/// `grpc.health.v1.Health`, as the standard defines it: `Check` answers the status of the server
/// (service `""`) or of one service, `NOT_FOUND` for a service this server does not have; `Watch`
/// streams the status, starting with the current one, until the client leaves or the server stops.
public struct HealthService: Sendable {
  let board: HealthStatusBoard

  public init(board: HealthStatusBoard) {
    self.board = board
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    router.unary(OmniStockMethods.Health.check) { (request: Grpc_Health_V1_HealthCheckRequest, _) in
      guard let status = board.status(of: request.service) else {
        throw GRPCStatus(.notFound, "unknown service '\(request.service)'")
      }
      var response = Grpc_Health_V1_HealthCheckResponse()
      response.status = status
      return response
    }
    router.serverStreaming(OmniStockMethods.Health.watch) {
      (request: Grpc_Health_V1_HealthCheckRequest, responses: ProtobufResponseWriter<Grpc_Health_V1_HealthCheckResponse>, _)
      in
      for await status in board.watch(request.service) {
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = status
        try await responses.write(response)
      }
      throw GRPCStatus(.unavailable, "the server is shutting down")
    }
  }
}
