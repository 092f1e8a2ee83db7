#!/usr/bin/env bash
# The write-ahead log benchmark: durable appends/s and records per fsync at 1, 16 and 64
# concurrent writers, next to the disk's own pwrite+fdatasync rate measured in the same run, and
# recovery speed. One command, bounded (~20 s after the build); prints the table and writes it
# into BENCHMARKS.md between the bench-log markers.
#   tools/bench-log.sh                 # measures in ./.build-bench-log (the project's disk)
#   SECONDS_PER=5 tools/bench-log.sh   # longer measurements
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(bash tools/release-binary.sh)"
mkdir -p .build-bench-log
table=$("$bin" bench-log --seconds "${SECONDS_PER:-3}" --directory .build-bench-log)
echo "$table"
echo "$table" | python3 tools/benchmark-section.py bench-log "Write-ahead log (\`tools/bench-log.sh\`)" \
  "Release build; files on the project's disk. Every log append waits until its record is on disk (\`fdatasync\` returned); the raw loop is the disk's floor for any durable write, measured in the same run."
