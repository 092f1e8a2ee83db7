public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// `omnistock.v1.Reservations`: order management holds stock for an order (Reserve), keeps the
/// hold alive (Extend), converts it when the order ships (Commit) or gives it back (Release).
///
/// Each call is decided under the write order (``ReservationDecisions``), logged as one
/// `ReservationRecord`, applied by ``ReservationRecords`` and answered once durable. A call that
/// changes nothing (a repeated Reserve, a Release of a released reservation) is answered once
/// everything logged before it is durable.
public struct ReservationsService: Sendable {
  let writer: StockWriter
  let directory: LocationDirectory

  public init(writer: StockWriter, directory: LocationDirectory) {
    self.writer = writer
    self.directory = directory
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    let index = writer.index
    let directory = self.directory
    let writer = self.writer
    router.unaryDeferred(OmniStockMethods.Reservations.reserve) {
      (request: Omnistock_V1_ReserveRequest, _, responder: ProtobufUnaryResponder<Omnistock_V1_ReserveResponse>) in
      Self.run(writer, responder, { state, now throws(GRPCStatus) in
        try ReservationDecisions.reserve(request, nowUnixMs: now, book: state.reservations, index: index, directory: directory)
      }) { reservation, replayed in
        var response = Omnistock_V1_ReserveResponse()
        response.reservation = reservation
        response.replayed = replayed
        return response
      }
    }
    router.unaryDeferred(OmniStockMethods.Reservations.extend) {
      (request: Omnistock_V1_ExtendRequest, _, responder: ProtobufUnaryResponder<Omnistock_V1_ExtendResponse>) in
      Self.run(writer, responder, { state, now throws(GRPCStatus) in
        try ReservationDecisions.extend(request, nowUnixMs: now, book: state.reservations)
      }) { reservation, _ in
        var response = Omnistock_V1_ExtendResponse()
        response.reservation = reservation
        return response
      }
    }
    router.unaryDeferred(OmniStockMethods.Reservations.commit) {
      (request: Omnistock_V1_CommitRequest, _, responder: ProtobufUnaryResponder<Omnistock_V1_CommitResponse>) in
      Self.run(writer, responder, { state, now throws(GRPCStatus) in
        try ReservationDecisions.commit(request, nowUnixMs: now, book: state.reservations)
      }) { reservation, _ in
        var response = Omnistock_V1_CommitResponse()
        response.reservation = reservation
        return response
      }
    }
    router.unaryDeferred(OmniStockMethods.Reservations.release) {
      (request: Omnistock_V1_ReleaseRequest, _, responder: ProtobufUnaryResponder<Omnistock_V1_ReleaseResponse>) in
      Self.run(writer, responder, { state, _ throws(GRPCStatus) in
        try ReservationDecisions.release(request, book: state.reservations)
      }) { reservation, _ in
        var response = Omnistock_V1_ReleaseResponse()
        response.reservation = reservation
        return response
      }
    }
    router.unary(OmniStockMethods.Reservations.getReservation) { (request: Omnistock_V1_GetReservationRequest, _) in
      try ReservationDecisions.checkID(request.reservationID)
      let found = writer.read { state in state.reservations[request.reservationID] }
      guard let reservation = found else { throw GRPCStatus(.notFound, "unknown reservation '\(request.reservationID)'") }
      var response = Omnistock_V1_GetReservationResponse()
      response.reservation = reservation
      return response
    }
  }

  /// Decides under the write order, logs and applies what changes, and answers with the
  /// reservation as it is afterwards, once durable.
  static func run<Response>(
    _ writer: StockWriter, _ responder: ProtobufUnaryResponder<Response>,
    _ decide: @escaping (inout EngineState, Int64) throws(GRPCStatus) -> ReservationDecisions.Decision,
    answer: @escaping @Sendable (Omnistock_V1_Reservation, Bool) -> Response
  ) {
    perform(writer, decide) { result in
      switch result {
      case .success(let (reservation, replayed)): responder.respond(answer(reservation, replayed))
      case .failure(let status): responder.fail(status)
      }
    }
  }

  /// ``run(_:_:_:answer:)`` without the wire: the reservation afterwards and whether the call was
  /// a replay, or the status that refused it.
  static func perform(
    _ writer: StockWriter, _ decide: @escaping (inout EngineState, Int64) throws(GRPCStatus) -> ReservationDecisions.Decision,
    completion: @escaping @Sendable (Result<(Omnistock_V1_Reservation, Bool), GRPCStatus>) -> Void
  ) {
    writer.write({ state throws(GRPCStatus) -> StockWriter.Plan<(Omnistock_V1_Reservation, Bool)> in
      let now = WallClock.nowUnixMs()
      switch try decide(&state, now) {
      case .unchanged(let reservation, let replayed):
        return .answer((reservation, replayed))
      case .write(let change):
        var record = Omnistock_Log_V1_ReservationRecord()
        record.serverTimeUnixMs = now
        record.change = change
        let payload = try ProtobufCoding.encode(record)
        let index = writer.index
        return .append(.reservation, payloads: [payload]) { state, lsn in
          ReservationRecords.apply(record, lsn: lsn, index: index, state: &state, recordsEngineState: true)
          let id: String =
            switch change {
            case .created(let created): created.reservationID
            case .extended(let extended): extended.reservationID
            case .settled(let settled): settled.reservationID
            }
          return (state.reservations[id] ?? Omnistock_V1_Reservation(), false)
        }
      }
    }, completion: completion)
  }
}
