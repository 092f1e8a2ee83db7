#!/usr/bin/env bash
# The load benchmark: a release server on a free 127.0.0.1 port and `omnistock load` against it
# (4 POS terminals on StreamEvents, 4 storefronts, closed-loop, correctness checked), on the same
# 2 cores. One command, ~15 s after the build; prints the report and writes it into BENCHMARKS.md
# between the bench-load markers.
#   tools/bench-load.sh
#   LOAD_SECONDS=30 tools/bench-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(bash tools/release-binary.sh)"
seconds=${LOAD_SECONDS:-10}
report=$(LOAD_SECONDS="$seconds" bash tools/load-smoke.sh "$bin" --terminals 4 --storefronts 4 2>/dev/null)
echo "$report"
echo "$report" | python3 tools/benchmark-section.py bench-load "Load tool: mixed POS ingest and storefront reads (\`tools/bench-load.sh\`)" \
  "Release build; server and \`omnistock load\` share the machine's cores; $seconds s closed-loop: 4 POS terminals each with 4 batches of 20 events in flight on one StreamEvents stream, 4 storefronts each with 16 reads in flight (every 10th a 20-query BatchGet); every batch acknowledged once durable; every touched position checked against the ledger afterwards. Saturation figures, not latency targets."
