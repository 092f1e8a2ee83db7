"""Fixtures for the Python grpcio interoperability suite of OmniStock.

* Python stubs for ``proto/omnistock/v1/*.proto`` are generated at test time
  (``python -m grpc_tools.protoc``) into a session temp dir put on sys.path,
  before the test modules are collected, so they can ``import omnistock.v1``.
  Health uses ``grpc_health.v1`` from grpcio-health-checking (a generated
  ``grpc`` package would clash with grpcio).
* ``server``: one real ``omnistock serve`` process for the session, with
  ``channel`` and the stubs ``admin``, ``ingest``, ``avail``, ``health``, ``reservations`` on it;
  ``loc`` (a fresh declared location per test) and ``probe_location``.
* ``server_factory``: starts dedicated servers (e.g. for the shutdown test, for
  exact counters, or to restart on the same data directory:
  ``server_factory(extra_args, data_dir=srv.data_dir)`` after ``srv.stop()``).

Environment: ``OMNISTOCK_BIN`` overrides the binary (default
``<repo>/.build/debug/omnistock``). Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import glob
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTO_ROOT = os.path.join(REPO, "proto")
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 30.0
LISTEN_PREFIX = "omnistock listening on "
METRICS_PREFIX = "omnistock metrics on "

# Options for every test channel: never go through an HTTP proxy from the
# environment, and allow large requests (the oversize test sends 5 MB).
CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]

_GENERATED_DIR: str | None = None


def _generate_stubs() -> str:
    out = tempfile.mkdtemp(prefix="omnistock-pystubs-")
    protos = sorted(glob.glob(os.path.join(PROTO_ROOT, "omnistock", "v1", "*.proto")))
    if not protos:
        raise RuntimeError(f"no .proto files under {PROTO_ROOT}/omnistock/v1")
    rel = [os.path.relpath(p, PROTO_ROOT) for p in protos]
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *rel,
    ]
    proc = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"protoc failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return out


def pytest_configure(config):
    global _GENERATED_DIR
    if _GENERATED_DIR is None:
        _GENERATED_DIR = _generate_stubs()
        sys.path.insert(0, _GENERATED_DIR)


def pytest_unconfigure(config):
    global _GENERATED_DIR
    if _GENERATED_DIR is not None:
        try:
            sys.path.remove(_GENERATED_DIR)
        except ValueError:
            pass
        shutil.rmtree(_GENERATED_DIR, ignore_errors=True)
        _GENERATED_DIR = None


def server_binary() -> str:
    path = os.environ.get("OMNISTOCK_BIN") or os.path.join(REPO, ".build", "debug", "omnistock")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"omnistock binary not found or not executable at {path!r}; build it with "
            f"`swift build --product omnistock` in {REPO} or set OMNISTOCK_BIN",
            pytrace=False)
    return path


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on (Linux /proc), empty if unknown."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except (OSError, StopIteration):
            continue
    return ports


class ServerProcess:
    """One running ``omnistock serve`` on 127.0.0.1 with a port chosen by the OS."""

    def __init__(self, binary: str, data_dir: str, log_path: str, extra_args=()):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.metrics_port: int | None = None  # set when started with --metrics-port
        self._stdout_lines: "queue.Queue[str | None]" = queue.Queue()
        self._log_file = None
        self._stopped = False

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()[-limit:]
        except OSError:
            return "<no log>"

    def _pump_stdout(self):
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._stdout_lines.put(line)
        self._stdout_lines.put(None)

    def start(self) -> "ServerProcess":
        cmd = [self.binary, "serve", "--host", HOST, "--port", "0",
               "--data-dir", self.data_dir, *self.extra_args]
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._log_file, text=True, bufsize=1)
        threading.Thread(target=self._pump_stdout, daemon=True,
                         name=f"omnistock-stdout-{self.proc.pid}").start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                pytest.fail(
                    f"omnistock did not print its listening line within {STARTUP_TIMEOUT_S:.0f} s\n"
                    f"stderr:\n{self.stderr_tail()}", pytrace=False)
            try:
                line = self._stdout_lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait(timeout=10)
                pytest.fail(
                    f"omnistock exited (code {rc}) before listening\nstderr:\n{self.stderr_tail()}",
                    pytrace=False)
            line = line.strip()
            if line.startswith(METRICS_PREFIX):
                self.metrics_port = int(line.rpartition(":")[2])
                continue
            if line.startswith(LISTEN_PREFIX):
                hostport = line[len(LISTEN_PREFIX):]
                host, _, port = hostport.rpartition(":")
                assert host == HOST, f"server listens on {hostport!r}, expected {HOST}"
                self.port = int(port)
                assert self.port > 0
                return self
            # Any other stdout line is unexpected but not fatal; keep waiting.

    def channel(self, extra_options=()) -> grpc.Channel:
        return grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS + list(extra_options))

    def send_sigterm(self):
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int | None:
        """The exit code, or None if still running after ``timeout``."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close_log()

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        """SIGTERM, then require exit code 0 within 30 s (else kill -9 and fail)."""
        if self._stopped or self.proc is None:
            return
        self._stopped = True
        if self.proc.poll() is None:
            self.send_sigterm()
        rc = self.wait_exit(SHUTDOWN_TIMEOUT_S)
        if rc is None:
            self._kill()
            pytest.fail(
                f"omnistock (pid {self.proc.pid}) did not exit within {SHUTDOWN_TIMEOUT_S:.0f} s "
                f"of SIGTERM; killed with SIGKILL\nstderr:\n{self.stderr_tail()}", pytrace=False)
        self._close_log()
        if rc != 0:
            pytest.fail(
                f"omnistock exited with code {rc} after SIGTERM (expected 0)\n"
                f"stderr:\n{self.stderr_tail()}", pytrace=False)

    def kill9(self):
        """SIGKILL (a crash): no drain, no final sync; the fixture does not check its exit."""
        self._stopped = True
        self._kill()

    def ensure_dead(self):
        """Last-resort cleanup: never leave a process behind."""
        self._kill()


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory):
    """Call ``server_factory()`` to start a dedicated server; it is stopped
    (SIGTERM, exit 0 required) at session end unless the test stopped it."""
    binary = server_binary()
    started: list[ServerProcess] = []

    def start(extra_args=(), data_dir: str | None = None) -> ServerProcess:
        base = tmp_path_factory.mktemp("omnistock")
        srv = ServerProcess(binary, data_dir or str(base / "data"), str(base / "server.log"), extra_args)
        started.append(srv)
        return srv.start()

    yield start
    errors = []
    for srv in started:
        try:
            srv.stop()
        except BaseException as e:  # pytest.fail raises Failed (a BaseException)
            errors.append(str(e))
        finally:
            srv.ensure_dead()
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture(scope="session")
def server(server_factory) -> ServerProcess:
    """The shared server for the session; teardown asserts a clean SIGTERM exit."""
    srv = server_factory()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def channel(server):
    ch = server.channel()
    try:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch
    finally:
        ch.close()


