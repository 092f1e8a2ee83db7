#!/usr/bin/env bash
# The write-ahead log benchmark: durable appends/s and records per fsync at 1, 16 and 64
# concurrent writers, next to the disk's own pwrite+fdatasync rate measured in the same run, and
# recovery speed. One command, bounded (~20 s after the build); prints the table and writes it
# into BENCHMARKS.md between the bench-log markers.
#   tools/bench-log.sh                 # measures in ./.build-bench-log (the project's disk)
#   SECONDS_PER=5 tools/bench-log.sh   # longer measurements
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product omnistock --scratch-path .build-release >/dev/null
bin="$(swift build -c release --scratch-path .build-release --show-bin-path)/omnistock"
mkdir -p .build-bench-log
table=$("$bin" bench-log --seconds "${SECONDS_PER:-3}" --directory .build-bench-log)
echo "$table"
python3 - "$table" <<'PY'
import sys, datetime, os, platform, subprocess
table = sys.argv[1]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
section = f"""<!-- bench-log:begin -->
## Write-ahead log (`tools/bench-log.sh`)

Recorded {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC with `tools/bench-log.sh` (release build; {os.cpu_count()} cores, {cpu}; files on the project's disk). Every log append waits until its record is on disk (`fdatasync` returned); the raw loop is the disk's floor for any durable write, measured in the same run.

{table}
<!-- bench-log:end -->"""
path = "BENCHMARKS.md"
text = open(path).read() if os.path.exists(path) else "# OmniStock benchmarks\n"
begin, end = "<!-- bench-log:begin -->", "<!-- bench-log:end -->"
if begin in text and end in text:
    text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
