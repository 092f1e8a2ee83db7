#!/usr/bin/env bash
# Builds the libFuzzer targets of tools/Fuzz (libFuzzer coverage, AddressSanitizer and
# LeakSanitizer) and runs each for a bounded time, starting from the committed seeds in
# tools/Fuzz/corpus/<target>/.
#
#   tools/fuzz.sh [grpc-server|log-decoder|all] [seconds per target, default 60; 0: only replay
#                                                 the seeds]
#
# New corpus entries go to a temporary directory (printed; FUZZ_OUT to choose it), never into the
# repository; copy interesting ones into tools/Fuzz/corpus/<target>/ by hand. On a crash, leak,
# timeout (FUZZ_TIMEOUT seconds for one input, default 10) or memory blow-up (FUZZ_RSS_MB,
# default 2048) the script prints the reproducer's path and the command that replays it under
# the sanitizers, and exits 1. Without sanitizers (e.g. under a debugger):
#   swift run --package-path tools/Fuzz --scratch-path .build-fuzz-replay fuzz-driver run <target> <reproducer>
# Extra libFuzzer flags can be given in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-jobs=2 -workers=2").
#
# The build is debug (so that the targets can `@testable import` the server's internal types)
# in its own scratch directory (FUZZ_SCRATCH, default .build-fuzz); a first build takes several
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-all}"
seconds="${2:-60}"
case "$which" in
  all) targets=(grpc-server log-decoder) ;;
  grpc-server | log-decoder) targets=("$which") ;;
  *) echo "usage: tools/fuzz.sh [grpc-server|log-decoder|all] [seconds]" >&2; exit 2 ;;
esac
scratch="${FUZZ_SCRATCH:-.build-fuzz}"
out="${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/omnistock-fuzz.XXXXXX")}"
mkdir -p "$out"

# The same pins as the main package (a fresh clone has no Package.resolved: then both resolve).
[ -f tools/Fuzz/Package.resolved ] || { [ -f Package.resolved ] && cp Package.resolved tools/Fuzz/Package.resolved; } || true

# Coverage instrumentation as -sanitize=fuzzer does it, plus AddressSanitizer (and LeakSanitizer),
# and libFuzzer without its `main`: the executables' own `main` calls LLVMFuzzerRunDriver (a
# SwiftPM debug executable's `main` is renamed and re-pointed at link time, so libFuzzer's `main`,
# which -sanitize=fuzzer links as a whole archive, would be a second definition).
runtime_dir="$(dirname "$(command -v swift)")/../lib/clang"
libfuzzer=$(find "$runtime_dir" -name "libclang_rt.fuzzer_no_main-$(uname -m).a" 2>/dev/null | head -1)
[ -n "$libfuzzer" ] || { echo "fuzz: libclang_rt.fuzzer_no_main-$(uname -m).a not found under $runtime_dir" >&2; exit 1; }
flags=(-c debug --package-path tools/Fuzz --scratch-path "$scratch"
  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp
  -Xlinker "$libfuzzer" -Xlinker -lstdc++)
for target in "${targets[@]}"; do
  echo "==> building fuzz-$target (libFuzzer, AddressSanitizer)"
  started=$(date +%s)
  if ! swift build "${flags[@]}" --product "fuzz-$target" >"$out/build-$target.log" 2>&1; then
    tail -40 "$out/build-$target.log" >&2
    echo "fuzz: the build of fuzz-$target failed (log: $out/build-$target.log)" >&2
    exit 1
  fi
  echo "    built in $(( $(date +%s) - started )) s"
done
bin_dir="$(swift build "${flags[@]}" --show-bin-path)"

# 0 seconds: only replay the seeds (libFuzzer reads -max_total_time=0 as "no limit").
runs=""
[ "$seconds" != 0 ] || runs="-runs=0"
failed=0
summary=()
for target in "${targets[@]}"; do
  corpus="$out/corpus-$target"
  mkdir -p "$corpus"
  log="$out/fuzz-$target.log"
  echo "==> fuzzing $target for $seconds s (new corpus: $corpus)"
  rc=0
  # The first corpus directory receives new inputs; the committed seeds are only read.
  # shellcheck disable=SC2086
  # SWIFT_BACKTRACE: a Swift trap goes straight to libFuzzer's handler (the Swift backtracer's
  # own memory reads would be reported by AddressSanitizer instead of the trap).
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}" \
    "$bin_dir/fuzz-$target" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -max_len="${FUZZ_MAX_LEN:-16384}" -print_final_stats=1 \
    -artifact_prefix="$out/$target-" $runs ${FUZZ_FLAGS:-} "$corpus" "tools/Fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1 || true)
  first_rss=$(grep -o 'rss: [0-9]*Mb' "$log" | head -1 | tr -dc 0-9 || true)
  last_rss=$(grep -o 'rss: [0-9]*Mb' "$log" | tail -1 | tr -dc 0-9 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | tr -dc 0-9 || true)
  line="$target: ${execs:-?} inputs in $seconds s, coverage ${cov:-?} edges, RSS ${first_rss:-?} MiB at start, ${last_rss:-?} MiB at end (peak ${peak:-?} MiB), corpus $(find "$corpus" -type f | wc -l) new files"
  if [ "$rc" -ne 0 ]; then
    failed=1
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1 || true)
    grep -E "^==[0-9]+==ERROR|^Fatal error|SUMMARY:|deadly signal|timeout|out-of-memory" "$log" | head -10 >&2 || true
    echo "FUZZ FAILURE in $target (exit $rc): reproducer ${reproducer:-not written}; log $log" >&2
    [ -z "$reproducer" ] || echo "  replay: SWIFT_BACKTRACE=enable=no $bin_dir/fuzz-$target $reproducer" >&2
    line="$line; FAILED (exit $rc), reproducer ${reproducer:-none}"
  fi
  echo "    $line"
  summary+=("$line")
done

echo
echo "fuzz summary (output in $out):"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$failed"
