// swift-tools-version:6.1
//
// OmniStock: a real-time inventory availability server.
//
// Targets (one job each):
// - CNGHTTP2:          system-library shim over Debian's libnghttp2 (HTTP/2 framing, HPACK, flow control).
// - GRPCNGHTTP2:       a thin gRPC-over-HTTP/2 server on libnghttp2 + SwiftNIO (+ NIOSSL for TLS). Knows
//                      gRPC, limits and who may call what (through an authorizer), not inventory.
// - StockIndex:        the in-memory sharded index of positions and group totals; lock-free reads.
// - WriteAheadLog:     segments, checksummed records, group commit, recovery. Bytes, not inventory.
// - OmniStockAPI:      generated protobuf messages (committed; `tools/generate-protos.sh`).
// - OmniStockAPIGRPC:  generated grpc-swift-2 stubs (committed); tests and benchmarks use them as an
//                      independent client and as the baseline server. The server itself does not.
// - OmniStockServer:   the gRPC services (thin: decode, validate, call the domain), access tokens, the engine,
//                      checkpoints, reservations, watches, metrics (swift-prometheus), lifecycle.
// - OmniStockLoad:     `omnistock load`: a lean gRPC client on libnghttp2, workloads, ledger, report.
// - omnistock:         the executable (`omnistock serve`, `omnistock load`, benchmarks).
import PackageDescription

let defaultSwiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let dependencies: [Package.Dependency] = [
  .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
  .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
  .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
  .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
  .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
  .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
  .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
  .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
  .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
  .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
  .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
  // Independent client for interoperability tests, and the baseline server in benchmarks.
  .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
  .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
  .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
]

let targets: [Target] = [
  .systemLibrary(
    name: "CNGHTTP2",
    pkgConfig: "libnghttp2",
    providers: [.apt(["libnghttp2-dev"])]
  ),
  .target(
    name: "GRPCNGHTTP2",
    dependencies: [
      "CNGHTTP2",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
      .product(name: "DequeModule", package: "swift-collections"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "Logging", package: "swift-log"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
  .target(
    name: "StockIndex",
    dependencies: [
      .product(name: "Atomics", package: "swift-atomics")
    ],
    swiftSettings: defaultSwiftSettings
  ),
  .target(
    name: "WriteAheadLog",
    swiftSettings: defaultSwiftSettings
  ),
  .target(
    name: "OmniStockAPI",
    dependencies: [
      .product(name: "SwiftProtobuf", package: "swift-protobuf")
    ],
    exclude: [],
    swiftSettings: [.swiftLanguageMode(.v6)]
  ),
  .target(
    name: "OmniStockAPIGRPC",
    dependencies: [
      "OmniStockAPI",
      .product(name: "GRPCCore", package: "grpc-swift-2"),
      .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
    ],
    swiftSettings: [.swiftLanguageMode(.v6)]
  ),
  .target(
    name: "OmniStockServer",
    dependencies: [
      "GRPCNGHTTP2",
      "OmniStockAPI",
      "StockIndex",
      "WriteAheadLog",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOHTTP1", package: "swift-nio"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "Logging", package: "swift-log"),
      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      .product(name: "Prometheus", package: "swift-prometheus"),
      .product(name: "Crypto", package: "swift-crypto"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
  .target(
    name: "OmniStockLoad",
    dependencies: [
      "CNGHTTP2",
      "OmniStockAPI",
      .product(name: "DequeModule", package: "swift-collections"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "Histogram", package: "hdrhistogram-swift"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
  .executableTarget(
    name: "omnistock",
    dependencies: [
      "OmniStockServer",
      "OmniStockLoad",
      "GRPCNGHTTP2",
      "WriteAheadLog",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
      .product(name: "Logging", package: "swift-log"),
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      .product(name: "UnixSignals", package: "swift-service-lifecycle"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
  .testTarget(
    name: "GRPCNGHTTP2Tests",
    dependencies: [
      "GRPCNGHTTP2",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOEmbedded", package: "swift-nio"),
      .product(name: "Logging", package: "swift-log"),
      .product(name: "GRPCCore", package: "grpc-swift-2"),
      .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
  .testTarget(
    name: "OmniStockLoadTests",
    dependencies: ["OmniStockLoad"],
    swiftSettings: defaultSwiftSettings
  ),
  .testTarget(
    name: "StockIndexTests",
    dependencies: ["StockIndex"],
    swiftSettings: defaultSwiftSettings
  ),
  .testTarget(
    name: "WriteAheadLogTests",
    dependencies: ["WriteAheadLog"],
    swiftSettings: defaultSwiftSettings
  ),
  .testTarget(
    name: "OmniStockServerTests",
    dependencies: [
      "OmniStockServer",
      "OmniStockLoad",
      "StockIndex",
      "WriteAheadLog",
      "GRPCNGHTTP2",
      "OmniStockAPI",
      "OmniStockAPIGRPC",
      .product(name: "GRPCCore", package: "grpc-swift-2"),
      .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
      .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
    ],
    swiftSettings: defaultSwiftSettings
  ),
]

let package = Package(
  name: "omnistock",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "omnistock", targets: ["omnistock"]),
    .library(name: "GRPCNGHTTP2", targets: ["GRPCNGHTTP2"]),
    .library(name: "OmniStockAPI", targets: ["OmniStockAPI"]),
    .library(name: "StockIndex", targets: ["StockIndex"]),
    .library(name: "WriteAheadLog", targets: ["WriteAheadLog"]),
    .library(name: "OmniStockAPIGRPC", targets: ["OmniStockAPIGRPC"]),
    .library(name: "OmniStockServer", targets: ["OmniStockServer"]),
  ],
  dependencies: dependencies,
  targets: targets
)
