"""Malformed and hostile input against the real server (issue 8, "Prove it": malformed-input tests).

Every test runs one attack on its own raw TCP connection while a well-behaved grpcio client
(``WellBehavedClient``, its own connection) loops ``ApplyEvents`` + ``GetAvailability`` in a
background thread, and asserts:

* the attacker got the server's documented answer, precisely (gRPC status and message, HTTP
  status, RST_STREAM or GOAWAY error code and debug data, or the connection closed);
* the good client saw no error and keeps being served after the attack;
* the server still answers a fresh connection, and ``Admin/GetStats`` counts exactly the good
  client's events: nothing the attacker sent was applied (the attacker's events are for a declared
  location and a SKU of their own, which must still read as never written).

The attacker speaks HTTP/2 with the ``h2`` library (hyper-h2: connection preface, SETTINGS,
HPACK, well-formed streams) and, for what h2 refuses to produce, frames packed by hand with h2's
own HPACK encoder (so the server's decoder stays in step). Bytes below HTTP/2 go over a raw socket.
The attacker reads the server's frames with hyperframe/hpack (installed with h2), independently of
h2's state machine, and acknowledges the server's SETTINGS itself.

What the server answers (libnghttp2 1.52 with Debian's backported limits; see
``Sources/GRPCNGHTTP2/ServerConnectionHandler.swift`` and ``MessageDeframer.swift``):

=====================================  =========================================================
Input                                  Answer
=====================================  =========================================================
not the HTTP/2 preface (garbage,       the server's own SETTINGS (sent on accept), then the
HTTP/1.1, h2c upgrade)                 connection is closed: no GOAWAY, no HTTP/1.x response
bad frames after the preface           GOAWAY with the precise error code (FRAME_SIZE_ERROR,
                                       PROTOCOL_ERROR, COMPRESSION_ERROR, FLOW_CONTROL_ERROR,
                                       ENHANCE_YOUR_CALM) and libnghttp2's debug text, then close
a frame cut short, then EOF            the connection is closed, the stream never answered
gRPC length prefix > body              grpc-status 13 "... ended inside a message (truncated
                                       gRPC frame)" (StreamEvents too)
invalid protobuf                       grpc-status 3 "the request is not a valid <type> message"
                                       (StreamEvents too)
bad message flag / compressed flag     grpc-status 13 / 12 (with grpc-accept-encoding: identity)
message over 4 MiB                     grpc-status 8 as soon as the 5-byte prefix arrives, then
                                       RST_STREAM NO_ERROR (the body is never buffered; bytes
                                       sent anyway are discarded and their window given back)
wrong content-type / method            :status 415 / 405, no grpc-status
header list over 16 KiB                grpc-status 8 "request headers of N bytes exceed ..." 
a header field over 64 KiB             GOAWAY COMPRESSION_ERROR
more than 8 CONTINUATION frames        the connection is closed (no GOAWAY)
more than 1,000 rapid resets           GOAWAY INTERNAL_ERROR, then close
SETTINGS / PING flood (no reading)     the server stops answering (more than 1,000 queued ACKs:
                                       libnghttp2 "flooded") and closes the connection, no GOAWAY
=====================================  =========================================================

Deterministic: no assertion on timing; every loop is bounded in count and in time (the time
bounds only turn a hang into a failure).
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
import urllib.parse

import grpc
import h2.config
import h2.connection
import hpack
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame,
    SettingsFrame, WindowUpdateFrame)

from omnistock.v1 import admin_pb2_grpc
from omnistock.v1 import availability_pb2 as av_pb2
from omnistock.v1 import availability_pb2_grpc
from omnistock.v1 import common_pb2
from omnistock.v1 import ingest_pb2
from omnistock.v1 import ingest_pb2_grpc

from conftest import CHANNEL_OPTIONS, HOST
from omnistock_helpers import RECEIPT, RPC_TIMEOUT, declare_location, event, query, stats, uid

# --------------------------------------------------------------------------------------------
# Constants

GET_AVAILABILITY = "/omnistock.v1.Availability/GetAvailability"
WATCH_AVAILABILITY = "/omnistock.v1.Availability/WatchAvailability"
APPLY_EVENTS = "/omnistock.v1.Ingest/ApplyEvents"
STREAM_EVENTS = "/omnistock.v1.Ingest/StreamEvents"
SYNC_SNAPSHOT = "/omnistock.v1.Ingest/SyncSnapshot"

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the server's default --max-message-bytes
MAX_HEADER_LIST_BYTES = 16 * 1024  # the server's default --max-header-list-bytes
MAX_FRAME_SIZE = 16384  # SETTINGS_MAX_FRAME_SIZE (the server keeps the HTTP/2 default)
MAX_CONTINUATIONS = 8  # libnghttp2's CONTINUATION frames per header block (backported limit)
RESET_BURST = 1000  # nghttp2_option_set_stream_reset_rate_limit burst set by the server

# grpc-timeout on the attacker's calls: a server that never answers shows up as DEADLINE_EXCEEDED
# (status 4) instead of a hang.
ATTACK_DEADLINE = "3S"
ANSWER_TIMEOUT = 15.0  # seconds the attacker waits for an answer (only guards against a hang)
GOOD_PROGRESS = 3  # good-client iterations required before and after each attack
GOOD_CLIENT_MAX_SECONDS = 90.0
GOOD_CLIENT_MAX_ITERATIONS = 20_000

OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL = 0, 3, 8, 12, 13

FRAME_DATA, FRAME_HEADERS, FRAME_RST_STREAM, FRAME_SETTINGS, FRAME_PING, FRAME_CONTINUATION = 0, 1, 3, 4, 6, 9
FLAG_END_STREAM, FLAG_ACK, FLAG_END_HEADERS = 0x1, 0x1, 0x4

TRUNCATED_UNARY = "the request ended inside a message (truncated gRPC frame)"
TRUNCATED_STREAM = "the request stream ended inside a message (truncated gRPC frame)"


# --------------------------------------------------------------------------------------------
# Frame and message crafting


def raw_frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"", length: int | None = None) -> bytes:
    """One HTTP/2 frame packed by hand; ``length`` overrides the header's length field."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def grpc_frame(payload: bytes, flag: int = 0, length: int | None = None) -> bytes:
    """A gRPC length-prefixed message; ``length`` overrides the declared length."""
    return bytes([flag]) + struct.pack(">I", len(payload) if length is None else length) + payload


