#!/usr/bin/env bash
# The restart benchmark: builds 10M positions through the engine, checkpoints, restarts (restore),
# appends 10M one-event log records after the checkpoint, restarts again (restore + replay), and
# checks each restart gives back exactly the state before it. One command, ~4 minutes after the
# build; prints the table and writes it into BENCHMARKS.md between the bench-restart markers.
#   tools/bench-restart.sh                                  # 10M positions, 10M records
#   POSITIONS=1000000 RECORDS=1000000 tools/bench-restart.sh # smaller
set -euo pipefail
cd "$(dirname "$0")/.."
positions=${POSITIONS:-10000000}
records=${RECORDS:-10000000}
bin="$(bash tools/release-binary.sh)"
mkdir -p .build-bench-restart
table=$("$bin" bench-restart --positions "$positions" --records "$records" --directory .build-bench-restart)
echo "$table"
echo "$table" | python3 tools/benchmark-section.py bench-restart "Restart: checkpoint restore and log replay (\`tools/bench-restart.sh\`)" \
  "Release build; data on the project's disk; $positions positions over 100 locations, $records one-event records after the checkpoint (the worst case: real POS batches carry many events per record). Each restart is checked to give back exactly the state before it."
