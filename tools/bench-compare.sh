#!/usr/bin/env bash
# Side-by-side benchmark (issue 7, parts 2 and 3): OmniStock next to what a user would pick
# instead, on the same machine, in the same run, with the same key space and concurrency. One
# command, ~10 minutes once built (a time budget skips what no longer fits; a watchdog stops the
# script outright if it overruns):
#
#   bash tools/bench-compare.sh
#
# It prints one Markdown table (min/median/max over RUNS runs, ratio ours/other per row, other_cpu
# per run, the targets of issue 7 part 3 met / not met) and writes it into BENCHMARKS.md between
# <!-- bench-compare:begin --> and <!-- bench-compare:end --> (the rest of the file is kept).
#
# What runs (every server on 127.0.0.1, on a port free at run time, in a temp dir, stopped by PID;
# all of it is cleaned up on exit, INT or TERM):
#  * Servers: `omnistock serve --threads $THREADS` (a fresh data dir every run); `grpc-swift-baseline`
#    (tools/Benchmarks: grpc-swift-2 with a trivial handler); nghttpd (1 worker, a 70-byte static
#    file: the HTTP/2 ceiling, as shared/anchors/h2_bench.sh); Redis 7 with `appendonly yes,
#    appendfsync always`, RDB and AOF rewrite off (shared/anchors/redis_bench.sh); PostgreSQL
#    (initdb into a temp dir as user postgres, default config: fsync on, synchronous_commit on;
#    shared/anchors/pg_bench.sh).
#  * Key space: the positions `omnistock load` uses, SKUS x LOCATIONS (1,000 x 20 = 20,000).
#    Redis holds 20,000 hashes stock:<n> {onhand, reserved}, PostgreSQL 20,000 rows
#    stock(sku, location, on_hand, reserved) with primary key (sku, location); redis-benchmark
#    (-r), pgbench (random()) and `omnistock load` (--zipf-exponent $ZIPF: 0 = uniform) draw keys
#    uniformly from them. For lookups `omnistock load` first stocks every position
#    (--stocked-skus SKUS), so every read finds one; each `omnistock load` also reads back every
#    position it touched to check it against its ledger. That setup and check cost time outside
#    the measurement (~1-2 s for 20,000 positions here, ~10x that for 200,000), which is why the
#    key space is not larger within the 10-minute budget (SKUS=10000 runs 200,000 if you have the
#    time). h2load sends one fixed request (it cannot vary the body): a GetAvailability of SKU-1
#    at store-1, a position the script creates with one receipt first.
#  * Lookups, CONC (16) connections: one request in flight per connection (h2load -m 1,
#    redis-benchmark -P 1, pgbench -c 16, `omnistock load --reads-in-flight 1`), then DEPTH (16)
#    in flight per connection (h2load -m 16, redis-benchmark -P 16, --reads-in-flight 16,
#    PostgreSQL 16 SELECTs per pipeline with pgbench \startpipeline). OmniStock GetAvailability
#    via h2load and via `omnistock load --terminals 0 --batch-read-every 0`; grpc-swift-2 and
#    nghttpd via h2load; Redis HGET; PostgreSQL primary-key SELECT (pgbench -M prepared -j 2).
#  * Durable writes, W in WRITERS (1 16 50) concurrent writers, each acknowledged only once
#    durable (fsync): OmniStock one event per ApplyEvents call (`--unary-events
#    --events-per-batch 1 --batches-in-flight 1`) and batched streams (`--events-per-batch 20
#    --batches-in-flight 4`, events/s); Redis HINCRBY (-c W, -P 1); PostgreSQL UPDATE (-c W).
#  * Mixed: the peak lookup rate is the run's closed-loop `omnistock load` at DEPTH in flight;
#    then open-loop lookups at MIXED_FRACTION (50%) of it (`--reads-per-second`), once alone and
#    once with POS ingest at INGEST_EPS events/s (`--terminals $INGEST_TERMINALS
#    --events-per-second`): the lookup p99 of both. A server without the open-loop flags gets a
#    closed-loop stand-in (reported, target not evaluated). The same rate again from h2load --rps
#    (a C client, 1 request in flight per connection): ours alone, ours under the same ingest, and
#    nghttpd's static file, which shows the p99 this machine itself allows at that rate.
#  * Within a run each group's systems take turns in an order that rotates every run, so all see
#    the same noise; ratios are computed per run as well as of the medians.
#  * Every measurement records other_cpu (tools/bench-common.sh): how busy the rest of the
#    machine was. `omnistock load` exiting non-zero (the server's stock differs from its ledger)
#    or any failed request marks that run FAILED in the table, and the script exits 1.
#
# Environment (defaults in brackets):
#   RUNS [3]  SECS [3] seconds per measurement (h2load adds 1 s of warm-up). Each measurement
#             costs ~SECS+3 s (setup, the load tool's stocking and ledger check, noise marks);
#             RUNS=3 SECS=3 is ~8 minutes here, SECS=5 no longer fits BUDGET=600
#   CONC [16]  DEPTH [16]  WRITERS ["1 16 50"]  SKUS [1000]  LOCATIONS [20]  ZIPF [0]
#   THREADS [2]  our server's --threads (as tools/bench-grpc.sh)
#   MIXED_FRACTION [0.5]  INGEST_EPS [5000]  INGEST_TERMINALS [4]
#   BUDGET [600]  seconds for everything after the build; a measurement that would end past it
#                 is skipped (shown as missing); the watchdog stops the script at BUDGET+90 s
#   QUIET_PCT [15]  QUIET_WAIT_MAX [30]  noise control (tools/bench-common.sh)
#   SKIP_BUILD [0]  1 = use binaries already built;  OMNISTOCK_BIN  path of `omnistock` (no build);
#   BENCH_BIN_DIR  directory of the tools/Benchmarks binaries (no build of that package)
#   NO_WRITE [0]  1 = do not touch BENCHMARKS.md;  BENCH_OUT  raw output directory
#   [${TMPDIR:-/tmp}/omnistock-bench/compare.<stamp>];  KEEP_LOGS [0]  1 = keep per-request logs
set -euo pipefail