def request_headers(path, content_type="application/grpc", method="POST", extra=(), timeout=ATTACK_DEADLINE):
    headers = [(":method", method), (":scheme", "http"), (":path", path), (":authority", HOST)]
    if content_type is not None:
        headers.append(("content-type", content_type))
    headers.append(("te", "trailers"))
    if timeout is not None:
        headers.append(("grpc-timeout", timeout))
    return headers + list(extra)


def split_header_block(block: bytes, stream_id: int, end_stream: bool, frame_size: int = MAX_FRAME_SIZE) -> bytes:
    """A header block as HEADERS + CONTINUATION frames of at most ``frame_size`` bytes."""
    chunks = [block[i:i + frame_size] for i in range(0, len(block), frame_size)] or [b""]
    out = bytearray()
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        flags = FLAG_END_HEADERS if last else 0
        if i == 0:
            out += raw_frame(FRAME_HEADERS, flags | (FLAG_END_STREAM if end_stream else 0), stream_id, chunk)
        else:
            out += raw_frame(FRAME_CONTINUATION, flags, stream_id, chunk)
    return bytes(out)


def continuation_count(block_len: int) -> int:
    return max(0, -(-block_len // MAX_FRAME_SIZE) - 1)


class Response:
    """What the server sent on one stream."""

    def __init__(self):
        self.header_blocks: list[list[tuple[str, str]]] = []
        self.data = bytearray()
        self.rst: int | None = None
        self.end_stream = False

    @property
    def ended(self) -> bool:
        return self.end_stream or self.rst is not None

    @property
    def fields(self) -> dict[str, str]:
        """Every header and trailer field (later blocks win)."""
        merged: dict[str, str] = {}
        for block in self.header_blocks:
            merged.update(block)
        return merged

    @property
    def http_status(self) -> str | None:
        return dict(self.header_blocks[0]).get(":status") if self.header_blocks else None

    @property
    def grpc_status(self) -> int | None:
        value = self.fields.get("grpc-status")
        return None if value is None else int(value)

    @property
    def grpc_message(self) -> str:
        return urllib.parse.unquote(self.fields.get("grpc-message", ""))

    def __repr__(self):
        return (f"Response(headers={self.header_blocks}, data={len(self.data)} bytes, rst={self.rst}, "
                f"end_stream={self.end_stream})")


class H2Attacker:
    """One hostile client connection.

    Sends with h2 (``conn``: preface, SETTINGS, well-formed streams; ``conn.encoder`` for HPACK
    blocks packed by hand) or raw bytes; reads every server frame with hyperframe/hpack into
    ``frames``. The server's bytes are not fed to h2: its state machine would object to the
    deliberately broken exchanges. The server's SETTINGS are acknowledged here.
    """

    def __init__(self, port: int, preface: bool = True):
        self.sock = socket.create_connection((HOST, port), timeout=ANSWER_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=False,
            normalize_outbound_headers=False, validate_inbound_headers=False))
        self.frames: list[tuple[Frame, list | None]] = []
        self.closed = False  # EOF or connection reset seen while reading
        self.send_failed = False  # the server stopped accepting our bytes (reset / broken pipe)
        self.raw_received = bytearray()  # the first bytes the server sent, verbatim
        self._inbuf = bytearray()
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = 1 << 30
        self._decoder.max_allowed_table_size = 1 << 30
        self._block: bytearray | None = None
        self._next_stream_id = 1
        if preface:
            self.conn.initiate_connection()
            self.flush()
            assert self.pump(lambda a: a.server_settings() is not None), \
                f"no SETTINGS from the server: {self.describe()}"

    # -- sending

    def send(self, data: bytes) -> bool:
        if self.send_failed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.send_failed = True
            return False

    def flush(self) -> bool:
        data = self.conn.data_to_send()
        return self.send(data) if data else True

    def next_stream_id(self) -> int:
        sid = max(self._next_stream_id, self.conn.highest_outbound_stream_id + 2
                  if self.conn.highest_outbound_stream_id else 1)
        self._next_stream_id = sid + 2
        return sid

    def encode(self, headers, huffman: bool = False) -> bytes:
        """An HPACK block from h2's own encoder (keeps the server's dynamic table in step)."""
        return self.conn.encoder.encode(headers, huffman=huffman)

    def request(self, path, body: bytes | None, end_stream: bool = True, **header_kw) -> int:
        """A well-formed HTTP/2 request through h2: HEADERS, then ``body`` in DATA."""
        sid = self.next_stream_id()
        self.conn.send_headers(sid, request_headers(path, **header_kw), end_stream=body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end_stream)
        self.flush()
        return sid

    # -- receiving

    def _parse(self):
        while len(self._inbuf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(self._inbuf[:9])))
            if len(self._inbuf) < 9 + length:
                return
            frame.parse_body(memoryview(bytes(self._inbuf[9:9 + length])))
            del self._inbuf[:9 + length]
            headers = None
            if isinstance(frame, HeadersFrame):
                self._block = bytearray(frame.data)
            elif isinstance(frame, ContinuationFrame) and self._block is not None:
                self._block += frame.data
            if isinstance(frame, (HeadersFrame, ContinuationFrame)) and "END_HEADERS" in frame.flags:
                headers = [(n if isinstance(n, str) else n.decode(), v if isinstance(v, str) else v.decode())
                           for n, v in self._decoder.decode(bytes(self._block))]
                self._block = None
            self.frames.append((frame, headers))
            if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags and not self.send_failed:
                self.send(raw_frame(FRAME_SETTINGS, FLAG_ACK, 0))

    def pump(self, until=None, timeout: float = ANSWER_TIMEOUT) -> bool:
        """Reads until ``until(self)`` holds (True), the connection closes or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            if until is not None and until(self):
                return True
            if self.closed:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(min(remaining, 0.25))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except (ConnectionResetError, OSError):
                self.closed = True
                continue
            if not data:
                self.closed = True
                continue
            if len(self.raw_received) < 4096:
                self.raw_received += data[:4096 - len(self.raw_received)]
            self._inbuf += data
            self._parse()

    def wait_closed(self, timeout: float = ANSWER_TIMEOUT) -> bool:
        return self.pump(lambda a: a.closed, timeout)

    def wait_stream(self, sid: int, timeout: float = ANSWER_TIMEOUT) -> "Response":
        self.pump(lambda a: a.response(sid).ended or a.goaway() is not None, timeout)
        return self.response(sid)

    # -- what was received

    def server_settings(self) -> SettingsFrame | None:
        for f, _ in self.frames:
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                return f
        return None

    def goaway(self) -> GoAwayFrame | None:
        for f, _ in self.frames:
            if isinstance(f, GoAwayFrame):
                return f
        return None

    def count(self, frame_type, ack: bool | None = None) -> int:
        return sum(1 for f, _ in self.frames if isinstance(f, frame_type)
                   and (ack is None or ("ACK" in f.flags) == ack))

    def stream_ids_answered(self) -> set[int]:
        return {f.stream_id for f, _ in self.frames if f.stream_id != 0}

    def response(self, sid: int) -> Response:
        r = Response()
        for f, headers in self.frames:
            if f.stream_id != sid:
                continue
            if headers is not None:
                r.header_blocks.append(headers)
            if isinstance(f, DataFrame):
                r.data += f.data
            if isinstance(f, RstStreamFrame):
                r.rst = f.error_code
            if isinstance(f, (HeadersFrame, DataFrame)) and "END_STREAM" in f.flags:
                r.end_stream = True
        return r

    def describe(self, limit: int = 12) -> str:
        parts = []
        for f, headers in self.frames[:limit]:
            s = f"{type(f).__name__}(sid={f.stream_id}, flags={sorted(f.flags)}"
            if isinstance(f, GoAwayFrame):
                s += f", error={f.error_code}, last_stream_id={f.last_stream_id}, debug={f.additional_data!r}"
            if isinstance(f, RstStreamFrame):
                s += f", error={f.error_code}"
            if headers is not None:
                s += f", headers={headers}"
            parts.append(s + ")")
        if len(self.frames) > limit:
            parts.append(f"... {len(self.frames) - limit} more frames")
        return (f"[{'; '.join(parts)}] closed={self.closed} send_failed={self.send_failed} "
                f"raw={bytes(self.raw_received[:40])!r}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@contextlib.contextmanager
def attacker(port: int, preface: bool = True):
    a = H2Attacker(port, preface=preface)
    try:
        yield a
    finally:
        a.close()


def assert_goaway_then_closed(a: H2Attacker, error: ErrorCodes, debug: bytes | None = None,
                              last_stream_id: int | None = None):
    a.wait_closed()
    g = a.goaway()
    assert g is not None, f"expected GOAWAY {error.name}: {a.describe()}"
    assert g.error_code == error, f"GOAWAY {ErrorCodes(g.error_code).name}, expected {error.name}: {a.describe()}"
    if debug is not None:
        assert g.additional_data == debug, a.describe()
    if last_stream_id is not None:
        assert g.last_stream_id == last_stream_id, a.describe()
    assert a.closed, f"the connection stayed open after GOAWAY: {a.describe()}"


def assert_only_server_preface(a: H2Attacker):
    """The server sent its connection preface (SETTINGS, WINDOW_UPDATE) and nothing else."""
    unexpected = [f for f, _ in a.frames if not (
        (isinstance(f, SettingsFrame) and "ACK" not in f.flags) or isinstance(f, WindowUpdateFrame))]
    assert unexpected == [], a.describe()


def assert_served_on_same_connection(a: H2Attacker, sku: str, loc: str):
    """A valid GetAvailability on the attacker's connection still gets OK (the connection lives)."""
    assert not a.closed and a.goaway() is None, a.describe()
    body = av_pb2.GetAvailabilityRequest(query=query(sku, location=loc)).SerializeToString()
    sid = a.request(GET_AVAILABILITY, grpc_frame(body))
    r = a.wait_stream(sid)
    assert r.grpc_status == OK, (r, a.describe())
    resp = av_pb2.GetAvailabilityResponse.FromString(bytes(r.data[5:]))
    assert resp.availability.sku == sku and resp.availability.exists is False


