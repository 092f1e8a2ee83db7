#!/usr/bin/env python3
"""Crash test for OmniStock's durability (issues 4 and 5): the write-ahead log, checkpoints and
exactly-once de-duplication by (device_id, device_seq). kill -9 under load, restart, verify, resend.

A standalone program (not a pytest module; ``Tests/crash/conftest.py`` keeps pytest away from it):

    python3 Tests/crash/crash_test.py --cycles 20 --binary .build/debug/omnistock

One data directory is kept across all cycles; cycle 1 declares the writer locations, once (the
declarations must survive every restart). Every cycle:

1. starts ``omnistock serve --port 0`` with frequent checkpoints (``--checkpoint-log-bytes`` 64 KiB
   and ``--checkpoint-interval-seconds`` 1 by default);
2. from cycle 2: verifies everything written so far (below), then every device RESENDS its
   unacknowledged batches (same device_seq) and its last acknowledged batch, and the resent events
   are verified again;
3. runs the writers: devices with the same ids in every cycle and device_seq continuing where they
   stopped (even = unary ``ApplyEvents``, odd = pipelined ``StreamEvents`` with up to 4 batches in
   flight) send batches of 1-20 RECEIPT events, each event for its own SKU (``<device>-q<seq>``)
   with a random quantity 1..5; meanwhile one thread calls ``Admin.Checkpoint`` at random moments;
4. sends SIGKILL after a random delay while writers and checkpoints are mid-flight, so kills land
   before, during and after checkpoints (a ``checkpoints/checkpoint.tmp`` written during the cycle
   shows a kill during one; they are counted). The writers stop on their errors; a device keeps
   its unacknowledged batches for the next cycle.

The oracle knows every event sent and whether its batch was acknowledged. After each restart,
``BatchGetAvailability`` over every event sent so far must read:

* acknowledged event: exactly its quantity (durable, applied once);
* unacknowledged event: 0 (lost) or exactly its quantity (durable but unacknowledged); anything else
  (e.g. 2x: applied twice) is a violation; an unacknowledged batch is all present or all lost (one
  log record per batch); on one stream, a lost batch is never followed by a present one (no hole in
  the log).

Then the resends: a device's last acknowledged batch must come back all DUPLICATE with the ack's
high-water mark exactly the device's last durable device_seq (high-water marks survive kill -9 and
checkpoint recovery); an unacknowledged batch found durable must come back all DUPLICATE, one found
lost all applied, with no GAP. Reading the resent events again, every event sent so far must be
present exactly once. Further checks (also violations): the recovered index LSN covers every
acknowledged LSN; an acknowledgement that applied something carries an LSN above every LSN
acknowledged before (LSNs keep growing across restarts), one that applied nothing (all DUPLICATE)
an LSN at least that high; ``Admin.Checkpoint`` covers every LSN acknowledged before it was called;
``GetStats.devices`` is the number of devices with a durable event; the declared locations exist.

At the end the server is stopped with SIGTERM (exit 0 required), started once more and verified
again (with the high-water resends) after that clean shutdown.

Exit status: 0 on success; 1 on a violation, a server that fails to (re)start or to exit cleanly,
an unexpected RPC error or acknowledgement before the kill, or too few acknowledged events to mean
anything. The temp directory (data dir + server logs) is removed on success and kept (path printed)
on failure. A failing run can be replayed with the printed ``--seed`` (timing still varies).
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

    def __init__(self, binary: str, data_dir: str, log_path: str, extra_args=()):
        self.binary, self.data_dir, self.log_path = binary, data_dir, log_path
        self.extra_args = list(extra_args)
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
            [self.binary, "serve", "--host", HOST, "--port", "0", "--data-dir", self.data_dir, *self.extra_args],
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

# Event (and batch) states.
SENT = 0      # sent, no ack (yet); unknown fate until verified after a restart
ACKED = 1     # acknowledged (when sent or when resent): must read exactly its quantity, forever
PRESENT = 2   # unacknowledged, found durable after a restart: its resend must be DUPLICATE
LOST = 3      # unacknowledged, found absent after a restart: its resend must apply it
MIXED = 4     # batch only: partly durable (a violation)
STATE_NAMES = {SENT: "sent", ACKED: "acked", PRESENT: "present", LOST: "lost", MIXED: "mixed"}


class Batch:
    __slots__ = ("batch_id", "cycle", "device", "stream_key", "index", "events", "event_time",
                 "acked", "lsn", "fate")

    def __init__(self, batch_id, cycle, device, stream_key, index, events, event_time):
        self.batch_id, self.cycle, self.device = batch_id, cycle, device
        self.stream_key, self.index = stream_key, index   # stream_key: one per connection/stream
        self.events = events                             # list of (sku, location, qty, device_seq)
        self.event_time = event_time
        self.acked = False
        self.lsn = 0
        self.fate = SENT

    @property
    def last_seq(self) -> int:
        return self.events[-1][3]

    def message(self):
        """The EventBatch, identical every time it is (re)sent."""
        return pb.ingest.EventBatch(batch_id=self.batch_id, events=[pb.ingest.StockEvent(
            device_id=self.device, device_seq=seq, location_id=loc, sku=sku,
            type=pb.ingest.EVENT_TYPE_RECEIPT, quantity=qty, event_time_unix_ms=self.event_time)
            for sku, loc, qty, seq in self.events])


class Device:
    """A writer with a stable id across cycles: device_seq continues, unacknowledged batches are
    kept (in order) for the resend after the next restart."""

    def __init__(self, device_id: str, stream: bool):
        self.device_id, self.stream = device_id, stream
        self.seq = 0
        self.batches = 0
        self.pending: list[Batch] = []       # sent, not acknowledged, in device_seq order
        self.last_acked: Batch | None = None  # the acknowledged batch with the highest device_seq
        self.last_lsn = 0                     # LSN of its last acknowledgement that applied

    def durable_mark(self) -> int:
        """The high-water mark the server must hold, once the pending batches' fates are known."""
        mark = self.last_acked.last_seq if self.last_acked else 0
        for b in self.pending:
            if b.fate == PRESENT:
                mark = max(mark, b.last_seq)
        return mark


