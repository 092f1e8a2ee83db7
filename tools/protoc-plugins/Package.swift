// swift-tools-version:6.0
// Throwaway helper package: it exists only so that `tools/generate-protos.sh`
// can build the two protoc plugins (protoc-gen-swift, protoc-gen-grpc-swift-2)
// at exactly the versions the committed generated code was made with. It is
// not part of the OmniStock build.
import PackageDescription

let package = Package(
  name: "protoc-plugins",
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
  ],
  targets: [
    // SwiftPM needs at least one target of its own; this one is empty.
    .target(name: "ProtocPluginsDummy", path: "Sources/ProtocPluginsDummy")
  ]
)