# --------------------------------------------------------------------------------------------
# The module's server, the well-behaved client and the per-test guard


class Env:
    def __init__(self, server, channel):
        self.server = server
        self.channel = channel
        self.admin = admin_pb2_grpc.AdminStub(channel)
        self.ingest = ingest_pb2_grpc.IngestStub(channel)
        self.avail = availability_pb2_grpc.AvailabilityStub(channel)
        self.good_loc = declare_location(self.admin, uid("good"))
        self.target_loc = declare_location(self.admin, uid("target"))

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def env(server_factory):
    """A dedicated server for this module (so GetStats deltas are exact), stopped at the end with
    SIGTERM and exit code 0 required: it survived every attack and shuts down cleanly."""
    srv = server_factory()
    ch = srv.channel()
    try:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield Env(srv, ch)
    finally:
        ch.close()
    srv.stop()


class WellBehavedClient(threading.Thread):
    """Loops ApplyEvents (one RECEIPT of 1 from its own device) then GetAvailability (read your
    write, ``min_lsn``) on its own connection; any error or wrong answer is recorded."""

    def __init__(self, env: Env):
        super().__init__(daemon=True, name="well-behaved-client")
        self.channel = grpc.insecure_channel(
            env.server.address, options=CHANNEL_OPTIONS + [("grpc.use_local_subchannel_pool", 1)])
        self.ingest = ingest_pb2_grpc.IngestStub(self.channel)
        self.avail = availability_pb2_grpc.AvailabilityStub(self.channel)
        self.loc = env.good_loc
        self.device = uid("good-dev")
        self.sku = uid("good-sku")
        self.iterations = 0
        self.events_applied = 0
        self.errors: list[str] = []
        self._stopping = threading.Event()
        self._progress = threading.Condition()

    def run(self):
        deadline = time.monotonic() + GOOD_CLIENT_MAX_SECONDS
        seq = 0
        try:
            while (not self._stopping.is_set() and seq < GOOD_CLIENT_MAX_ITERATIONS
                   and time.monotonic() < deadline and len(self.errors) < 5):
                seq += 1
                try:
                    batch = ingest_pb2.EventBatch(
                        batch_id=uid("good-b"), events=[event(self.device, seq, self.loc, self.sku, RECEIPT, 1)])
                    ack = self.ingest.ApplyEvents(batch, timeout=RPC_TIMEOUT)
                    if (ack.received, ack.applied, ack.rejected) != (1, 1, 0):
                        self.errors.append(f"ApplyEvents #{seq}: unexpected ack {ack}")
                        continue
                    self.events_applied += 1
                    resp = self.avail.GetAvailability(
                        av_pb2.GetAvailabilityRequest(query=query(self.sku, location=self.loc),
                                                      options=common_pb2.ReadOptions(min_lsn=ack.lsn)),
                        timeout=RPC_TIMEOUT)
                    if resp.availability.on_hand != self.events_applied:
                        self.errors.append(
                            f"GetAvailability #{seq}: on_hand {resp.availability.on_hand}, "
                            f"expected {self.events_applied}")
                except grpc.RpcError as e:
                    self.errors.append(f"call #{seq}: {e.code()} {e.details()!r}")
                except Exception as e:  # noqa: BLE001 - any failure of the good client is a finding
                    self.errors.append(f"call #{seq}: {e!r}")
                finally:
                    with self._progress:
                        self.iterations += 1
                        self._progress.notify_all()
        finally:
            with self._progress:
                self._progress.notify_all()

    def wait_progress(self, n: int, timeout: float = 30.0) -> bool:
        """Waits until ``n`` more iterations have completed (bounded)."""
        with self._progress:
            target = self.iterations + n
            return self._progress.wait_for(
                lambda: self.iterations >= target or not self.is_alive(), timeout=timeout) \
                and self.iterations >= target

    def stop(self):
        self._stopping.set()
        self.join(timeout=RPC_TIMEOUT * 2 + 5)
        self.channel.close()