class Oracle:
    def __init__(self):
        self.lock = threading.Lock()
        self.batches: list[Batch] = []
        # sku -> [location, qty, state, batch]
        self.events: dict[str, list] = {}
        self.max_acked_lsn = 0

    def sent(self, device: Device, batch: Batch):
        """Records a batch BEFORE it is sent (so anything the server may have made durable is known)."""
        with self.lock:
            self.batches.append(batch)
            device.pending.append(batch)
            for sku, loc, qty, _ in batch.events:
                assert sku not in self.events, f"duplicate sku {sku}"
                self.events[sku] = [loc, qty, SENT, batch]

    def acked(self, device: Device, batch: Batch, lsn: int):
        with self.lock:
            batch.acked, batch.lsn, batch.fate = True, lsn, ACKED
            for sku, _, _, _ in batch.events:
                self.events[sku][2] = ACKED
            if batch in device.pending:
                device.pending.remove(batch)
            if device.last_acked is None or batch.last_seq > device.last_acked.last_seq:
                device.last_acked = batch


def high_water(ack) -> list:
    return [(h.device_id, h.device_seq) for h in ack.high_water]


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
        self.checkpoints = 0
        self.checkpoint_lsns: list[int] = []

    def note_error(self, who: str, what: str, err: BaseException, count: bool = True):
        import grpc
        code = err.code().name if isinstance(err, grpc.RpcError) and hasattr(err, "code") else type(err).__name__
        with self.lock:
            if count:
                self.stop_reasons[code] += 1
            if not self.killed.is_set():
                self.errors_before_kill.append(f"{who}: {what}: {code}: {err}")

    def note_bad_ack(self, msg: str):
        with self.lock:
            self.bad_acks.append(msg)

    def max_cycle_lsn(self) -> int:
        with self.lock:
            return max(self.cycle_lsns, default=0)


