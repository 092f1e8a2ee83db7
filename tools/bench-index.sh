#!/usr/bin/env bash
# StockIndex benchmarks (issue 3): the ordo-one/benchmark suite of tools/IndexBenchmarks and the
# `index-memory` executable, summarized in ONE table that is printed and written into
# BENCHMARKS.md. One command, bounded (~3 min once built; the first build adds a few minutes):
#
#   bash tools/bench-index.sh
#
# What it does:
#  1. Builds tools/IndexBenchmarks in release (scratch .build-index-bench; never touches .build or
#     .build-bench). Optionally first waits (bounded) until the rest of the machine is quiet.
#  2. Runs the ordo-one suite once and stores it as baseline "bench-index"
#     (`benchmark baseline update`, in tools/IndexBenchmarks/.benchmarkBaselines, git-ignored);
#     each benchmark runs ~2 s in its own process.
#  3. `benchmark thresholds check bench-index` against tools/IndexBenchmarks/Thresholds: the read
#     benchmarks must have 0 retains, releases and mallocs (p90, ordo-one's absolute-threshold
#     check); the script also requires the largest sample to be 0.
#  4. Exports the stored baseline as raw samples (`benchmark baseline read --format
#     histogramSamples`: one value per iteration, in ns or counts, unscaled) and computes per
#     operation: p50, p99, retains/releases/mallocs, ratios to the two baselines measured in the same
#     run (`pointLoad`: a raw load from a 1M-entry UInt64 array at a random index; `mutexDictionary`:
#     a `Mutex<[Key: PositionState]>` read of the same 1M positions and keys; and, for scale,
#     `pointerChase`: the latency of one dependent load at a random address of 64 MiB).
#  5. Runs `index-memory` (10,000,000 positions: RSS delta per position, `StockIndex.statistics()`).
#  6. Prints the table and the targets, and writes them (date, machine, command) into BENCHMARKS.md
#     between <!-- bench-index:begin --> and <!-- bench-index:end --> (creating the file or the
#     section if missing; everything else in the file, e.g. the bench-grpc section, is kept).
#
# Every step has a time limit (build 20 min, suite 8 min, the rest 3 min each: guards against a
# hang; a normal run takes ~2 min). Exit status: 0 when everything ran (targets missed are
# reported, not fatal); 1 when a build or run failed or the zero-ARC/zero-malloc threshold check
# failed.
#
# Environment (defaults in brackets):
#   FILTER [""]        regex (whole-name match, e.g. "readWith.*") of benchmarks to run; empty = all
#   MEMORY_SKUS [1000000]  SKUs for index-memory (x 10 locations = positions)
#   SKIP_BUILD [0]     1 = use what is built;  SKIP_MEMORY [0]  1 = no index-memory run
#   NO_WRITE [0]       1 = do not touch BENCHMARKS.md
#   QUIET_PCT [25] QUIET_WAIT_MAX [60]  before the run, wait (bounded) until other processes use
#                      less than QUIET_PCT% of the machine's CPU
#   BENCH_OUT          raw output directory [${TMPDIR:-/tmp}/omnistock-bench/index.<stamp>]
set -euo pipefail

FILTER=${FILTER:-}
MEMORY_SKUS=${MEMORY_SKUS:-1000000}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_MEMORY=${SKIP_MEMORY:-0}
NO_WRITE=${NO_WRITE:-0}
QUIET_PCT=${QUIET_PCT:-25}
QUIET_WAIT_MAX=${QUIET_WAIT_MAX:-60}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PKG=tools/IndexBenchmarks
SCRATCH=.build-index-bench
BASELINE=bench-index
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="${BENCH_OUT:-${TMPDIR:-/tmp}/omnistock-bench/index.$STAMP}"
mkdir -p "$OUT"
COMMAND="bash tools/bench-index.sh"
[ -n "$FILTER" ] && COMMAND="FILTER='$FILTER' $COMMAND"

# Every `swift package benchmark` call: our package, our scratch path, output allowed in $OUT.
BENCHMARK=(swift package --package-path "$PKG" --scratch-path "$SCRATCH"
  --allow-writing-to-package-directory --allow-writing-to-directory "$OUT" benchmark)
