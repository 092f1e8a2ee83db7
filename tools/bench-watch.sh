#!/usr/bin/env bash
# The watch benchmark: durable events/s through the engine with no watch, with 1,000 narrow
# watches (10 SKUs each) and with 1,000 watches of everything, side by side in one run. One
# command, ~1 minute after the build; prints the table and writes it into BENCHMARKS.md between
# the bench-watch markers.
#   tools/bench-watch.sh                      # 1,000 watches, 300,000 events per configuration
#   WATCHERS=5000 EVENTS=100000 tools/bench-watch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
watchers=${WATCHERS:-1000}
events=${EVENTS:-300000}
bin="$(bash tools/release-binary.sh)"
mkdir -p .build-bench-watch
table=$("$bin" bench-watch --watchers "$watchers" --events "$events" --directory .build-bench-watch)
echo "$table"
echo "$table" | python3 tools/benchmark-section.py bench-watch "Watches: what they cost writers (\`tools/bench-watch.sh\`)" \
  "Release build, in-process (no network): $events RECEIPT events per configuration in batches of 10, each acknowledged once durable; every watch drained by its own task, as a stream would. Narrow watches: each event matches one watch; watches of everything: each matches all of them (changes are coalesced at the hub, then routed on its own task)."
