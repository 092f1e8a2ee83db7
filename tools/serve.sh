#!/usr/bin/env bash
# Builds OmniStock (release) and runs `omnistock serve` with its defaults: 127.0.0.1:8980, data in
# ./omnistock-data. Installs the one system library it needs (libnghttp2-dev) if missing.
# Extra arguments go to `omnistock serve`, e.g. `tools/serve.sh --port 9000`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! pkg-config --exists libnghttp2 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libnghttp2-dev pkg-config
fi
swift build -c release --product omnistock
exec "$(swift build -c release --show-bin-path)/omnistock" serve "$@"
