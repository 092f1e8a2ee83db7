#!/usr/bin/env python3
"""Crash test for OmniStock's write-ahead log (issue 4): kill -9 under load, restart, verify.

A standalone program (not a pytest module; ``Tests/crash/conftest.py`` keeps pytest away from it):

    python3 Tests/crash/crash_test.py --cycles 20 --binary .build/debug/omnistock

Every cycle starts ``omnistock serve --port 0`` on the SAME data directory (kept across cycles),
verifies everything written so far, runs concurrent writer "devices" (unary ``ApplyEvents`` and
pipelined ``StreamEvents`` streams) that send batches of 1-20 RECEIPT events, each event for its
own fresh SKU with a random quantity 1..5, and sends SIGKILL to the server after a random delay
while the writers are mid-flight. The writers stop on their errors.

The oracle knows every event that was sent and whether its batch was acknowledged. After each
restart, ``BatchGetAvailability`` over every event sent so far must read:

* acknowledged event: exactly its quantity (durable, applied once);
* unacknowledged event, first look: 0 (lost) or exactly its quantity (durable but unacknowledged);
  from then on it must keep that value (nothing lost later, nothing appears later);
* anything else (e.g. 2x: applied twice) is a violation.

Further checks (also violations): an unacknowledged batch is all present or all lost (one log
record per batch); on one stream, a lost batch is never followed by a present one (no hole in the
log); acknowledged LSNs keep growing across restarts and the recovered index LSN covers them all.
At the end the server is stopped with SIGTERM (exit 0 required), started once more and verified
again after that clean shutdown.

Exit status: 0 on success; 1 on a violation, a server that fails to (re)start or to exit cleanly,
an unexpected RPC error before the kill, or too few acknowledged events to mean anything.
The temp directory (data dir + server logs) is removed on success and kept (path printed) on
failure. A failing run can be replayed with the printed ``--seed`` (timing still varies).

De-duplication by (device_id, device_seq) is not implemented yet, so writers never resend an
unacknowledged batch; every cycle uses fresh device ids with device_seq starting at 1.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import glob
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PROTO_ROOT = os.path.join(REPO, "proto")
HOST = "127.0.0.1"
LISTEN_PREFIX = "omnistock listening on "
CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # Fail fast after the kill instead of backing off between reconnect attempts.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]
MAX_QUERIES_PER_READ = 10_000

# Filled in by load_stubs().
pb = None  # types: namespace with the generated modules


class TestFailure(Exception):
    """A failure that ends the run (server did not start, did not exit cleanly, ...)."""


# ---------------------------------------------------------------------------------------------
# Generated stubs (same approach as Tests/python/conftest.py, self-contained)
# ---------------------------------------------------------------------------------------------

def load_stubs(out_dir: str):
    global pb
    os.makedirs(out_dir, exist_ok=True)
    protos = sorted(glob.glob(os.path.join(PROTO_ROOT, "omnistock", "v1", "*.proto")))
    if not protos:
        raise TestFailure(f"no .proto files under {PROTO_ROOT}/omnistock/v1")
    rel = [os.path.relpath(p, PROTO_ROOT) for p in protos]
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
           f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *rel]
    proc = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TestFailure(f"protoc failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    sys.path.insert(0, out_dir)
    import grpc  # noqa: F401  (fail early with a clear message if grpcio is missing)
    from omnistock.v1 import (admin_pb2, admin_pb2_grpc, availability_pb2, availability_pb2_grpc,
                              common_pb2, ingest_pb2, ingest_pb2_grpc)

    class _PB:
        pass

    pb = _PB()
    pb.admin, pb.admin_grpc = admin_pb2, admin_pb2_grpc
    pb.avail, pb.avail_grpc = availability_pb2, availability_pb2_grpc
    pb.common = common_pb2
    pb.ingest, pb.ingest_grpc = ingest_pb2, ingest_pb2_grpc


# ---------------------------------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------------------------------

_live_servers: "set[Server]" = set()


def _kill_live_servers():
    for srv in list(_live_servers):
        srv.kill9()


atexit.register(_kill_live_servers)


class Server:
    """One ``omnistock serve`` process on 127.0.0.1 with a port chosen by the server."""

    def __init__(self, binary: str, data_dir: str, log_path: str):
        self.binary, self.data_dir, self.log_path = binary, data_dir, log_path
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._lines: "queue.Queue[str | None]" = queue.Queue()
        self._log = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self, timeout: float) -> float:
        """Starts the server and waits for its listening line; returns the seconds it took."""
        t0 = time.monotonic()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--host", HOST, "--port", "0", "--data-dir", self.data_dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)
        _live_servers.add(self)
        threading.Thread(target=self._pump, daemon=True, name=f"stdout-{self.proc.pid}").start()
        deadline = t0 + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill9()
                raise TestFailure(f"server did not print its listening line within {timeout:.0f} s\n"
                                  f"{self.stderr_tail()}")
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                try:
                    rc = self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    rc = "?"
                self.kill9()
                raise TestFailure(f"server exited (code {rc}) before listening\n{self.stderr_tail()}")
            line = line.strip()
            if line.startswith(LISTEN_PREFIX):
                host, _, port = line[len(LISTEN_PREFIX):].rpartition(":")
                if host != HOST or not port.isdigit() or int(port) <= 0:
                    self.kill9()
                    raise TestFailure(f"unexpected listening line {line!r}")
                self.port = int(port)
                return time.monotonic() - t0

    def _pump(self):
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def sigterm_and_wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
            self.kill9()
        self._close()
        return rc

    def _close(self):
        _live_servers.discard(self)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            with open(self.log_path, "r", errors="replace") as f:
                text = f.read()
        except OSError:
            return f"(no server log at {self.log_path})"
        tail = text[-limit:]
        return f"--- server stderr ({self.log_path}), last {len(tail)} chars ---\n{tail}\n--- end ---"


# ---------------------------------------------------------------------------------------------
# Oracle
# ---------------------------------------------------------------------------------------------

# Event states.
SENT = 0      # sent, no ack (yet); unknown fate until first verified after a restart
ACKED = 1     # batch acknowledged: must read exactly its quantity, forever
PRESENT = 2   # unacknowledged, found durable: must keep reading its quantity
LOST = 3      # unacknowledged, found absent: must keep reading 0


class Batch:
    __slots__ = ("batch_id", "cycle", "device", "stream_key", "index", "events", "acked", "lsn")

    def __init__(self, batch_id, cycle, device, stream_key, index, events):
        self.batch_id, self.cycle, self.device = batch_id, cycle, device
        self.stream_key, self.index = stream_key, index   # stream_key: one per connection/stream
        self.events = events                             # list of (sku, location, qty)
        self.acked = False
        self.lsn = 0


class Oracle:
    def __init__(self):
        self.lock = threading.Lock()
        self.batches: list[Batch] = []
        # sku -> [location, qty, state, batch]
        self.events: dict[str, list] = {}
        self.max_acked_lsn = 0

    def sent(self, batch: Batch):
        """Records a batch BEFORE it is sent (so anything the server may have made durable is known)."""
        with self.lock:
            self.batches.append(batch)
            for sku, loc, qty in batch.events:
                assert sku not in self.events, f"duplicate sku {sku}"
                self.events[sku] = [loc, qty, SENT, batch]

    def acked(self, batch: Batch, lsn: int):
        with self.lock:
            batch.acked, batch.lsn = True, lsn
            for sku, _, _ in batch.events:
                self.events[sku][2] = ACKED


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------

class CycleState:
    def __init__(self, cycle: int, oracle: Oracle, locations: list[str], rpc_timeout: float,
                 hard_deadline: float, think_s: float):
        self.cycle, self.oracle, self.locations = cycle, oracle, locations
        self.think_s = think_s  # mean pause between a device's batches
        self.rpc_timeout, self.hard_deadline = rpc_timeout, hard_deadline
        self.killed = threading.Event()
        self.lock = threading.Lock()
        self.errors_before_kill: list[str] = []
        self.bad_acks: list[str] = []
        self.internal_errors: list[str] = []
        self.stop_reasons = collections.Counter()
        self.batches_unary = self.batches_stream = 0
        self.cycle_lsns: list[int] = []

    def note_error(self, device: str, what: str, err: BaseException):
        import grpc
        code = err.code().name if isinstance(err, grpc.RpcError) and hasattr(err, "code") else type(err).__name__
        with self.lock:
            self.stop_reasons[code] += 1
            if not self.killed.is_set():
                self.errors_before_kill.append(f"{device}: {what}: {code}: {err}")

    def note_bad_ack(self, msg: str):
        with self.lock:
            self.bad_acks.append(msg)


def run_device(st: CycleState, fn, *args):
    """Thread body: a bug in the test itself must fail the run, not end a writer silently."""
    try:
        fn(st, *args)
    except BaseException as e:  # noqa: BLE001
        import traceback
        with st.lock:
            st.internal_errors.append(f"{threading.current_thread().name}: {e!r}\n{traceback.format_exc()}")


def make_batch(st: CycleState, rng: random.Random, device_id: str, seq: list, counter: list,
               stream_key: str, index: int) -> tuple[Batch, object]:
    n = rng.randint(1, 20)
    now_ms = int(time.time() * 1000)
    events, msgs = [], []
    for _ in range(n):
        counter[0] += 1
        seq[0] += 1
        sku = f"c{st.cycle}-{device_id.rsplit('-', 1)[-1]}-n{counter[0]}"
        loc = rng.choice(st.locations)
        qty = rng.randint(1, 5)
        events.append((sku, loc, qty))
        msgs.append(pb.ingest.StockEvent(
            device_id=device_id, device_seq=seq[0], location_id=loc, sku=sku,
            type=pb.ingest.EVENT_TYPE_RECEIPT, quantity=qty, event_time_unix_ms=now_ms))
    batch_id = f"{device_id}-b{index}"
    batch = Batch(batch_id, st.cycle, device_id, stream_key, index, events)
    return batch, pb.ingest.EventBatch(batch_id=batch_id, events=msgs)


def check_ack(st: CycleState, batch: Batch, ack) -> bool:
    n = len(batch.events)
    problems = []
    if ack.batch_id != batch.batch_id:
        problems.append(f"batch_id {ack.batch_id!r}")
    if ack.HasField("error"):
        problems.append(f"error {ack.error.code}: {ack.error.message}")
    if ack.received != n or ack.applied != n or ack.rejected or ack.superseded or ack.duplicates:
        problems.append(f"received {ack.received} applied {ack.applied} rejected {ack.rejected} "
                        f"superseded {ack.superseded} duplicates {ack.duplicates} (sent {n})")
    if ack.lsn <= 0:
        problems.append(f"lsn {ack.lsn}")
    if problems:
        st.note_bad_ack(f"ack for {batch.batch_id}: " + "; ".join(problems))
        return False
    return True


def unary_device(st: CycleState, channel, device_id: str, seed: int):
    rng = random.Random(seed)
    stub = pb.ingest_grpc.IngestStub(channel)
    seq, counter, index = [0], [0], 0
    last_lsn = 0
    while time.monotonic() < st.hard_deadline:
        index += 1
        batch, msg = make_batch(st, rng, device_id, seq, counter, device_id, index)
        st.oracle.sent(batch)
        try:
            ack = stub.ApplyEvents(msg, timeout=st.rpc_timeout)
        except Exception as e:  # grpc.RpcError after the kill
            st.note_error(device_id, f"ApplyEvents {batch.batch_id}", e)
            return
        with st.lock:
            st.batches_unary += 1
        if not check_ack(st, batch, ack):
            return
        if ack.lsn <= last_lsn:
            st.note_bad_ack(f"{batch.batch_id}: lsn {ack.lsn} not above previous ack's {last_lsn}")
        last_lsn = ack.lsn
        st.oracle.acked(batch, ack.lsn)
        with st.lock:
            st.cycle_lsns.append(ack.lsn)
        if st.think_s > 0:
            time.sleep(rng.uniform(0, 2 * st.think_s))
    st.note_error(device_id, "cycle deadline", TimeoutError("still writing at the cycle deadline"))


def stream_device(st: CycleState, channel, device_id: str, seed: int, window: int):
    """One StreamEvents stream with up to `window` batches in flight; acks must come in order."""
    rng = random.Random(seed)
    stub = pb.ingest_grpc.IngestStub(channel)
    requests: "queue.Queue" = queue.Queue()
    cond = threading.Condition()
    outstanding: "collections.deque[Batch]" = collections.deque()
    done = [False]

    def request_iter():
        while True:
            item = requests.get()
            if item is None:
                return
            yield item

    # The whole stream gets a deadline well past the cycle's; per-ack timeouts are enforced below.
    call = stub.StreamEvents(request_iter(), timeout=max(1.0, st.hard_deadline - time.monotonic() + 5))

    def reader():
        last_lsn = 0
        try:
            for ack in call:
                with cond:
                    if not outstanding:
                        st.note_bad_ack(f"{device_id}: unexpected ack {ack.batch_id!r} (nothing outstanding)")
                        break
                    batch = outstanding[0]
                ok = check_ack(st, batch, ack)
                if ok and ack.lsn <= last_lsn:
                    st.note_bad_ack(f"{batch.batch_id}: lsn {ack.lsn} not above previous ack's {last_lsn}")
                if not ok:
                    break
                last_lsn = ack.lsn
                st.oracle.acked(batch, ack.lsn)
                with st.lock:
                    st.batches_stream += 1
                    st.cycle_lsns.append(ack.lsn)
                with cond:
                    outstanding.popleft()
                    cond.notify_all()
            else:
                st.note_error(device_id, "StreamEvents", EOFError("server ended the stream"))
        except Exception as e:
            st.note_error(device_id, "StreamEvents", e)
        finally:
            with cond:
                done[0] = True
                cond.notify_all()

    rt = threading.Thread(target=reader, daemon=True, name=f"reader-{device_id}")
    rt.start()
    seq, counter, index = [0], [0], 0
    try:
        while True:
            if st.think_s > 0 and index > 0:
                time.sleep(rng.uniform(0, 2 * st.think_s))
            with cond:
                t_wait = time.monotonic() + st.rpc_timeout
                while not done[0] and len(outstanding) >= window:
                    left = t_wait - time.monotonic()
                    if left <= 0:
                        break
                    cond.wait(timeout=left)
                if done[0]:
                    return
                if len(outstanding) >= window:
                    st.note_error(device_id, "StreamEvents",
                                  TimeoutError(f"no ack within {st.rpc_timeout} s"))
                    return
                if time.monotonic() >= st.hard_deadline:
                    st.note_error(device_id, "cycle deadline", TimeoutError("still writing at the cycle deadline"))
                    return
                index += 1
                batch, msg = make_batch(st, rng, device_id, seq, counter, device_id, index)
                st.oracle.sent(batch)
                outstanding.append(batch)
            requests.put(msg)
    finally:
        requests.put(None)
        call.cancel()
        rt.join(timeout=st.rpc_timeout + 5)


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------

class Totals:
    def __init__(self):
        self.violations: list[str] = []
        self.acked_verified = 0


def read_all(channels, oracle: Oracle, rpc_timeout: float) -> tuple[dict[str, int], int, list[str]]:
    """on_hand for every sku in the oracle; also the lowest index_lsn seen and per-query errors.

    Chunks of 10,000 queries are spread over `channels` (separate connections: the server answers
    reads inline on each connection's event loop, so one connection per core reads fastest)."""
    with oracle.lock:
        items = [(sku, rec[0]) for sku, rec in oracle.events.items()]
    chunks = [items[i:i + MAX_QUERIES_PER_READ] for i in range(0, len(items), MAX_QUERIES_PER_READ)]
    responses: list = [None] * len(chunks)
    failures: list[BaseException] = []

    def worker(k: int, channel):
        stub = pb.avail_grpc.AvailabilityStub(channel)
        try:
            for i in range(k, len(chunks), len(channels)):
                req = pb.avail.BatchGetAvailabilityRequest(
                    queries=[pb.avail.AvailabilityQuery(sku=s, location_id=l) for s, l in chunks[i]])
                responses[i] = stub.BatchGetAvailability(req, timeout=max(rpc_timeout, 30.0))
        except BaseException as e:  # reported by the caller
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(k, ch), daemon=True) for k, ch in enumerate(channels)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    if failures or any(t.is_alive() for t in threads):
        raise TestFailure(f"BatchGetAvailability failed: {failures[0] if failures else 'timed out'}")
    values: dict[str, int] = {}
    errors: list[str] = []
    min_index_lsn = None
    for chunk, resp in zip(chunks, responses):
        if len(resp.results) != len(chunk):
            raise TestFailure(f"BatchGetAvailability returned {len(resp.results)} results for {len(chunk)} queries")
        min_index_lsn = resp.index_lsn if min_index_lsn is None else min(min_index_lsn, resp.index_lsn)
        for (sku, loc), res in zip(chunk, resp.results):
            if res.WhichOneof("result") != "availability":
                errors.append(f"{sku}@{loc}: query error {res.error.code}: {res.error.message}")
                continue
            values[sku] = res.availability.on_hand
    return values, (min_index_lsn or 0), errors