filter_args=()
[ -n "$FILTER" ] && filter_args=(--filter "$FILTER")

log() { printf '==> %s\n' "$*" >&2; }

# 1. Build (the plugin builds the suite again in release; this also builds index-memory).
if [ "$SKIP_BUILD" != 1 ]; then
  log "building $PKG (release, scratch $SCRATCH; log $OUT/build.log)"
  timeout 1200 swift build -c release --package-path "$PKG" --scratch-path "$SCRATCH" >"$OUT/build.log" 2>&1 ||
    { tail -40 "$OUT/build.log" >&2; log "build failed"; exit 1; }
fi
BIN_DIR="$(swift build -c release --package-path "$PKG" --scratch-path "$SCRATCH" --show-bin-path)"

# Busy share of the machine taken by other processes over one second, in percent.
others_busy_pct() {
  python3 - <<'EOF'
import os, time
def total():
    f = open('/proc/stat').readline().split()[1:]
    v = list(map(int, f)); return sum(v), v[3] + v[4]
t0, i0 = total(); time.sleep(1); t1, i1 = total()
busy = (t1 - t0) - (i1 - i0)
print(int(100 * busy / max(1, t1 - t0)))
EOF
}
waited=0
while [ "$waited" -lt "$QUIET_WAIT_MAX" ]; do
  busy=$(others_busy_pct)
  [ "$busy" -lt "$QUIET_PCT" ] && break
  [ "$waited" = 0 ] && log "machine busy (${busy}% CPU used by others); waiting up to ${QUIET_WAIT_MAX}s"
  sleep 4
  waited=$((waited + 5))
done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# 2. Run the suite once, stored as a baseline.
log "running the ordo-one suite (log $OUT/run.log)"
rm -rf "$PKG/.benchmarkBaselines/IndexBenchmarks/$BASELINE"
RUN_STATUS=0
timeout 480 "${BENCHMARK[@]}" baseline update "$BASELINE" "${filter_args[@]}" --no-progress >"$OUT/run.log" 2>&1 || RUN_STATUS=$?
if grep -q "benchmarkCrashed\|job(s) failed" "$OUT/run.log" && [ "$RUN_STATUS" = 0 ]; then RUN_STATUS=1; fi
if [ "$RUN_STATUS" = 124 ]; then
  # ordo-one's tool waits forever for a benchmark process whose reply it failed to read; `timeout`
  # ends `swift package`, not the plugin's processes. Name them, do not guess-kill anything.
  log "the suite timed out; leftover benchmark processes (end them by PID):"
  ps -eo pid,args | grep -F -- "$ROOT/$SCRATCH" | grep -v grep >&2 || true
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# 3. Zero retains/releases/mallocs on reads: ordo-one's static threshold check (p90).
log "checking the static thresholds (log $OUT/thresholds.log)"
THRESHOLD_STATUS=0
timeout 180 "${BENCHMARK[@]}" thresholds check "$BASELINE" "${filter_args[@]}" --path "$ROOT/$PKG/Thresholds" \
  --no-progress >"$OUT/thresholds.log" 2>&1 || THRESHOLD_STATUS=$?
# A filtered run may contain no benchmark with static thresholds: nothing to check then.
if [ -n "$FILTER" ] && grep -q "Could not find any matching absolute thresholds" "$OUT/thresholds.log"; then
  THRESHOLD_STATUS=0
fi

# 4. Raw samples of the stored baseline.
log "exporting samples to $OUT/samples"
timeout 180 "${BENCHMARK[@]}" baseline read "$BASELINE" --format histogramSamples --path "$OUT/samples" \
  --no-progress >"$OUT/export.log" 2>&1 || { tail -20 "$OUT/export.log" >&2; log "export failed"; exit 1; }

