#!/usr/bin/env bash
# Builds `omnistock` in release (scratch .build-release) and prints the binary's path; the
# benchmark scripts share it.  bin=$(tools/release-binary.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product omnistock --scratch-path .build-release >/dev/null
echo "$(swift build -c release --scratch-path .build-release --show-bin-path)/omnistock"
