import GRPCCore
import GRPCNGHTTP2
import GRPCNIOTransportHTTP2
import NIOCore
import Synchronization
import Testing

/// Passes bytes through unchanged.
private struct RawBytesCoder: MessageSerializer, MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}

/// Collects what handlers report, and lets a test wait for a report.
private final class Recorder: Sendable {
  private let state = Mutex<[String]>([])
  private let stream: AsyncStream<String>
  private let continuation: AsyncStream<String>.Continuation

  init() {
    (stream, continuation) = AsyncStream.makeStream(of: String.self)
  }

  func record(_ event: String) {
    state.withLock { $0.append(event) }
    continuation.yield(event)
  }

  /// Waits until `event` has been recorded; records a test issue if that takes over 30 seconds
  /// (a bound so a broken server fails the test instead of hanging it).
  func wait(for event: String) async {
    if state.withLock({ $0.contains(event) }) { return }
    let arrived = await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        for await next in self.stream where next == event { return true }
        return false
      }
      group.addTask {
        try? await Task.sleep(for: .seconds(30))
        return false
      }
      let first = await group.next() ?? false
      group.cancelAll()
      return first
    }
    if !arrived && !state.withLock({ $0.contains(event) }) {
      Issue.record("'\(event)' was not reported within 30 seconds")
    }
  }
}

/// The gRPC layer in process, driven by grpc-swift-2's client: what a handler experiences.
@Suite("Server behaviour", .timeLimit(.minutes(2)))
struct ServerBehaviourTests {
  private static let service = "test.v1.Probe"

  private func withServer(
    _ router: GRPCNGHTTP2.RPCRouter, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void
  ) async throws {
    let server = GRPCNGHTTP2.GRPCServer(configuration: .init(host: "127.0.0.1", port: 0, threads: 1), router: router)
    let address = try await server.start()
    let transport = try HTTP2ClientTransport.Posix(
      target: .ipv4(address: "127.0.0.1", port: address.port!), transportSecurity: .plaintext)
    do {
      try await withGRPCClient(transport: transport) { client in try await body(client) }
    } catch {
      server.beginGracefulShutdown()
      try await server.serve()
      try await server.shutdownEventLoops()
      throw error
    }
    server.beginGracefulShutdown()
    try await server.serve()
    try await server.shutdownEventLoops()
  }

  private func descriptor(_ method: String) -> MethodDescriptor {
    MethodDescriptor(fullyQualifiedService: Self.service, method: method)
  }

  @Test("a unary handler answers inline, and a deferred answer from another thread arrives too")
  func unaryInlineAndDeferred() async throws {
    var router = GRPCNGHTTP2.RPCRouter()
    router.register(
      RPCMethod(service: Self.service, method: "Echo"),
      .unary { request, context, responder in
        #expect(context.eventLoop.inEventLoop)
        responder.respond(with: Array(request.readableBytesView))
      })
    router.register(
      RPCMethod(service: Self.service, method: "Later"),
      .unary { request, _, responder in
        let bytes = Array(request.readableBytesView)
        Task.detached { responder.respond(with: bytes.reversed()) }
      })
    try await withServer(router) { client in
      let echoed = try await client.unary(
        request: ClientRequest(message: [1, 2, 3]), descriptor: descriptor("Echo"), serializer: RawBytesCoder(),
        deserializer: RawBytesCoder(), options: .defaults
      ) { try $0.message }
      #expect(echoed == [1, 2, 3])
      let later = try await client.unary(
        request: ClientRequest(message: [1, 2, 3]), descriptor: descriptor("Later"), serializer: RawBytesCoder(),
        deserializer: RawBytesCoder(), options: .defaults
      ) { try $0.message }
      #expect(later == [3, 2, 1])
    }
  }

  @Test("a status thrown by a handler reaches the client with its message intact")
  func statusAndMessage() async throws {
    var router = GRPCNGHTTP2.RPCRouter()
    router.register(
      RPCMethod(service: Self.service, method: "Fail"),
      .streaming { _, _, _ in throw GRPCStatus(.failedPrecondition, "reservation r-1 is COMMITTED: 100% done\nbye") })
    try await withServer(router) { client in
      do {
        try await client.bidirectionalStreaming(
          request: StreamingClientRequest(of: [UInt8].self) { _ in }, descriptor: descriptor("Fail"),
          serializer: RawBytesCoder(), deserializer: RawBytesCoder(), options: .defaults
        ) { response in for try await _ in response.messages {} }
        Issue.record("the call succeeded")
      } catch let error as RPCError {
        #expect(error.code == .failedPrecondition)
        #expect(error.message == "reservation r-1 is COMMITTED: 100% done\nbye")
      }
    }
  }

