import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// Runs `body` with a grpc-swift-2 client (an independent gRPC implementation) connected to
/// 127.0.0.1:`port` over plaintext HTTP/2.
func withClient<Result: Sendable>(
  port: Int, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
  let transport = try HTTP2ClientTransport.Posix(
    target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
  return try await withGRPCClient(transport: transport) { client in
    try await body(client)
  }
}

/// Starts the real binary, runs `body` with a grpc-swift-2 client connected to it, then stops the
/// server with SIGTERM and checks that it drained and exited 0.
func withRunningServer<Result: Sendable>(
  _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
  let server = try await ServerProcess.start()
  defer { server.terminate() }
  let result = try await withClient(port: server.port, body)
  #expect(await server.stop() == 0)
  return result
}

/// The status code a call failed with, or `nil` if it succeeded.
func failureCode(_ body: () async throws -> Void) async -> RPCError.Code? {
  do {
    try await body()
    return nil
  } catch let error as RPCError {
    return error.code
  } catch {
    return .unknown
  }
}

/// Passes bytes through unchanged: for calls to paths the contract does not have.
struct RawBytesCoder: MessageSerializer, MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
    Bytes(message)
  }

  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}