RUNS=${RUNS:-3}
SECS=${SECS:-3}
CONC=${CONC:-16}
DEPTH=${DEPTH:-16}
WRITERS=${WRITERS:-"1 16 50"}
SKUS=${SKUS:-1000}
LOCATIONS=${LOCATIONS:-20}
ZIPF=${ZIPF:-0}
THREADS=${THREADS:-2}
MIXED_FRACTION=${MIXED_FRACTION:-0.5}
INGEST_EPS=${INGEST_EPS:-5000}
INGEST_TERMINALS=${INGEST_TERMINALS:-4}
BUDGET=${BUDGET:-600}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT_MAX=${QUIET_WAIT_MAX:-30}
SKIP_BUILD=${SKIP_BUILD:-0}
NO_WRITE=${NO_WRITE:-0}
KEEP_LOGS=${KEEP_LOGS:-0}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HELPER=(python3 "$ROOT/tools/bench-compare.py")
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="${BENCH_OUT:-${TMPDIR:-/tmp}/omnistock-bench/compare.$STAMP}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
SCRIPT_STARTED=$(date +%s)

# The command line shown in BENCHMARKS.md: the script plus every setting that is not its default.
COMMAND="bash tools/bench-compare.sh"
for kv in "RUNS|3" "SECS|3" "CONC|16" "DEPTH|16" "WRITERS|1 16 50" "SKUS|1000" "LOCATIONS|20" "ZIPF|0" \
  "THREADS|2" "MIXED_FRACTION|0.5" "INGEST_EPS|5000" "INGEST_TERMINALS|4" "BUDGET|600"; do
  v=${kv%%|*}; def=${kv#*|}
  if [ "${!v}" != "$def" ]; then
    case "${!v}" in *' '*) COMMAND="$v='${!v}' $COMMAND" ;; *) COMMAND="$v=${!v} $COMMAND" ;; esac
  fi
done
# Prebuilt binaries given by the caller are part of how the figures were made.
for v in BENCH_BIN_DIR OMNISTOCK_BIN; do [ -z "${!v:-}" ] || COMMAND="$v=${!v} $COMMAND"; done

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- 1. tools ------------------------------------------------------------------------------------
pkgs=()
command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || pkgs+=(redis-tools)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs+=(postgresql)
command -v nghttpd >/dev/null 2>&1 || pkgs+=(nghttp2-server)
{ command -v h2load && command -v nghttp; } >/dev/null 2>&1 || pkgs+=(nghttp2-client)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
# For the builds: libnghttp2 (the server), protobuf-c (codec-bench in tools/Benchmarks links it).
command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
pkg-config --exists libnghttp2 2>/dev/null || pkgs+=(libnghttp2-dev)
[ -f /usr/include/protobuf-c/protobuf-c.h ] || pkgs+=(libprotobuf-c-dev)
if [ "${#pkgs[@]}" -gt 0 ]; then
  log "installing ${pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q "${pkgs[@]}" >"$OUT/apt.log" 2>&1 ||
    { $SUDO apt-get update -q >>"$OUT/apt.log" 2>&1 && $SUDO apt-get install -y -q "${pkgs[@]}" >>"$OUT/apt.log" 2>&1; } ||
    { tail -20 "$OUT/apt.log" >&2; die "could not install ${pkgs[*]}"; }
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# --- 2. build ------------------------------------------------------------------------------------
# As tools/bench-grpc.sh: release `omnistock` (scratch .build-release, via tools/release-binary.sh)
# and the benchmark package (scratch .build-bench); OMNISTOCK_BIN / BENCH_BIN_DIR skip either.
[ -f tools/Benchmarks/Package.resolved ] || { [ -f Package.resolved ] && cp Package.resolved tools/Benchmarks/Package.resolved; }
if [ -z "${OMNISTOCK_BIN:-}" ]; then
  if [ "$SKIP_BUILD" = 1 ]; then
    OMNISTOCK_BIN="$(swift build -c release --scratch-path .build-release --show-bin-path)/omnistock"
  else
    log "building omnistock (release, .build-release)"
    OMNISTOCK_BIN=$(bash tools/release-binary.sh 2>"$OUT/build-omnistock.log") ||
      { tail -40 "$OUT/build-omnistock.log" >&2; die "release build of omnistock failed"; }
  fi
fi
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  if [ "$SKIP_BUILD" != 1 ]; then
    log "building tools/Benchmarks (release, .build-bench)"
    swift build -c release --package-path tools/Benchmarks --scratch-path .build-bench >"$OUT/build-bench.log" 2>&1 ||
      { tail -40 "$OUT/build-bench.log" >&2; die "release build of tools/Benchmarks failed (log: $OUT/build-bench.log)"; }
  fi
  BENCH_BIN_DIR="$(swift build -c release --package-path tools/Benchmarks --scratch-path .build-bench --show-bin-path)"
fi
BASELINE_BIN="$BENCH_BIN_DIR/grpc-swift-baseline"
CODEC_BIN="$BENCH_BIN_DIR/codec-bench"
for b in "$OMNISTOCK_BIN" "$BASELINE_BIN" "$CODEC_BIN"; do [ -x "$b" ] || die "$b is missing (build first, or drop SKIP_BUILD)"; done
# The commit the measured binary comes from (its own checkout when OMNISTOCK_BIN points elsewhere).
REPO_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
BIN_COMMIT=$(git -C "$(dirname "$OMNISTOCK_BIN")" rev-parse --short HEAD 2>/dev/null || echo "$REPO_COMMIT")

# Does this `omnistock load` have the open-loop flags? (Otherwise the mixed test runs closed-loop.)
OPEN_LOOP=0
LOAD_HELP=$("$OMNISTOCK_BIN" load --help 2>&1 || true)
case "$LOAD_HELP" in *--reads-per-second*--events-per-second* | *--events-per-second*--reads-per-second*) OPEN_LOOP=1 ;; esac
# Does `omnistock serve` have --metrics-port (its own per-method latency histograms)?
SERVER_METRICS=0
case "$("$OMNISTOCK_BIN" serve --help 2>&1 || true)" in *--metrics-port*) SERVER_METRICS=1 ;; esac

