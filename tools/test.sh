#!/usr/bin/env bash
# Runs every test OmniStock has, from a fresh Debian machine: installs what the tests need
# (libnghttp2-dev for the build; Python grpcio for the independent client), builds the server,
# runs the Swift test suites (unit tests and end-to-end tests with grpc-swift-2 against the real
# binary), then the Python grpcio interoperability suite against the same binary.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
pkg-config --exists libnghttp2 2>/dev/null || need_apt+=(libnghttp2-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ! python3 -c 'import grpc, grpc_tools, grpc_health, pytest' 2>/dev/null; then
  echo "==> installing Python test dependencies"
  python3 -m pip install -q -r Tests/python/requirements.txt
fi

echo "==> swift build"
swift build
echo "==> swift test"
swift test
echo "==> python grpcio interoperability tests"
OMNISTOCK_BIN="$(swift build --show-bin-path)/omnistock" python3 -m pytest -q Tests/python