# Stubs on the shared server's channel. Generated modules are imported lazily: they exist only
# after pytest_configure.


@pytest.fixture(scope="session")
def avail(channel):
    from omnistock.v1 import availability_pb2_grpc
    return availability_pb2_grpc.AvailabilityStub(channel)


@pytest.fixture(scope="session")
def ingest(channel):
    from omnistock.v1 import ingest_pb2_grpc
    return ingest_pb2_grpc.IngestStub(channel)


@pytest.fixture(scope="session")
def health(channel):
    from grpc_health.v1 import health_pb2_grpc
    return health_pb2_grpc.HealthStub(channel)


@pytest.fixture(scope="session")
def admin(channel):
    from omnistock.v1 import admin_pb2_grpc
    return admin_pb2_grpc.AdminStub(channel)


@pytest.fixture(scope="session")
def reservations(channel):
    from omnistock.v1 import reservations_pb2_grpc
    return reservations_pb2_grpc.ReservationsStub(channel)


@pytest.fixture
def loc(admin):
    """A freshly declared location (default settings) unique to the test."""
    from omnistock_helpers import declare_location, uid
    return declare_location(admin, uid("loc"))


@pytest.fixture(scope="session")
def probe_location(admin):
    """A declared location used only to read never-written SKUs, to show the
    server still answers after an error, a cancel or a deadline."""
    from omnistock_helpers import declare_location, uid
    return declare_location(admin, uid("probe"))