@contextlib.contextmanager
def under_attack(env: Env):
    """Runs the body (the attack) while a well-behaved client is served on its own connection;
    then checks that it saw no error and is still served, that a fresh connection is served, and
    that the server applied exactly the good client's events."""
    before = stats(env.admin)
    good = WellBehavedClient(env)
    good.start()
    try:
        assert good.wait_progress(GOOD_PROGRESS), f"the good client made no progress before the attack: {good.errors}"
        yield good
    except BaseException:
        good.stop()
        raise
    progressed = good.wait_progress(GOOD_PROGRESS)
    good.stop()
    assert not good.is_alive(), "the good client did not stop"
    assert good.errors == [], f"the well-behaved client saw errors during the attack: {good.errors}"
    assert progressed, "the well-behaved client was not served after the attack"
    assert env.server.proc.poll() is None, f"the server exited:\n{env.server.stderr_tail()}"
    assert_fresh_connection_served(env)
    after = stats(env.admin)
    assert after.events_total - before.events_total == good.events_applied, (
        f"events_total grew by {after.events_total - before.events_total}, the good client applied "
        f"{good.events_applied}: an attacker's events were counted")


def assert_fresh_connection_served(env: Env):
    ch = env.server.channel([("grpc.use_local_subchannel_pool", 1)])
    try:
        stub = availability_pb2_grpc.AvailabilityStub(ch)
        resp = stub.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=env.good_loc)), timeout=RPC_TIMEOUT)
        assert resp.availability.exists is False
    finally:
        ch.close()


def target_batch(env: Env, sku: str, events: int = 3) -> bytes:
    """A valid EventBatch (serialized) of RECEIPTs at the attacker's target location: if any of it
    were applied, ``assert_not_applied`` would see the SKU."""
    dev = uid("bad-dev")
    return ingest_pb2.EventBatch(batch_id=uid("bad-b"), events=[
        event(dev, i + 1, env.target_loc, sku, RECEIPT, 5) for i in range(events)]).SerializeToString()


def assert_not_applied(env: Env, sku: str):
    a = env.avail.GetAvailability(
        av_pb2.GetAvailabilityRequest(query=query(sku, location=env.target_loc)), timeout=RPC_TIMEOUT).availability
    assert (a.exists, a.on_hand) == (False, 0), f"the attacker's events for {sku} were applied: {a}"


# --------------------------------------------------------------------------------------------
# 1. Below HTTP/2: garbage, HTTP/1.1, truncated frames


def test_garbage_instead_of_connection_preface(env):
    garbage = random.Random(8).randbytes(4096)
    with under_attack(env), attacker(env.port, preface=False) as a:
        a.send(garbage)
        assert a.wait_closed(), f"the server kept a connection that sent garbage: {a.describe()}"
        assert_only_server_preface(a)


H2C_SETTINGS = "AAMAAABkAARAAAAAAAIAAAAA"


@pytest.mark.parametrize("kind", ["get", "h2c-upgrade", "post-grpc"])
def test_http1_request_on_h2c_port(env, kind):
    sku = uid("bad-sku")
    body = grpc_frame(target_batch(env, sku))
    request = {
        "get": b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "h2c-upgrade": (b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                        b"Upgrade: h2c\r\nHTTP2-Settings: " + H2C_SETTINGS.encode() + b"\r\n\r\n"),
        "post-grpc": (b"POST " + APPLY_EVENTS.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Type: application/grpc\r\nTE: trailers\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body),
    }[kind]
    with under_attack(env), attacker(env.port, preface=False) as a:
        a.send(request)
        assert a.wait_closed(), f"the server kept an HTTP/1.1 connection open: {a.describe()}"
        # No HTTP/1.x answer (not even 101 Switching Protocols): only HTTP/2 frames, then close.
        assert not bytes(a.raw_received).startswith(b"HTTP/"), a.describe()
        assert_only_server_preface(a)
    assert_not_applied(env, sku)