# 5. Memory per position.
MEMORY_FILE="$OUT/memory.txt"
if [ "$SKIP_MEMORY" != 1 ]; then
  log "index-memory --skus $MEMORY_SKUS"
  timeout 180 "$BIN_DIR/index-memory" --skus "$MEMORY_SKUS" >"$MEMORY_FILE" 2>&1 ||
    { cat "$MEMORY_FILE" >&2; log "index-memory failed"; exit 1; }
else
  : >"$MEMORY_FILE"
fi

# 6. The table.
export OUT MEMORY_FILE COMMAND RUN_STATUS THRESHOLD_STATUS LOAD_BEFORE LOAD_AFTER NO_WRITE BASELINE
export SWIFT_VERSION="$(swift --version 2>/dev/null | head -1)"
python3 - <<'EOF'
import glob, math, os, platform, re, subprocess, sys, datetime

out = os.environ['OUT']
baseline = os.environ['BASELINE']
samples = {}  # (benchmark, metric) -> sorted values (raw, per iteration)
for path in glob.glob(os.path.join(out, 'samples', '*.histogram.samples.tsv')):
    name = os.path.basename(path)[: -len('.histogram.samples.tsv')]
    parts = name.split('.')
    if len(parts) < 4 or parts[0] != baseline:
        continue
    bench, metric = parts[2], parts[3]
    with open(path) as f:
        next(f, None)
        values = sorted(float(line) for line in f if line.strip())
    samples[(bench, metric)] = values

def pct(values, p):
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]

# Operations per iteration: the suite's scalingFactor is .kilo except batchRead1000 (.one: one
# operation = one batch of 1,000 reads).
OPS = {'batchRead1000': 1}
def ops(bench): return OPS.get(bench, 1000)

order = ['pointLoad', 'pointerChase', 'mutexDictionary', 'readStateByIDs', 'readByIDs', 'readByIDsHot', 'readByStrings',
         'readByUTF8', 'readWithoutWriter', 'readWithBusyWriter', 'groupRead', 'batchRead1000',
         'writeOneShard', 'writeAcrossShards', 'writeOneShard2T', 'writeAcrossShards2T']
what = {
    'pointLoad': 'baseline: raw load, UInt64 array (1M) at a random index',
    'pointerChase': 'baseline: dependent load at a random address of 64 MiB (one cache miss)',
    'mutexDictionary': 'baseline: `Mutex<[Key: PositionState]>` read (1M entries)',
    'readStateByIDs': '`state(sku:location:)`',
    'readByIDs': '`position(sku:location:nowUnixMs:)` by ids',
    'readByIDsHot': 'same, 1,024 cache-resident keys',
    'readByStrings': '`position(sku: String, location: String, ...)`',
    'readByUTF8': '`skus/locations.id(ofUTF8:)` + read by ids',
    'readWithoutWriter': 'by ids, no writer (next to the one below)',
    'readWithBusyWriter': 'by ids, one thread applying `.adjust` meanwhile',
    'groupRead': '`group(sku:group:nowUnixMs:)`, 10 members',
    'batchRead1000': '1,000 reads by ids (one op = the batch)',
    'writeOneShard': '`apply` `.adjust`, one SKU (one shard), 1 thread',
    'writeAcrossShards': '`apply` `.adjust`, random SKUs, 1 thread',
    'writeOneShard2T': 'one SKU, 2 threads (same shard lock)',
    'writeAcrossShards2T': 'random SKUs, 2 threads (ns per update, aggregate)',
}
reads = {'readStateByIDs', 'readByIDs', 'readByIDsHot', 'readByStrings', 'readByUTF8', 'readWithoutWriter',
         'groupRead', 'batchRead1000'}
benches = [b for b in order if (b, 'wallClock') in samples] + sorted(
    {b for (b, m) in samples if m == 'wallClock' and b not in order})

def ns(bench, p):
    v = pct(samples.get((bench, 'wallClock'), []), p)
    return None if v is None else v / ops(bench)

def fmt(x, digits=1):
    if x is None: return 'n/a'
    if x >= 1000: return f'{x:,.0f}'
    if x >= 100: return f'{x:.0f}'
    return f'{x:.{digits}f}'

