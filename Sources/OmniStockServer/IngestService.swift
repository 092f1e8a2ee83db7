public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// `omnistock.v1.Ingest`: POS event streams and WMS/ERP snapshots.
///
/// Event batches go through ``EventIngestion`` (exactly once per device, per-event outcomes, ack
/// once durable); snapshots through ``SnapshotAssembler`` (nothing applies until the stream
/// completes, then all of it in one record).
public struct IngestService: Sendable {
  /// Batches one event stream may have in flight (read, not yet acknowledged).
  public static let streamWindow = 64

  let writer: StockWriter
  let directory: LocationDirectory

  public init(writer: StockWriter, directory: LocationDirectory) {
    self.writer = writer
    self.directory = directory
  }

  /// Adds this service's methods to `router`.
  public func register(into router: inout RPCRouter) {
    let ingestion = EventIngestion(writer: writer, directory: directory)
    router.unaryDeferred(OmniStockMethods.Ingest.applyEvents) {
      (batch: Omnistock_V1_EventBatch, context, responder: ProtobufUnaryResponder<Omnistock_V1_EventAck>) in
      ingestion.apply(batch, token: context.principal as? AccessToken) { result in
        switch result {
        case .success(let ack): responder.respond(ack)
        case .failure(let status): responder.fail(status)
        }
      }
    }
    router.bidirectionalStreaming(OmniStockMethods.Ingest.streamEvents) {
      (batches: ProtobufRequestStream<Omnistock_V1_EventBatch>, acks: ProtobufResponseWriter<Omnistock_V1_EventAck>, context)
      in
      let token = context.principal as? AccessToken
      // Up to `streamWindow` batches in flight per stream, acked in order once durable; they
      // share fsyncs with each other and with every other stream (group commit).
      try await writer.eventStreams.tracking {
        let ordered = OrderedAcks<Omnistock_V1_EventAck>(window: Self.streamWindow)
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask {
            defer { ordered.abandon() }
            for await result in ordered.results {
              try await acks.write(try result.get())
              ordered.released()
            }
          }
          group.addTask {
            // Whatever ends the requests (the client's half-close, or a batch that cannot be
            // decoded), the acks side is told, so that a bad batch ends the call with its status
            // at once instead of leaving the ack writer waiting.
            defer { ordered.finish() }
            for try await batch in batches {
              guard let number = await ordered.reserve() else { return }
              ingestion.apply(batch, token: token) { ordered.complete(number, $0) }
            }
          }
          try await group.waitForAll()
        }
      }
    }
    router.clientStreaming(OmniStockMethods.Ingest.syncSnapshot) {
      (chunks: ProtobufRequestStream<Omnistock_V1_SnapshotChunk>, context) in
      let token = context.principal as? AccessToken
      var assembler = SnapshotAssembler()
      for try await chunk in chunks {
        if let token, !chunk.locationID.isEmpty, !token.mayWrite(at: chunk.locationID) {
          throw GRPCStatus(
            .permissionDenied,
            "token '\(token.name)' may not sync location '\(chunk.locationID)'; nothing of this snapshot was applied")
        }
        try assembler.add(chunk)
      }
      return try await assembler.apply(writer: writer, directory: directory, nowUnixMs: WallClock.nowUnixMs())
    }
  }
}