@pytest.mark.parametrize("cut", ["inside-frame-header", "inside-headers-payload", "inside-data-payload"])
def test_truncated_frame_then_eof(env, cut):
    """A frame cut short: the server waits for the rest without blocking anyone (the good client
    keeps being served meanwhile); at EOF it closes the connection, the call never started."""
    sku = uid("bad-sku")
    with under_attack(env) as good, attacker(env.port) as a:
        sid = a.next_stream_id()
        # No grpc-timeout: the call must not end by a deadline while the frame is incomplete.
        headers = split_header_block(a.encode(request_headers(APPLY_EVENTS, timeout=None)), sid, end_stream=False)
        data = raw_frame(FRAME_DATA, FLAG_END_STREAM, sid, grpc_frame(target_batch(env, sku)))
        if cut == "inside-frame-header":
            a.send(headers[:5])
        elif cut == "inside-headers-payload":
            a.send(headers[:9 + (len(headers) - 9) // 2])
        else:
            a.send(headers + data[:-1])
        assert good.wait_progress(GOOD_PROGRESS), "the good client was blocked by a stalled partial frame"
        a.pump(timeout=0.2)  # anything the server had to say about the partial frame
        assert not a.closed and a.goaway() is None, a.describe()
        a.sock.shutdown(socket.SHUT_WR)
        assert a.wait_closed(), f"the server did not close after EOF: {a.describe()}"
        assert a.goaway() is None and sid not in a.stream_ids_answered(), a.describe()
    assert_not_applied(env, sku)


# --------------------------------------------------------------------------------------------
# 2. Frame-level protocol violations: GOAWAY with the precise error code, then close


def _hpack_garbage(a: H2Attacker) -> bytes:
    return raw_frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, b"\xff" * 6)


def _oversized_header_field(a: H2Attacker) -> bytes:
    # One 70,000-byte header value (over libnghttp2's 64 KiB per field), in HEADERS + 4
    # CONTINUATION frames (under the 8-CONTINUATION limit).
    block = a.encode(request_headers(GET_AVAILABILITY, extra=[("x-big", "a" * 70_000)]))
    assert continuation_count(len(block)) <= MAX_CONTINUATIONS
    return split_header_block(block, a.next_stream_id(), end_stream=True)


FRAME_VIOLATIONS = {
    # name: (frame bytes or a function of the attacker, GOAWAY error, debug data, last stream id)
    "garbage-after-preface": (bytes(range(256)) * 4, ErrorCodes.FRAME_SIZE_ERROR, b"", 0),
    "frame-over-max-frame-size": (raw_frame(FRAME_DATA, 0, 1, b"x" * (MAX_FRAME_SIZE + 1)),
                                  ErrorCodes.FRAME_SIZE_ERROR, b"too large frame size", 0),
    "frame-length-0xffffff": (raw_frame(FRAME_PING, 0, 0, b"12345678", length=0xFFFFFF),
                              ErrorCodes.FRAME_SIZE_ERROR, b"too large frame size", 0),
    "ping-of-7-bytes": (raw_frame(FRAME_PING, 0, 0, b"x" * 7), ErrorCodes.FRAME_SIZE_ERROR, b"", 0),
    "data-on-stream-0": (raw_frame(FRAME_DATA, 0, 0, b"x" * 7), ErrorCodes.PROTOCOL_ERROR,
                         b"DATA: stream_id == 0", 0),
    "data-on-idle-stream": (raw_frame(FRAME_DATA, 0, 1, grpc_frame(b"")), ErrorCodes.PROTOCOL_ERROR,
                            b"DATA: stream in idle", 0),
    "garbage-hpack-block": (_hpack_garbage, ErrorCodes.COMPRESSION_ERROR, b"", 1),
    "header-field-over-64KiB": (_oversized_header_field, ErrorCodes.COMPRESSION_ERROR, b"", 1),
    "settings-33-entries": (raw_frame(FRAME_SETTINGS, 0, 0, b"".join(struct.pack(">HI", 3, 100 + i) for i in range(33))),
                            ErrorCodes.ENHANCE_YOUR_CALM, b"SETTINGS: too many setting entries", 0),
    "settings-window-over-2^31-1": (raw_frame(FRAME_SETTINGS, 0, 0, struct.pack(">HI", 4, 2 ** 31)),
                                    ErrorCodes.FLOW_CONTROL_ERROR,
                                    b"SETTINGS: too large SETTINGS_INITIAL_WINDOW_SIZE", 0),
    "settings-max-frame-size-100": (raw_frame(FRAME_SETTINGS, 0, 0, struct.pack(">HI", 5, 100)),
                                    ErrorCodes.PROTOCOL_ERROR, b"SETTINGS: invalid SETTINGS_MAX_FRAME_SIZE", 0),
}


@pytest.mark.parametrize("name", list(FRAME_VIOLATIONS))
def test_frame_level_violation_goaway(env, name):
    frames, error, debug, last_stream_id = FRAME_VIOLATIONS[name]
    with under_attack(env), attacker(env.port) as a:
        a.send(frames(a) if callable(frames) else frames)
        assert_goaway_then_closed(a, error, debug, last_stream_id)
        assert a.stream_ids_answered() == set(), a.describe()


# --------------------------------------------------------------------------------------------
# 3. gRPC messages: truncated, invalid protobuf, bad flags, counts, over the size limit


def _truncated(payload: bytes) -> bytes:
    """A length prefix declaring 100 bytes more than the body carries."""
    return grpc_frame(payload, length=len(payload) + 100)


def _invalid_batch(env, sku):
    # A valid batch at the target location, then a field whose declared length runs past the end:
    # one bad byte must make the whole message invalid (nothing of it applied).
    return target_batch(env, sku) + b"\x0a\x7fabc"



def _case(name, path, build, status, message, marks=()):
    return pytest.param(path, build, status, message, id=name, marks=marks)


# (path, body builder, expected status, expected message or its prefix when ending in ": ")
GRPC_CASES = [
    _case("truncated-GetAvailability", GET_AVAILABILITY, lambda env, sku: _truncated(b"\x0a\x02\x0a\x00"),
          INTERNAL, TRUNCATED_UNARY),
    _case("truncated-ApplyEvents", APPLY_EVENTS, lambda env, sku: _truncated(target_batch(env, sku)),
          INTERNAL, TRUNCATED_UNARY),
    _case("truncated-SyncSnapshot", SYNC_SNAPSHOT, lambda env, sku: _truncated(b"\x0a\x03abc"),
          INTERNAL, TRUNCATED_STREAM),
    _case("truncated-WatchAvailability", WATCH_AVAILABILITY, lambda env, sku: _truncated(b"\x0a\x02\x0a\x00"),
          INTERNAL, TRUNCATED_STREAM),
    _case("truncated-StreamEvents", STREAM_EVENTS, lambda env, sku: _truncated(target_batch(env, sku)),
          INTERNAL, TRUNCATED_STREAM),
    _case("protobuf-GetAvailability", GET_AVAILABILITY, lambda env, sku: grpc_frame(b"\xff\xff\xff\xff"),
          INVALID_ARGUMENT, "the request is not a valid omnistock.v1.GetAvailabilityRequest message: "),
    _case("protobuf-ApplyEvents", APPLY_EVENTS, lambda env, sku: grpc_frame(_invalid_batch(env, sku)),
          INVALID_ARGUMENT, "the request is not a valid omnistock.v1.EventBatch message: "),
    _case("protobuf-SyncSnapshot", SYNC_SNAPSHOT, lambda env, sku: grpc_frame(b"\xff\xff\xff\xff"),
          INVALID_ARGUMENT, "the request is not a valid omnistock.v1.SnapshotChunk message: "),
    _case("protobuf-WatchAvailability", WATCH_AVAILABILITY, lambda env, sku: grpc_frame(b"\xff\xff\xff\xff"),
          INVALID_ARGUMENT, "the request is not a valid omnistock.v1.WatchAvailabilityRequest message: "),
    _case("protobuf-StreamEvents", STREAM_EVENTS, lambda env, sku: grpc_frame(_invalid_batch(env, sku)),
          INVALID_ARGUMENT, "the request is not a valid omnistock.v1.EventBatch message: "),
    _case("flag-2", APPLY_EVENTS, lambda env, sku: grpc_frame(target_batch(env, sku), flag=2),
          INTERNAL, "invalid gRPC message flag 2: expected 0 (uncompressed)"),
    _case("flag-compressed", APPLY_EVENTS, lambda env, sku: grpc_frame(target_batch(env, sku), flag=1),
          UNIMPLEMENTED, "compressed messages are not supported by this server; send uncompressed messages "
                         "(grpc-encoding: identity)"),
    _case("no-message", APPLY_EVENTS, lambda env, sku: None,
          INTERNAL, "a unary call needs exactly one request message; none was sent"),
    _case("empty-body", APPLY_EVENTS, lambda env, sku: b"",
          INTERNAL, "a unary call needs exactly one request message; none was sent"),
    _case("two-messages", APPLY_EVENTS, lambda env, sku: grpc_frame(target_batch(env, sku)) * 2,
          INTERNAL, "a unary call needs exactly one request message; more were sent"),
]


@pytest.mark.parametrize("path, build, status, message", GRPC_CASES)
def test_malformed_grpc_message_precise_status(env, path, build, status, message):
    """Answered on its stream with a precise grpc-status and message (trailers-only, HTTP 200);
    the connection itself stays usable."""
    sku = uid("bad-sku")
    with under_attack(env), attacker(env.port) as a:
        sid = a.request(path, build(env, sku))
        r = a.wait_stream(sid)
        assert r.ended, f"no answer within {ANSWER_TIMEOUT} s: {a.describe()}"
        assert r.http_status == "200" and r.fields.get("content-type") == "application/grpc", r
        assert (r.grpc_status, r.grpc_message[:len(message)]) == (status, message), r
        if message.endswith(": "):  # the decoder's reason follows; it must say something
            assert len(r.grpc_message) > len(message), r
        if status == UNIMPLEMENTED:
            assert r.fields.get("grpc-accept-encoding") == "identity", r
        assert r.data == b"", r
        assert_served_on_same_connection(a, uid("sku"), env.good_loc)
    assert_not_applied(env, sku)


@pytest.mark.parametrize("path", [APPLY_EVENTS, STREAM_EVENTS, SYNC_SNAPSHOT])
def test_message_over_4mib_refused_at_its_prefix(env, path):
    """A message declaring 4 MiB + 1 is refused with RESOURCE_EXHAUSTED as soon as its 5-byte
    prefix arrives (the body is never sent, let alone buffered); the server then tells the client
    to stop sending (RST_STREAM NO_ERROR)."""
    sku = uid("bad-sku")
    with under_attack(env), attacker(env.port) as a:
        sid = a.request(path, grpc_frame(b"", length=MAX_MESSAGE_BYTES + 1) + target_batch(env, sku)[:100],
                        end_stream=False)
        a.pump(lambda a: a.response(sid).rst is not None or a.closed)
        r = a.response(sid)
        assert (r.grpc_status, r.grpc_message) == (
            RESOURCE_EXHAUSTED,
            f"request message of {MAX_MESSAGE_BYTES + 1} bytes exceeds the server's limit of {MAX_MESSAGE_BYTES} bytes"), r
        assert r.end_stream and r.rst == ErrorCodes.NO_ERROR, r
        assert_served_on_same_connection(a, uid("sku"), env.good_loc)
    assert_not_applied(env, sku)


def test_oversize_bodies_sent_anyway_do_not_stall_the_connection(env):
    """An attacker that ignores the refusal and sends five whole 4 MiB + 1 messages anyway (more
    than the 16 MiB connection window, honouring flow control): every stream is refused at its
    prefix, the discarded bytes are given back as connection window (WINDOW_UPDATE on stream 0)
    so nothing stalls, and the connection still serves a call."""
    body = grpc_frame(b"", length=MAX_MESSAGE_BYTES + 1) + bytes(MAX_MESSAGE_BYTES + 1)
    with under_attack(env), attacker(env.port) as a:
        sent = 0

        def credit(a):
            granted = sum(f.window_increment for f, _ in a.frames
                          if isinstance(f, WindowUpdateFrame) and f.stream_id == 0)
            return 65535 + granted - sent

        for _ in range(5):
            sid = a.next_stream_id()
            a.send(split_header_block(a.encode(request_headers(APPLY_EVENTS)), sid, end_stream=False))
            offset = 0
            while offset < len(body):
                if credit(a) <= 0:
                    assert a.pump(lambda a: credit(a) > 0), \
                        f"connection window never reopened after {sent} bytes: {a.describe()}"
                    continue
                n = min(MAX_FRAME_SIZE, credit(a), len(body) - offset)
                flags = FLAG_END_STREAM if offset + n == len(body) else 0
                assert a.send(raw_frame(FRAME_DATA, flags, sid, body[offset:offset + n])), a.describe()
                offset += n
                sent += n
            r = a.wait_stream(sid)
            assert (r.grpc_status, r.rst) == (RESOURCE_EXHAUSTED, ErrorCodes.NO_ERROR), r
        assert sent > 16 * 1024 * 1024
        assert_served_on_same_connection(a, uid("sku"), env.good_loc)


# --------------------------------------------------------------------------------------------
# 4. HTTP semantics: content-type and method


@pytest.mark.parametrize("content_type, method, expected", [
    ("application/json", "POST", "415"),
    ("text/plain", "POST", "415"),
    (None, "POST", "415"),
    ("application/grpc-web", "POST", "415"),
    ("application/grpcx", "POST", "415"),
    ("application/grpc", "GET", "405"),
    ("application/grpc", "PUT", "405"),
])
def test_wrong_content_type_or_method_http_status(env, content_type, method, expected):
    """Not a gRPC request: a plain HTTP status (no grpc-status), the handler never runs."""
    sku = uid("bad-sku")
    with under_attack(env), attacker(env.port) as a:
        sid = a.request(APPLY_EVENTS, grpc_frame(target_batch(env, sku)), content_type=content_type, method=method)
        r = a.wait_stream(sid)
        assert r.header_blocks == [[(":status", expected)]] and r.end_stream, r
        assert_served_on_same_connection(a, uid("sku"), env.good_loc)
    assert_not_applied(env, sku)


def test_grpc_content_type_with_suffix_is_served(env):
    """Positive control for the content-type check: ``application/grpc+proto`` is gRPC."""
    with under_attack(env), attacker(env.port) as a:
        body = av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=env.good_loc)).SerializeToString()
        r = a.wait_stream(a.request(GET_AVAILABILITY, grpc_frame(body), content_type="application/grpc+proto"))
        assert r.grpc_status == OK, r


