import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import GRPCNGHTTP2

/// Inputs found by the gRPC server fuzz target (`tools/fuzz.sh grpc-server`, which runs a real
/// `ServerConnectionHandler` on an `EmbeddedChannel` under AddressSanitizer and LeakSanitizer).
@Suite("Server connection: fuzz findings")
struct ConnectionFuzzRegressionTests {
  /// Statuses of the calls the server ended.
  final class Statuses: CallObserver {
    let codes = Mutex<[GRPCStatusCode]>([])
    func callEnded(route: Int?, code: GRPCStatusCode, nanoseconds: UInt64) {
      codes.withLock { $0.append(code) }
    }
  }

  /// The reproducer LeakSanitizer reported (after the client preface): SETTINGS, then one unary
  /// `grpc.health.v1.Health/Check` call (HEADERS, DATA with one message, END_STREAM).
  static let oneCall = Array(
    Data(
      base64Encoded:
        "AAAGBAAAAAAAAAQAAP//AABtAQQAAAABg4YABTpwYXRoHC9ncnBjLmhlYWx0aC52MS5IZWFsdGgvQ2hlY2sACjphdXRob3JpdHkOMTI3LjAuMC4xOjg5ODAADGNvbnRlbnQtdHlwZRBhcHBsaWNhdGlvbi9ncnBjAAJ0ZQh0cmFpbGVycwAACgABAAAAAQAAAAAFCgNmb28="
    )!)

  @Test("a closed connection frees its handler, its streams and their buffers")
  func closedConnectionIsFreed() throws {
    let statuses = Statuses()
    weak var released: ServerConnectionHandler?
    do {
      var router = RPCRouter()
      router.register(
        RPCMethod(service: "grpc.health.v1.Health", method: "Check"),
        .unary { request, _, responder in responder.respond(with: Array(request.readableBytesView)) })
      var configuration = GRPCServer.Configuration()
      configuration.observer = statuses
      let handler = ServerConnectionHandler(router: router, configuration: configuration, logger: Logger(label: "test"))
      released = handler
      let channel = EmbeddedChannel()
      try channel.pipeline.syncOperations.addHandler(handler)
      try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50051)).wait()
      try channel.writeInbound(channel.allocator.buffer(bytes: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Self.oneCall))
      channel.embeddedEventLoop.run()
      while try channel.readOutbound(as: ByteBuffer.self) != nil {}
      _ = try channel.finish(acceptAlreadyClosed: true)
    }
    #expect(statuses.codes.withLock { $0 } == [.ok])
    // Before the fix the handler kept itself alive through its ConnectionReference, so every
    // connection the server ever accepted stayed in memory with its pooled streams.
    #expect(released == nil)
  }
}
