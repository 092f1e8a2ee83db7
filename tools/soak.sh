#!/usr/bin/env bash
# Soak test: a real `omnistock serve` under steady mixed traffic from `omnistock load` for a
# bounded time, sampled every few seconds; passes when its resources stay flat and nothing fails.
#
#   tools/soak.sh [path/to/omnistock [extra omnistock load flags...]]
#
# The binary defaults to a release build (`tools/release-binary.sh`, scratch .build-release).
# The server runs on a free 127.0.0.1 port with a temporary data directory, `--metrics-port 0`
# and a checkpoint every SOAK_CHECKPOINT_SECONDS, so checkpoints (and the log segments they
# delete) happen during the soak. The load is open loop at fixed rates (steady, the same on any
# machine that keeps up): POS terminals on StreamEvents, storefronts (GetAvailability and
# BatchGetAvailability), shoppers (Reserve, then Commit or Release) and watchers
# (WatchAvailability), over a catalogue that is wholly stocked before traffic starts, so the
# index does not grow during the run. At the end the load tool reads every touched position back
# and compares it with its ledger (it exits non-zero on a mismatch), then the server is stopped
# with SIGTERM and must exit 0.
#
# What the server keeps by design, and why the traffic is shaped as it is:
#   - recent deltas (for late counts): up to 64 per position, for an hour of event time; with a
#     large catalogue they fill for up to an hour (2,000 positions x 64 x ~16 bytes here). So the
#     catalogue is small (SOAK_SKUS=200 x SOAK_LOCATIONS=10) and traffic uniform over it
#     (--zipf-exponent 0): at 2,000 events/s every position reaches its 64 within about a minute,
#     inside the warm-up.
#   - finished reservations: kept for a day (ReservationBook.retentionMs) so retried calls get
#     the same answer; each cart adds about 2-3 KB for that day. So carts run at a low rate
#     (SOAK_CARTS_PER_SECOND=4: about 2,400 carts, ~6 MiB, in 10 minutes; 0 turns shoppers off).
#
# Every SOAK_INTERVAL seconds the server's RSS (VmRSS), open file descriptors (/proc/PID/fd),
# threads (/proc/PID/status) and calls by status (its /metrics: omnistock_requests_total) are
# written to samples.csv in the output directory (SOAK_DIR, default a new temporary directory,
# kept and printed), then printed as a table.
#
# Verdict (samples taken while traffic flows, after a warm-up of SOAK_WARMUP seconds of traffic,
# default a sixth of the run, at least 10 s; they are split in thirds and the last third is
# compared with the first; samples of the setup, of the final check and after the load are shown
# but not judged):
#   - RSS: mean of the last third minus mean of the first third <= SOAK_RSS_MIB MiB (default 16)
#     or <= SOAK_RSS_PERCENT % of the first third's mean (default 10), whichever is larger;
#   - open fds and threads: the last third's maximum exceeds the first third's maximum by at most
#     SOAK_FD_SLACK (default 4) and SOAK_THREAD_SLACK (default 4);
#   - errors: zero calls with a non-OK status at the server, zero errors and zero unsent calls in
#     the load tool's report, and the load tool's ledger check passed;
#   - the server exited 0 on SIGTERM.
#
# Environment (whole seconds): SOAK_SECONDS (600), SOAK_INTERVAL (5), SOAK_WARMUP, SOAK_RSS_MIB,
# SOAK_RSS_PERCENT, SOAK_FD_SLACK, SOAK_THREAD_SLACK, SOAK_DIR, SOAK_CHECKPOINT_SECONDS (60), and
# the traffic:
# SOAK_EVENTS_PER_SECOND (2000), SOAK_READS_PER_SECOND (2000), SOAK_CARTS_PER_SECOND (4),
# SOAK_SKUS (200), SOAK_LOCATIONS (10).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-}"
shift || true
[ -n "$bin" ] || bin="$(bash tools/release-binary.sh)"
[ -x "$bin" ] || { echo "soak: no executable at $bin" >&2; exit 2; }

seconds="${SOAK_SECONDS:-600}"
interval="${SOAK_INTERVAL:-5}"
warmup="${SOAK_WARMUP:-$(( seconds / 6 > 10 ? seconds / 6 : 10 ))}"
out="${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/omnistock-soak.XXXXXX")}"
mkdir -p "$out"
data="$out/data"
rm -rf "$data"
csv="$out/samples.csv"