# --------------------------------------------------------------------------------------------
# 5. Header lists


def _metadata(total_bytes: int) -> list[tuple[str, str]]:
    """Custom metadata of about ``total_bytes`` (HPACK list size: name + value + 32 per field)."""
    return [(f"x-pad-{i:03d}", "v" * 990) for i in range(total_bytes // 1032)]


def _header_list_size(headers) -> int:
    return sum(len(n) + len(v) + 32 for n, v in headers)


def test_header_list_within_limit_is_served(env):
    """Positive control: ~12 KiB of metadata (under the advertised 16 KiB) is an ordinary call."""
    with under_attack(env), attacker(env.port) as a:
        assert a.server_settings().settings.get(SettingsFrame.MAX_HEADER_LIST_SIZE) == MAX_HEADER_LIST_BYTES
        headers = request_headers(GET_AVAILABILITY, extra=_metadata(12 * 1024))
        assert _header_list_size(headers) < MAX_HEADER_LIST_BYTES
        sid = a.next_stream_id()
        body = av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=env.good_loc)).SerializeToString()
        a.send(split_header_block(a.encode(headers), sid, end_stream=False)
               + raw_frame(FRAME_DATA, FLAG_END_STREAM, sid, grpc_frame(body)))
        r = a.wait_stream(sid)
        assert r.grpc_status == OK, (r, a.describe())


