#!/usr/bin/env bash
# The reservation benchmark: reservations/s and p50/p99 latency (decided, logged, applied,
# durable) for single-line, 5-line cart and group-line reservations from 16 concurrent callers,
# while POS sales arrive at 10,000 events/s. One command, ~1 minute after the build; prints the
# table and writes it into BENCHMARKS.md between the bench-reserve markers.
#   tools/bench-reserve.sh
#   CLIENTS=64 RESERVATIONS=1000 INGEST_RATE=20000 tools/bench-reserve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${CLIENTS:-16}
reservations=${RESERVATIONS:-2000}
rate=${INGEST_RATE:-10000}
bin="$(bash tools/release-binary.sh)"
mkdir -p .build-bench-reserve
table=$("$bin" bench-reserve --clients "$clients" --reservations "$reservations" --ingest-rate "$rate" --directory .build-bench-reserve)
echo "$table"
echo "$table" | python3 tools/benchmark-section.py bench-reserve "Reservations under POS ingest (\`tools/bench-reserve.sh\`)" \
  "Release build, in-process (no network): $clients callers each making $reservations reservations per workload, each answered once durable, while POS sales arrive at $rate events/s (target; the column shows what was applied)."
