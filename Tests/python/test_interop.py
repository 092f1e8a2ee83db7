"""Independent grpcio interoperability tests for the OmniStock server.

Every call shape (unary, client streaming, server streaming, bidi) and the
protocol edges (deadlines, cancellation, oversize messages, unknown methods,
health, invalid input, concurrency, graceful shutdown) against the real
binary. Timeouts here only guard against hangs; nothing asserts on timing.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.v1 import availability_pb2 as av_pb2
from omnistock.v1 import availability_pb2_grpc as av_grpc
from omnistock.v1 import common_pb2
from omnistock.v1 import ingest_pb2
from omnistock.v1 import ingest_pb2_grpc
from omnistock.v1 import reservations_pb2
from omnistock.v1 import reservations_pb2_grpc

from conftest import CHANNEL_OPTIONS, HOST, listening_ports, server_binary

RPC_TIMEOUT = 30.0  # generous: only to turn a hang into a failure
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]  # 3
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]  # 5


# --------------------------------------------------------------------------
# helpers


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_ms() -> int:
    return int(time.time() * 1000)


def event(device, seq, location, sku, etype, qty, reason=None, t=None):
    e = ingest_pb2.StockEvent(
        device_id=device, device_seq=seq, location_id=location, sku=sku,
        type=etype, quantity=qty, event_time_unix_ms=t or now_ms())
    if reason is not None:
        e.reason = reason
    return e


def query(sku, location=None, group=None):
    q = av_pb2.AvailabilityQuery(sku=sku)
    if location is not None:
        q.location_id = location
    if group is not None:
        q.group_id = group
    return q


def get(stub, sku, location):
    return stub.GetAvailability(
        av_pb2.GetAvailabilityRequest(query=query(sku, location=location)),
        timeout=RPC_TIMEOUT).availability


class RequestQueue:
    """A request iterator fed from the test thread; ``close()`` half-closes."""

    _END = object()

    def __init__(self):
        self._q: queue.Queue = queue.Queue()

    def send(self, msg):
        self._q.put(msg)

    def close(self):
        self._q.put(self._END)

    def __iter__(self):
        while True:
            item = self._q.get()
            if item is self._END:
                return
            yield item


def next_with_timeout(iterator, timeout=RPC_TIMEOUT):
    """next() on a response iterator, failing instead of hanging."""
    result: dict = {}
    done = threading.Event()

    def run():
        try:
            result["value"] = next(iterator)
        except BaseException as e:  # StopIteration / RpcError
            result["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    if not done.wait(timeout):
        pytest.fail(f"no response within {timeout} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture(scope="session")
def avail(channel):
    return av_grpc.AvailabilityStub(channel)


@pytest.fixture(scope="session")
def ingest(channel):
    return ingest_pb2_grpc.IngestStub(channel)


@pytest.fixture(scope="session")
def health(channel):
    return health_pb2_grpc.HealthStub(channel)


# --------------------------------------------------------------------------
# 1. unary


def test_unary_apply_events_then_get_availability(ingest, avail):
    sku, loc, dev = uid("sku"), uid("loc"), uid("dev")
    batch = ingest_pb2.EventBatch(batch_id=uid("b"), events=[
        event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 10),
        event(dev, 2, loc, sku, ingest_pb2.EVENT_TYPE_SALE, 3),
    ])
    ack = ingest.ApplyEvents(batch, timeout=RPC_TIMEOUT)
    assert ack.batch_id == batch.batch_id
    assert ack.received == 2
    assert ack.applied == 2
    assert ack.rejected == 0
    assert list(ack.outcomes) == []
    assert not ack.HasField("error")
    assert ack.lsn > 0

    resp = avail.GetAvailability(
        av_pb2.GetAvailabilityRequest(query=query(sku, location=loc)), timeout=RPC_TIMEOUT)
    a = resp.availability
    assert a.sku == sku
    assert a.WhichOneof("target") == "location_id" and a.location_id == loc
    assert a.on_hand == 7
    assert a.available == 7
    assert a.status == common_pb2.STOCK_STATUS_IN_STOCK
    assert a.exists is True
    assert a.lsn == ack.lsn
    assert resp.index_lsn >= ack.lsn


def test_unary_malformed_event_rejected_rest_applies(ingest, avail):
    sku, loc, dev = uid("sku"), uid("loc"), uid("dev")
    batch = ingest_pb2.EventBatch(batch_id=uid("b"), events=[
        event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 10),
        event(dev, 2, loc, sku, ingest_pb2.EVENT_TYPE_SALE, 0),  # malformed
        event(dev, 3, loc, sku, ingest_pb2.EVENT_TYPE_SALE, 4),
    ])
    ack = ingest.ApplyEvents(batch, timeout=RPC_TIMEOUT)
    assert ack.received == 3
    assert ack.applied == 2
    assert ack.rejected == 1
    assert not ack.HasField("error")
    assert len(ack.outcomes) == 1
    out = ack.outcomes[0]
    assert out.index == 1
    assert out.kind == ingest_pb2.OUTCOME_KIND_REJECTED
    assert out.code == INVALID_ARGUMENT
    assert out.reason  # non-empty, names the problem
    assert "quantity" in out.reason

    a = get(avail, sku, loc)
    assert a.on_hand == 6
    assert a.available == 6
    assert a.lsn == ack.lsn


def test_unary_batch_get_mixed_results_in_order(ingest, avail):
    sku, loc, dev = uid("sku"), uid("loc"), uid("dev")
    ack = ingest.ApplyEvents(ingest_pb2.EventBatch(events=[
        event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 5)]), timeout=RPC_TIMEOUT)
    assert ack.applied == 1
    unknown = uid("sku")
    queries = [
        query(sku, location=loc),            # good
        query("bad sku", location=loc),      # malformed sku
        query(unknown, location=loc),        # good, never referenced
        query(sku),                          # no target
        query(sku, location="bad loc!"),     # malformed location
        query(sku, location=loc),            # duplicate, answered again
    ]
    resp = avail.BatchGetAvailability(
        av_pb2.BatchGetAvailabilityRequest(queries=queries), timeout=RPC_TIMEOUT)
    r = resp.results
    assert len(r) == len(queries)
    kinds = [x.WhichOneof("result") for x in r]
    assert kinds == ["availability", "error", "availability", "error", "error", "availability"]
    assert r[0].availability.sku == sku and r[0].availability.on_hand == 5
    assert r[0].availability.location_id == loc
    assert r[2].availability.sku == unknown and r[2].availability.exists is False
    assert r[2].availability.status == common_pb2.STOCK_STATUS_OUT_OF_STOCK
    assert r[5].availability.on_hand == 5
    for i in (1, 3, 4):
        assert r[i].error.code == INVALID_ARGUMENT, (i, r[i].error)
        assert r[i].error.message
    assert "sku" in r[1].error.message
    assert "location_id" in r[4].error.message
    assert resp.index_lsn >= ack.lsn


def test_unary_batch_get_too_many_queries(avail):
    loc = uid("loc")
    queries = [query(f"s{i}", location=loc) for i in range(10_001)]
    with pytest.raises(grpc.RpcError) as info:
        avail.BatchGetAvailability(
            av_pb2.BatchGetAvailabilityRequest(queries=queries), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details()


def test_unary_batch_get_exactly_limit_is_ok(avail):
    loc = uid("loc")
    queries = [query(f"s{i}", location=loc) for i in range(10_000)]
    resp = avail.BatchGetAvailability(
        av_pb2.BatchGetAvailabilityRequest(queries=queries), timeout=RPC_TIMEOUT)
    assert len(resp.results) == 10_000
    assert all(x.WhichOneof("result") == "availability" for x in resp.results)


def test_unary_unknown_sku_reads_zero(avail):
    sku, loc = uid("never"), uid("loc")
    a = get(avail, sku, loc)
    assert a.sku == sku
    assert a.location_id == loc
    assert a.on_hand == 0
    assert a.reserved == 0
    assert a.available == 0
    assert a.status == common_pb2.STOCK_STATUS_OUT_OF_STOCK
    assert a.exists is False
    assert a.lsn == 0


def test_unary_group_query_not_found(avail):
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query(uid("sku"), group=uid("grp"))),
            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details()


def test_unary_batch_group_query_not_found_in_slot(avail):
    resp = avail.BatchGetAvailability(av_pb2.BatchGetAvailabilityRequest(
        queries=[query(uid("sku"), group=uid("grp"))]), timeout=RPC_TIMEOUT)
    assert len(resp.results) == 1
    assert resp.results[0].WhichOneof("result") == "error"
    assert resp.results[0].error.code == NOT_FOUND


# --------------------------------------------------------------------------
# 2. client streaming


def chunk(snapshot_id, loc, mode, as_of, entries, **kw):
    return ingest_pb2.SnapshotChunk(
        snapshot_id=snapshot_id, location_id=loc, mode=mode, as_of_unix_ms=as_of,
        entries=[ingest_pb2.SnapshotEntry(sku=s, on_hand=q) for s, q in entries], **kw)


def test_client_streaming_sync_snapshot(ingest, avail):
    loc_a, loc_b, dev = uid("locA"), uid("locB"), uid("dev")
    old_a, s1, s2, s3, keep_b = (uid("sku") for _ in range(5))
    # Pre-existing positions: old_a at A (REPLACE must zero it), keep_b at B
    # (UPSERT must leave it alone).
    ack = ingest.ApplyEvents(ingest_pb2.EventBatch(events=[
        event(dev, 1, loc_a, old_a, ingest_pb2.EVENT_TYPE_RECEIPT, 9),
        event(dev, 2, loc_b, keep_b, ingest_pb2.EVENT_TYPE_RECEIPT, 11),
    ]), timeout=RPC_TIMEOUT)
    assert ack.applied == 2

    sid = uid("snap")
    as_of = now_ms()
    chunks = [
        chunk(sid, loc_a, ingest_pb2.SNAPSHOT_MODE_REPLACE, as_of, [(s1, 5)]),
        chunk(sid, loc_b, ingest_pb2.SNAPSHOT_MODE_UPSERT, as_of, [(s3, 4)]),
        chunk(sid, loc_a, ingest_pb2.SNAPSHOT_MODE_REPLACE, as_of, [(s2, 8)]),
    ]
    result = ingest.SyncSnapshot(iter(chunks), timeout=RPC_TIMEOUT)
    assert result.snapshot_id == sid
    assert result.chunks == 3
    assert result.entries == 3
    assert result.lsn > ack.lsn
    assert [l.location_id for l in result.locations] == [loc_a, loc_b]
    assert result.locations[0].mode == ingest_pb2.SNAPSHOT_MODE_REPLACE
    assert result.locations[1].mode == ingest_pb2.SNAPSHOT_MODE_UPSERT

    a1, a2, a0 = get(avail, s1, loc_a), get(avail, s2, loc_a), get(avail, old_a, loc_a)
    assert (a1.on_hand, a1.available, a1.exists) == (5, 5, True)
    assert (a2.on_hand, a2.available) == (8, 8)
    assert a1.lsn == result.lsn and a2.lsn == result.lsn
    assert a1.last_absolute_time_unix_ms == as_of
    assert (a0.on_hand, a0.exists, a0.status) == (0, True, common_pb2.STOCK_STATUS_OUT_OF_STOCK)
    b3, bk = get(avail, s3, loc_b), get(avail, keep_b, loc_b)
    assert b3.on_hand == 4
    assert bk.on_hand == 11 and bk.lsn == ack.lsn


def test_client_streaming_bad_chunk_applies_nothing(ingest, avail):
    loc, sku, other = uid("loc"), uid("sku"), uid("sku")
    first = ingest.SyncSnapshot(iter([
        chunk(uid("snap"), loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, now_ms(), [(sku, 4)]),
    ]), timeout=RPC_TIMEOUT)
    assert get(avail, sku, loc).on_hand == 4

    sid = uid("snap")
    as_of = now_ms() + 1
    bad = [
        chunk(sid, loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, as_of, [(sku, 100)]),
        chunk(sid, loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, as_of, [(other, 1)]),
        chunk(sid, uid("loc"), ingest_pb2.SNAPSHOT_MODE_UNSPECIFIED, as_of, [(other, 2)]),  # no mode
    ]
    with pytest.raises(grpc.RpcError) as info:
        ingest.SyncSnapshot(iter(bad), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mode" in info.value.details()

    a = get(avail, sku, loc)
    assert a.on_hand == 4
    assert a.lsn == first.lsn
    assert get(avail, other, loc).exists is False


def test_client_streaming_no_chunks_is_invalid(ingest):
    with pytest.raises(grpc.RpcError) as info:
        ingest.SyncSnapshot(iter([]), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_client_streaming_cancel_applies_nothing(ingest, avail):
    loc, sku = uid("loc"), uid("sku")
    first = ingest.SyncSnapshot(iter([
        chunk(uid("snap"), loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, now_ms(), [(sku, 4)]),
    ]), timeout=RPC_TIMEOUT)
    requests = RequestQueue()
    fut = ingest.SyncSnapshot.future(iter(requests), timeout=RPC_TIMEOUT)
    try:
        requests.send(chunk(uid("snap"), loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, now_ms() + 1, [(sku, 99)]))
        fut.cancel()
        with pytest.raises(grpc.FutureCancelledError):
            fut.result(timeout=RPC_TIMEOUT)
    finally:
        requests.close()
    a = get(avail, sku, loc)
    assert a.on_hand == 4 and a.lsn == first.lsn


def test_client_streaming_deadline_applies_nothing(ingest, avail):
    loc, sku = uid("loc"), uid("sku")
    first = ingest.SyncSnapshot(iter([
        chunk(uid("snap"), loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, now_ms(), [(sku, 4)]),
    ]), timeout=RPC_TIMEOUT)
    requests = RequestQueue()
    try:
        # One chunk sent, never half-closed: the deadline ends the call.
        requests.send(chunk(uid("snap"), loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, now_ms() + 1, [(sku, 99)]))
        fut = ingest.SyncSnapshot.future(iter(requests), timeout=0.5)
        with pytest.raises(grpc.RpcError) as info:
            fut.result(timeout=RPC_TIMEOUT)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        requests.close()
    a = get(avail, sku, loc)
    assert a.on_hand == 4 and a.lsn == first.lsn


# --------------------------------------------------------------------------
# 3. server streaming


def test_server_streaming_health_watch_then_cancel(health, avail):
    call = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
    first = next_with_timeout(call)
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    call.cancel()
    with pytest.raises(grpc.RpcError) as info:
        next_with_timeout(call)
    assert info.value.code() == grpc.StatusCode.CANCELLED
    # The server survived the cancellation.
    a = get(avail, uid("sku"), uid("loc"))
    assert a.exists is False


def test_server_streaming_health_watch_named_service(health):
    call = health.Watch(
        health_pb2.HealthCheckRequest(service="omnistock.v1.Ingest"), timeout=RPC_TIMEOUT)
    try:
        assert next_with_timeout(call).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        call.cancel()


def test_server_streaming_health_watch_unknown_service(health):
    # Standard health: Watch of an unknown service reports SERVICE_UNKNOWN
    # (it may become known later) instead of failing.
    call = health.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT)
    try:
        assert next_with_timeout(call).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    finally:
        call.cancel()


def test_server_streaming_deadline_exceeded(health, avail):
    call = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
    assert next_with_timeout(call).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        next_with_timeout(call)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert get(avail, uid("sku"), uid("loc")).exists is False


# --------------------------------------------------------------------------
# 4. bidi


def test_bidi_stream_events_many_batches(ingest, avail):
    sku, loc, dev = uid("sku"), uid("loc"), uid("dev")
    n = 50
    batch_ids = [f"{uid('b')}-{i}" for i in range(n)]

    def batches():
        for i in range(n):
            yield ingest_pb2.EventBatch(batch_id=batch_ids[i], events=[
                event(dev, i + 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 1)])

    call = ingest.StreamEvents(batches(), timeout=RPC_TIMEOUT * 2)
    acks = list(call)
    assert call.code() == grpc.StatusCode.OK
    assert [a.batch_id for a in acks] == batch_ids
    lsns = [a.lsn for a in acks]
    assert all(b > a for a, b in zip(lsns, lsns[1:])), lsns
    for i, a in enumerate(acks):
        assert (a.received, a.applied, a.rejected) == (1, 1, 0)
        assert [(h.device_id, h.device_seq) for h in a.high_water] == [(dev, i + 1)]

    pos = get(avail, sku, loc)
    assert pos.on_hand == n
    assert pos.lsn == lsns[-1]


def test_bidi_stream_events_interleaved(ingest, avail):
    sku, loc, dev = uid("sku"), uid("loc"), uid("dev")
    requests = RequestQueue()
    call = ingest.StreamEvents(iter(requests), timeout=RPC_TIMEOUT * 2)
    try:
        requests.send(ingest_pb2.EventBatch(batch_id="first", events=[
            event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 20)]))
        ack1 = next_with_timeout(call)
        assert ack1.batch_id == "first" and ack1.applied == 1
        # Read-your-writes between the two sends.
        assert get(avail, sku, loc).on_hand == 20

        requests.send(ingest_pb2.EventBatch(batch_id="second", events=[
            event(dev, 2, loc, sku, ingest_pb2.EVENT_TYPE_SALE, 5),
            event(dev, 3, loc, sku, ingest_pb2.EVENT_TYPE_SALE, 0),  # rejected, stream stays open
        ]))
        ack2 = next_with_timeout(call)
        assert ack2.batch_id == "second"
        assert (ack2.applied, ack2.rejected) == (1, 1)
        assert ack2.outcomes[0].index == 1 and ack2.outcomes[0].code == INVALID_ARGUMENT
        assert ack2.lsn > ack1.lsn

        # An empty batch is a valid ping, acknowledged with the current LSN.
        requests.send(ingest_pb2.EventBatch(batch_id="ping"))
        ack3 = next_with_timeout(call)
        assert ack3.batch_id == "ping" and ack3.received == 0 and ack3.lsn >= ack2.lsn
    finally:
        requests.close()
    with pytest.raises(StopIteration):
        next_with_timeout(call)
    assert call.code() == grpc.StatusCode.OK
    assert get(avail, sku, loc).on_hand == 15


def test_bidi_batch_level_error_keeps_stream_open(ingest):
    loc, sku, dev = uid("loc"), uid("sku"), uid("dev")
    requests = RequestQueue()
    call = ingest.StreamEvents(iter(requests), timeout=RPC_TIMEOUT)
    try:
        # Events of one device out of device_seq order: the whole batch is refused.
        requests.send(ingest_pb2.EventBatch(batch_id="bad", events=[
            event(dev, 2, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 1),
            event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 1)]))
        bad = next_with_timeout(call)
        assert bad.batch_id == "bad"
        assert bad.HasField("error") and bad.error.code == INVALID_ARGUMENT
        assert bad.applied == 0 and bad.received == 2 and list(bad.outcomes) == []
        requests.send(ingest_pb2.EventBatch(batch_id="good", events=[
            event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 1)]))
        good = next_with_timeout(call)
        assert good.batch_id == "good" and good.applied == 1
    finally:
        requests.close()
    with pytest.raises(StopIteration):
        next_with_timeout(call)
    assert call.code() == grpc.StatusCode.OK


def test_bidi_immediate_half_close(ingest):
    call = ingest.StreamEvents(iter([]), timeout=RPC_TIMEOUT)
    assert list(call) == []
    assert call.code() == grpc.StatusCode.OK


def test_bidi_more_streams_than_connection_limit(ingest):
    # 300 concurrent streams on one channel (server default: 256 per
    # connection); the client queues the excess, every stream completes.
    n = 300
    queues = [RequestQueue() for _ in range(n)]
    calls = [ingest.StreamEvents(iter(q), timeout=RPC_TIMEOUT * 2) for q in queues]
    try:
        for i, q in enumerate(queues):
            q.send(ingest_pb2.EventBatch(batch_id=f"ping-{i}"))
            q.close()
        for i, c in enumerate(calls):
            acks = list(c)
            assert [a.batch_id for a in acks] == [f"ping-{i}"]
            assert c.code() == grpc.StatusCode.OK
    finally:
        for q in queues:
            q.close()


# --------------------------------------------------------------------------
# 5. deadlines


def test_deadline_exceeded_on_idle_stream(ingest, avail):
    requests = RequestQueue()  # nothing sent, never half-closed (until cleanup)
    call = ingest.StreamEvents(iter(requests), timeout=0.5)
    try:
        with pytest.raises(grpc.RpcError) as info:
            next_with_timeout(call)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert call.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        requests.close()  # release grpc's request-consumer thread
    # Server still fine.
    assert get(avail, uid("sku"), uid("loc")).exists is False


def test_generous_deadline_unary_succeeds(avail):
    resp = avail.GetAvailability(
        av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=uid("loc"))),
        timeout=120.0)
    assert resp.availability.status == common_pb2.STOCK_STATUS_OUT_OF_STOCK


# --------------------------------------------------------------------------
# 6. cancellation


def test_cancel_bidi_stream_server_keeps_serving(ingest, avail):
    sku, loc, dev = uid("sku"), uid("loc"), uid("dev")
    requests = RequestQueue()
    call = ingest.StreamEvents(iter(requests), timeout=RPC_TIMEOUT)
    try:
        requests.send(ingest_pb2.EventBatch(batch_id="one", events=[
            event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 3)]))
        ack = next_with_timeout(call)
        assert ack.batch_id == "one" and ack.applied == 1
        assert call.cancel() is True
        with pytest.raises(grpc.RpcError) as info:
            next_with_timeout(call)
        assert info.value.code() == grpc.StatusCode.CANCELLED
    finally:
        requests.close()
    # Acknowledged before the cancel: stays applied; and the server keeps serving.
    a = get(avail, sku, loc)
    assert a.on_hand == 3 and a.lsn == ack.lsn
    ack2 = ingest.ApplyEvents(ingest_pb2.EventBatch(events=[
        event(dev, 2, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 1)]), timeout=RPC_TIMEOUT)
    assert ack2.applied == 1
    assert get(avail, sku, loc).on_hand == 4


def test_cancel_unary_future_server_keeps_serving(avail):
    fut = avail.GetAvailability.future(
        av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=uid("loc"))),
        timeout=RPC_TIMEOUT)
    fut.cancel()  # may or may not win the race with the answer; both are fine
    try:
        fut.result(timeout=RPC_TIMEOUT)
    except grpc.FutureCancelledError:
        pass
    assert get(avail, uid("sku"), uid("loc")).exists is False


# --------------------------------------------------------------------------
# 7. oversize


def test_oversize_request_resource_exhausted(server, channel, avail):
    huge = "x" * 5_000_000
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query(huge, location=uid("loc"))),
            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = info.value.details() or ""
    assert "4194304" in details or "limit" in details.lower(), details
    # The server (and this very channel) keep serving.
    assert get(avail, uid("sku"), uid("loc")).exists is False


def test_oversize_on_stream_resource_exhausted(ingest, avail):
    dev, loc = uid("dev"), uid("loc")
    huge_ref_events = [event(dev, i + 1, loc, uid("sku"), ingest_pb2.EVENT_TYPE_RECEIPT, 1)
                       for i in range(1)]
    big = ingest_pb2.EventBatch(batch_id="x" * 5_000_000, events=huge_ref_events)
    call = ingest.StreamEvents(iter([big]), timeout=RPC_TIMEOUT)
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert get(avail, uid("sku"), uid("loc")).exists is False


def test_message_exactly_at_limit_is_accepted(avail):
    # 4,194,304 bytes is accepted by the framing layer (then the sku is too
    # long: INVALID_ARGUMENT); one byte more is RESOURCE_EXHAUSTED.
    limit = 4 * 1024 * 1024

    def request_of_size(size):
        n = size - 32
        while True:
            req = av_pb2.GetAvailabilityRequest(query=query("x" * n, location="l"))
            if req.ByteSize() == size:
                return req
            n += size - req.ByteSize()

    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(request_of_size(limit), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sku" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(request_of_size(limit + 1), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(limit) in info.value.details()


# --------------------------------------------------------------------------
# 8. unknown / unimplemented methods


def test_unknown_method_unimplemented(channel):
    nope = channel.unary_unary(
        "/omnistock.v1.Nope/Nothing",
        request_serializer=lambda x: x, response_deserializer=lambda x: x)
    with pytest.raises(grpc.RpcError) as info:
        nope(b"", timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_unknown_method_of_known_service_unimplemented(channel):
    nope = channel.unary_unary(
        "/omnistock.v1.Availability/Nothing",
        request_serializer=lambda x: x, response_deserializer=lambda x: x)
    with pytest.raises(grpc.RpcError) as info:
        nope(b"", timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_contract_method_where_available_unimplemented(avail):
    with pytest.raises(grpc.RpcError) as info:
        avail.WhereAvailable(
            av_pb2.WhereAvailableRequest(sku=uid("sku"), group_id=uid("grp")),
            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert info.value.details()


def test_contract_method_reserve_unimplemented(channel):
    stub = reservations_pb2_grpc.ReservationsStub(channel)
    req = reservations_pb2.ReserveRequest(
        reservation_id=uid("r"),
        lines=[reservations_pb2.ReservationLine(sku=uid("sku"), location_id=uid("loc"), quantity=1)])
    with pytest.raises(grpc.RpcError) as info:
        stub.Reserve(req, timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert info.value.details()


def test_contract_streaming_method_watch_unimplemented(avail):
    call = avail.WatchAvailability(
        av_pb2.WatchAvailabilityRequest(filter=av_pb2.WatchFilter(location_ids=[uid("loc")])),
        timeout=RPC_TIMEOUT)
    with pytest.raises(grpc.RpcError) as info:
        next_with_timeout(call)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert info.value.details()


# --------------------------------------------------------------------------
# 9. health Check


@pytest.mark.parametrize("service", ["", "omnistock.v1.Availability", "omnistock.v1.Ingest"])
def test_health_check_serving(health, service):
    resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_health_check_unknown_service_not_found(health):
    with pytest.raises(grpc.RpcError) as info:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------------------
# 10. invalid input messages


def test_invalid_sku_names_field(avail):
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query("bad sku", location=uid("loc"))),
            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sku" in info.value.details()


def test_invalid_missing_target(avail):
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query(uid("sku"))), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details()


def test_invalid_missing_query(avail):
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(av_pb2.GetAvailabilityRequest(), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_invalid_too_long_location(avail):
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location="L" * 65)),
            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "location_id" in info.value.details()


def test_garbage_request_bytes_invalid(channel):
    # Bytes that are not a valid protobuf encoding of the request.
    raw = channel.unary_unary(
        "/omnistock.v1.Availability/GetAvailability",
        request_serializer=lambda x: x, response_deserializer=lambda x: x)
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff\xff", timeout=RPC_TIMEOUT)
    assert info.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL)


def test_compressed_request_answered_cleanly(avail):
    # The server may not support message compression; gRPC then requires
    # UNIMPLEMENTED (not INTERNAL, not a reset). If it does, the answer is right.
    sku, loc = uid("sku"), uid("loc")
    req = av_pb2.GetAvailabilityRequest(query=query(sku, location=loc))
    try:
        resp = avail.GetAvailability(req, timeout=RPC_TIMEOUT, compression=grpc.Compression.Gzip)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, (e.code(), e.details())
        assert "gzip" in e.details()
    else:
        assert resp.availability.sku == sku
    assert get(avail, sku, loc).exists is False


def test_custom_metadata_is_tolerated(avail):
    sku, loc = uid("sku"), uid("loc")
    resp, call = avail.GetAvailability.with_call(
        av_pb2.GetAvailabilityRequest(query=query(sku, location=loc)),
        timeout=RPC_TIMEOUT,
        metadata=[("x-request-id", uid("req")), ("x-trace-bin", b"\x00\x01\xff")])
    assert resp.availability.sku == sku
    assert call.code() == grpc.StatusCode.OK


# --------------------------------------------------------------------------
# 11. many concurrent calls


def test_many_concurrent_unary_calls(ingest, avail):
    sku, loc, dev = uid("sku"), uid("loc"), uid("dev")
    ack = ingest.ApplyEvents(ingest_pb2.EventBatch(events=[
        event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 42)]), timeout=RPC_TIMEOUT)
    req = av_pb2.GetAvailabilityRequest(query=query(sku, location=loc))
    futures = [avail.GetAvailability.future(req, timeout=RPC_TIMEOUT * 2) for _ in range(200)]
    results = [f.result(timeout=RPC_TIMEOUT * 2) for f in futures]
    assert len(results) == 200
    for r in results:
        assert r.availability.on_hand == 42
        assert r.availability.lsn == ack.lsn


# --------------------------------------------------------------------------
# 12. graceful shutdown


def test_graceful_shutdown_drains_in_flight_stream(server_factory):
    srv = server_factory()
    ch = srv.channel()
    requests = RequestQueue()
    watch = None
    try:
        grpc.channel_ready_future(ch).result(timeout=30)
        ingest = ingest_pb2_grpc.IngestStub(ch)
        avail = av_grpc.AvailabilityStub(ch)
        health = health_pb2_grpc.HealthStub(ch)
        sku, loc, dev = uid("sku"), uid("loc"), uid("dev")

        call = ingest.StreamEvents(iter(requests), timeout=RPC_TIMEOUT * 2)
        requests.send(ingest_pb2.EventBatch(batch_id="before", events=[
            event(dev, 1, loc, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 7)]))
        ack1 = next_with_timeout(call)
        assert ack1.batch_id == "before" and ack1.applied == 1

        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT * 2)
        assert next_with_timeout(watch).status == health_pb2.HealthCheckResponse.SERVING

        srv.send_sigterm()

        # The watch is how we know the server has begun draining: NOT_SERVING,
        # then the stream ends (UNAVAILABLE) as the health board finishes.
        assert next_with_timeout(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as info:
            next_with_timeout(watch)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE

        # The in-flight event stream still works and completes cleanly.
        requests.send(ingest_pb2.EventBatch(batch_id="after", events=[
            event(dev, 2, loc, sku, ingest_pb2.EVENT_TYPE_SALE, 2)]))
        ack2 = next_with_timeout(call)
        assert ack2.batch_id == "after" and ack2.applied == 1 and ack2.lsn > ack1.lsn
        requests.close()
        with pytest.raises(StopIteration):
            next_with_timeout(call)
        assert call.code() == grpc.StatusCode.OK

        rc = srv.wait_exit(30)
        assert rc == 0, f"exit code {rc} after SIGTERM\n{srv.stderr_tail()}"
    finally:
        requests.close()
        if watch is not None:
            watch.cancel()
        ch.close()
    srv.stop()  # already exited: checks nothing more, marks it stopped


def test_graceful_shutdown_idle_server_exits_zero(server_factory):
    srv = server_factory()
    ch = srv.channel()
    try:
        resp = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        ch.close()
    srv.stop()  # SIGTERM; fails unless exit 0 within 30 s


def test_sigterm_right_after_ready_exits_zero(tmp_path):
    """Deterministic reproduction: the server's stdout is a pipe we filled up
    beforehand, so its print of the listening line blocks; by then it already
    answers health SERVING. A SIGTERM now must still drain and exit 0."""
    binary = server_binary()
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    for chunk_size in (65536, 4096, 1):
        try:
            while True:
                os.write(write_end, b"#" * chunk_size)
        except BlockingIOError:
            pass
    os.set_blocking(write_end, True)
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [binary, "serve", "--host", HOST, "--port", "0", "--data-dir", str(tmp_path / "data")],
        stdin=subprocess.DEVNULL, stdout=write_end, stderr=log)
    os.close(write_end)
    drained = bytearray()
    drainer = threading.Thread(
        target=lambda: [drained.extend(b) for b in iter(lambda: os.read(read_end, 65536), b"")],
        daemon=True)
    try:
        deadline = time.monotonic() + 60
        ports: set = set()
        while not ports:
            assert proc.poll() is None, f"server exited early ({proc.returncode})"
            assert time.monotonic() < deadline, "server never listened"
            ports = listening_ports(proc.pid)
            time.sleep(0.01)
        assert len(ports) == 1, ports
        port = ports.pop()
        ch = grpc.insecure_channel(f"{HOST}:{port}", options=CHANNEL_OPTIONS)
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            ch.close()
        proc.send_signal(signal.SIGTERM)
        drainer.start()  # let a fixed server finish printing and shut down
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            pytest.fail("server did not exit within 30 s of SIGTERM")
        assert rc == 0, f"exit status {rc} after SIGTERM sent once the server reported SERVING"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        if not drainer.is_alive():
            os.close(read_end)