def test_header_list_over_advertised_limit_is_refused(env):
    """A header list over the advertised SETTINGS_MAX_HEADER_LIST_SIZE must not reach the handler:
    refused on its stream with HTTP 431, or grpc-status RESOURCE_EXHAUSTED, or RST_STREAM; the
    events in the body are not applied."""
    sku = uid("bad-sku")
    with under_attack(env), attacker(env.port) as a:
        headers = request_headers(APPLY_EVENTS, extra=_metadata(24 * 1024))
        assert _header_list_size(headers) > MAX_HEADER_LIST_BYTES
        sid = a.next_stream_id()
        block = a.encode(headers)
        assert continuation_count(len(block)) <= MAX_CONTINUATIONS
        a.send(split_header_block(block, sid, end_stream=False)
               + raw_frame(FRAME_DATA, FLAG_END_STREAM, sid, grpc_frame(target_batch(env, sku))))
        r = a.wait_stream(sid)
        assert r.grpc_status == RESOURCE_EXHAUSTED, f"a {_header_list_size(headers)}-byte header list was not refused: {r}"
        assert "exceed this server's limit of 16384 bytes" in (r.grpc_message or ""), r
        assert_not_applied(env, sku)
    assert_not_applied(env, sku)


# --------------------------------------------------------------------------------------------
# 6. Floods: CONTINUATION, rapid reset, SETTINGS, PING


def test_continuation_limit_boundary_is_served(env):
    """Positive control for the CONTINUATION limit: HEADERS + 8 CONTINUATION frames (the last one
    ends the block) is an ordinary request."""
    with under_attack(env), attacker(env.port) as a:
        sid = a.next_stream_id()
        out = raw_frame(FRAME_HEADERS, 0, sid, a.encode(request_headers(GET_AVAILABILITY)))
        for i in range(MAX_CONTINUATIONS):
            last = i == MAX_CONTINUATIONS - 1
            out += raw_frame(FRAME_CONTINUATION, FLAG_END_HEADERS if last else 0, sid, a.encode([(f"x-c{i}", "v")]))
        body = av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=env.good_loc)).SerializeToString()
        a.send(out + raw_frame(FRAME_DATA, FLAG_END_STREAM, sid, grpc_frame(body)))
        r = a.wait_stream(sid)
        assert r.grpc_status == OK, (r, a.describe())