# --- time budget and watchdog --------------------------------------------------------------------
# Everything from here on has BUDGET seconds. `fits N` says whether a step of ~N s still ends
# within the budget (keeping 20 s for the table); steps that do not fit are skipped. The watchdog
# is the hard stop: it sends SIGTERM to this script at BUDGET+90 s (the trap then stops servers and
# clients and removes the temp dirs).
BENCH_STARTED=$(date +%s)
DEADLINE=$((BENCH_STARTED + BUDGET - 20))
SKIPPED=0
fits() { [ $(($(date +%s) + $1)) -le "$DEADLINE" ]; }

# --- noise control -------------------------------------------------------------------------------
QUIET_WAITED=0
EXTRA_ROOTS=""  # the postmaster (pg_ctl daemonizes it), once started
# shellcheck source=tools/bench-common.sh
. "$ROOT/tools/bench-common.sh"

# --- process bookkeeping and cleanup -------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/omnistock-bench-compare.XXXXXX")
chmod 755 "$WORK"
OURS_PID="" OURS_PORT="" OURS_DATA="" OURS_METRICS_PORT=""
BASELINE_PID="" BASELINE_PORT=""
NGHTTPD_PID="" NGHTTPD_PORT=""
REDIS_PID="" REDIS_PORT=""
PG_PID="" PG_PORT=""
CLIENT_PID=""
WATCHDOG_PID=""