def verify(channels, oracle: Oracle, totals: Totals, rpc_timeout: float, max_report: int = 20) -> dict:
    """Checks every event sent so far; resolves first-time unknown events to PRESENT or LOST."""
    values, index_lsn, errors = read_all(channels, oracle, rpc_timeout)
    stats = collections.Counter()
    bad: list[str] = []
    for e in errors:
        bad.append(e)
    with oracle.lock:
        if index_lsn < oracle.max_acked_lsn:
            bad.append(f"recovered index_lsn {index_lsn} is below the highest acknowledged LSN {oracle.max_acked_lsn}")
        for sku, rec in oracle.events.items():
            loc, qty, state, batch = rec
            if sku not in values:
                continue  # query error, already reported
            got = values[sku]
            if state == ACKED:
                stats["acked"] += 1
                if got != qty:
                    bad.append(f"{sku}@{loc} (batch {batch.batch_id}, acked at lsn {batch.lsn}): "
                               f"on_hand {got}, expected exactly {qty}"
                               + (" (applied twice?)" if got == 2 * qty else " (acknowledged write lost?)" if got == 0 else ""))
            elif state == SENT:
                if got == 0:
                    rec[2] = LOST
                    stats["new_lost"] += 1
                elif got == qty:
                    rec[2] = PRESENT
                    stats["new_present"] += 1
                else:
                    bad.append(f"{sku}@{loc} (batch {batch.batch_id}, unacknowledged): on_hand {got}, "
                               f"expected 0 or {qty}" + (" (applied twice?)" if got == 2 * qty else ""))
            elif state == PRESENT:
                stats["present"] += 1
                if got != qty:
                    bad.append(f"{sku}@{loc} (batch {batch.batch_id}, unacknowledged, seen durable before): "
                               f"on_hand {got}, expected {qty} as at the previous restart")
            elif state == LOST:
                stats["lost"] += 1
                if got != 0:
                    bad.append(f"{sku}@{loc} (batch {batch.batch_id}, unacknowledged, seen lost before): "
                               f"on_hand {got}, expected 0 as at the previous restart (reappeared)")
        # Unacknowledged batches: all present or all lost (one log record per batch); per stream,
        # no lost batch followed by a present one (no hole in the log).
        per_stream: dict[str, list[Batch]] = collections.defaultdict(list)
        for b in oracle.batches:
            if b.acked:
                continue
            states = {oracle.events[s][2] for s, _, _ in b.events}
            if len(states) > 1:
                bad.append(f"unacknowledged batch {b.batch_id} partly durable: "
                           f"{sorted('present' if x == PRESENT else 'lost' if x == LOST else str(x) for x in states)}")
            per_stream[b.stream_key].append(b)
        for key, bs in per_stream.items():
            seen_lost = None
            for b in sorted(bs, key=lambda b: b.index):
                st = oracle.events[b.events[0][0]][2]
                if st == LOST:
                    seen_lost = seen_lost or b
                elif st == PRESENT and seen_lost is not None:
                    bad.append(f"{key}: batch {b.batch_id} durable although earlier batch "
                               f"{seen_lost.batch_id} of the same stream was lost (hole in the log)")
    stats["checked"] = len(values)
    stats["violations"] = len(bad)
    totals.violations.extend(bad)
    for line in bad[:max_report]:
        print(f"  VIOLATION: {line}", flush=True)
    if len(bad) > max_report:
        print(f"  ... and {len(bad) - max_report} more violations", flush=True)
    return stats


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def declare_locations(channel, locations: list[str], rpc_timeout: float):
    stub = pb.admin_grpc.AdminStub(channel)
    for i, loc in enumerate(locations):
        stub.UpsertLocation(pb.admin.UpsertLocationRequest(location=pb.admin.Location(
            location_id=loc, kind=pb.common.LOCATION_KIND_STORE, active=True,
            display_name=f"Crash test store {i}")), timeout=rpc_timeout)