def counter(bench, metric):
    values = samples.get((bench, metric))
    if values is None:
        return None, None
    return sum(values) / len(values) / ops(bench), max(values)

def fmt_counter(bench, metric):
    mean, mx = counter(bench, metric)
    if mean is None:
        return 'n/a†' if bench == 'readByStrings' and metric != 'mallocCountTotal' else 'n/a'
    if mx == 0:
        return '0'
    return f'{mean:.2f}/op (max {mx:.0f}/iter)'

base_ptr = ns('pointLoad', 50)
base_mutex = ns('mutexDictionary', 50)
per_read = lambda b: (ns(b, 50) / 1000 if b == 'batchRead1000' and ns(b, 50) else ns(b, 50))

rows = []
for b in benches:
    p50, p99 = ns(b, 50), ns(b, 99)
    r = per_read(b)
    ratio_ptr = f'{r / base_ptr:.1f}x' if r and base_ptr else 'n/a'
    ratio_mutex = f'{r / base_mutex:.2f}x' if r and base_mutex else 'n/a'
    rows.append([f'{b}', what.get(b, ''), fmt(p50), fmt(p99), fmt_counter(b, 'retainCount'),
                 fmt_counter(b, 'releaseCount'), fmt_counter(b, 'mallocCountTotal'), ratio_ptr, ratio_mutex])

header = ['benchmark', 'what', 'median ns (p50)', 'p99 ns', 'retains', 'releases', 'mallocs',
          'ratio vs pointer load', 'ratio vs Mutex<Dictionary>']

# Derived figures.
facts = []
targets = []
def target(label, value, ok):
    targets.append((label, value, 'met' if ok else ('MISSED' if ok is not None else 'n/a')))

w, wo = ns('readWithBusyWriter', 50), ns('readWithoutWriter', 50)
if w and wo:
    ratio = wo / w
    wu = samples.get(('readWithBusyWriter', 'writerUpdatesPerIteration'), [])
    active = [u for u in wu if u > 0]
    cwo = pct(samples.get(('readWithoutWriter', 'readerThreadCPUNanoseconds'), []), 50)
    cww = pct(samples.get(('readWithBusyWriter', 'readerThreadCPUNanosecondsWhileWriting'), []), 50)
    cpu_ratio = cwo / cww if cww and cwo else None
    # The writer's rate while it ran: its updates over the reader's CPU time of those iterations
    # (both threads pinned, one core each).
    writer_rate = (pct(active, 50) / cww * 1e9) if active and cww else None
    share = len(active) / len(wu) if wu else 0
    facts.append(
        f'Reads with one busy writer (reader pinned to CPU 0, writer to CPU 1) / without: '
        + (f'**{cpu_ratio * 100:.0f}%** by the reading thread\'s CPU time over the iterations during which '
           f'the writer ran ({share * 100:.0f}% of them; p50 {cww / 1000:.1f} vs {cwo / 1000:.1f} ns a read), '
           if cpu_ratio else '')
        + f'{ratio * 100:.0f}% by wall clock over all iterations (p50 {w:.1f} vs {wo:.1f} ns a read)'
        + (f'; the writer applied ~{writer_rate / 1e6:.2f} M updates/s while it ran' if writer_rate else '') + '.')
    value = (f'{cpu_ratio * 100:.0f}% (reader CPU time, writer running); ' if cpu_ratio else '') \
        + f'{ratio * 100:.0f}% (wall clock, all iterations)'
    ok = (cpu_ratio if cpu_ratio else ratio) >= 0.90
    target('read throughput with a busy writer >= 90% of without', value, ok)
else:
    target('read throughput with a busy writer >= 90% of without', 'n/a', None)

for b, limit, label in [('readByIDs', 30, 'point read by ids <= 30 ns (p50)'),
                        ('readByStrings', 100, 'point read by strings <= 100 ns (p50)')]:
    v = ns(b, 50)
    target(label, 'n/a' if v is None else f'{v:.1f} ns', None if v is None else v <= limit)

