#!/usr/bin/env bash
# A short load test against a real server (CI runs it): starts `omnistock serve` on a free
# 127.0.0.1 port with a temporary data directory, runs `omnistock load` for LOAD_SECONDS (10),
# which exits non-zero if the server's stock differs from the ledger of acknowledged events,
# then stops the server with SIGTERM (it must exit 0).
#   tools/load-smoke.sh [path/to/omnistock [extra omnistock load flags...]]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-$(swift build --show-bin-path)/omnistock}"
shift || true
data="$(mktemp -d)"
log="$data.serve.log"
trap 'kill -9 "${server:-0}" 2>/dev/null || true; rm -rf "$data" "$log"' EXIT
"$bin" serve --port 0 --data-dir "$data/data" >"$data.out" 2>"$log" &
server=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/^omnistock listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$data.out" 2>/dev/null | head -1)
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "the server exited before listening" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$log" >&2; echo "the server did not start listening" >&2; exit 1; }
"$bin" load --port "$port" --seconds "${LOAD_SECONDS:-10}" "$@"
kill -TERM "$server"
wait "$server"
rm -f "$data.out"