def wait_ready(channel, timeout: float):
    import grpc
    grpc.channel_ready_future(channel).result(timeout=timeout)


def run(args) -> int:
    import grpc

    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    master = random.Random(seed)
    print(f"crash test: seed {seed} (replay with --seed {seed}), {args.cycles} cycles, "
          f"{args.devices} devices, think {args.think_ms:g} ms, kill after {args.min_delay}-{args.max_delay} s", flush=True)

    tmp = tempfile.mkdtemp(prefix="omnistock-crash-")
    data_dir = os.path.join(tmp, "data")
    ok = False
    servers: list[Server] = []
    oracle = Oracle()
    totals = Totals()
    agg = collections.Counter()
    done = [0]  # cycles whose kill happened
    t_run = time.monotonic()

    def summary():
        print(f"crash test: {done[0]} cycles, {totals.acked_verified} acked events verified, "
              f"{agg['unacked']} unacknowledged ({agg['present']} present, {agg['lost']} lost), "
              f"{len(totals.violations)} violations ({time.monotonic() - t_run:.1f} s, seed {seed})", flush=True)

    try:
        load_stubs(os.path.join(tmp, "stubs"))
        binary = os.path.abspath(args.binary)
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise TestFailure(f"omnistock binary not found or not executable at {binary!r}; build it with "
                              f"`swift build --product omnistock` in {REPO} or pass --binary / OMNISTOCK_BIN")
        # Run a private copy: a rebuild during the run must not swap binaries between cycles.
        run_binary = os.path.join(tmp, "omnistock")
        shutil.copy2(binary, run_binary)
        print(f"crash test: binary {binary}, data dir {data_dir}", flush=True)

        locations = [f"crash-store-{i}" for i in range(args.locations)]
        pending_report = None  # cycle line waiting for its verification

        def start_server(label: str) -> tuple[Server, float]:
            srv = Server(run_binary, data_dir, os.path.join(tmp, f"server-{label}.log"))
            servers.append(srv)
            try:
                took = srv.start(args.startup_timeout)
            except TestFailure as e:
                raise TestFailure(f"server failed to start ({label}) on data dir {data_dir}: {e}")
            return srv, took

        def verify_and_report(srv: Server, startup_s: float):
            nonlocal pending_report
            # Own connections (local subchannel pools), one per reader thread.
            chs = [grpc.insecure_channel(srv.address, options=CHANNEL_OPTIONS + [
                ("grpc.use_local_subchannel_pool", 1)]) for _ in range(args.read_connections)]
            try:
                for ch in chs:
                    wait_ready(ch, args.rpc_timeout)
                t0 = time.monotonic()
                stats = verify(chs, oracle, totals, args.rpc_timeout)
                vt = time.monotonic() - t0
            finally:
                for ch in chs:
                    ch.close()
            agg["present"] += stats["new_present"]
            agg["lost"] += stats["new_lost"]
            totals.acked_verified = stats["acked"]
            if pending_report is not None:
                c, line = pending_report
                print(f"cycle {c:3d}/{args.cycles}: {line}; restart {startup_s:.2f} s, verified "
                      f"{stats['checked']} events in {vt:.2f} s: {stats['new_present']} unacked present, "
                      f"{stats['new_lost']} unacked lost, {stats['violations']} violations", flush=True)
                pending_report = None
            else:
                print(f"  verify: restart {startup_s:.2f} s, {stats['checked']} events checked in {vt:.2f} s, "
                      f"{stats['violations']} violations", flush=True)
            return stats

        for cycle in range(1, args.cycles + 1):
            srv, startup_s = start_server(f"{cycle:03d}")
            if cycle > 1:
                verify_and_report(srv, startup_s)
                if totals.violations and not args.keep_going_on_violation:
                    break
            if cycle == 1:
                ch = grpc.insecure_channel(srv.address, options=CHANNEL_OPTIONS)
                try:
                    wait_ready(ch, args.rpc_timeout)
                    declare_locations(ch, locations, args.rpc_timeout)
                finally:
                    ch.close()

            # Write phase.
            crng = random.Random(master.getrandbits(64))
            delay = crng.uniform(args.min_delay, args.max_delay)
            hard_deadline = time.monotonic() + delay + args.rpc_timeout + 10
            st = CycleState(cycle, oracle, locations, args.rpc_timeout, hard_deadline, args.think_ms / 1000)
            n_before = len(oracle.events)
            channels, threads = [], []
            for d in range(args.devices):
                device_id = f"crash-c{cycle}-d{d}"
                ch = grpc.insecure_channel(srv.address, options=CHANNEL_OPTIONS)
                channels.append(ch)
                dseed = crng.getrandbits(64)
                if d % 2 == 0:
                    t = threading.Thread(target=run_device, args=(st, unary_device, ch, device_id, dseed),
                                         daemon=True, name=device_id)
                else:
                    window = crng.randint(1, 4)
                    t = threading.Thread(target=run_device, args=(st, stream_device, ch, device_id, dseed, window),
                                         daemon=True, name=device_id)
                threads.append(t)
            t_w = time.monotonic()
            for t in threads:
                t.start()
            time.sleep(max(0.0, delay - (time.monotonic() - t_w)))
            st.killed.set()  # before the signal: any error from here on is expected
            srv.kill9()
            killed_after = time.monotonic() - t_w
            done[0] = cycle
            join_deadline = time.monotonic() + args.rpc_timeout + 10
            stuck = []
            for t in threads:
                t.join(timeout=max(0.1, join_deadline - time.monotonic()))
                if t.is_alive():
                    stuck.append(t.name)
            for ch in channels:
                ch.close()
            if stuck:
                raise TestFailure(f"cycle {cycle}: writers did not stop after the kill: {stuck}")
            if st.internal_errors:
                raise TestFailure(f"cycle {cycle}: crash test internal error:\n" + "\n".join(st.internal_errors[:3]))
            if st.errors_before_kill:
                raise TestFailure(f"cycle {cycle}: RPC errors before the kill:\n  " + "\n  ".join(st.errors_before_kill[:10])
                                  + f"\n{srv.stderr_tail()}")
            if st.bad_acks:
                raise TestFailure(f"cycle {cycle}: unexpected acks:\n  " + "\n  ".join(st.bad_acks[:10]))

            with oracle.lock:
                new = list(oracle.events.values())[n_before:]
                acked = sum(1 for r in new if r[2] == ACKED)
                if st.cycle_lsns and min(st.cycle_lsns) <= oracle.max_acked_lsn:
                    totals.violations.append(
                        f"cycle {cycle}: acknowledged LSN {min(st.cycle_lsns)} reused: not above the previous "
                        f"cycles' highest acknowledged LSN {oracle.max_acked_lsn}")
                    print(f"  VIOLATION: {totals.violations[-1]}", flush=True)
                if st.cycle_lsns:
                    oracle.max_acked_lsn = max(oracle.max_acked_lsn, max(st.cycle_lsns))
            agg["acked"] += acked
            agg["unacked"] += len(new) - acked
            stops = ", ".join(f"{k} x{v}" for k, v in sorted(st.stop_reasons.items()))
            pending_report = (cycle, f"killed after {killed_after:.2f} s; {len(new)} events sent, {acked} acked "
                                     f"({st.batches_unary} unary + {st.batches_stream} stream batches), "
                                     f"{len(new) - acked} unacked; writers stopped on: {stops}")

        if not totals.violations or args.keep_going_on_violation:
            # Final: recover the last cycle, verify, stop cleanly, and check recovery after a clean stop.
            srv, startup_s = start_server("final")
            verify_and_report(srv, startup_s)
            rc = srv.sigterm_and_wait(args.shutdown_timeout)
            if rc != 0:
                raise TestFailure(f"server exited with {rc} after SIGTERM (expected 0)\n{srv.stderr_tail()}")
            srv, startup_s = start_server("after-sigterm")
            stats = verify_and_report(srv, startup_s)
            if stats["new_present"] or stats["new_lost"]:
                totals.violations.append("unknown events remained after the final verification")
            rc = srv.sigterm_and_wait(args.shutdown_timeout)
            if rc != 0:
                raise TestFailure(f"server exited with {rc} after SIGTERM (expected 0)\n{srv.stderr_tail()}")

        summary()
        v = len(totals.violations)
        if v:
            print(f"crash test: FAILED with {v} violations; replay with --seed {seed}", flush=True)
            return 1
        if agg["acked"] < args.min_acked:
            print(f"crash test: FAILED: only {agg['acked']} events acknowledged in total, fewer than "
                  f"--min-acked {args.min_acked}: the test did not exercise the server", flush=True)
            return 1
        ok = True
        return 0
    except Exception as e:  # TestFailure, or an unexpected RPC error (e.g. while declaring locations)
        if not isinstance(e, TestFailure):
            import traceback
            traceback.print_exc()
        print(f"crash test: FAILED: {e}", flush=True)
        summary()
        print(f"crash test: replay with --seed {seed}", flush=True)
        return 1
    finally:
        for srv in servers:
            srv.kill9()
        if ok and not args.keep_data:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"crash test: data dir and server logs kept in {tmp}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="OmniStock kill -9 crash test (write-ahead log durability).")
    p.add_argument("--cycles", type=int, default=20, help="kill/restart cycles (default 20)")
    p.add_argument("--binary", default=os.environ.get("OMNISTOCK_BIN")
                   or os.path.join(REPO, ".build", "debug", "omnistock"),
                   help="omnistock binary (default: $OMNISTOCK_BIN or <repo>/.build/debug/omnistock)")
    p.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    p.add_argument("--devices", type=int, default=6, help="concurrent writers; even = unary, odd = stream (default 6)")
    p.add_argument("--locations", type=int, default=4, help="locations declared in cycle 1 (default 4)")
    p.add_argument("--min-delay", type=float, default=0.2, help="earliest kill after writers start, s (default 0.2)")
    p.add_argument("--max-delay", type=float, default=1.5, help="latest kill after writers start, s (default 1.5)")
    p.add_argument("--think-ms", type=float, default=10.0,
                   help="mean pause between a device's batches, ms (uniform 0..2x; default 10; 0 = flat out)")
    p.add_argument("--read-connections", type=int, default=2,
                   help="parallel connections for verification reads (default 2)")
    p.add_argument("--rpc-timeout", type=float, default=5.0, help="deadline of every RPC / ack, s (default 5)")
    p.add_argument("--startup-timeout", type=float, default=60.0, help="wait for the listening line, s (default 60)")
    p.add_argument("--shutdown-timeout", type=float, default=30.0, help="wait for exit after SIGTERM, s (default 30)")
    p.add_argument("--min-acked", type=int, default=None,
                   help="fail if fewer events were acknowledged in total (default 50 per cycle)")
    p.add_argument("--keep-going-on-violation", action="store_true",
                   help="continue cycling after a violation (default: stop at the first one)")
    p.add_argument("--keep-data", action="store_true", help="keep the temp dir even on success")
    args = p.parse_args(argv)
    if args.cycles < 1 or args.devices < 1 or args.locations < 1 or args.read_connections < 1 or not (0 <= args.min_delay <= args.max_delay):
        p.error("need --cycles, --devices, --locations, --read-connections >= 1 and 0 <= --min-delay <= --max-delay")
    if args.min_acked is None:
        args.min_acked = 50 * args.cycles

    # SIGTERM/SIGHUP to the test: unwind through the finally blocks (servers get killed).
    def _on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
