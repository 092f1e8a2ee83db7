// swift-tools-version:6.1
//
// OmniStock benchmarks: a separate package so the main build stays lean.
//
// Products (build with `-c release`; `tools/bench-grpc.sh` builds and runs them):
// - grpc-swift-baseline: the same trivial GetAvailability handler as `omnistock serve`, but served
//                        by grpc-swift-2 over grpc-swift-nio-transport (HTTP/2 on SwiftNIO). It is
//                        what we compare our libnghttp2-based gRPC layer against.
// - codec-bench:         swift-protobuf vs protobuf-c, ns per message, for the two messages that
//                        dominate our traffic by bytes (EventBatch, BatchGetAvailabilityResponse).
//                        Also writes gRPC-framed request bodies for h2load (`--write-request`).
//
// Targets (one job each):
// - CProtobufBench:      protobuf-c code generated from proto/omnistock/v1 (committed; regenerate
//                        with `generate-protobuf-c.sh`) plus a small C API that builds, encodes and
//                        decodes those messages in tight loops, so the C side is timed without
//                        Swift in the loop.
// - GRPCSwiftBaseline:   the `grpc-swift-baseline` executable.
// - CodecBench:          the `codec-bench` executable.
import PackageDescription

let defaultSwiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

// Same versions as the main package (tools/Benchmarks shares its Package.resolved pins: see
// tools/bench-grpc.sh).
let dependencies: [Package.Dependency] = [
  // `name:` pins the identity used in `.product(..., package: "omnistock")`: without it the
  // identity of a path dependency is its directory's name, which depends on where the repository
  // was cloned (e.g. "main").
  .package(name: "omnistock", path: "../.."),
  .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
  .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
  .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
  .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
  .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
]

let targets: [Target] = [
  .target(
    name: "CProtobufBench",
    cSettings: [
      // The generated files include each other as "omnistock/v1/<name>.pb-c.h".
      .headerSearchPath("generated")
    ],
    linkerSettings: [.linkedLibrary("protobuf-c")]
  ),
  .executableTarget(
    name: "GRPCSwiftBaseline",
    dependencies: [
      .product(name: "OmniStockAPI", package: "omnistock"),
      .product(name: "OmniStockAPIGRPC", package: "omnistock"),
      .product(name: "GRPCCore", package: "grpc-swift-2"),
      .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
      .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
  .executableTarget(
    name: "CodecBench",
    dependencies: [
      "CProtobufBench",
      .product(name: "OmniStockAPI", package: "omnistock"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
]

let package = Package(
  name: "omnistock-benchmarks",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "grpc-swift-baseline", targets: ["GRPCSwiftBaseline"]),
    .executable(name: "codec-bench", targets: ["CodecBench"]),
  ],
  dependencies: dependencies,
  targets: targets
)