zero_fail = []
zero_unmeasured = []
for b in benches:
    if b not in reads: continue
    # readWithoutWriter carries a custom metric instead of the ARC counters (its reads are readByIDs').
    for m in (['mallocCountTotal'] if b == 'readWithoutWriter' else ['retainCount', 'releaseCount', 'mallocCountTotal']):
        vals = samples.get((b, m))
        if vals is None: zero_unmeasured.append(f'{b}.{m}')
        elif max(vals) != 0: zero_fail.append(f'{b}.{m} (max {max(vals):.0f})')
thr = int(os.environ.get('THRESHOLD_STATUS', '0'))
zero_ok = not zero_fail and thr == 0
target('0 retains/releases/mallocs on reads (every sample; `thresholds check`)',
       ('none seen' if not zero_fail else ', '.join(zero_fail))
       + (f'; not measurable: {", ".join(zero_unmeasured)}†' if zero_unmeasured else '')
       + f'; thresholds check exit {thr}', zero_ok)

def ratio_line(one, two, label):
    a, b = ns(one, 50), ns(two, 50)
    if a and b:
        facts.append(f'{label}: {1e3 / a:.2f} M updates/s with 1 thread, {1e3 / b:.2f} M/s with 2 '
                     f'({a / b:.2f}x).')
ratio_line('writeAcrossShards', 'writeAcrossShards2T', 'Writes across shards')
ratio_line('writeOneShard', 'writeOneShard2T', 'Writes to one shard')
b = ns('batchRead1000', 50)
if b: facts.append(f'Batch of 1,000 reads: {b / 1e3:.1f} µs, {b / 1e3:.1f} ns a position.')

mem = {}
try:
    for line in open(os.environ['MEMORY_FILE']):
        if '=' in line:
            k, v = line.strip().split('=', 1); mem[k] = v
except FileNotFoundError:
    pass
if 'bytes_per_position' in mem:
    bpp = float(mem['bytes_per_position'])
    positions = int(mem['positions'])
    facts.append(
        f'Memory at {positions:,} positions (`index-memory`, by ids, `.adjust`): RSS delta '
        f'{int(mem["rss_delta_bytes"]) / 2**20:,.0f} MiB = **{bpp:.1f} bytes/position**; '
        f'`statistics()`: {int(mem["statistics_allocated_bytes"]) / 2**20:,.0f} MiB allocated '
        f'({float(mem["statistics_bytes_per_position"]):.1f} B/position); fill {float(mem["fill_seconds"]):.1f} s '
        f'({int(mem["fill_updates_per_second"]) / 1e6:.2f} M updates/s, 1 thread)'
        + (f'; interning the {int(mem["interned_skus"]):,} SKU strings adds {float(mem["bytes_per_interned_sku"]):.0f} B/SKU '
           f'({float(mem["bytes_per_position_with_strings"]):.1f} B/position in all)' if 'interned_skus' in mem else '')
        + '.')
    target('memory <= 64 bytes/position (RSS delta / positions)', f'{bpp:.1f} B', bpp <= 64)
else:
    target('memory <= 64 bytes/position (RSS delta / positions)', 'n/a', None)

def table(rows, header):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return '\n'.join(lines)

def plain(rows, header):
    cols = [header] + rows
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    fmt_row = lambda r: '  '.join(str(c).ljust(widths[i]) for i, c in enumerate(r))
    return '\n'.join([fmt_row(header), fmt_row(['-' * w for w in widths])] + [fmt_row(r) for r in rows])

def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ''
cpu = sh("lscpu | sed -n 's/^Model name:[ ]*//p' | head -1")
cores = os.cpu_count()
memgib = round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)
hyper = sh("lscpu | sed -n 's/^Hypervisor vendor:[ ]*//p'")
thp = sh("cat /sys/kernel/mm/transparent_hugepage/enabled")
now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
run_status = int(os.environ.get('RUN_STATUS', '0'))

