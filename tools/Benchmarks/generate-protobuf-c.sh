#!/usr/bin/env bash
# Regenerates the committed protobuf-c code that codec-bench compares swift-protobuf against.
#
#   bash tools/Benchmarks/generate-protobuf-c.sh
#
# Inputs:  proto/omnistock/v1/{common,availability,ingest}.proto (the main package's wire contract).
# Outputs: tools/Benchmarks/Sources/CProtobufBench/generated/omnistock/v1/*.pb-c.{c,h}
#
# Needs `protoc-c` (Debian protobuf-c-compiler 1.4.1; installed if missing, as root) and, to build
# the result, libprotobuf-c-dev.
#
# protoc-c 1.4.1 predates proto3 `optional` and refuses files that use it. The contract has two such
# fields (AvailableLocation.distance_km, SnapshotEntry.safety_stock), neither
# in a message that codec-bench measures. The script feeds protoc-c a temporary copy in which each
# `optional T name = N;` is rewritten to `oneof _name { T name = N; }`, which is exactly what protoc
# itself lowers proto3 optional to (a synthetic one-field oneof): same field numbers, same wire
# bytes, same presence semantics. The committed .proto files are not touched.
#
# Output is written to a temporary directory first and copied over the old files only when protoc-c
# succeeds. Running it twice gives identical files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/Sources/CProtobufBench/generated"
protos=(omnistock/v1/common.proto omnistock/v1/availability.proto omnistock/v1/ingest.proto)

if ! command -v protoc-c >/dev/null 2>&1; then
  echo "==> installing protobuf-c-compiler libprotobuf-c-dev" >&2
  apt-get install -y -q protobuf-c-compiler libprotobuf-c-dev >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q protobuf-c-compiler libprotobuf-c-dev >/dev/null; }
fi
echo "==> using $(protoc-c --version 2>&1 | head -1)" >&2

work="$(mktemp -d "${TMPDIR:-/tmp}/omnistock-protobuf-c.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/proto/omnistock/v1" "$work/out"
for p in "${protos[@]}"; do
  sed -E 's/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+);/\1oneof _\3 { \2 \3 = \4; }/' \
    "$root/proto/$p" >"$work/proto/$p"
done
if grep -nE '^[[:space:]]*optional[[:space:]]' "${protos[@]/#/$work/proto/}"; then
  echo "error: an 'optional' field was not rewritten (unexpected syntax); see above" >&2
  exit 1
fi

protoc-c --proto_path="$work/proto" --c_out="$work/out" "${protos[@]}"

mkdir -p "$out/omnistock/v1"
find "$out/omnistock/v1" -maxdepth 1 -type f \( -name '*.pb-c.c' -o -name '*.pb-c.h' \) -delete
cp "$work"/out/omnistock/v1/*.pb-c.[ch] "$out/omnistock/v1/"
echo "==> wrote $(find "$out/omnistock/v1" -name '*.pb-c.*' | wc -l) files to ${out#"$root"/}" >&2
