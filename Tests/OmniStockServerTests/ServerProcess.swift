import Foundation

/// The real `omnistock` binary, started on 127.0.0.1 with a free port and a fresh data directory,
/// for end-to-end tests. Stopped with SIGTERM (graceful) by ``stop()``.
final class ServerProcess: @unchecked Sendable {
  // @unchecked Sendable: `process` and the pipes are created in `init` and afterwards only used
  // through their own thread-safe APIs (signal, wait, read); no stored property is mutated.
  let process = Process()
  let port: Int
  let dataDirectory: URL
  private let keepsData: Bool
  private let stdout = Pipe()
  private let stderr = Pipe()

  /// The binary under test: `$OMNISTOCK_BIN`, else the package's debug build.
  static var binary: URL {
    if let path = ProcessInfo.processInfo.environment["OMNISTOCK_BIN"] { return URL(fileURLWithPath: path) }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return packageRoot.appendingPathComponent(".build/debug/omnistock")
  }

  struct StartFailure: Error, CustomStringConvertible {
    let description: String
  }

  /// Starts the server (blocking work done off Swift's cooperative pool, which other tests'
  /// tasks need); with `dataDirectory` it reuses that directory (to test restarts).
  static func start(extraArguments: [String] = [], dataDirectory: URL? = nil) async throws -> ServerProcess {
    try await offPool { try ServerProcess(extraArguments: extraArguments, dataDirectory: dataDirectory) }
  }

  /// Runs blocking `body` on a dispatch queue and awaits it.
  private static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
  }

  private init(extraArguments: [String] = [], dataDirectory reused: URL? = nil) throws {
    let binary = Self.binary
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
      throw StartFailure(description: "no omnistock binary at \(binary.path): run `swift build` first or set OMNISTOCK_BIN")
    }
    dataDirectory =
      reused ?? FileManager.default.temporaryDirectory.appendingPathComponent("omnistock-test-\(UUID().uuidString)")
    keepsData = reused != nil
    process.executableURL = binary
    process.arguments =
      ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDirectory.path, "--threads", "2"]
      + extraArguments
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    // The server prints one line once it is listening: "omnistock listening on 127.0.0.1:PORT".
    var line = Data()
    let handle = stdout.fileHandleForReading
    while !line.contains(UInt8(ascii: "\n")) {
      let chunk = handle.availableData
      if chunk.isEmpty { break }
      line.append(chunk)
    }
    let text = String(decoding: line, as: UTF8.self)
    guard let portText = text.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines),
      let port = Int(portText), text.hasPrefix("omnistock listening on 127.0.0.1:")
    else {
      process.terminate()
      let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      throw StartFailure(description: "server did not start: stdout '\(text)', stderr '\(errors)'")
    }
    self.port = port
  }

  /// Sends SIGTERM and waits (off the cooperative pool) for the process to exit; returns its
  /// exit status.
  @discardableResult
  func stop() async -> Int32 {
    let process = self.process
    let status = (try? await Self.offPool { () -> Int32 in
      if process.isRunning { process.terminate() }
      process.waitUntilExit()
      return process.terminationStatus
    }) ?? -1
    if !keepsData { try? FileManager.default.removeItem(at: dataDirectory) }
    return status
  }

  /// Sends SIGTERM without waiting (for `defer`; the exit is collected by `deinit`).
  func terminate() {
    if process.isRunning { process.terminate() }
  }

  /// Kills the process with SIGKILL (a crash: nothing is flushed) and waits for it to go.
  func crash() async {
    let process = self.process
    _ = try? await Self.offPool {
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
    }
  }

  deinit {
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    if !keepsData { try? FileManager.default.removeItem(at: dataDirectory) }
  }
}
