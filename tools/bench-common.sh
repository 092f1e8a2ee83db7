# Noise control shared by the benchmark scripts (sourced, not run): the method of
# shared/anchors/*.sh.
#
# This machine has 2 cores that other work may be using (compilers etc.); with a PREEMPT_NONE,
# HZ=250 kernel a task woken behind a busy CPU can wait a whole 4 ms tick. Every measurement
# therefore records "other_cpu": % of the whole machine used by processes outside the calling
# script's process tree (kernel threads and softirq time included) while it ran, and waits
# (bounded) for a quiet machine first.
#
#   m0=$(cpu_mark); ...measure...; m1=$(cpu_mark); oc=$(other_cpu "$m0" "$m1")
#   wait_quiet      # before a measurement: wait until others use < QUIET_PCT %, within a budget
#
# Settings (the caller may set them before or after sourcing):
#   QUIET_PCT [15]       a run is "quiet" when others used less than this % of the machine
#   QUIET_WAIT_MAX [60]  total seconds the calling script may spend waiting for quiet
#   EXTRA_ROOTS [""]     PIDs of daemons the script started that are not its descendants (a
#                        postmaster started by pg_ctl): they and their children count as "ours"
# shellcheck shell=bash

: "${QUIET_PCT:=15}"
: "${QUIET_WAIT_MAX:=60}"
: "${EXTRA_ROOTS:=}"
QUIET_WAITED=${QUIET_WAITED:-0}

cpu_mark() {  # prints: epoch_time busy_jiffies_all_cpus jiffies_of_this_script's_tree
  # shellcheck disable=SC2086
  python3 - "$$" $EXTRA_ROOTS <<'PYEOF'
import os, sys, time
roots = [int(x) for x in sys.argv[1:]]; kids = {}; tick = {}
for p in os.listdir('/proc'):
    if not p.isdigit():
        continue
    try:
        s = open(f'/proc/{p}/stat').read()
    except OSError:
        continue
    r = s[s.rfind(')') + 2:].split()
    tick[int(p)] = sum(int(x) for x in r[11:15])      # utime stime cutime cstime
    kids.setdefault(int(r[1]), []).append(int(p))
tot, stack, seen = 0, list(roots), set()
while stack:
    p = stack.pop()
    if p in seen:
        continue
    seen.add(p); tot += tick.get(p, 0); stack += kids.get(p, [])
c = [int(x) for x in open('/proc/stat').readline().split()[1:]]
print(time.time(), sum(c[:8]) - c[3] - c[4], tot)
PYEOF
}

other_cpu() {  # other_cpu MARK0 MARK1 -> % of all cores used by others in between
  python3 -c "
import os, sys
t0, b0, m0 = map(float, sys.argv[1].split()); t1, b1, m1 = map(float, sys.argv[2].split())
hz = os.sysconf('SC_CLK_TCK'); n = os.cpu_count()
print(round(min(100.0, max(0.0, ((b1 - b0) - (m1 - m0)) / hz / ((t1 - t0) * n) * 100)), 1))" "$1" "$2"
}

wait_quiet() {  # sample 0.5 s; while others are busy, wait, within the script's total budget
  local a b oc
  while :; do
    a=$(cpu_mark); sleep 0.5; b=$(cpu_mark); oc=$(other_cpu "$a" "$b")
    python3 -c "import sys; sys.exit(0 if float('$oc') < $QUIET_PCT else 1)" && return 0
    if [ "$QUIET_WAITED" -ge "$QUIET_WAIT_MAX" ]; then
      printf '==> %s\n' "machine busy (others at ${oc}%), wait budget spent; measuring anyway" >&2
      return 0
    fi
    sleep 2; QUIET_WAITED=$((QUIET_WAITED + 3))
  done
}
