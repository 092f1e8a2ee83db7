// swift-tools-version:6.1
//
// StockIndex benchmarks (issue 3): a separate package, so the main build never sees
// ordo-one/benchmark, its malloc interposer or its plugins.
//
// Run everything, bounded (~5 min once built), and record the table in BENCHMARKS.md:
//
//   bash tools/bench-index.sh
//
// or only the ordo-one suite:
//
//   swift package --package-path tools/IndexBenchmarks --scratch-path .build-index-bench benchmark
//
// Targets (one job each):
// - IndexBenchmarks: the ordo-one/benchmark suite (Benchmarks/IndexBenchmarks/IndexBenchmarks.swift):
//                    point reads by ids and by strings, with and without a busy writer, group and
//                    batch reads, writes on one shard / across shards, and the two baselines (a raw
//                    pointer load and a Mutex-guarded Dictionary read). Static thresholds in
//                    Thresholds/ make `benchmark thresholds check` fail if a read retains,
//                    releases or allocates.
// - index-memory:    a plain executable (not an ordo-one benchmark) that fills 10M positions and
//                    prints the RSS delta per position and `StockIndex.statistics()`.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "omnistock-index-benchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    // `name:` pins the identity used in `.product(..., package: "omnistock")`: without it the
    // identity of a path dependency is its directory's name, which depends on where the
    // repository was cloned (e.g. "main").
    .package(name: "omnistock", path: "../.."),
    // Only the malloc interposer trait: the default traits also enable "RuntimeInterposer", whose
    // package (ordo-one/swift-runtime-interposer) is not available here; without it ARC counts
    // come from the Swift runtime's own retain/release hooks.
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    .executableTarget(
      name: "IndexBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "StockIndex", package: "omnistock"),
      ],
      path: "Benchmarks/IndexBenchmarks",
      swiftSettings: swiftSettings,
      plugins: [
        .plugin(name: "BenchmarkPlugin", package: "benchmark")
      ]
    ),
    .executableTarget(
      name: "index-memory",
      dependencies: [
        .product(name: "StockIndex", package: "omnistock")
      ],
      path: "Sources/IndexMemory",
      swiftSettings: swiftSettings
    ),
  ]
)