notes = [
    '- Times are per operation: ordo-one samples one iteration of 1,000 operations (`scalingFactor: .kilo`; '
    'the batch: one batch), so p50/p99 are percentiles of 1,000-operation means, not of single reads '
    '(a single ~30 ns read is below the clock\'s resolution). Keys: 65,536 random positions of a pre-filled '
    'index of 100,000 SKUs ("SKU-00012345") x 10 of 60 locations ("store-017") = 1,000,000 positions, '
    'precomputed; every result goes to `blackHole`. Ratios: this row\'s p50 per read / the baseline\'s p50.',
    '- retains/releases/mallocs: mean per operation over all samples, and `0` when every sample was 0. '
    'The with/without-writer pair and the 2-thread rows run without ARC counters (n/a): ordo-one counts '
    'process-wide (a second thread\'s retains would be counted), and its Swift 6.3 runtime hooks crash on '
    'the custom metrics the pair records (corrupted metric name, hung run seen here); their reads are the '
    'code of `readByIDs`, which is at 0.',
    '- † `readByStrings` runs without ARC counters: on Linux with Swift 6.3, ordo-one counts retains through '
    'the runtime\'s hooks (the `RuntimeInterposer` trait\'s package is not available here), which crash on the '
    '`swift_bridgeObjectRetain` of a small string (ordo-one/benchmark#349), and the benchmark loop cannot pass '
    'the key Strings without copying them. The index\'s side of that path: `readByUTF8` (the interner lookup '
    '`StringInterner.id(of:)` takes for native strings) is at 0, and `perf` uprobes on `swift_retain` / '
    '`swift_bridgeObjectRetain` during `readByStrings` saw no call from `position(sku: String, ...)` or '
    '`StringInterner.id(of:)` (all came from the loop\'s copies).',
]
if run_status:
    notes.append(f'- **The suite did not complete** (exit {run_status}; see run.log): rows may be missing.')

md = []
md.append('## StockIndex (issue 3)\n')
md.append(f'Recorded {now} with `{os.environ["COMMAND"]}` (ordo-one/benchmark 1.38.1, release build; '
          f'{os.environ.get("SWIFT_VERSION", "")}).  ')
md.append(f'Machine: {cpu}, {cores} cores{", " + hyper + " guest" if hyper else ""}, {memgib} GiB, '
          f'Linux {platform.release()}, transparent huge pages `{thp}`; load average '
          f'{os.environ.get("LOAD_BEFORE", "?")} before the run, {os.environ.get("LOAD_AFTER", "?")} after '
          f'(a shared, noisy 2-core machine: compare ratios within one run, not absolute times across runs).\n')
md.append(table(rows, header) + '\n')
md.append('\n'.join('- ' + f for f in facts) + '\n')
md.append('| target | measured | |\n|---|---|---|\n' + '\n'.join(f'| {a} | {b} | {c} |' for a, b, c in targets) + '\n')
md.append('\n'.join(notes) + '\n')
section = '\n'.join(md)

print()
print(plain([[r[0]] + r[2:] for r in rows], [header[0]] + header[2:]))
print()
for f in facts: print('- ' + f.replace('**', ''))
print()
for a, b, c in targets: print(f'{c}: {a}: {b}')
print()

if os.environ.get('NO_WRITE') != '1':
    begin, end = '<!-- bench-index:begin -->', '<!-- bench-index:end -->'
    path = 'BENCHMARKS.md'
    text = open(path).read() if os.path.exists(path) else '# Benchmarks\n'
    block = f'{begin}\n{section}{end}'
    if begin in text and end in text and text.index(begin) < text.index(end):
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip('\n') + '\n\n' + block + '\n'
    tmp = path + '.bench-index.tmp'
    with open(tmp, 'w') as f: f.write(text)
    os.replace(tmp, path)
    print(f'wrote the bench-index section of {path}')
with open(os.path.join(out, 'section.md'), 'w') as f: f.write(section)
EOF

log "raw output: $OUT"
if [ "$RUN_STATUS" != 0 ]; then log "the suite failed (exit $RUN_STATUS): see $OUT/run.log"; exit 1; fi
if [ "$THRESHOLD_STATUS" != 0 ]; then log "threshold check failed (exit $THRESHOLD_STATUS): see $OUT/thresholds.log"; exit 1; fi