stop_pid() {  # stop_pid PID [SIGNAL]: signal, wait up to 10 s, then SIGKILL
  local pid="$1" sig="${2:-TERM}"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "process $pid did not stop within 10 s of SIG$sig; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
stop_ours() { stop_pid "$OURS_PID"; OURS_PID=""; OURS_PORT=""; OURS_METRICS_PORT=""; [ -z "$OURS_DATA" ] || rm -rf -- "$OURS_DATA"; OURS_DATA=""; }
stop_pg() {
  # SIGINT = fast shutdown; the postmaster stops its backends. SIGQUIT if it does not.
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    kill -INT "$PG_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PG_PID" 2>/dev/null; then kill -QUIT "$PG_PID" 2>/dev/null || true; fi
  fi
  PG_PID=""
}
cleanup() {
  trap - EXIT INT TERM
  [ -z "$CLIENT_PID" ] || stop_pid "$CLIENT_PID"
  stop_ours
  stop_pid "$BASELINE_PID"
  stop_pid "$NGHTTPD_PID"
  stop_pid "$REDIS_PID"
  stop_pg
  [ -z "${WATCHDOG_PID:-}" ] || { kill "$WATCHDOG_PID" 2>/dev/null || true; wait "$WATCHDOG_PID" 2>/dev/null || true; }
  rm -rf -- "$WORK"
  return 0
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
# The watchdog (started once the trap is in place; cleanup stops it).
python3 -c 'import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the script, which stops this
time.sleep(float(sys.argv[1]))
print("==> bench-compare: hard stop (watchdog): over the time budget", file=sys.stderr)
os.kill(int(sys.argv[2]), signal.SIGTERM)' "$((BUDGET + 90))" "$$" &
WATCHDOG_PID=$!

# run_client TIMEOUT CMD...: runs a load generator in the background and waits for it, so that
# INT/TERM (or the watchdog) interrupt the wait at once and the trap stops it. Returns its status.
run_client() {
  local limit="$1"; shift
  timeout --kill-after=5 "$limit" "$@" &
  CLIENT_PID=$!
  local rc=0
  wait "$CLIENT_PID" || rc=$?
  CLIENT_PID=""
  return "$rc"
}

free_port() { "${HELPER[@]}" free-port; }
wait_port() {  # wait_port PORT PID: until something accepts on 127.0.0.1:PORT (10 s)
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# --- request bodies ------------------------------------------------------------------------------
BODY="$OUT/get-availability.grpc"           # GetAvailabilityRequest{SKU-1 at store-1}, gRPC-framed
UPSERT_BODY="$OUT/upsert-location.grpc"     # Admin/UpsertLocation of store-1 (an active STORE)
EVENT_BODY="$OUT/apply-events.grpc"         # EventBatch: one RECEIPT of 100 x SKU-1 at store-1
"$CODEC_BIN" --write-request "$BODY" --write-upsert-location "$UPSERT_BODY" --sku SKU-1 --location-id store-1 >"$OUT/codec-bench.log" 2>&1 ||
  { cat "$OUT/codec-bench.log" >&2; die "codec-bench --write-request failed"; }
"${HELPER[@]}" event-body "$EVENT_BODY" SKU-1 store-1 100

# grpc_call PORT PATH BODY OUTFILE: one unary call with nghttp; prints its grpc-status.
grpc_call() {
  timeout 10 nghttp -v -H 'content-type: application/grpc' -H 'te: trailers' -d "$3" \
    "http://127.0.0.1:$1$2" >"$4" 2>&1 || true
  if grep -aq ':status: 200' "$4"; then grep -a -m1 -o 'grpc-status: [0-9]*' "$4" | awk '{print $2}'; fi
}

# --- servers -------------------------------------------------------------------------------------
# wait_listening FILE PID: the port of a server that prints "listening on 127.0.0.1:PORT".
wait_listening() {
  local line=""
  for _ in $(seq 1 300); do
    line=$(grep -m1 -oE 'listening on 127\.0\.0\.1:[0-9]+' "$1" 2>/dev/null || true)
    [ -n "$line" ] && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$line" ] && echo "${line##*:}"
}

# start_ours TAG: a fresh `omnistock serve` with its own data dir; declares store-1, stocks SKU-1
# there with one receipt, and checks that a GetAvailability answers grpc-status 0.
# With a second argument "metrics" (and a server that has --metrics-port) it also serves its
# Prometheus metrics on OURS_METRICS_PORT: the mixed test reads the server's own latency histogram.
start_ours() {
  local tag="$1" status metrics=()
  OURS_DATA=$(mktemp -d "$WORK/omnistock-data.XXXXXX")
  OURS_METRICS_PORT=""
  if [ "${2:-}" = metrics ] && [ "$SERVER_METRICS" = 1 ]; then
    OURS_METRICS_PORT=$(free_port)
    metrics=(--metrics-port "$OURS_METRICS_PORT")
  fi
  "$OMNISTOCK_BIN" serve --host 127.0.0.1 --port 0 --data-dir "$OURS_DATA" --threads "$THREADS" "${metrics[@]}" \
    >"$OUT/ours-$tag.out" 2>"$OUT/ours-$tag.err" &
  OURS_PID=$!
  OURS_PORT=$(wait_listening "$OUT/ours-$tag.out" "$OURS_PID") ||
    { tail -30 "$OUT/ours-$tag.err" >&2; die "omnistock serve did not start"; }
  status=$(grpc_call "$OURS_PORT" /omnistock.v1.Admin/UpsertLocation "$UPSERT_BODY" "$OUT/ours-$tag-upsert.txt")
  [ "$status" = 0 ] || { cat "$OUT/ours-$tag-upsert.txt" >&2; die "Admin/UpsertLocation failed (grpc-status '${status:-none}')"; }
  status=$(grpc_call "$OURS_PORT" /omnistock.v1.Ingest/ApplyEvents "$EVENT_BODY" "$OUT/ours-$tag-event.txt")
  [ "$status" = 0 ] || { cat "$OUT/ours-$tag-event.txt" >&2; die "Ingest/ApplyEvents of the preload event failed (grpc-status '${status:-none}')"; }
  status=$(grpc_call "$OURS_PORT" /omnistock.v1.Availability/GetAvailability "$BODY" "$OUT/ours-$tag-check.txt")
  [ "$status" = 0 ] || { cat "$OUT/ours-$tag-check.txt" >&2; die "our server failed the check call (grpc-status '${status:-none}')"; }
}

start_baseline() {
  local status
  "$BASELINE_BIN" --port 0 >"$OUT/baseline.out" 2>"$OUT/baseline.err" &
  BASELINE_PID=$!
  BASELINE_PORT=$(wait_listening "$OUT/baseline.out" "$BASELINE_PID") ||
    { tail -30 "$OUT/baseline.err" >&2; die "grpc-swift-baseline did not start"; }
  status=$(grpc_call "$BASELINE_PORT" /omnistock.v1.Availability/GetAvailability "$BODY" "$OUT/baseline-check.txt")
  [ "$status" = 0 ] || { cat "$OUT/baseline-check.txt" >&2; die "grpc-swift-baseline failed the check call"; }
}

# nghttpd: cleartext h2c, 1 worker, the anchor's 70-byte JSON document (shared/anchors/h2_bench.sh).
start_nghttpd() {
  mkdir -p "$WORK/htdocs"
  printf '{"sku":123456,"location":7,"on_hand":42,"reserved":3,"available":39}' >"$WORK/htdocs/stock"
  NGHTTPD_PORT=$(free_port)
  nghttpd --no-tls --address=127.0.0.1 -n 1 -d "$WORK/htdocs" "$NGHTTPD_PORT" >"$OUT/nghttpd.log" 2>&1 &
  NGHTTPD_PID=$!
  wait_port "$NGHTTPD_PORT" "$NGHTTPD_PID" || die "nghttpd did not start (log: $OUT/nghttpd.log)"
  timeout 10 nghttp "http://127.0.0.1:$NGHTTPD_PORT/stock" >"$OUT/nghttpd-check.txt" 2>&1 || die "nghttpd failed the check request"
}

# Redis: durable config of shared/anchors/redis_bench.sh; preloads the key space as hashes
# stock:<12-digit n> {onhand 100, reserved 0} (redis-benchmark's __rand_int__ is 12 digits).
start_redis() {
  local dir="$WORK/redis" keys=$((SKUS * LOCATIONS))
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --daemonize no \
    --appendonly yes --appendfsync always --save "" --auto-aof-rewrite-percentage 0 \
    --logfile "$dir/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || die "redis-server did not start"
  python3 - "$keys" <<'PYEOF' | redis-cli -p "$REDIS_PORT" --pipe >"$OUT/redis-preload.txt"
import sys
n = int(sys.argv[1])
w = sys.stdout.buffer.write
def cmd(*a):
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
buf = []
for i in range(n):
    buf.append(cmd(b"HSET", b"stock:%012d" % i, b"onhand", b"100", b"reserved", b"0"))
    if len(buf) >= 30000:
        w(b"".join(buf)); buf = []
w(b"".join(buf))
PYEOF
  [ "$(redis-cli -p "$REDIS_PORT" dbsize)" = "$keys" ] || die "Redis preload: dbsize is not $keys"
}

# PostgreSQL: initdb into a temp dir as user postgres (trust auth, 127.0.0.1 only), default
# durability; the table of shared/anchors/pg_bench.sh over this key space.
start_pg() {
  local dir="$WORK/pg"
  mkdir -p "$dir"
  chown postgres: "$dir"
  PG_PORT=$(free_port)
  runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" --auth=trust -E UTF8 --no-locale -U postgres >"$OUT/pg-initdb.txt" 2>&1 ||
    { cat "$OUT/pg-initdb.txt" >&2; die "initdb failed"; }
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1" start >/dev/null ||
    { cat "$dir/server.log" >&2; die "PostgreSQL did not start"; }
  PG_PID=$(head -1 "$dir/data/postmaster.pid")
  EXTRA_ROOTS="$PG_PID"   # the postmaster and its backends count as ours in other_cpu
  PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
  "${PSQL[@]}" >"$OUT/pg-preload.txt" 2>&1 <<EOF || { cat "$OUT/pg-preload.txt" >&2; die "PostgreSQL preload failed"; }
CREATE TABLE stock(sku bigint, location int, on_hand int, reserved int, PRIMARY KEY (sku, location));
INSERT INTO stock SELECT s, l, 1000000, 0 FROM generate_series(1, $SKUS) s, generate_series(1, $LOCATIONS) l;
VACUUM ANALYZE stock;
CHECKPOINT;
EOF
  "${PSQL[@]}" -At -c "select name||'='||setting from pg_settings where name in
    ('synchronous_commit','fsync','wal_sync_method','shared_buffers','max_wal_size','commit_delay')" >"$OUT/pg-settings.txt"
  cat >"$WORK/pg-select.sql" <<EOF
\set s random(1, $SKUS)
\set l random(1, $LOCATIONS)
SELECT on_hand - reserved FROM stock WHERE sku = :s AND location = :l;
EOF
  cat >"$WORK/pg-update.sql" <<EOF
\set s random(1, $SKUS)
\set l random(1, $LOCATIONS)
UPDATE stock SET on_hand = on_hand - 1 WHERE sku = :s AND location = :l;
EOF
  # The multiplexed lookups' PostgreSQL counterpart: DEPTH SELECTs per round trip in pipeline mode
  # (pgbench \startpipeline, PostgreSQL 14+); one transaction = DEPTH queries.
  {
    for i in $(seq 1 "$DEPTH"); do printf '\\set s%d random(1, %d)\n\\set l%d random(1, %d)\n' "$i" "$SKUS" "$i" "$LOCATIONS"; done
    echo '\startpipeline'
    for i in $(seq 1 "$DEPTH"); do echo "SELECT on_hand - reserved FROM stock WHERE sku = :s$i AND location = :l$i;"; done
    echo '\endpipeline'
  } >"$WORK/pg-select-pipeline.sql"
  cp "$WORK/pg-select.sql" "$WORK/pg-update.sql" "$WORK/pg-select-pipeline.sql" "$OUT/"
}

# --- measurements --------------------------------------------------------------------------------
# Each appends one JSON line to $RESULTS via `bench-compare.py record` with: group config system
# run unit other_cpu. CURRENT_RUN is the run number.
CURRENT_RUN=0
FAILED=0
# begin GROUP CONFIG SYSTEM SECONDS_NEEDED: budget check + wait for quiet + first CPU mark.
# Sets M0, SLUG; returns 1 (skip) when the step no longer fits the budget.
begin() {
  SLUG="$1-$(echo "$2" | tr ' =' '__')-$3-run$CURRENT_RUN"
  if ! fits "$4"; then
    SKIPPED=$((SKIPPED + 1))
    log "skipping $1 $2 $3 run $CURRENT_RUN: over the time budget"
    return 1
  fi
  STEP_T0=$(date +%s.%N)
  # Once the quiet-wait budget is spent, wait_quiet would only sample (0.5 s) and measure anyway:
  # skip it then; other_cpu still records how busy the machine was.
  [ "$QUIET_WAITED" -ge "$QUIET_WAIT_MAX" ] || wait_quiet
  M0=$(cpu_mark)
}
finish() {  # finish KIND FILE [EXTRA] key=value...: other_cpu, record, failure bookkeeping
  local m1 oc kind="$1" file="$2"; shift 2
  m1=$(cpu_mark); oc=$(other_cpu "$M0" "$m1")
  "${HELPER[@]}" record "$RESULTS" "$kind" "$file" "$@" "run=$CURRENT_RUN" "other_cpu=$oc" "step_t0=$STEP_T0"
  if tail -1 "$RESULTS" | grep -q '"ok": false'; then FAILED=$((FAILED + 1)); fi
}

# h2load_run GROUP CONFIG SYSTEM URL MULTIPLEX [gRPC]: h2load -t 1 -c CONC -m MULTIPLEX.
# H2_RPS (per connection) makes it open-loop (h2load --rps; the row is then its p99), and
# H2_INGEST=1 runs `omnistock load` POS ingest against our server meanwhile.
h2load_run() {
  local group="$1" config="$2" system="$3" url="$4" m="$5" grpc="${6:-}"
  begin "$group" "$config" "$system" $((SECS + 4)) || return 0
  local f="$OUT/$SLUG.txt" reqlog="$OUT/$SLUG.log" args=() unit=req/s ingest_pid=""
  [ -z "$grpc" ] || args=(-H 'content-type: application/grpc' -H 'te: trailers' -d "$BODY")
  if [ -n "${H2_RPS:-}" ]; then
    args+=(--rps "$H2_RPS")
    unit="p99 µs"
  fi
  if [ "${H2_INGEST:-0}" = 1 ]; then
    "$OMNISTOCK_BIN" load --host 127.0.0.1 --port "$OURS_PORT" --seconds $((SECS + 2)) --storefronts 0 \
      --terminals "$INGEST_TERMINALS" --events-per-batch 20 --events-per-second "$INGEST_EPS" --initial-stock 0 \
      --skus "$SKUS" --locations "$LOCATIONS" --seed "$CURRENT_RUN" >"$OUT/$SLUG.ingest.txt" 2>&1 &
    ingest_pid=$!
    sleep 0.5
  fi
  run_client $((SECS + 30)) h2load -t 1 --warm-up-time=1 -D "$SECS" -c "$CONC" -m "$m" "${args[@]}" \
    --log-file="$reqlog" "$url" >"$f" 2>&1 || true
  [ -z "$ingest_pid" ] || wait "$ingest_pid" || log "the ingest beside $SLUG failed: see $OUT/$SLUG.ingest.txt"
  finish h2load "$f" "$reqlog" "group=$group" "config=$config" "system=$system" "unit=$unit"
  [ "$KEEP_LOGS" = 1 ] || rm -f -- "$reqlog"
}

# load_run GROUP CONFIG SYSTEM OP UNIT ARGS...: `omnistock load` against our server.
load_run() {
  local group="$1" config="$2" system="$3" op="$4" unit="$5"; shift 5
  begin "$group" "$config" "$system" $((${SECS%.*} + 5)) || return 0
  local f="$OUT/$SLUG.json" rc=0 metrics=()
  rm -f -- "$f"
  # The server's own GetAvailability histogram before and after (when it serves metrics): how
  # much of the latency the client saw was spent inside the server's call handling.
  if [ -n "$OURS_METRICS_PORT" ]; then
    "${HELPER[@]}" fetch "http://127.0.0.1:$OURS_METRICS_PORT/metrics" "$OUT/$SLUG.metrics0" || true
    metrics=("server_metrics=$OUT/$SLUG.metrics0,$OUT/$SLUG.metrics1")
  fi
  run_client $((SECS + 60)) "$OMNISTOCK_BIN" load --host 127.0.0.1 --port "$OURS_PORT" --seconds "$SECS" \
    --skus "$SKUS" --locations "$LOCATIONS" --zipf-exponent "$ZIPF" --seed "$CURRENT_RUN" --json "$f" "$@" \
    >"$OUT/$SLUG.txt" 2>"$OUT/$SLUG.err" || rc=$?
  [ -z "$OURS_METRICS_PORT" ] || "${HELPER[@]}" fetch "http://127.0.0.1:$OURS_METRICS_PORT/metrics" "$OUT/$SLUG.metrics1" || true
  finish load "$f" "group=$group" "config=$config" "system=$system" "op=$op" "unit=$unit" "exit=$rc" "${metrics[@]}"
}

# redis_run GROUP CONFIG SYSTEM CLIENTS PIPELINE COMMAND...: redis-benchmark, its request count
# sized by a short probe (first run only) so that a run lasts about SECS.
declare -A REDIS_N
redis_run() {
  local group="$1" config="$2" system="$3" c="$4" p="$5"; shift 5
  local key="$system-$c-$p"
  begin "$group" "$config" "$system" $((SECS + 3)) || return 0
  if [ -z "${REDIS_N[$key]:-}" ]; then
    redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -r $((SKUS * LOCATIONS)) -c "$c" -P "$p" -n $((p == 1 ? 2000 : 20000)) \
      --csv "$@" >"$OUT/redis-probe-$key.csv" 2>/dev/null || true
    REDIS_N[$key]=$("${HELPER[@]}" redis-n "$OUT/redis-probe-$key.csv" "$SECS")
    M0=$(cpu_mark)
  fi
  local f="$OUT/$SLUG.csv"
  run_client $((SECS * 4 + 30)) redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -r $((SKUS * LOCATIONS)) \
    -c "$c" -P "$p" -n "${REDIS_N[$key]}" --csv "$@" >"$f" 2>"$OUT/$SLUG.err" || true
  finish redis "$f" "group=$group" "config=$config" "system=$system" unit=req/s
}

# pg_run GROUP CONFIG SYSTEM SCRIPT CLIENTS [QUERIES_PER_TRANSACTION]: pgbench -M prepared over
# TCP, -T SECS, -l logs.
pg_run() {
  local group="$1" config="$2" system="$3" script="$4" c="$5" per_txn="${6:-1}" j
  j=$((c < 2 ? c : 2))
  begin "$group" "$config" "$system" $((SECS + 3)) || return 0
  local f="$OUT/$SLUG.txt" logdir="$WORK/pglog-$SLUG"
  mkdir -p "$logdir"
  run_client $((SECS + 60)) "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -f "$WORK/$script" \
    -M prepared -c "$c" -j "$j" -T "$SECS" -l --log-prefix="$logdir/tx" postgres >"$f" 2>&1 || true
  finish pgbench "$f" "$logdir" "group=$group" "config=$config" "system=$system" unit=req/s "per_txn=$per_txn"
  rm -rf -- "$logdir"
}

# rotate N ITEMS...: prints ITEMS rotated left by N (each run starts with a different system).
rotate() {
  local n="$1"; shift
  local items=("$@") k i
  k=$((n % ${#items[@]}))
  for ((i = 0; i < ${#items[@]}; i++)); do echo "${items[$(((i + k) % ${#items[@]}))]}"; done
}

# --- 3. start the long-lived servers -------------------------------------------------------------
{
  echo "omnistock: $OMNISTOCK_BIN (commit $BIN_COMMIT)"
  h2load --version | head -1
  nghttpd --version | head -1
  redis-server --version
  "$PG_BIN/postgres" --version
  echo "open-loop flags: $OPEN_LOOP"
} >"$OUT/versions.txt" 2>&1 || true
log "raw output: $OUT"
log "starting grpc-swift-baseline, nghttpd, Redis (preload $((SKUS * LOCATIONS)) keys), PostgreSQL (preload $((SKUS * LOCATIONS)) rows)"
start_baseline
start_nghttpd
start_redis
start_pg
log "servers ready after $(($(date +%s) - BENCH_STARTED)) s; $RUNS runs x ${SECS}s measurements; budget ${BUDGET}s"
[ "$OPEN_LOOP" = 1 ] || log "this omnistock load has no --reads-per-second/--events-per-second: the mixed test runs closed-loop (target not evaluated)"

GRPC_PATH=/omnistock.v1.Availability/GetAvailability
# Lookups through `omnistock load`: storefronts only, single GetAvailability calls, every position of
# the key space stocked first (--stocked-skus = SKUS), so every read finds a position that exists.
STOCKED=(--stocked-skus "$SKUS" --initial-stock 1000)
LOAD_READS=(--storefronts "$CONC" --batch-read-every 0 "${STOCKED[@]}")
# Writes: nothing stocked first (sales may take on-hand below zero; it changes no cost), no cycle
# counts: every event is one delta on one position, like HINCRBY and the UPDATE.
LOAD_WRITES=(--storefronts 0 --initial-stock 0 --count-percent 0)
MIXED_ALONE=""
MIXED_INGEST=""
MIXED_RATES=""  # the open-loop lookup rate of each run, for the table
for run in $(seq 1 "$RUNS"); do
  CURRENT_RUN=$run
  log "run $run of $RUNS"
  # Our server starts afresh (new data dir) for every group of a run, so no group measures an
  # index or a log grown by the previous ones (every `omnistock load` creates its own catalogue).
  stop_ours; start_ours "run$run-lookup1"

  # Lookups, one request in flight per connection.
  for system in $(rotate "$run" ours-h2load ours-load baseline nghttpd redis-hget pg-select); do
    case "$system" in
      ours-h2load) h2load_run lookup "c=$CONC m=1" "$system" "http://127.0.0.1:$OURS_PORT$GRPC_PATH" 1 grpc ;;
      ours-load) load_run lookup "c=$CONC m=1" "$system" GetAvailability req/s --terminals 0 "${LOAD_READS[@]}" --reads-in-flight 1 ;;
      baseline) h2load_run lookup "c=$CONC m=1" "$system" "http://127.0.0.1:$BASELINE_PORT$GRPC_PATH" 1 grpc ;;
      nghttpd) h2load_run lookup "c=$CONC m=1" "$system" "http://127.0.0.1:$NGHTTPD_PORT/stock" 1 ;;
      redis-hget) redis_run lookup "c=$CONC m=1" "$system" "$CONC" 1 hget 'stock:__rand_int__' onhand ;;
      pg-select) pg_run lookup "c=$CONC m=1" "$system" pg-select.sql "$CONC" ;;
    esac
  done
  # Lookups, DEPTH in flight per connection (PostgreSQL: DEPTH queries per pipeline).
  stop_ours; start_ours "run$run-lookup$DEPTH"
  for system in $(rotate "$run" ours-h2load ours-load baseline nghttpd redis-hget pg-select); do
    case "$system" in
      ours-h2load) h2load_run lookup "c=$CONC m=$DEPTH" "$system" "http://127.0.0.1:$OURS_PORT$GRPC_PATH" "$DEPTH" grpc ;;
      ours-load) load_run lookup "c=$CONC m=$DEPTH" "$system" GetAvailability req/s --terminals 0 "${LOAD_READS[@]}" --reads-in-flight "$DEPTH" ;;
      baseline) h2load_run lookup "c=$CONC m=$DEPTH" "$system" "http://127.0.0.1:$BASELINE_PORT$GRPC_PATH" "$DEPTH" grpc ;;
      nghttpd) h2load_run lookup "c=$CONC m=$DEPTH" "$system" "http://127.0.0.1:$NGHTTPD_PORT/stock" "$DEPTH" ;;
      redis-hget) redis_run lookup "c=$CONC m=$DEPTH" "$system" "$CONC" "$DEPTH" hget 'stock:__rand_int__' onhand ;;
      pg-select) pg_run lookup "c=$CONC m=$DEPTH" "$system" pg-select-pipeline.sql "$CONC" "$DEPTH" ;;
    esac
  done

  # Durable writes.
  for w in $WRITERS; do
    stop_ours; start_ours "run$run-write$w"
    for system in $(rotate "$run" ours-unary ours-stream redis-hincrby pg-update); do
      case "$system" in
        ours-unary) load_run write "W=$w" "$system" "ApplyEvents" events/s \
          "${LOAD_WRITES[@]}" --terminals "$w" --unary-events --events-per-batch 1 --batches-in-flight 1 ;;
        ours-stream) load_run write "W=$w" "$system" "StreamEvents" events/s \
          "${LOAD_WRITES[@]}" --terminals "$w" --events-per-batch 20 --batches-in-flight 4 ;;
        redis-hincrby) redis_run write "W=$w" "$system" "$w" 1 hincrby 'stock:__rand_int__' onhand -1 ;;
        pg-update) pg_run write "W=$w" "$system" pg-update.sql "$w" ;;
      esac
    done
  done

  # Mixed: lookups at MIXED_FRACTION of this run's closed-loop peak, alone and under ingest.
  peak=$("${HELPER[@]}" peak "$RESULTS" "$run" ours-load "c=$CONC m=$DEPTH")
  if [ -z "$peak" ]; then
    for r in $(seq 1 "$RUNS"); do peak=$("${HELPER[@]}" peak "$RESULTS" "$r" ours-load "c=$CONC m=$DEPTH"); [ -z "$peak" ] || break; done
  fi
  if [ "$OPEN_LOOP" = 1 ] && [ -n "$peak" ]; then
    rate=$(python3 -c "print(max(1, int($peak * $MIXED_FRACTION)))")
    pct=$(python3 -c "print(f'{$MIXED_FRACTION * 100:g}')")
    alone=(--terminals 0 "${LOAD_READS[@]}" --reads-per-second "$rate")
    ingest=(--terminals "$INGEST_TERMINALS" "${LOAD_READS[@]}" --reads-per-second "$rate"
      --events-per-batch 20 --events-per-second "$INGEST_EPS")
    MIXED_RATES="${MIXED_RATES:+$MIXED_RATES, }$rate"
    MIXED_ALONE="open loop at ${pct}% of the run's peak (runs: $MIXED_RATES lookups/s), $CONC conn, no ingest"
    MIXED_INGEST="same + $INGEST_EPS events/s on $INGEST_TERMINALS StreamEvents streams (20/batch)"
  else
    alone=(--terminals 0 "${LOAD_READS[@]}" --reads-in-flight 1)
    ingest=(--terminals "$INGEST_TERMINALS" "${LOAD_READS[@]}" --reads-in-flight 1 --events-per-batch 20 --batches-in-flight 1)
    MIXED_ALONE="CLOSED loop stand-in: $CONC conn x 1 in flight, no ingest"
    MIXED_INGEST="same + closed-loop ingest, $INGEST_TERMINALS streams x 1 batch of 20 in flight"
  fi
  stop_ours; start_ours "run$run-mixed" metrics
  if [ $((run % 2)) = 1 ]; then order=(mixed-alone mixed-ingest); else order=(mixed-ingest mixed-alone); fi
  for system in "${order[@]}"; do
    if [ "$system" = mixed-alone ]; then
      load_run mixed mixed "$system" GetAvailability "p99 µs" "${alone[@]}"
    else
      load_run mixed mixed "$system" GetAvailability "p99 µs" "${ingest[@]}"
    fi
  done
  # The same rate from h2load --rps (a C client; it times each request from when it was sent, so
  # a stall delays later sends rather than showing in them): ours alone and under the same
  # ingest, and nghttpd's static file: this machine's own p99 floor at that rate.
  if [ "$OPEN_LOOP" = 1 ] && [ -n "$peak" ]; then
    rps=$(python3 -c "print(max(1, round($rate / $CONC)))")
    for system in $(rotate "$run" h2-alone h2-ingest h2-nghttpd); do
      case "$system" in
        h2-alone) H2_RPS=$rps h2load_run mixed mixed mixed-h2load-alone "http://127.0.0.1:$OURS_PORT$GRPC_PATH" 1 grpc ;;
        h2-ingest) H2_RPS=$rps H2_INGEST=1 h2load_run mixed mixed mixed-h2load-ingest "http://127.0.0.1:$OURS_PORT$GRPC_PATH" 1 grpc ;;
        h2-nghttpd) H2_RPS=$rps h2load_run mixed mixed mixed-h2load-nghttpd "http://127.0.0.1:$NGHTTPD_PORT/stock" 1 ;;
      esac
    done
  fi
