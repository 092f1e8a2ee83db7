import Foundation
import FuzzTargets

/// The fuzz targets without libFuzzer: replays inputs (CI runs the committed corpus through
/// every target this way on every build; a crash found by `tools/fuzz.sh` reproduces the same
/// way, under a debugger if need be), and writes the seed corpus.
///
/// ```
/// fuzz-driver run [--verbose] grpc-server|log-decoder PATH...
///                                                   files, or directories (every file inside);
///                                                   --verbose prints each gRPC call's status
/// fuzz-driver seeds DIR                             writes DIR/grpc-server/*, DIR/log-decoder/*
/// ```
@main
struct FuzzDriver {
  static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
    "grpc-server": GRPCServerFuzzTarget.run,
    "log-decoder": LogDecoderFuzzTarget.run,
  ]

  static func main() throws {
    var arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.count > 1, arguments[1] == "--verbose" {
      arguments.remove(at: 1)
      GRPCServerFuzzTarget.onCallEnded = { path, code in print("  \(path): \(code)") }
    }
    switch arguments.first {
    case "run" where arguments.count >= 3:
      guard let target = targets[arguments[1]] else { usage("unknown target '\(arguments[1])'") }
      let files = arguments.dropFirst(2).flatMap(inputs(at:))
      guard !files.isEmpty else { usage("no input files under \(arguments.dropFirst(2).joined(separator: " "))") }
      let started = ContinuousClock.now
      for file in files {
        if GRPCServerFuzzTarget.onCallEnded != nil { print(file) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes.withUnsafeBytes { target($0) }
      }
      LogDecoderFuzzTarget.cleanUp()
      print("\(arguments[1]): \(files.count) inputs replayed, no crash (\(ContinuousClock.now - started))")
    case "seeds" where arguments.count == 2:
      let root = arguments[1]
      for (target, seeds) in [("grpc-server", try FuzzSeeds.grpcServer()), ("log-decoder", try FuzzSeeds.logDecoder())] {
        let directory = root + "/" + target
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for seed in seeds {
          try Data(seed.bytes).write(to: URL(fileURLWithPath: directory + "/" + seed.name))
        }
        print("\(directory): \(seeds.count) seeds")
      }
    default:
      usage(nil)
    }
  }

  /// `path` itself, or every regular file below it.
  static func inputs(at path: String) -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
    guard isDirectory.boolValue else { return [path] }
    let enumerator = FileManager.default.enumerator(atPath: path)
    var files: [String] = []
    while let name = enumerator?.nextObject() as? String {
      var nested: ObjCBool = false
      let full = path + "/" + name
      if FileManager.default.fileExists(atPath: full, isDirectory: &nested), !nested.boolValue { files.append(full) }
    }
    return files.sorted()
  }

  static func usage(_ problem: String?) -> Never {
    if let problem { FileHandle.standardError.write(Data("fuzz-driver: \(problem)\n".utf8)) }
    FileHandle.standardError.write(
      Data(
        """
        usage: fuzz-driver run [--verbose] grpc-server|log-decoder PATH...
               fuzz-driver seeds DIR

        """.utf8))
    exit(2)
  }
}
