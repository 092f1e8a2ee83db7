public import GRPCNGHTTP2
import OmniStockAPI
import StockIndex

/// `omnistock.v1.Ingest`: POS event streams and WMS/ERP snapshots.
///
/// Event batches go through ``EventIngestion`` (exactly once per device, per-event outcomes, ack
/// once durable); snapshots through ``SnapshotAssembler`` (nothing applies until the stream
/// completes, then all of it in one record).
public struct IngestService: Sendable {
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
      (batch: Omnistock_V1_EventBatch, _, responder: ProtobufUnaryResponder<Omnistock_V1_EventAck>) in
      ingestion.apply(batch) { result in
        switch result {
        case .success(let ack): responder.respond(ack)
        case .failure(let status): responder.fail(status)
        }
      }
    }
    router.bidirectionalStreaming(OmniStockMethods.Ingest.streamEvents) {
      (batches: ProtobufRequestStream<Omnistock_V1_EventBatch>, acks: ProtobufResponseWriter<Omnistock_V1_EventAck>, _)
      in
      // One batch at a time per stream: its ack is written once it is durable. Many terminals'
      // batches still share each fsync (group commit across streams).
      try await writer.eventStreams.tracking {
        for try await batch in batches {
          let ack = try await withCheckedThrowingContinuation { continuation in
            ingestion.apply(batch) { continuation.resume(with: $0) }
          }
          try await acks.write(ack)
        }
      }
    }
    router.clientStreaming(OmniStockMethods.Ingest.syncSnapshot) {
      (chunks: ProtobufRequestStream<Omnistock_V1_SnapshotChunk>, _) in
      var assembler = SnapshotAssembler()
      for try await chunk in chunks {
        try assembler.add(chunk)
      }
      return try await assembler.apply(writer: writer, directory: directory, nowUnixMs: WallClock.nowUnixMs())
    }
  }
}