done
stop_ours

# --- 4. the table --------------------------------------------------------------------------------
TABLE="$OUT/table.md"
"${HELPER[@]}" table "$RESULTS" "conc=$CONC" "depth=$DEPTH" "writers=$WRITERS" "open_loop=$OPEN_LOOP" \
  "mixed_alone=$MIXED_ALONE" "mixed_ingest=$MIXED_INGEST" "ingest_eps=$INGEST_EPS" >"$TABLE"
ELAPSED=$(($(date +%s) - SCRIPT_STARTED))
MEASURED=$(($(date +%s) - BENCH_STARTED))
echo
cat "$TABLE"
echo

# --- 5. BENCHMARKS.md ----------------------------------------------------------------------------
if [ "$NO_WRITE" != 1 ]; then
  {
    echo "- Every server on 127.0.0.1 on this machine, in the same run: \`omnistock serve --threads $THREADS\` (release, fresh data dir per run); grpc-swift-2 server with a trivial handler (\`grpc-swift-baseline\`, tools/Benchmarks); nghttpd $(nghttpd --version 2>/dev/null | awk '{print $NF}') (1 worker, 70-byte static file: the HTTP/2 ceiling); $(redis-server --version | awk '{print $1, $3}' | sed 's/v=//') with \`appendonly yes, appendfsync always\` (RDB and AOF rewrite off); $("$PG_BIN/postgres" --version | sed 's/postgres (PostgreSQL) /PostgreSQL /') (initdb defaults: \`fsync=on\`, \`synchronous_commit=on\`). Clients: h2load \`-t 1\` (+1 s warm-up), redis-benchmark, pgbench \`-M prepared -j 2\` (\`-j 1\` for one client), \`omnistock load\`; all share the machine's $(nproc) cores with the servers."
    echo "- Key space: $SKUS SKUs x $LOCATIONS locations = $((SKUS * LOCATIONS)) positions. Redis: $((SKUS * LOCATIONS)) hashes \`stock:<n>\`; PostgreSQL: $((SKUS * LOCATIONS)) rows, primary key (sku, location); keys drawn uniformly by redis-benchmark \`-r\`, pgbench \`random()\` and \`omnistock load --zipf-exponent $ZIPF\`. h2load repeats one request: GetAvailability of SKU-1 at store-1 (declared, stocked with one receipt first). \`omnistock load\` stocks every position of its catalogue before its lookups (\`--stocked-skus $SKUS\`), and reads back every position it touched afterwards (the ledger check; any difference fails the run)."
    echo "- Lookups: $CONC connections/clients; \"1 in flight\" = h2load \`-m 1\`, redis-benchmark \`-P 1\`, pgbench \`-c $CONC\`, \`omnistock load --reads-in-flight 1\`; \"$DEPTH in flight\" = h2load \`-m $DEPTH\`, redis-benchmark \`-P $DEPTH\`, \`--reads-in-flight $DEPTH\`, pgbench pipelines of $DEPTH SELECTs (\`\\startpipeline\`; queries/s, p99 of a whole pipeline). Ours/other uses OmniStock via h2load (a C client like redis-benchmark and pgbench); for Redis and PostgreSQL the ratio with OmniStock via \`omnistock load\` is shown too."
    echo "- Durable writes: every write acknowledged only once fsync'd. OmniStock: \`omnistock load --terminals W\`, one event per ApplyEvents call (\`--unary-events --events-per-batch 1 --batches-in-flight 1\`) and batched StreamEvents (\`--events-per-batch 20 --batches-in-flight 4\`; events/s); Redis HINCRBY \`-c W -P 1\`; PostgreSQL \`UPDATE stock SET on_hand = on_hand - 1\` \`-c W\`."
    if [ "$OPEN_LOOP" = 1 ]; then
      echo "- Mixed: peak = the run's closed-loop \`omnistock load\` lookups at $DEPTH in flight per connection; then open-loop lookups (\`--reads-per-second\`, latency from the intended send time) at ${MIXED_FRACTION} x peak, alone and with POS ingest at \`--events-per-second $INGEST_EPS\` on $INGEST_TERMINALS StreamEvents terminals; the value is the lookup p99. Then the same rate from h2load \`--rps\` ($CONC connections, 1 request in flight each; each request timed from when it was sent): ours alone, ours under the same ingest, and nghttpd's static file, the p99 this machine itself allows at that rate."
    else
      echo "- Mixed: **closed-loop stand-in** (this \`omnistock load\` had no \`--reads-per-second\`): lookups with 1 in flight per connection, alone and with closed-loop ingest; the target is not evaluated."
    fi
    echo "- $RUNS runs of ${SECS} s per measurement; within a run each group's systems take turns in an order rotated every run. min/median/max over the runs; ratios = ratio of the medians (higher = OmniStock better) and, in brackets, the range of the per-run ratios. other_cpu = share of the machine used by processes outside the benchmark during the measurement (>$QUIET_PCT% = noisy). p99 from h2load's per-request log, pgbench's \`-l\` log, redis-benchmark's report, \`omnistock load\`'s HdrHistogram."
    echo "- Total wall time ${ELAPSED} s (${MEASURED} s after the build)$([ "$SKIPPED" = 0 ] || echo "; $SKIPPED measurements skipped to stay within BUDGET=${BUDGET}s")$([ "$FAILED" = 0 ] || echo "; **$FAILED measurements FAILED**")."
    echo
    cat "$TABLE"
  } | python3 tools/benchmark-section.py bench-compare "OmniStock next to the alternatives (\`tools/bench-compare.sh\`)" \
    "Generated by \`$COMMAND\` (omnistock of commit $BIN_COMMIT, kernel $(uname -r)); raw output under \`${TMPDIR:-/tmp}/omnistock-bench/\`. Do not edit by hand: the script replaces this section. Targets are those of issue 7 part 3."
  log "updated BENCHMARKS.md (section bench-compare)"
fi
log "total ${ELAPSED} s; raw output: $OUT"
[ "$FAILED" = 0 ] || die "$FAILED measurements failed (see the table)"