@pytest.mark.parametrize("payload", ["empty", "one-header-each"])
def test_continuation_flood_closes_connection(env, payload):
    """HEADERS without END_HEADERS, then CONTINUATION frames that never end the block: the 9th
    CONTINUATION makes libnghttp2 give up (TOO_MANY_CONTINUATIONS) and the server closes the
    connection (no GOAWAY); the request never reaches the handler."""
    sku = uid("bad-sku")
    with under_attack(env), attacker(env.port) as a:
        sid = a.next_stream_id()
        a.send(raw_frame(FRAME_HEADERS, 0, sid, a.encode(request_headers(APPLY_EVENTS))))
        sent = 0
        while sent < 2000 and not a.closed and not a.send_failed:
            batch = b"".join(
                raw_frame(FRAME_CONTINUATION, 0, sid, a.encode([(f"x-c{sent + i}", "v")]) if payload != "empty" else b"")
                for i in range(100))
            a.send(batch)
            sent += 100
            a.pump(timeout=0.01)
        assert a.wait_closed(), f"{sent} CONTINUATION frames and the connection is still open: {a.describe()}"
        assert a.goaway() is None and a.stream_ids_answered() == set(), a.describe()
    assert_not_applied(env, sku)


def _rapid_reset_stream(a: H2Attacker, env: Env, sku: str, complete: bool) -> bytes:
    sid = a.next_stream_id()
    if complete:  # a whole read the server starts working on, then cancelled
        body = av_pb2.GetAvailabilityRequest(query=query(sku, location=env.target_loc)).SerializeToString()
    else:  # a write whose request never ends: nothing may be applied
        body = target_batch(env, sku, events=1)
    path = GET_AVAILABILITY if complete else APPLY_EVENTS
    return (split_header_block(a.encode(request_headers(path)), sid, end_stream=False)
            + raw_frame(FRAME_DATA, FLAG_END_STREAM if complete else 0, sid, grpc_frame(body))
            + raw_frame(FRAME_RST_STREAM, 0, sid, struct.pack(">I", ErrorCodes.CANCEL)))


@pytest.mark.parametrize("kind", ["complete-reads", "unfinished-writes"])
def test_rapid_reset_goaway(env, kind):
    """Streams opened and reset at once ("rapid reset", CVE-2023-44487): the first 1,000 resets are
    tolerated (the burst), beyond the rate libnghttp2 sends GOAWAY INTERNAL_ERROR and the server
    closes the connection. Bounded: at most 5,000 streams."""
    sku = uid("bad-sku")
    with under_attack(env), attacker(env.port) as a:
        opened = 0
        while opened < 5000 and a.goaway() is None and not a.closed and not a.send_failed:
            a.send(b"".join(_rapid_reset_stream(a, env, sku, kind == "complete-reads") for _ in range(250)))
            opened += 250
            a.pump(lambda a: a.goaway() is not None, timeout=0.01)
        a.wait_closed()
        g = a.goaway()
        assert g is not None, f"{opened} streams reset and no GOAWAY: {a.describe()}"
        assert g.error_code == ErrorCodes.INTERNAL_ERROR, a.describe()
        # The GOAWAY names the stream whose reset went over the limit: at least the 1,001st.
        assert g.last_stream_id >= 2 * RESET_BURST + 1, a.describe()
        assert a.closed, a.describe()
    assert_not_applied(env, sku)


def test_resets_within_burst_keep_connection(env):
    """900 streams opened and reset (under the burst of 1,000): no GOAWAY, the connection still
    serves a call, and none of the reset writes was applied."""
    sku = uid("bad-sku")
    with under_attack(env), attacker(env.port) as a:
        for _ in range(9):
            a.send(b"".join(_rapid_reset_stream(a, env, sku, complete=False) for _ in range(100)))
            a.pump(timeout=0.01)
        assert_served_on_same_connection(a, uid("sku"), env.good_loc)
        assert a.goaway() is None, a.describe()
    assert_not_applied(env, sku)


FLOOD_FRAMES = {
    "ping": (raw_frame(FRAME_PING, 0, 0, b"12345678"), PingFrame),
    "settings-empty": (raw_frame(FRAME_SETTINGS, 0, 0), SettingsFrame),
    "settings-one-entry": (raw_frame(FRAME_SETTINGS, 0, 0, struct.pack(">HI", 3, 100)), SettingsFrame),
}


@pytest.mark.parametrize("kind", list(FLOOD_FRAMES))
def test_flood_without_reading_closes_connection(env, kind):
    """PING or SETTINGS frames sent much faster than their ACKs are read: once more than 1,000
    ACKs are queued, libnghttp2 reports a flood and the server closes the connection (no GOAWAY).
    Bounded: at most 50,000 frames, sent without reading."""
    frame, frame_type = FLOOD_FRAMES[kind]
    with under_attack(env), attacker(env.port) as a:
        acks_before = a.count(frame_type, ack=True)
        a.sock.settimeout(10.0)
        sent = 0
        while sent < 50_000 and a.send(frame * 2000):
            sent += 2000
        assert a.wait_closed(), f"{sent} {kind} frames and the connection is still open: {a.describe()}"
        acks = a.count(frame_type, ack=True) - acks_before
        assert acks < sent, (acks, sent)
        assert a.goaway() is None, a.describe()


def test_pings_within_limit_are_answered(env):
    """Positive control for the flood limit: 500 PINGs at once are all acknowledged, in order, and
    the connection keeps serving."""
    with under_attack(env), attacker(env.port) as a:
        a.send(b"".join(raw_frame(FRAME_PING, 0, 0, struct.pack(">Q", i)) for i in range(500)))
        assert a.pump(lambda a: a.count(PingFrame, ack=True) >= 500), a.describe()
        payloads = [struct.unpack(">Q", f.opaque_data)[0] for f, _ in a.frames if isinstance(f, PingFrame)]
        assert payloads == list(range(500))
        assert_served_on_same_connection(a, uid("sku"), env.good_loc)
