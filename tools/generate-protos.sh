#!/usr/bin/env bash
# Regenerates the committed Swift code for the OmniStock wire contract.
#
#   bash tools/generate-protos.sh
#
# Inputs:  every .proto under proto/ (omnistock/v1/*.proto and the standard
#          grpc/health/v1/health.proto).
# Outputs: Sources/OmniStockAPI/*.pb.swift       messages (module OmniStockAPI)
#          Sources/OmniStockAPIGRPC/*.grpc.swift  service stubs (module
#          OmniStockAPIGRPC, which imports OmniStockAPI for the messages)
#
# Needs `protoc` (Debian/Ubuntu package protobuf-compiler) and the two protoc
# plugins, which are built on first use from the pinned versions in
# tools/protoc-plugins/Package.swift into .build-protoc-plugins/ (a few
# minutes, once). To use plugins you already have, set
#   PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift
#   PROTOC_GEN_GRPC_SWIFT=/path/to/protoc-gen-grpc-swift-2
# Other overrides: PROTOC (path to protoc), REBUILD_PLUGINS=1 (rebuild the
# helper package's plugins even if they exist).
#
# Output is generated into a temporary directory first; the old generated
# files are replaced only when protoc succeeds. Running it twice gives
# identical files.

set -euo pipefail

readonly SWIFT_PROTOBUF_VERSION="1.39.0"
readonly GRPC_SWIFT_PROTOBUF_VERSION="2.4.1"
readonly API_MODULE="OmniStockAPI"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

readonly proto_dir="proto"
readonly swift_out="Sources/OmniStockAPI"
readonly grpc_out="Sources/OmniStockAPIGRPC"
readonly plugin_package="tools/protoc-plugins"
readonly plugin_scratch=".build-protoc-plugins"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- 1. protoc ---------------------------------------------------------------

protoc="${PROTOC:-protoc}"
if ! command -v "$protoc" >/dev/null 2>&1; then
  die "protoc not found. Install it with:
    sudo apt-get update && sudo apt-get install -y protobuf-compiler
or point PROTOC at a protoc binary."
fi
protoc="$(command -v "$protoc")"
log "using $("$protoc" --version) ($protoc)"

# --- 2. plugins --------------------------------------------------------------

# Prints the path of a plugin product from the helper package, building it
# first if it is missing (or if REBUILD_PLUGINS=1).
helper_plugin() {
  local product="$1" bin_dir
  bin_dir="$plugin_scratch/release"
  if [[ "${REBUILD_PLUGINS:-0}" == "1" || ! -x "$bin_dir/$product" ]]; then
    log "building $product (release) in $plugin_scratch; this takes a few minutes the first time"
    swift build -c release \
      --package-path "$plugin_package" \
      --scratch-path "$plugin_scratch" \
      --product "$product" >&2
    bin_dir="$(swift build -c release \
      --package-path "$plugin_package" \
      --scratch-path "$plugin_scratch" \
      --show-bin-path)"
  fi
  [[ -x "$bin_dir/$product" ]] || die "$product was not found in $bin_dir after building"
  printf '%s\n' "$(cd "$bin_dir" && pwd)/$product"
}

# Fails unless `plugin --version` reports the pinned version, so the committed
# output always comes from the same generator.
check_plugin_version() {
  local plugin="$1" expected="$2" actual
  actual="$("$plugin" --version 2>/dev/null | awk '{print $NF}')" || true
  [[ "$actual" == "$expected" ]] ||
    die "$plugin reports version '${actual:-?}', expected $expected"
}

if [[ -n "${PROTOC_GEN_SWIFT:-}" ]]; then
  protoc_gen_swift="$PROTOC_GEN_SWIFT"
else
  protoc_gen_swift="$(helper_plugin protoc-gen-swift)"
fi
if [[ -n "${PROTOC_GEN_GRPC_SWIFT:-}" ]]; then
  protoc_gen_grpc_swift="$PROTOC_GEN_GRPC_SWIFT"
else
  protoc_gen_grpc_swift="$(helper_plugin protoc-gen-grpc-swift-2)"
