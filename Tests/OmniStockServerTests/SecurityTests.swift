import Foundation
import GRPCCore
import GRPCNGHTTP2
import GRPCNIOTransportHTTP2
import OmniStockServer
import Testing

/// Who may call what, checked over TLS with grpc-swift-2 (an independent client) against the real
/// binary: every role x every method of the contract, and no token / an unknown token. Requests are
/// empty messages: the verdict of the access check comes before the request is decoded, so a
/// method a role may call answers something other than UNAUTHENTICATED / PERMISSION_DENIED (most
/// often INVALID_ARGUMENT for the empty request), and one it may not answers PERMISSION_DENIED.
@Suite("Security: tokens and roles over TLS (grpc-swift-2)")
struct SecurityTests {
  /// Every method of the contract, as (service, method).
  static let methods: [(String, String)] = OmniStockMethods.all.map { ($0.service, $0.method) }

  @Test("every role x every method, plus no token and an unknown token")
  func matrix() async throws {
    let files = try TestPKI.make()
    defer { try? FileManager.default.removeItem(atPath: files.directory) }
    var tokens: [AccessRole: String] = [:]
    var entries: [String] = []
    for role in AccessRole.allCases {
      let token = TokenIssuer.newToken()
      tokens[role] = token
      let locations = role.isScopedToLocations ? ["store-1"] : []
      entries.append(try TokenIssuer.entry(name: "t-\(role.rawValue)", role: role, locations: locations, callsPerSecond: nil, token: token))
    }
    let tokensPath = files.directory + "/tokens.json"
    try Data("{\"tokens\": [\(entries.joined(separator: ","))]}".utf8).write(to: URL(fileURLWithPath: tokensPath))

    let server = try await ServerProcess.start(extraArguments: [
      "--tls-cert", files.certificate, "--tls-key", files.key, "--tokens", tokensPath,
    ])
    defer { server.terminate() }
    let transport = try HTTP2ClientTransport.Posix(
      target: .ipv4(address: "127.0.0.1", port: server.port),
      transportSecurity: .tls {
        $0.trustRoots = .certificates([.file(path: files.authority, format: .pem)])
        // The chain is verified against the test CA; the name is checked by the Python suite.
        $0.serverCertificateVerification = .noHostnameVerification
      })
    var wrong: [String] = []
    try await withGRPCClient(transport: transport) { client in
      let callers: [(String, String?)] =
        AccessRole.allCases.map { ($0.rawValue, tokens[$0]) } + [("no token", nil), ("unknown token", "omst_unknown")]
      for (caller, token) in callers {
        for (service, method) in Self.methods {
          let code = await Self.call(client, service: service, method: method, token: token)
          let role = AccessRole(rawValue: caller)
          let expected: Set<RPCError.Code?>
          let isHealth = service == "grpc.health.v1.Health"
          if isHealth {
            expected = [nil, .invalidArgument, .notFound]  // public: it runs for anyone
          } else if token == nil || role == nil {
            expected = [.unauthenticated]
          } else if role!.permits(OmniStockMethods.method(service: service, method: method)!) {
            expected = Self.ran
          } else {
            expected = [.permissionDenied]
          }
          if !expected.contains(code) {
            wrong.append("\(caller) -> \(service)/\(method): got \(code.map { "\($0)" } ?? "OK")")
          }
        }
      }
    }
    #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
    #expect(await server.stop() == 0)
  }

  /// Codes of a call that ran (got past the access check) with an empty request.
  static let ran: Set<RPCError.Code?> = [nil, .invalidArgument, .notFound, .failedPrecondition, .outOfRange]

  /// One call with an empty request message; the status code, `nil` for OK.
  static func call(_ client: GRPCClient<HTTP2ClientTransport.Posix>, service: String, method: String, token: String?) async
    -> RPCError.Code?
  {
    var metadata = Metadata()
    if let token { metadata.addString("Bearer \(token)", forKey: "authorization") }
    let request = StreamingClientRequest<[UInt8]>(metadata: metadata) { writer in try await writer.write([]) }
    var options = CallOptions.defaults
    options.timeout = .seconds(30)
    return await failureCode {
      try await client.bidirectionalStreaming(
        request: request, descriptor: MethodDescriptor(fullyQualifiedService: service, method: method),
        serializer: RawBytesCoder(), deserializer: RawBytesCoder(), options: options
      ) { response in
        // A watch keeps running once it has started: its first message proves it ran.
        for try await _ in response.messages { break }
      }
    }
  }
}

/// Throwaway certificates for one test, made with the `openssl` command: a CA, and a server
/// certificate for 127.0.0.1 / localhost signed by it.
struct TestPKI {
  let directory: String
  var authority: String { directory + "/ca.pem" }
  var certificate: String { directory + "/server.pem" }
  var key: String { directory + "/server.key" }

  static func make() throws -> TestPKI {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("omnistock-pki-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try openssl(["req", "-x509"] + curve + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=omnistock-test-ca"], in: directory)
    try openssl(["req"] + curve + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: directory)
    try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\n".utf8).write(to: URL(fileURLWithPath: directory + "/server.ext"))
    try openssl(
      ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
      in: directory)
    return TestPKI(directory: directory)
  }

  private static func openssl(_ arguments: [String], in directory: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments.first ?? "") failed"])
    }
  }
}