server=""
load=""
cleanup() {
  [ -n "$load" ] && kill -9 "$load" 2>/dev/null || true
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

echo "==> soak: $bin, ${seconds} s of traffic, a sample every ${interval} s; output in $out"
# --idle-timeout-seconds: the load tool sets the catalogue up on one connection and reads every
# position back on it at the end, idle in between; a server that closed it as idle (default 300 s)
# leaves that read-back hanging (the load tool does not notice a closed connection), so the idle
# timeout is set past the run.
"$bin" serve --host 127.0.0.1 --port 0 --metrics-port 0 --data-dir "$data" \
  --checkpoint-interval-seconds "${SOAK_CHECKPOINT_SECONDS:-60}" --idle-timeout-seconds $(( seconds + 600 )) \
  >"$out/serve.out" 2>"$out/serve.log" &
server=$!
port=""
metrics=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/^omnistock listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/serve.out" | head -1)
  metrics=$(sed -n 's/^omnistock metrics on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/serve.out" | head -1)
  [ -n "$port" ] && [ -n "$metrics" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$out/serve.log" >&2; echo "soak: the server exited before listening" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] && [ -n "$metrics" ] || { cat "$out/serve.log" >&2; echo "soak: the server did not start listening" >&2; exit 1; }

# Shoppers, unless SOAK_CARTS_PER_SECOND=0 (finished carts are kept for a day by design, see
# above).
carts=(--shoppers 2 --carts-per-second "${SOAK_CARTS_PER_SECOND:-4}")
[ "${SOAK_CARTS_PER_SECOND:-4}" != 0 ] || carts=(--shoppers 0)
# Bounded: setup and the final check take seconds; a load tool still running 5 minutes after its
# traffic ended is stuck (exit 124).
timeout --kill-after=10 $(( seconds + 300 )) "$bin" load --port "$port" --seconds "$seconds" \
  --terminals 2 --events-per-second "${SOAK_EVENTS_PER_SECOND:-2000}" --events-per-batch 20 \
  --storefronts 2 --reads-per-second "${SOAK_READS_PER_SECOND:-2000}" \
  "${carts[@]}" \
  --watchers 2 \
  --skus "${SOAK_SKUS:-200}" --stocked-skus "${SOAK_SKUS:-200}" --locations "${SOAK_LOCATIONS:-10}" \
  --zipf-exponent 0 --initial-stock 1000000 \
  --json "$out/load.json" "$@" >"$out/load.out" 2>"$out/load.log" &
load=$!

# One sample: seconds since start, the load's phase (setup: stocking the catalogue; traffic: from
# the load tool's first progress line "[1s]" on, for the run's seconds; check: reading every
# position back; after: the load tool has exited) and second of traffic, then the server's numbers.
traffic_start=""
sample() {
  local now phase second rss threads fds calls
  now=$(date +%s)
  if [ -z "$traffic_start" ] && grep -q '^\[[0-9]*s\]' "$out/load.log" 2>/dev/null; then
    # The latest progress line is "[Ns]": traffic started N seconds ago.
    traffic_start=$(( now - $(grep -o '^\[[0-9]*s\]' "$out/load.log" | tail -1 | tr -d '[]s') ))
  fi
  second=0
  [ -z "$traffic_start" ] || second=$(( now - traffic_start ))
  if [ "${1:-}" = after ]; then phase=after
  elif [ -z "$traffic_start" ]; then phase=setup
  elif [ "$second" -ge "${seconds%.*}" ]; then phase=check
  else phase=traffic
  fi
  now=$(( now - start ))
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status" 2>/dev/null || true)
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$server/status" 2>/dev/null || true)
  fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l || true)
  # Calls ended at the server: all, and those with a status other than OK.
  calls=$(curl -fsS --max-time 5 "http://127.0.0.1:$metrics/metrics" 2>/dev/null |
    awk '/^omnistock_requests_total\{/ { total += $NF; if ($0 !~ /code="OK"/) bad += $NF }
         END { printf "%d,%d", total, bad }' || true)
  [ -n "$calls" ] || calls=","
  echo "$now,$phase,${second:-0},$rss,$fds,$threads,$calls" >>"$csv"
}

echo "seconds,phase,traffic_second,rss_kib,fds,threads,calls,error_calls" >"$csv"
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  sample
  # Sleep in small steps so the last sample is close to the end of the load.
  for _ in $(seq 1 $(( interval * 5 ))); do
    kill -0 "$load" 2>/dev/null || break
    sleep 0.2
  done
done
load_rc=0
wait "$load" || load_rc=$?
load=""
sample after

kill -TERM "$server"
server_rc=0
wait "$server" || server_rc=$?
server=""

cat "$out/load.out"
echo
verdict=0
python3 - "$csv" "$out/load.json" "$warmup" "$load_rc" "$server_rc" <<'PY' || verdict=$?
import csv, json, os, sys

csv_path, json_path, warmup, load_rc, server_rc = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rss_mib_limit = float(os.environ.get("SOAK_RSS_MIB", "16"))
rss_percent_limit = float(os.environ.get("SOAK_RSS_PERCENT", "10"))
fd_slack = int(os.environ.get("SOAK_FD_SLACK", "4"))
thread_slack = int(os.environ.get("SOAK_THREAD_SLACK", "4"))

rows = []
with open(csv_path) as f:
    for row in csv.DictReader(f):
        if not row["rss_kib"]:
            continue
        rows.append({
            "t": int(row["seconds"]), "phase": row["phase"], "second": int(row["traffic_second"] or 0), "rss": int(row["rss_kib"]) / 1024, "fds": int(row["fds"]),
            "threads": int(row["threads"]), "calls": int(row["calls"] or 0), "errors": int(row["error_calls"] or 0),
        })

def judged(r):
    return r["phase"] == "traffic" and r["second"] >= warmup

print("| s | phase | traffic s | RSS MiB | fds | threads | calls (server) | non-OK calls |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
step = max(1, len(rows) // 40)
for i, r in enumerate(rows):
    if i % step == 0 or i == len(rows) - 1 or r["phase"] != "traffic":
        phase = r["phase"] + ("" if judged(r) or r["phase"] != "traffic" else " (warm-up)")
        print(f"| {r['t']} | {phase} | {r['second']} | {r['rss']:.1f} | {r['fds']} | {r['threads']} | {r['calls']} | {r['errors']} |")
print()

failures = []
steady = [r for r in rows if judged(r)]
if len(steady) < 6:
    failures.append(f"only {len(steady)} samples after the {warmup:.0f} s warm-up (need 6): run longer or sample more often")
else:
    third = len(steady) // 3
    first, last = steady[:third], steady[-third:]
    mean = lambda xs: sum(xs) / len(xs)
    rss_first, rss_last = mean([r["rss"] for r in first]), mean([r["rss"] for r in last])
    growth = rss_last - rss_first
    allowed = max(rss_mib_limit, rss_first * rss_percent_limit / 100)
    ts = [r["second"] for r in steady]
    tm, rm = mean(ts), mean([r["rss"] for r in steady])
    var = sum((t - tm) ** 2 for t in ts)
    slope = sum((t - tm) * (r["rss"] - rm) for t, r in zip(ts, steady)) / var * 60 if var else 0.0
    print(f"RSS: first third {rss_first:.1f} MiB, last third {rss_last:.1f} MiB: {growth:+.1f} MiB "
          f"({100 * growth / rss_first:+.1f}%; allowed +{allowed:.1f} MiB); trend {slope:+.2f} MiB/min")
    if growth > allowed:
        failures.append(f"RSS grew by {growth:.1f} MiB (allowed {allowed:.1f} MiB)")
    for key, slack, name in (("fds", fd_slack, "open fds"), ("threads", thread_slack, "threads")):
        a, b = max(r[key] for r in first), max(r[key] for r in last)
        print(f"{name}: first third max {a}, last third max {b} (allowed +{slack})")
        if b - a > slack:
            failures.append(f"{name} grew from {a} to {b} (allowed +{slack})")

server_errors = rows[-1]["errors"] if rows else 0
print(f"server: {rows[-1]['calls'] if rows else 0} calls ended, {server_errors} with a non-OK status")
if server_errors:
    failures.append(f"{server_errors} calls ended with a non-OK status at the server (see its /metrics)")
try:
    with open(json_path) as f:
        report = json.load(f)
    load_errors = sum(sum(op["errors"].values()) for op in report["operations"])
    calls = sum(op["calls"] for op in report["operations"])
    print(f"load: {calls} calls, {load_errors} errors, {report['unsentCalls']} unsent, "
          f"{report['eventsAcknowledged']} events acknowledged, {report['checkedPositions']} positions checked, "
          f"{len(report['mismatches'])} mismatches")
    if load_errors:
        failures.append(f"the load tool saw {load_errors} errors")
    if report["unsentCalls"]:
        failures.append(f"{report['unsentCalls']} calls were due but not sent (the server fell behind)")
    if report["mismatches"]:
        failures.append(f"{len(report['mismatches'])} positions differ from the load tool's ledger")
except (OSError, ValueError, KeyError) as error:
    failures.append(f"no load report ({error})")
if load_rc == 124 or load_rc == 137:
    failures.append("omnistock load did not finish within 5 minutes of the end of its traffic (stopped)")
elif load_rc:
    failures.append(f"omnistock load exited {load_rc}")
if server_rc:
    failures.append(f"the server exited {server_rc} on SIGTERM")

if failures:
    print("soak: FAILED")
    for failure in failures:
        print(f"  - {failure}")
    sys.exit(1)
print("soak: passed")
PY
echo "samples: $csv"
exit "$verdict"
