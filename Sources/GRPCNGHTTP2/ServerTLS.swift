public import NIOSSL
import Synchronization

/// The server's TLS settings, reloadable while it runs.
///
/// Built from PEM files: a certificate chain, its private key and, for mutual TLS, the CAs whose
/// client certificates are accepted (a client without one is refused during the handshake).
/// ALPN offers `h2` only. ``reload()`` reads the files again and swaps the context atomically:
/// connections accepted afterwards use the new certificate, open ones keep theirs and are not
/// dropped. A reload that fails (missing file, key not matching) changes nothing.
public final class ServerTLS: Sendable {
  /// Where the PEM files are.
  public struct Files: Sendable, Equatable {
    public var certificateChain: String
    public var privateKey: String
    /// CA certificates for client verification (mutual TLS); `nil`: clients are not asked for one.
    public var clientCA: String?

    public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
      self.certificateChain = certificateChain
      self.privateKey = privateKey
      self.clientCA = clientCA
    }
  }

  public let files: Files
  private let current: Mutex<NIOSSLContext>

  /// Reads the files; throws if any is missing or invalid.
  public init(files: Files) throws {
    self.files = files
    current = Mutex(try Self.makeContext(files))
  }

  /// The context new connections use.
  public var context: NIOSSLContext { current.withLock { $0 } }

  /// Reads the files again; on success new connections use them.
  public func reload() throws {
    let context = try Self.makeContext(files)
    current.withLock { $0 = context }
  }

  private static func makeContext(_ files: Files) throws -> NIOSSLContext {
    let chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
    guard !chain.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
    var configuration = TLSConfiguration.makeServerConfiguration(
      certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: files.privateKey, format: .pem)))
    configuration.applicationProtocols = ["h2"]
    configuration.minimumTLSVersion = .tlsv12
    if let clientCA = files.clientCA {
      configuration.certificateVerification = .noHostnameVerification
      configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCA))
      configuration.sendCANameList = true
    }
    return try NIOSSLContext(configuration: configuration)
  }
}