def run_thread(st: CycleState, fn, *args):
    """Thread body: a bug in the test itself must fail the run, not end a writer silently."""
    try:
        fn(st, *args)
    except BaseException as e:  # noqa: BLE001
        import traceback
        with st.lock:
            st.internal_errors.append(f"{threading.current_thread().name}: {e!r}\n{traceback.format_exc()}")


def make_batch(st: CycleState, rng: random.Random, dev: Device, stream_key: str) -> Batch:
    n = rng.randint(1, 20)
    events = []
    for _ in range(n):
        dev.seq += 1
        events.append((f"{dev.device_id}-q{dev.seq}", rng.choice(st.locations), rng.randint(1, 5), dev.seq))
    dev.batches += 1
    return Batch(f"{dev.device_id}-b{dev.batches}", st.cycle, dev.device_id, stream_key, dev.batches,
                 events, int(time.time() * 1000))


def check_ack(st: CycleState, dev: Device, batch: Batch, ack) -> bool:
    """A new batch: every event applied cleanly (no GAP: the device's earlier batches were all
    resent), the device's mark moved to its last device_seq, an LSN above the device's last."""
    n = len(batch.events)
    problems = []
    if ack.batch_id != batch.batch_id:
        problems.append(f"batch_id {ack.batch_id!r}")
    if ack.HasField("error"):
        problems.append(f"error {ack.error.code}: {ack.error.message}")
    if ack.received != n or ack.applied != n or ack.rejected or ack.superseded or ack.duplicates or ack.gaps \
            or len(ack.outcomes):
        problems.append(f"received {ack.received} applied {ack.applied} rejected {ack.rejected} "
                        f"superseded {ack.superseded} duplicates {ack.duplicates} gaps {ack.gaps} "
                        f"outcomes {[(o.index, o.kind, o.reason) for o in ack.outcomes][:3]} (sent {n})")
    if high_water(ack) != [(dev.device_id, batch.last_seq)]:
        problems.append(f"high_water {high_water(ack)}, expected {[(dev.device_id, batch.last_seq)]}")
    if ack.lsn <= dev.last_lsn:
        problems.append(f"lsn {ack.lsn} not above the device's previous ack's {dev.last_lsn}")
    if problems:
        st.note_bad_ack(f"ack for {batch.batch_id}: " + "; ".join(problems))
        return False
    dev.last_lsn = ack.lsn
    return True


def unary_device(st: CycleState, channel, dev: Device, seed: int):
    rng = random.Random(seed)
    stub = pb.ingest_grpc.IngestStub(channel)
    while time.monotonic() < st.hard_deadline:
        batch = make_batch(st, rng, dev, f"c{st.cycle}-{dev.device_id}")
        st.oracle.sent(dev, batch)
        try:
            ack = stub.ApplyEvents(batch.message(), timeout=st.rpc_timeout)
        except Exception as e:  # grpc.RpcError after the kill
            st.note_error(dev.device_id, f"ApplyEvents {batch.batch_id}", e)
            return
        with st.lock:
            st.batches_unary += 1
        if not check_ack(st, dev, batch, ack):
            return
        st.oracle.acked(dev, batch, ack.lsn)
        with st.lock:
            st.cycle_lsns.append(ack.lsn)
        if st.think_s > 0:
            time.sleep(rng.uniform(0, 2 * st.think_s))
    st.note_error(dev.device_id, "cycle deadline", TimeoutError("still writing at the cycle deadline"))


