#!/usr/bin/env bash
# Runs every test OmniStock has, from a fresh Debian machine: installs what the tests need
# (libnghttp2-dev for the build; Python grpcio for the independent client; Debian's chromium for the
# dashboard's headless browser test), builds the server,
# runs the Swift test suites (unit tests and end-to-end tests with grpc-swift-2 against the real
# binary), the Python grpcio interoperability suite against the same binary, a 10-second
# `omnistock load` smoke with its correctness check (`tools/load-smoke.sh`), a 60-second soak
# (`tools/soak.sh`; SOAK_SECONDS), a short pass of each fuzz target (`tools/fuzz.sh`, 20 s each;
# FUZZ_SECONDS; its sanitized build takes a few minutes in .build-fuzz), and the crash test
# (20 kill -9 cycles; `CRASH_CYCLES=100 tools/test.sh` or `tools/crash-test.sh` for longer runs).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
pkg-config --exists libnghttp2 2>/dev/null || need_apt+=(libnghttp2-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v chromium >/dev/null || need_apt+=(chromium fonts-liberation)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! python3 -c 'import grpc, grpc_tools, grpc_health, pytest, h2' 2>/dev/null; then
  echo "==> installing Python test dependencies"
  python3 -m pip install -q -r Tests/python/requirements.txt
fi

echo "==> swift build"
swift build
echo "==> swift test"
swift test
bin="$(swift build --show-bin-path)/omnistock"
echo "==> python grpcio interoperability tests"
OMNISTOCK_BIN="$bin" python3 -m pytest -q Tests/python
echo "==> load smoke: omnistock load against a real server, then the ledger check"
bash tools/load-smoke.sh "$bin" --shoppers 1 --watchers 1
echo "==> soak: ${SOAK_SECONDS:-60} s of mixed load on the debug binary; RSS, fds and threads stay flat, no errors"
SOAK_SECONDS="${SOAK_SECONDS:-60}" SOAK_EVENTS_PER_SECOND=400 SOAK_READS_PER_SECOND=400 SOAK_CARTS_PER_SECOND=10 \
  bash tools/soak.sh "$bin"
echo "==> fuzz: each libFuzzer target for ${FUZZ_SECONDS:-20} s from the committed seeds (tools/Fuzz)"
bash tools/fuzz.sh all "${FUZZ_SECONDS:-20}"
echo "==> crash test: kill -9 at random moments, restart, every acknowledged event exactly once"
python3 Tests/crash/crash_test.py --cycles "${CRASH_CYCLES:-20}" --binary "$bin"
