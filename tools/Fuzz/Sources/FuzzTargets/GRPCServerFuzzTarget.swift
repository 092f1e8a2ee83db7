@testable import GRPCNGHTTP2
import Logging
import NIOCore
import NIOEmbedded

/// Fuzz target (a): arbitrary bytes from a client into one real server connection.
///
/// The input is what a client sends after connecting: the HTTP/2 client preface is prepended
/// unless the input already starts with `PRI `, so inputs that mangle the preface are fuzzed too.
/// The bytes go into a real ``ServerConnectionHandler`` (libnghttp2 session, header parsing,
/// limits, authorizer, `MessageDeframer`, protobuf decoding in ``FuzzRouter``'s handlers) on an
/// `EmbeddedChannel`, twice:
/// 1. in one read;
/// 2. on a new connection, in reads of 1 to 13 bytes (chosen by the input's length), with a
///    graceful shutdown (GOAWAY) before the last read, so frames and gRPC messages split at every
///    boundary and calls meet a draining connection.
/// Each connection then lets virtual time run 301 seconds (deadlines, the idle timeout, the
/// slow-request sweep), and is closed. What the server writes back is discarded.
///
/// Failure is a crash: a trap, a sanitizer report, a leak (LeakSanitizer, after the run), or an
/// `EmbeddedChannel` that cannot be closed.
public enum GRPCServerFuzzTarget {
  static let router = FuzzRouter.make()

  /// Small limits, so that inputs of a few KiB reach them.
  static let configuration: GRPCServer.Configuration = {
    var configuration = GRPCServer.Configuration(
      host: "127.0.0.1", port: 0, threads: 1, maxReceiveMessageBytes: 16 * 1024, maxConcurrentStreams: 16,
      initialStreamWindowBytes: 32 * 1024, connectionWindowBytes: 256 * 1024, maxHeaderListBytes: 4 * 1024)
    configuration.authorizer = FuzzAuthorizer()
    configuration.observer = FuzzObserver()
    configuration.idleTimeout = .seconds(300)
    configuration.resetStreamBurst = 50
    configuration.resetStreamsPerSecond = 10
    return configuration
  }()

  /// Told the path and status of every call the server ends (the driver's `--verbose` prints
  /// them, to check that seeds make the calls they mean to). Set it before running inputs; the
  /// harness runs on one thread.
  nonisolated(unsafe) public static var onCallEnded: ((_ path: String, _ status: String) -> Void)?

  static let logger = Logger(label: "omnistock.fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

  /// The 24-byte HTTP/2 client connection preface.
  public static let clientPreface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

  public static func run(_ input: UnsafeRawBufferPointer) {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(input.count + clientPreface.count)
    if !(input.count >= 4 && input[0] == 0x50 && input[1] == 0x52 && input[2] == 0x49 && input[3] == 0x20) {
      bytes.append(contentsOf: clientPreface)
    }
    bytes.append(contentsOf: input)
    serve(bytes, chunk: bytes.count, shutdownBeforeLast: false)
    serve(bytes, chunk: 1 + input.count % 13, shutdownBeforeLast: true)
  }

  /// One connection fed `bytes` in reads of `chunk` bytes.
  static func serve(_ bytes: [UInt8], chunk: Int, shutdownBeforeLast: Bool) {
    let channel = EmbeddedChannel()
    // The embedded loop's clock starts at 0 but the server takes deadlines from the real clock:
    // start the virtual clock at the real time (nothing is scheduled yet, so this runs nothing).
    channel.embeddedEventLoop.advanceTime(to: .now())
    let handler = ServerConnectionHandler(router: router, configuration: configuration, logger: logger)
    do {
      try channel.pipeline.syncOperations.addHandler(handler)
      try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50051)).wait()
    } catch {
      fatalError("could not set up the embedded connection: \(error)")
    }
    var start = 0
    while start < bytes.count, channel.isActive {
      let end = min(bytes.count, start + max(1, chunk))
      if shutdownBeforeLast && end == bytes.count {
        channel.pipeline.triggerUserOutboundEvent(GRPCServer.GracefulShutdownEvent(), promise: nil)
      }
      var buffer = channel.allocator.buffer(capacity: end - start)
      buffer.writeBytes(bytes[start..<end])
      _ = try? channel.writeInbound(buffer)
      channel.embeddedEventLoop.run()
      discardOutput(channel)
      start = end
    }
    // Past the idle timeout and every deadline up to it (grpc-timeout "300S" and less); the
    // slow-request sweep runs meanwhile (it compares against the real clock, so it cancels nothing).
    if channel.isActive {
      channel.embeddedEventLoop.advanceTime(by: .seconds(301))
      discardOutput(channel)
    }
    do {
      _ = try channel.finish(acceptAlreadyClosed: true)
    } catch {
      fatalError("the embedded connection did not close cleanly: \(error)")
    }
  }

  private static func discardOutput(_ channel: EmbeddedChannel) {
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
  }
}