def stream_device(st: CycleState, channel, dev: Device, seed: int, window: int):
    """One StreamEvents stream with up to `window` batches in flight; acks must come in order."""
    rng = random.Random(seed)
    stub = pb.ingest_grpc.IngestStub(channel)
    requests: "queue.Queue" = queue.Queue()
    cond = threading.Condition()
    outstanding: "collections.deque[Batch]" = collections.deque()
    done = [False]
    stream_key = f"c{st.cycle}-{dev.device_id}"

    def request_iter():
        while True:
            item = requests.get()
            if item is None:
                return
            yield item

    # The whole stream gets a deadline well past the cycle's; per-ack timeouts are enforced below.
    call = stub.StreamEvents(request_iter(), timeout=max(1.0, st.hard_deadline - time.monotonic() + 5))

    def reader():
        try:
            for ack in call:
                with cond:
                    if not outstanding:
                        st.note_bad_ack(f"{dev.device_id}: unexpected ack {ack.batch_id!r} (nothing outstanding)")
                        break
                    batch = outstanding[0]
                if not check_ack(st, dev, batch, ack):
                    break
                st.oracle.acked(dev, batch, ack.lsn)
                with st.lock:
                    st.batches_stream += 1
                    st.cycle_lsns.append(ack.lsn)
                with cond:
                    outstanding.popleft()
                    cond.notify_all()
            else:
                st.note_error(dev.device_id, "StreamEvents", EOFError("server ended the stream"))
        except Exception as e:
            st.note_error(dev.device_id, "StreamEvents", e)
        finally:
            with cond:
                done[0] = True
                cond.notify_all()

    rt = threading.Thread(target=reader, daemon=True, name=f"reader-{dev.device_id}")
    rt.start()
    first = True
    try:
        while True:
            if st.think_s > 0 and not first:
                time.sleep(rng.uniform(0, 2 * st.think_s))
            first = False
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
                    st.note_error(dev.device_id, "StreamEvents", TimeoutError(f"no ack within {st.rpc_timeout} s"))
                    return
                if time.monotonic() >= st.hard_deadline:
                    st.note_error(dev.device_id, "cycle deadline", TimeoutError("still writing at the cycle deadline"))
                    return
                batch = make_batch(st, rng, dev, stream_key)
                st.oracle.sent(dev, batch)
                outstanding.append(batch)
            requests.put(batch.message())
    finally:
        requests.put(None)
        call.cancel()
        rt.join(timeout=st.rpc_timeout + 5)


def checkpoint_caller(st: CycleState, channel, seed: int, mean_s: float):
    """Calls Admin.Checkpoint at random moments until the kill; each must cover every LSN
    acknowledged before it was called."""
    rng = random.Random(seed)
    stub = pb.admin_grpc.AdminStub(channel)
    while time.monotonic() < st.hard_deadline:
        if st.killed.wait(rng.uniform(0, 2 * mean_s)):
            return
        floor = st.max_cycle_lsn()
        try:
            resp = stub.Checkpoint(pb.admin.CheckpointRequest(), timeout=st.rpc_timeout)
        except Exception as e:  # grpc.RpcError after the kill
            st.note_error("checkpointer", "Checkpoint", e, count=False)
            return
        with st.lock:
            st.checkpoints += 1
            last = st.checkpoint_lsns[-1] if st.checkpoint_lsns else 0
            st.checkpoint_lsns.append(resp.lsn)
        if resp.lsn < floor or resp.lsn < last:
            st.note_bad_ack(f"Checkpoint returned lsn {resp.lsn}: below the LSN {floor} acknowledged before "
                            f"the call or the previous checkpoint's {last}")


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------

class Totals:
    def __init__(self):
        self.violations: list[str] = []
        self.acked_verified = 0

    def add(self, lines: list[str], max_report: int = 20):
        self.violations.extend(lines)
        for line in lines[:max_report]:
            print(f"  VIOLATION: {line}", flush=True)
        if len(lines) > max_report:
            print(f"  ... and {len(lines) - max_report} more violations", flush=True)


def read_all(channels, items: list, rpc_timeout: float) -> tuple[dict[str, int], int, list[str]]:
    """on_hand for every (sku, location) of `items`; also the lowest index_lsn seen and per-query
    errors.

    Chunks of 10,000 queries are spread over `channels` (separate connections: the server answers
    reads inline on each connection's event loop, so one connection per core reads fastest)."""
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