  @Test("client cancellation cancels the streaming handler")
  func cancellationReachesHandler() async throws {
    let recorder = Recorder()
    var router = GRPCNGHTTP2.RPCRouter()
    router.register(
      RPCMethod(service: Self.service, method: "Hang"),
      .streaming { _, _, _ in
        recorder.record("started")
        do {
          try await Task.sleep(for: .seconds(60))
        } catch {
          recorder.record("cancelled")
          throw error
        }
      })
    try await withServer(router) { client in
      let call = Task {
        try await client.bidirectionalStreaming(
          request: StreamingClientRequest(of: [UInt8].self) { _ in try await Task.sleep(for: .seconds(60)) },
          descriptor: descriptor("Hang"), serializer: RawBytesCoder(), deserializer: RawBytesCoder(),
          options: .defaults
        ) { response in for try await _ in response.messages {} }
      }
      await recorder.wait(for: "started")
      call.cancel()
      _ = await call.result
      await recorder.wait(for: "cancelled")
    }
  }

  @Test("the deadline reaches the handler's context, ends the call DEADLINE_EXCEEDED and cancels the handler")
  func deadline() async throws {
    let recorder = Recorder()
    var router = GRPCNGHTTP2.RPCRouter()
    router.register(
      RPCMethod(service: Self.service, method: "Slow"),
      .streaming { _, _, context in
        recorder.record(context.deadline == nil ? "no deadline" : "deadline")
        do {
          try await Task.sleep(for: .seconds(60))
        } catch {
          recorder.record("cancelled")
          throw error
        }
      })
    try await withServer(router) { client in
      // Long enough that the call reaches the server even on a loaded machine (other suites run
      // in parallel on 2 cores; the test checks what the handler experiences), short enough to
      // keep the test quick.
      var options = CallOptions.defaults
      options.timeout = .seconds(6)
      do {
        try await client.bidirectionalStreaming(
          request: StreamingClientRequest(of: [UInt8].self) { _ in }, descriptor: descriptor("Slow"),
          serializer: RawBytesCoder(), deserializer: RawBytesCoder(), options: options
        ) { response in for try await _ in response.messages {} }
        Issue.record("the call outlived its deadline")
      } catch let error as RPCError {
        #expect(error.code == .deadlineExceeded)
      }
      await recorder.wait(for: "deadline")
      await recorder.wait(for: "cancelled")
    }
  }

  @Test("a client that stops reading suspends the writer instead of making the server buffer everything")
  func slowReaderBackPressure() async throws {
    let total = 40_000  // 40 MiB of 1 KiB messages: more than every window and socket buffer on the way
    let written = Atomic<Int>(0)
    var router = GRPCNGHTTP2.RPCRouter()
    router.register(
      RPCMethod(service: Self.service, method: "Flood"),
      .streaming { _, responses, _ in
        let message = [UInt8](repeating: 7, count: 1024)
        for _ in 0..<total {
          try await responses.write(message)
          written.add(1, ordering: .relaxed)
        }
      })
    try await withServer(router) { client in
      var options = CallOptions.defaults
      options.maxResponseMessageBytes = 4096
      let received = try await client.serverStreaming(
        request: ClientRequest(message: [UInt8]()), descriptor: descriptor("Flood"), serializer: RawBytesCoder(),
        deserializer: RawBytesCoder(), options: options
      ) { response in
        var iterator = response.messages.makeAsyncIterator()
        _ = try await iterator.next()
        // Stop reading until the writer has made no progress for a while (or wrote everything).
        var last = -1
        var stableSamples = 0
        while stableSamples < 10 {
          try await Task.sleep(for: .milliseconds(50))
          let now = written.load(ordering: .relaxed)
          stableSamples = now == last ? stableSamples + 1 : 0
          last = now
          if now == total { break }
        }
        #expect(last < total, "the server accepted all \(total) messages while the client read none")
        var count = 1
        while try await iterator.next() != nil { count += 1 }
        return count
      }
      #expect(received == total)
    }
  }
}
