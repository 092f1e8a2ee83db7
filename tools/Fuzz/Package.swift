// swift-tools-version:6.1
//
// OmniStock fuzz targets: a separate package so the main build stays lean (and so that building
// with `-sanitize=fuzzer` never touches the main package's scratch directory).
//
// Products:
// - fuzz-grpc-server:  libFuzzer target. Arbitrary bytes (the HTTP/2 client preface is prepended
//                      unless the input starts with it) go into a real `ServerConnectionHandler`
//                      (libnghttp2 session, gRPC header parsing, `MessageDeframer`, protobuf request
//                      decoding with `ProtobufCoding`) on an `EmbeddedChannel`.
// - fuzz-log-decoder:  libFuzzer target. Arbitrary bytes as a write-ahead log segment (and as a bare
//                      record stream): `RecordFraming` decoding, then `LogRecovery` on a real
//                      directory, with and without repair, then a second recovery that must find
//                      the log clean. Each input also runs with its checksums recomputed, so
//                      mutations get past the CRC-32C checks.
// - fuzz-driver:       a plain executable (no fuzzer runtime): `fuzz-driver run TARGET PATH...`
//                      runs files or corpus directories through a target once each (CI, and
//                      reproducing a crash under a debugger); `fuzz-driver seeds DIR` writes the
//                      seed corpus (`corpus/<target>/`) from the real code.
//
// Build the libFuzzer targets with `tools/fuzz.sh` (debug, so that `@testable import` reaches
// internal types; AddressSanitizer; libFuzzer's coverage flags and its `fuzzer_no_main` runtime).
// Their `main` calls libFuzzer's driver (`LLVMFuzzerRunDriver`): a debug SwiftPM executable's
// `main` is renamed and re-pointed at link time, so `-sanitize=fuzzer`, which also links
// libFuzzer's own `main`, fails to link ("undefined FuzzX_main" without a `main` of ours, a
// duplicate `main` with one).
import PackageDescription

let defaultSwiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let dependencies: [Package.Dependency] = [
  // `name:` pins the identity used in `.product(..., package: "omnistock")` (see tools/Benchmarks).
  .package(name: "omnistock", path: "../.."),
  .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
  .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
  .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
]

let targets: [Target] = [
  // The harnesses, shared by the libFuzzer entry points and the plain driver.
  .target(
    name: "FuzzTargets",
    dependencies: [
      .product(name: "GRPCNGHTTP2", package: "omnistock"),
      .product(name: "WriteAheadLog", package: "omnistock"),
      .product(name: "OmniStockAPI", package: "omnistock"),
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOEmbedded", package: "swift-nio"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "Logging", package: "swift-log"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
  // Declares libFuzzer's `LLVMFuzzerRunDriver`, which the libFuzzer executables call from their
  // `main` (a debug SwiftPM executable's `main` is its own, renamed, so libFuzzer's cannot be used).
  .target(name: "CLibFuzzer"),
  .executableTarget(
    name: "FuzzGRPCServer", dependencies: ["FuzzTargets", "CLibFuzzer"], swiftSettings: defaultSwiftSettings),
  .executableTarget(
    name: "FuzzLogDecoder", dependencies: ["FuzzTargets", "CLibFuzzer"], swiftSettings: defaultSwiftSettings),
  .executableTarget(name: "FuzzDriver", dependencies: ["FuzzTargets"], swiftSettings: defaultSwiftSettings),
]

let package = Package(
  name: "omnistock-fuzz",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "fuzz-grpc-server", targets: ["FuzzGRPCServer"]),
    .executable(name: "fuzz-log-decoder", targets: ["FuzzLogDecoder"]),
    .executable(name: "fuzz-driver", targets: ["FuzzDriver"]),
  ],
  dependencies: dependencies,
  targets: targets
)