def verify(channels, oracle: Oracle, totals: Totals, rpc_timeout: float) -> dict:
    """After a restart: checks every event sent so far; resolves the fate of unacknowledged ones
    (PRESENT or LOST, per event and per batch)."""
    with oracle.lock:
        items = [(sku, rec[0]) for sku, rec in oracle.events.items()]
    values, index_lsn, errors = read_all(channels, items, rpc_timeout)
    stats = collections.Counter()
    bad: list[str] = list(errors)
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
            else:  # PRESENT / LOST left over: the resend after the previous restart did not settle it
                bad.append(f"{sku}@{loc} (batch {batch.batch_id}) still {STATE_NAMES[state]} from an earlier "
                           f"restart: on_hand {got}")
        # Unacknowledged batches: all present or all lost (one log record per batch); per stream,
        # no lost batch followed by a present one (no hole in the log).
        per_stream: dict[str, list[Batch]] = collections.defaultdict(list)
        for b in oracle.batches:
            if b.acked:
                continue
            states = {oracle.events[s][2] for s, _, _, _ in b.events}
            if len(states) > 1:
                b.fate = MIXED
                bad.append(f"unacknowledged batch {b.batch_id} partly durable: "
                           f"{sorted(STATE_NAMES.get(x, str(x)) for x in states)}")
            else:
                b.fate = states.pop()
            per_stream[b.stream_key].append(b)
        for key, bs in per_stream.items():
            seen_lost = None
            for b in sorted(bs, key=lambda b: b.index):
                if b.fate == LOST:
                    seen_lost = seen_lost or b
                elif b.fate == PRESENT and seen_lost is not None:
                    bad.append(f"{key}: batch {b.batch_id} durable although earlier batch "
                               f"{seen_lost.batch_id} of the same stream was lost (hole in the log)")
    stats["checked"] = len(values)
    stats["violations"] = len(bad)
    totals.add(bad)
    return stats


def resend_device(dev: Device, channel, floor_lsn: int, rpc_timeout: float) -> tuple[list, list[str]]:
    """Resends the device's last acknowledged batch (must be all DUPLICATE) and its unacknowledged
    ones in order (durable: all DUPLICATE; lost: all applied, no GAP), each ack naming the
    device's exact high-water mark. Returns [(batch, ack lsn, applied?)] for the ones that
    checked out, and the problems."""
    import grpc
    plan = []
    if dev.last_acked is not None:
        plan.append((dev.last_acked, "duplicate"))
    for b in dev.pending:
        if b.fate not in (PRESENT, LOST):
            return [], [f"{dev.device_id}: batch {b.batch_id} is {STATE_NAMES.get(b.fate)}: not resent"]
        plan.append((b, "duplicate" if b.fate == PRESENT else "applied"))
    if not plan:
        return [], []
    stub = pb.ingest_grpc.IngestStub(channel)
    try:
        if dev.stream:
            call = stub.StreamEvents(iter([b.message() for b, _ in plan]), timeout=rpc_timeout * 2)
            acks = list(call)
        else:
            acks = [stub.ApplyEvents(b.message(), timeout=rpc_timeout) for b, _ in plan]
    except grpc.RpcError as e:
        return [], [f"{dev.device_id}: resend failed: {e.code().name}: {e.details()}"]
    if len(acks) != len(plan):
        return [], [f"{dev.device_id}: {len(acks)} acks for {len(plan)} resent batches"]
    mark = dev.durable_mark()
    done, problems = [], []
    for (b, expect), ack in zip(plan, acks):
        n = len(b.events)
        what = f"{dev.device_id}: resent batch {b.batch_id} ({'acknowledged' if b.acked else STATE_NAMES[b.fate]}, " \
               f"device_seq {b.events[0][3]}..{b.last_seq})"
        if ack.batch_id != b.batch_id or ack.HasField("error") or ack.received != n:
            problems.append(f"{what}: ack {ack.batch_id!r} error {ack.error.code} received {ack.received}")
            continue
        if expect == "duplicate":
            kinds = [(o.index, o.kind) for o in ack.outcomes]
            if (ack.duplicates, ack.applied) != (n, 0) or kinds != [(i, pb.ingest.OUTCOME_KIND_DUPLICATE) for i in range(n)]:
                problems.append(f"{what}: expected all {n} DUPLICATE, got applied {ack.applied} duplicates "
                                f"{ack.duplicates} gaps {ack.gaps} rejected {ack.rejected}"
                                + (" (applied twice!)" if ack.applied else ""))
                continue
            if ack.lsn < floor_lsn:
                problems.append(f"{what}: DUPLICATE ack lsn {ack.lsn} below the acknowledged LSN {floor_lsn}")
        else:
            if ack.applied != n or len(ack.outcomes):
                problems.append(f"{what}: expected all {n} applied cleanly, got applied {ack.applied} duplicates "
                                f"{ack.duplicates} gaps {ack.gaps} rejected {ack.rejected}")
                continue
            if ack.lsn <= floor_lsn:
                problems.append(f"{what}: ack lsn {ack.lsn} not above the highest acknowledged LSN {floor_lsn} (reused)")
            mark = b.last_seq
        if high_water(ack) != [(dev.device_id, mark)]:
            problems.append(f"{what}: high_water {high_water(ack)}, expected {[(dev.device_id, mark)]}")
            continue
        done.append((b, ack.lsn, expect == "applied"))
    return done, problems