fi
[[ -x "$protoc_gen_swift" ]] || die "protoc-gen-swift not executable: $protoc_gen_swift"
[[ -x "$protoc_gen_grpc_swift" ]] || die "protoc-gen-grpc-swift-2 not executable: $protoc_gen_grpc_swift"
check_plugin_version "$protoc_gen_swift" "$SWIFT_PROTOBUF_VERSION"
check_plugin_version "$protoc_gen_grpc_swift" "$GRPC_SWIFT_PROTOBUF_VERSION"
log "using $protoc_gen_swift"
log "using $protoc_gen_grpc_swift"

# --- 3. inputs ---------------------------------------------------------------

# All .proto files, relative to proto/, in a stable order.
protos=()
while IFS= read -r file; do
  protos+=("$file")
done < <(cd "$proto_dir" && find . -name '*.proto' -type f | sed 's|^\./||' | LC_ALL=C sort)
((${#protos[@]} > 0)) || die "no .proto files under $proto_dir"

# FileNaming=DropPath flattens the output, so base names must be unique.
duplicates="$(printf '%s\n' "${protos[@]}" | xargs -n1 basename | LC_ALL=C sort | uniq -d)"
[[ -z "$duplicates" ]] || die "proto base names must be unique (FileNaming=DropPath): $duplicates"

# Only files that declare a service get a .grpc.swift file.
service_protos=()
for file in "${protos[@]}"; do
  if grep -Eq '^[[:space:]]*service[[:space:]]+[A-Za-z_][A-Za-z0-9_]*' "$proto_dir/$file"; then
    service_protos+=("$file")
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/omnistock-protos.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/swift" "$work/grpc"

# Every proto's messages live in module OmniStockAPI. The gRPC plugin reads
# this (text-format SwiftProtobuf_GenSwift_ModuleMappings) to know which
# module holds the types a service file refers to.
module_mappings="$work/module-mappings.asciipb"
{
  echo "# Generated by tools/generate-protos.sh: every proto's messages are in $API_MODULE."
  echo "mapping {"
  echo "  module_name: \"$API_MODULE\""
  for file in "${protos[@]}"; do
    echo "  proto_file_path: \"$file\""
  done
  echo "}"
} >"$module_mappings"

# --- 4. generate -------------------------------------------------------------

log "generating messages for ${#protos[@]} proto files"
"$protoc" \
  --proto_path="$proto_dir" \
  --plugin=protoc-gen-swift="$protoc_gen_swift" \
  --swift_opt=Visibility=Public,FileNaming=DropPath \
  --swift_out="$work/swift" \
  "${protos[@]}"

log "generating gRPC stubs for ${#service_protos[@]} proto files with services"
# The mapping alone only adds `import OmniStockAPI` to files that import
# another proto; ExtraModuleImports adds it to every file (a file whose
# service uses messages from the same .proto needs it too).
"$protoc" \
  --proto_path="$proto_dir" \
  --plugin=protoc-gen-grpc-swift-2="$protoc_gen_grpc_swift" \
  --grpc-swift-2_opt=Visibility=Public,FileNaming=DropPath,Client=true,Server=true \
  --grpc-swift-2_opt=ProtoPathModuleMappings="$module_mappings" \
  --grpc-swift-2_opt=ExtraModuleImports="$API_MODULE" \
  --grpc-swift-2_out="$work/grpc" \
  "${service_protos[@]}"

# --- 5. replace the committed output -----------------------------------------

mkdir -p "$swift_out" "$grpc_out"
find "$swift_out" -maxdepth 1 -type f -name '*.pb.swift' -delete
find "$grpc_out" -maxdepth 1 -type f -name '*.grpc.swift' -delete
cp "$work"/swift/*.pb.swift "$swift_out"/
cp "$work"/grpc/*.grpc.swift "$grpc_out"/

log "wrote $(find "$swift_out" -maxdepth 1 -name '*.pb.swift' | wc -l) files to $swift_out"
log "wrote $(find "$grpc_out" -maxdepth 1 -name '*.grpc.swift' | wc -l) files to $grpc_out"
