#!/usr/bin/env bash
# Long local crash test of the write-ahead log (issue 4): builds the debug server, then runs
# Tests/crash/crash_test.py for CYCLES kill -9 / restart / verify cycles (default 100: about
# 25 minutes on a 2-core machine with the debug build, 60 cycles took 10 minutes; it grows
# faster than linearly because every restart replays the whole log and re-reads every event
# written so far). Needs Python grpcio + grpcio-tools
# (Tests/python/requirements.txt). Extra arguments go to crash_test.py, e.g.
#   CYCLES=300 tools/crash-test.sh
#   tools/crash-test.sh --seed 123456 --keep-data    # replay a failing seed printed by a run
# CI runs a short version (20 cycles) from tools/test.sh.
set -euo pipefail; cd "$(dirname "$0")/.."; swift build --product omnistock && exec python3 Tests/crash/crash_test.py --cycles "${CYCLES:-100}" --binary "$(swift build --show-bin-path)/omnistock" "$@"