def resend_all(channels, devices: list[Device], oracle: Oracle, totals: Totals, rpc_timeout: float) -> dict:
    """Every device resends (in parallel); then the resent events are read again: with the
    verification before, every event sent so far has been seen present exactly once."""
    floor = oracle.max_acked_lsn
    results: dict[str, tuple] = {}

    def work(k: int, dev: Device):
        try:
            results[dev.device_id] = resend_device(dev, channels[k % len(channels)], floor, rpc_timeout)
        except Exception as e:  # noqa: BLE001
            results[dev.device_id] = ([], [f"{dev.device_id}: resend raised {e!r}"])

    threads = [threading.Thread(target=work, args=(k, d), daemon=True) for k, d in enumerate(devices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=rpc_timeout * 4 + 30)
    stats = collections.Counter()
    bad: list[str] = []
    resent: list[Batch] = []
    for dev in devices:
        done, problems = results.get(dev.device_id, ([], [f"{dev.device_id}: resend did not finish"]))
        bad.extend(problems)
        for b, lsn, applied in done:
            resent.append(b)
            if b.acked:
                stats["highwater_ok"] += 1
                continue
            stats["applied" if applied else "duplicate"] += 1
            oracle.acked(dev, b, lsn)
            if applied:
                oracle.max_acked_lsn = max(oracle.max_acked_lsn, lsn)
    # Read the resent events again: exactly once (a DUPLICATE applied anyway would read 2x).
    items = [(sku, loc) for b in resent for sku, loc, _, _ in b.events]
    if items:
        values, _, errors = read_all(channels, items, rpc_timeout)
        bad.extend(errors)
        for b in resent:
            for sku, loc, qty, _ in b.events:
                if sku in values and values[sku] != qty:
                    bad.append(f"{sku}@{loc} (batch {b.batch_id}, resent): on_hand {values[sku]}, expected exactly {qty}"
                               + (" (applied twice)" if values[sku] == 2 * qty else ""))
    with oracle.lock:
        left = sum(1 for rec in oracle.events.values() if rec[2] != ACKED)
    if left:
        bad.append(f"{left} events still not acknowledged after the resends")
    stats["batches"] = len(resent)
    stats["violations"] = len(bad)
    totals.add(bad)
    return stats


def check_server_state(channel, devices: list[Device], locations: list[str], rpc_timeout: float) -> tuple[list[str], object]:
    """After a restart: the declared locations exist; GetStats.devices counts the devices with a
    durable event. Returns the problems and the stats."""
    import grpc
    admin = pb.admin_grpc.AdminStub(channel)
    bad = []
    for loc in locations:
        try:
            admin.GetLocation(pb.admin.GetLocationRequest(location_id=loc), timeout=rpc_timeout)
        except grpc.RpcError as e:
            bad.append(f"declared location {loc} lost after the restart: {e.code().name}: {e.details()}")
    st = admin.GetStats(pb.admin.GetStatsRequest(), timeout=rpc_timeout)
    expected = sum(1 for d in devices if d.durable_mark() > 0)
    if st.devices != expected:
        bad.append(f"GetStats.devices {st.devices}, expected {expected} devices with a durable event")
    return bad, st


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
          f"{args.devices} devices, think {args.think_ms:g} ms, kill after {args.min_delay}-{args.max_delay} s, "
          f"checkpoints every {args.checkpoint_log_bytes} log bytes / {args.checkpoint_interval} s "
          f"+ Admin.Checkpoint every ~{args.checkpoint_call_ms:g} ms", flush=True)

    tmp = tempfile.mkdtemp(prefix="omnistock-crash-")
    data_dir = os.path.join(tmp, "data")
    checkpoint_tmp = os.path.join(data_dir, "checkpoints", "checkpoint.tmp")
    server_args = ["--checkpoint-log-bytes", str(args.checkpoint_log_bytes),
                   "--checkpoint-interval-seconds", str(args.checkpoint_interval)]
    ok = False
    servers: list[Server] = []
    oracle = Oracle()
    totals = Totals()
    agg = collections.Counter()
    done = [0]  # cycles whose kill happened
    t_run = time.monotonic()

    def summary():
        print(f"crash test: {done[0]} cycles, {totals.acked_verified} acked events verified, "
              f"{agg['unacked']} unacknowledged ({agg['present']} present, {agg['lost']} lost; resent: "
              f"{agg['resent_dup']} batches DUPLICATE, {agg['resent_applied']} applied), "
              f"{agg['highwater']} high-water resends, {agg['checkpoints']} Admin.Checkpoint calls, "
              f"{agg['kill_in_checkpoint']} kills during a checkpoint, recovered from a checkpoint "
              f"{agg['from_checkpoint']} times, {len(totals.violations)} violations "
              f"({time.monotonic() - t_run:.1f} s, seed {seed})", flush=True)

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
        devices = [Device(f"crash-d{d}", stream=d % 2 == 1) for d in range(args.devices)]
        windows = {d.device_id: master.randint(1, 4) for d in devices if d.stream}
        pending_report = None  # cycle line waiting for its verification

        def start_server(label: str) -> tuple[Server, float]:
            srv = Server(run_binary, data_dir, os.path.join(tmp, f"server-{label}.log"), server_args)
            servers.append(srv)
            try:
                took = srv.start(args.startup_timeout)
            except TestFailure as e:
                raise TestFailure(f"server failed to start ({label}) on data dir {data_dir}: {e}")
            return srv, took

        def verify_and_resend(srv: Server, startup_s: float):
            """The checks after a restart; prints the pending cycle line with their results."""
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
                problems, server_stats = check_server_state(chs[0], devices, locations, args.rpc_timeout)
                totals.add(problems)
                t1 = time.monotonic()
                rstats = resend_all(chs, devices, oracle, totals, args.rpc_timeout)
                rt = time.monotonic() - t1
            finally:
                for ch in chs:
                    ch.close()
            agg["present"] += stats["new_present"]
            agg["lost"] += stats["new_lost"]
            agg["resent_dup"] += rstats["duplicate"]
            agg["resent_applied"] += rstats["applied"]
            agg["highwater"] += rstats["highwater_ok"]
            agg["from_checkpoint"] += 1 if server_stats.last_checkpoint_lsn else 0
            totals.acked_verified = stats["acked"]
            violations = stats["violations"] + len(problems) + rstats["violations"]
            line = (f"restart {startup_s:.2f} s (checkpoint lsn {server_stats.last_checkpoint_lsn}, log to "
                    f"{server_stats.durable_lsn}), verified {stats['checked']} events in {vt:.2f} s: "
                    f"{stats['new_present']} unacked present, {stats['new_lost']} unacked lost; resent "
                    f"{rstats['duplicate']} + {rstats['applied']} batches (DUPLICATE + applied) and "
                    f"{rstats['highwater_ok']} high-water batches in {rt:.2f} s; {violations} violations")
            if pending_report is not None:
                c, head = pending_report
                print(f"cycle {c:3d}/{args.cycles}: {head}; {line}", flush=True)
                pending_report = None
            else:
                print(f"  verify: {line}", flush=True)
            return stats

        for cycle in range(1, args.cycles + 1):
            srv, startup_s = start_server(f"{cycle:03d}")
            if cycle > 1:
                verify_and_resend(srv, startup_s)
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
            for dev in devices:
                ch = grpc.insecure_channel(srv.address, options=CHANNEL_OPTIONS)
                channels.append(ch)
                dseed = crng.getrandbits(64)
                if dev.stream:
                    t = threading.Thread(target=run_thread, args=(st, stream_device, ch, dev, dseed, windows[dev.device_id]),
                                         daemon=True, name=dev.device_id)
                else:
                    t = threading.Thread(target=run_thread, args=(st, unary_device, ch, dev, dseed),
                                         daemon=True, name=dev.device_id)
                threads.append(t)
            if args.checkpoint_call_ms > 0:
                ch = grpc.insecure_channel(srv.address, options=CHANNEL_OPTIONS)
                channels.append(ch)
                threads.append(threading.Thread(
                    target=run_thread, args=(st, checkpoint_caller, ch, crng.getrandbits(64), args.checkpoint_call_ms / 1000),
                    daemon=True, name="checkpointer"))
            wall_start = time.time()
            t_w = time.monotonic()
            for t in threads:
                t.start()
            time.sleep(max(0.0, delay - (time.monotonic() - t_w)))
            st.killed.set()  # before the signal: any error from here on is expected
            srv.kill9()
            killed_after = time.monotonic() - t_w
            done[0] = cycle
            try:
                in_checkpoint = os.stat(checkpoint_tmp).st_mtime >= wall_start - 0.01
            except OSError:
                in_checkpoint = False
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
                    totals.add([f"cycle {cycle}: acknowledged LSN {min(st.cycle_lsns)} reused: not above the previous "
                                f"cycles' highest acknowledged LSN {oracle.max_acked_lsn}"])
                if st.cycle_lsns:
                    oracle.max_acked_lsn = max(oracle.max_acked_lsn, max(st.cycle_lsns))
            agg["acked"] += acked
            agg["unacked"] += len(new) - acked
            agg["checkpoints"] += st.checkpoints
            agg["kill_in_checkpoint"] += in_checkpoint
            stops = ", ".join(f"{k} x{v}" for k, v in sorted(st.stop_reasons.items()))
            pending_report = (cycle, f"killed after {killed_after:.2f} s{' DURING A CHECKPOINT' if in_checkpoint else ''}; "
                                     f"{len(new)} events sent, {acked} acked ({st.batches_unary} unary + "
                                     f"{st.batches_stream} stream batches), {len(new) - acked} unacked; "
                                     f"{st.checkpoints} Admin.Checkpoint; writers stopped on: {stops}")

        if not totals.violations or args.keep_going_on_violation:
            # Final: recover the last cycle, verify and resend, stop cleanly, and check recovery
            # (and the high-water marks) after a clean stop.
            srv, startup_s = start_server("final")
            verify_and_resend(srv, startup_s)
            rc = srv.sigterm_and_wait(args.shutdown_timeout)
            if rc != 0:
                raise TestFailure(f"server exited with {rc} after SIGTERM (expected 0)\n{srv.stderr_tail()}")
            srv, startup_s = start_server("after-sigterm")
            stats = verify_and_resend(srv, startup_s)
            if stats["new_present"] or stats["new_lost"]:
                totals.add(["unknown events remained after the final verification"])
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
    p = argparse.ArgumentParser(description="OmniStock kill -9 crash test (log, checkpoints, exactly once).")
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
    p.add_argument("--checkpoint-log-bytes", type=int, default=64 * 1024,
                   help="server --checkpoint-log-bytes (default 65536)")
    p.add_argument("--checkpoint-interval", type=int, default=1,
                   help="server --checkpoint-interval-seconds (default 1)")
    p.add_argument("--checkpoint-call-ms", type=float, default=300.0,
                   help="mean pause between Admin.Checkpoint calls during the writes, ms (uniform 0..2x; "
                        "default 300; 0 = none)")
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
    if args.checkpoint_log_bytes < 0 or args.checkpoint_interval < 0 or args.checkpoint_call_ms < 0:
        p.error("checkpoint settings must be >= 0")
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
