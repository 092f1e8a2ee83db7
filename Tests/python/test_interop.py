"""Independent grpcio interoperability tests for the OmniStock server.

Every call shape (unary, client streaming, server streaming, bidi) and the
protocol edges (deadlines, cancellation, oversize messages, unknown methods,
health, invalid input, concurrency, graceful shutdown) against the real
binary, plus the catalogue a client sees: declared locations and their
settings, groups and their totals, WhereAvailable, and Admin validation and
paging. Timeouts here only guard against hangs; nothing asserts on timing.

Locations are declared (``declare_location``) before anything is written to
or read from them: reading an undeclared location is NOT_FOUND, an event for
one is REJECTED (code 5) and a snapshot of one fails with NOT_FOUND. Every test
uses its own uuid-based ids. The engine's semantics (exactly once per device,
GAP / SUPERSEDED, counts and variances, the operator's reports, checkpoints and
the network file) are tested in depth in ``test_engine.py``; helpers shared by
both modules are in ``omnistock_helpers.py``.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.v1 import admin_pb2
from omnistock.v1 import admin_pb2_grpc
from omnistock.v1 import availability_pb2 as av_pb2
from omnistock.v1 import availability_pb2_grpc as av_grpc
from omnistock.v1 import common_pb2
from omnistock.v1 import ingest_pb2
from omnistock.v1 import ingest_pb2_grpc
from omnistock.v1 import reservations_pb2
from omnistock.v1 import reservations_pb2_grpc

from conftest import CHANNEL_OPTIONS, HOST, listening_ports, server_binary
from omnistock_helpers import (
    FAILED_PRECONDITION, GAP, INVALID_ARGUMENT, NOT_FOUND, RECEIPT, REJECTED, RPC_TIMEOUT, SALE,
    RequestQueue, apply_events, check_ack_counts, chunk, declare_group, declare_location, event, get,
    get_group, high_water, list_all_locations, location_message, next_with_timeout, now_ms,
    outcome_summary, query, uid, update_location)


# --------------------------------------------------------------------------
# 1. unary


def test_unary_apply_events_then_get_availability(ingest, avail, loc):
    sku, dev = uid("sku"), uid("dev")
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


def test_unary_malformed_event_rejected_rest_applies(ingest, avail, loc):
    sku, dev = uid("sku"), uid("dev")
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
    check_ack_counts(ack)
    # The rejected event does not advance the device's high-water mark: its
    # device_seq stays a hole, so the next event of the device is a GAP naming it.
    assert outcome_summary(ack) == [(1, REJECTED, INVALID_ARGUMENT, 0, 0), (2, GAP, 0, 2, 2)]
    assert ack.gaps == 1
    assert high_water(ack) == [(dev, 3)]
    out = ack.outcomes[0]
    assert out.reason  # non-empty, names the problem
    assert "quantity" in out.reason

    a = get(avail, sku, loc)
    assert a.on_hand == 6
    assert a.available == 6
    assert a.lsn == ack.lsn


def test_unary_batch_get_mixed_results_in_order(ingest, avail, loc):
    sku, dev = uid("sku"), uid("dev")
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


def test_unary_batch_get_exactly_limit_is_ok(avail, loc):
    queries = [query(f"s{i}", location=loc) for i in range(10_000)]
    resp = avail.BatchGetAvailability(
        av_pb2.BatchGetAvailabilityRequest(queries=queries), timeout=RPC_TIMEOUT)
    assert len(resp.results) == 10_000
    assert all(x.WhichOneof("result") == "availability" for x in resp.results)


def test_unary_unknown_sku_reads_zero(admin, avail):
    sku, loc = uid("never"), declare_location(admin, uid("loc"), default_safety_stock=3)
    a = get(avail, sku, loc)
    assert a.sku == sku
    assert a.location_id == loc
    assert a.on_hand == 0
    assert a.reserved == 0
    assert a.safety_stock == 3  # the location default still shows
    assert a.available == 0
    assert a.status == common_pb2.STOCK_STATUS_OUT_OF_STOCK
    assert a.exists is False
    assert a.lsn == 0
    assert [f.location_id for f in a.freshness] == [loc]


def test_unary_undeclared_location_not_found(avail):
    loc = uid("undeclared")
    with pytest.raises(grpc.RpcError) as info:
        get(avail, uid("sku"), loc)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert loc in info.value.details()


def test_unary_batch_undeclared_location_error_in_slot(ingest, avail, loc):
    sku, undeclared = uid("sku"), uid("undeclared")
    apply_events(ingest, [(loc, sku, RECEIPT, 2)])
    resp = avail.BatchGetAvailability(av_pb2.BatchGetAvailabilityRequest(queries=[
        query(sku, location=loc),
        query(sku, location=undeclared),
        query(uid("sku"), location=loc),
    ]), timeout=RPC_TIMEOUT)
    r = resp.results
    assert [x.WhichOneof("result") for x in r] == ["availability", "error", "availability"]
    assert r[0].availability.on_hand == 2
    assert r[1].error.code == NOT_FOUND
    assert undeclared in r[1].error.message
    assert r[2].availability.exists is False


def test_unary_group_query_not_found(avail):
    grp = uid("grp")
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query(uid("sku"), group=grp)),
            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert grp in info.value.details()


def test_unary_batch_group_query_not_found_in_slot(avail):
    grp = uid("grp")
    resp = avail.BatchGetAvailability(av_pb2.BatchGetAvailabilityRequest(
        queries=[query(uid("sku"), group=grp)]), timeout=RPC_TIMEOUT)
    assert len(resp.results) == 1
    assert resp.results[0].WhichOneof("result") == "error"
    assert resp.results[0].error.code == NOT_FOUND
    assert grp in resp.results[0].error.message


# --------------------------------------------------------------------------
# 2. client streaming


def test_client_streaming_sync_snapshot(admin, ingest, avail):
    loc_a, loc_b, dev = declare_location(admin, uid("locA")), declare_location(admin, uid("locB")), uid("dev")
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


def test_client_streaming_bad_chunk_applies_nothing(admin, ingest, avail, loc):
    sku, other = uid("sku"), uid("sku")
    first = ingest.SyncSnapshot(iter([
        chunk(uid("snap"), loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, now_ms(), [(sku, 4)]),
    ]), timeout=RPC_TIMEOUT)
    assert get(avail, sku, loc).on_hand == 4

    sid = uid("snap")
    as_of = now_ms() + 1
    bad = [
        chunk(sid, loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, as_of, [(sku, 100)]),
        chunk(sid, loc, ingest_pb2.SNAPSHOT_MODE_UPSERT, as_of, [(other, 1)]),
        chunk(sid, declare_location(admin, uid("loc")), ingest_pb2.SNAPSHOT_MODE_UNSPECIFIED, as_of,
              [(other, 2)]),  # no mode
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


def test_client_streaming_cancel_applies_nothing(ingest, avail, loc):
    sku = uid("sku")
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


def test_client_streaming_deadline_applies_nothing(ingest, avail, loc):
    sku = uid("sku")
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


def test_server_streaming_health_watch_then_cancel(health, avail, probe_location):
    call = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
    first = next_with_timeout(call)
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    call.cancel()
    with pytest.raises(grpc.RpcError) as info:
        next_with_timeout(call)
    assert info.value.code() == grpc.StatusCode.CANCELLED
    # The server survived the cancellation.
    a = get(avail, uid("sku"), probe_location)
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


def test_server_streaming_deadline_exceeded(health, avail, probe_location):
    call = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
    assert next_with_timeout(call).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        next_with_timeout(call)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert get(avail, uid("sku"), probe_location).exists is False


# --------------------------------------------------------------------------
# 4. bidi


def test_bidi_stream_events_many_batches(ingest, avail, loc):
    sku, dev = uid("sku"), uid("dev")
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


def test_bidi_stream_events_interleaved(ingest, avail, loc):
    sku, dev = uid("sku"), uid("dev")
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


def test_bidi_batch_level_error_keeps_stream_open(ingest, loc):
    sku, dev = uid("sku"), uid("dev")
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


def test_deadline_exceeded_on_idle_stream(ingest, avail, probe_location):
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
    assert get(avail, uid("sku"), probe_location).exists is False


def test_generous_deadline_unary_succeeds(avail, loc):
    resp = avail.GetAvailability(
        av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=loc)),
        timeout=120.0)
    assert resp.availability.status == common_pb2.STOCK_STATUS_OUT_OF_STOCK


# --------------------------------------------------------------------------
# 6. cancellation


def test_cancel_bidi_stream_server_keeps_serving(ingest, avail, loc):
    sku, dev = uid("sku"), uid("dev")
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


def test_cancel_unary_future_server_keeps_serving(avail, probe_location):
    fut = avail.GetAvailability.future(
        av_pb2.GetAvailabilityRequest(query=query(uid("sku"), location=probe_location)),
        timeout=RPC_TIMEOUT)
    fut.cancel()  # may or may not win the race with the answer; both are fine
    try:
        fut.result(timeout=RPC_TIMEOUT)
    except grpc.FutureCancelledError:
        pass
    assert get(avail, uid("sku"), probe_location).exists is False


# --------------------------------------------------------------------------
# 7. oversize


def test_oversize_request_resource_exhausted(server, channel, avail, probe_location):
    huge = "x" * 5_000_000
    with pytest.raises(grpc.RpcError) as info:
        avail.GetAvailability(
            av_pb2.GetAvailabilityRequest(query=query(huge, location=uid("loc"))),
            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = info.value.details() or ""
    assert "4194304" in details or "limit" in details.lower(), details
    # The server (and this very channel) keep serving.
    assert get(avail, uid("sku"), probe_location).exists is False


def test_oversize_on_stream_resource_exhausted(ingest, avail, probe_location):
    dev, loc = uid("dev"), uid("loc")
    huge_ref_events = [event(dev, i + 1, loc, uid("sku"), ingest_pb2.EVENT_TYPE_RECEIPT, 1)
                       for i in range(1)]
    big = ingest_pb2.EventBatch(batch_id="x" * 5_000_000, events=huge_ref_events)
    call = ingest.StreamEvents(iter([big]), timeout=RPC_TIMEOUT)
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert get(avail, uid("sku"), probe_location).exists is False


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


def test_contract_admin_reports_implemented(admin, ingest, loc):
    # Formerly UNIMPLEMENTED; the details are tested in test_engine.py. Here:
    # each answers OK on the shared server with a response of the right shape.
    ack = apply_events(ingest, [(loc, uid("sku"), RECEIPT, 1)])
    fresh = admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[loc]), timeout=RPC_TIMEOUT)
    assert [r.freshness.location_id for r in fresh.locations] == [loc]
    assert fresh.server_time_unix_ms > 0
    exc = admin.ListExceptions(admin_pb2.ListExceptionsRequest(page_size=10_000), timeout=RPC_TIMEOUT)
    assert exc.total == len(exc.exceptions) or exc.next_page_token
    st = admin.GetStats(admin_pb2.GetStatsRequest(), timeout=RPC_TIMEOUT)
    assert st.version and st.started_at_unix_ms > 0 and st.durable_lsn >= ack.lsn
    ck = admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    assert ck.lsn >= ack.lsn and ck.file_name.startswith("checkpoints/")


def test_checkout_reserve_extend_commit(admin, ingest, avail, channel):
    """A checkout with grpcio: reserve (all-or-nothing), a replay, extend, commit; a second
    reservation for more than is left is FAILED_PRECONDITION naming the line; errors name states."""
    loc, sku = declare_location(admin, uid("loc")), uid("sku")
    apply_events(ingest, [(loc, sku, RECEIPT, 5)])
    stub = reservations_pb2_grpc.ReservationsStub(channel)
    line = reservations_pb2.ReservationLine(sku=sku, location_id=loc, quantity=3)
    order = uid("order")
    created = stub.Reserve(reservations_pb2.ReserveRequest(reservation_id=order, lines=[line]), timeout=RPC_TIMEOUT)
    assert created.reservation.state == reservations_pb2.RESERVATION_STATE_ACTIVE and not created.replayed
    assert [(a.location_id, a.quantity) for a in created.reservation.lines[0].allocations] == [(loc, 3)]
    again = stub.Reserve(reservations_pb2.ReserveRequest(reservation_id=order, lines=[line]), timeout=RPC_TIMEOUT)
    assert again.replayed and again.reservation == created.reservation
    assert get(avail, sku, loc).reserved == 3
    with pytest.raises(grpc.RpcError) as info:
        stub.Reserve(reservations_pb2.ReserveRequest(reservation_id=uid("order"), lines=[line]), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "line 0" in info.value.details()
    extended = stub.Extend(reservations_pb2.ExtendRequest(reservation_id=order, ttl_seconds=3600), timeout=RPC_TIMEOUT)
    assert extended.reservation.ttl_seconds == 3600
    committed = stub.Commit(reservations_pb2.CommitRequest(reservation_id=order), timeout=RPC_TIMEOUT)
    assert committed.reservation.state == reservations_pb2.RESERVATION_STATE_COMMITTED
    position = get(avail, sku, loc)
    assert (position.on_hand, position.reserved) == (2, 0)
    with pytest.raises(grpc.RpcError) as info:
        stub.Release(reservations_pb2.ReleaseRequest(reservation_id=order), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "COMMITTED" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.GetReservation(reservations_pb2.GetReservationRequest(reservation_id=uid("none")), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_watch_initial_state_then_changes(admin, ingest, avail):
    """WatchAvailability: the initial state of the filter's keys, the marker, then a change
    within moments of the write's ack; an unknown location is NOT_FOUND."""
    loc, sku = declare_location(admin, uid("loc")), uid("sku")
    apply_events(ingest, [(loc, sku, RECEIPT, 5)])
    call = avail.WatchAvailability(
        av_pb2.WatchAvailabilityRequest(filter=av_pb2.WatchFilter(skus=[sku], location_ids=[loc])),
        timeout=RPC_TIMEOUT)
    first = next_with_timeout(call)
    assert first.kind == av_pb2.WATCH_MESSAGE_KIND_INITIAL_STATE
    assert [(u.availability.location_id, u.availability.on_hand) for u in first.updates] == [(loc, 5)]
    assert next_with_timeout(call).kind == av_pb2.WATCH_MESSAGE_KIND_INITIAL_STATE_COMPLETE
    apply_events(ingest, [(loc, sku, SALE, 2)])
    change = next_with_timeout(call)
    assert change.kind == av_pb2.WATCH_MESSAGE_KIND_CHANGE
    assert [(u.availability.on_hand, u.previous_status) for u in change.updates] == [
        (3, common_pb2.STOCK_STATUS_IN_STOCK)]
    call.cancel()

    unknown = avail.WatchAvailability(
        av_pb2.WatchAvailabilityRequest(filter=av_pb2.WatchFilter(location_ids=[uid("loc")])), timeout=RPC_TIMEOUT)
    with pytest.raises(grpc.RpcError) as info:
        next_with_timeout(unknown)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


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


def test_compressed_request_answered_cleanly(avail, loc):
    # The server may not support message compression; gRPC then requires
    # UNIMPLEMENTED (not INTERNAL, not a reset). If it does, the answer is right.
    sku = uid("sku")
    req = av_pb2.GetAvailabilityRequest(query=query(sku, location=loc))
    try:
        resp = avail.GetAvailability(req, timeout=RPC_TIMEOUT, compression=grpc.Compression.Gzip)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, (e.code(), e.details())
        assert "gzip" in e.details()
    else:
        assert resp.availability.sku == sku
    assert get(avail, sku, loc).exists is False


def test_custom_metadata_is_tolerated(avail, loc):
    sku = uid("sku")
    resp, call = avail.GetAvailability.with_call(
        av_pb2.GetAvailabilityRequest(query=query(sku, location=loc)),
        timeout=RPC_TIMEOUT,
        metadata=[("x-request-id", uid("req")), ("x-trace-bin", b"\x00\x01\xff")])
    assert resp.availability.sku == sku
    assert call.code() == grpc.StatusCode.OK


# --------------------------------------------------------------------------
# 11. many concurrent calls


def test_many_concurrent_unary_calls(ingest, avail, loc):
    sku, dev = uid("sku"), uid("dev")
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
        sku, dev = uid("sku"), uid("dev")
        loc = declare_location(admin_pb2_grpc.AdminStub(ch), uid("loc"))

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


# --------------------------------------------------------------------------
# 13. admin: locations and groups


def test_admin_upsert_location_round_trip(admin):
    loc = uid("loc")
    first = admin.UpsertLocation(admin_pb2.UpsertLocationRequest(location=location_message(
        loc, kind=common_pb2.LOCATION_KIND_WAREHOUSE, display_name="DC East",
        default_safety_stock=4, low_stock_threshold=9, coordinates=(40.0, -74.5),
        capabilities=[common_pb2.FULFILLMENT_CAPABILITY_SHIP, common_pb2.FULFILLMENT_CAPABILITY_SHIP,
                      common_pb2.FULFILLMENT_CAPABILITY_SAME_DAY])), timeout=RPC_TIMEOUT)
    assert first.created is True
    stored = first.location
    assert stored.location_id == loc
    assert stored.kind == common_pb2.LOCATION_KIND_WAREHOUSE
    assert stored.display_name == "DC East"
    assert (stored.default_safety_stock, stored.low_stock_threshold) == (4, 9)
    assert stored.active is True
    assert stored.stale_after_seconds == 900  # 0 means the default, and responses carry it
    assert list(stored.capabilities) == [common_pb2.FULFILLMENT_CAPABILITY_SHIP,
                                         common_pb2.FULFILLMENT_CAPABILITY_SAME_DAY]
    assert (stored.coordinates.latitude, stored.coordinates.longitude) == (40.0, -74.5)
    assert stored.created_at_unix_ms > 0 and stored.updated_at_unix_ms >= stored.created_at_unix_ms
    assert stored.lsn > 0

    second = admin.UpsertLocation(admin_pb2.UpsertLocationRequest(location=location_message(
        loc, kind=common_pb2.LOCATION_KIND_STORE, stale_after_seconds=60)), timeout=RPC_TIMEOUT)
    assert second.created is False
    again = second.location
    assert again.created_at_unix_ms == stored.created_at_unix_ms
    assert again.lsn > stored.lsn
    # A full replacement: fields not sent are gone.
    assert again.kind == common_pb2.LOCATION_KIND_STORE
    assert again.stale_after_seconds == 60
    assert (again.default_safety_stock, again.low_stock_threshold) == (0, 0)
    assert list(again.capabilities) == [] and not again.HasField("coordinates")

    got = admin.GetLocation(admin_pb2.GetLocationRequest(location_id=loc), timeout=RPC_TIMEOUT)
    assert got.location == again
    assert got.freshness.location_id == loc
    assert got.freshness.stale_after_seconds == 60
    assert got.positions == 0
    assert list(got.group_ids) == []


def test_admin_get_location_reports_positions_and_groups(admin, ingest, loc):
    other = declare_location(admin, uid("loc"))
    apply_events(ingest, [(loc, uid("sku"), RECEIPT, 1), (loc, uid("sku"), RECEIPT, 2)])
    g_b, g_a = uid("grpB"), uid("grpA")
    declare_group(admin, g_b, [loc])
    declare_group(admin, g_a, [other, loc])
    declare_group(admin, uid("grpC"), [other])
    got = admin.GetLocation(admin_pb2.GetLocationRequest(location_id=loc), timeout=RPC_TIMEOUT)
    assert got.positions == 2
    assert list(got.group_ids) == sorted([g_a, g_b])
    assert got.freshness.location_id == loc
    assert got.freshness.last_update_unix_ms > 0
    assert got.freshness.stale is False and got.freshness.included is True


def test_admin_get_location_unknown_not_found(admin):
    loc = uid("undeclared")
    with pytest.raises(grpc.RpcError) as info:
        admin.GetLocation(admin_pb2.GetLocationRequest(location_id=loc), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert loc in info.value.details()


def test_admin_upsert_location_missing_kind_invalid(admin, avail):
    loc = uid("loc")
    with pytest.raises(grpc.RpcError) as info:
        admin.UpsertLocation(admin_pb2.UpsertLocationRequest(location=location_message(
            loc, kind=common_pb2.LOCATION_KIND_UNSPECIFIED)), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kind" in info.value.details()
    # Nothing was declared.
    with pytest.raises(grpc.RpcError) as info:
        get(avail, uid("sku"), loc)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("settings, field", [
    ({"default_safety_stock": -1}, "default_safety_stock"),
    ({"low_stock_threshold": -1}, "low_stock_threshold"),
    ({"stale_after_seconds": 604_801}, "stale_after_seconds"),
    ({"coordinates": (91.0, 0.0)}, "coordinates"),
    ({"coordinates": (0.0, -180.5)}, "coordinates"),
    ({"display_name": "n" * 257}, "display_name"),
])
def test_admin_upsert_location_invalid_field_named(admin, settings, field):
    with pytest.raises(grpc.RpcError) as info:
        admin.UpsertLocation(admin_pb2.UpsertLocationRequest(
            location=location_message(uid("loc"), **settings)), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in info.value.details()


def test_admin_upsert_location_malformed_id_invalid(admin):
    with pytest.raises(grpc.RpcError) as info:
        admin.UpsertLocation(admin_pb2.UpsertLocationRequest(
            location=location_message("bad id!")), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "location_id" in info.value.details()


def test_admin_upsert_group_undeclared_member_not_found(admin, avail, loc):
    grp, missing = uid("grp"), uid("undeclared")
    with pytest.raises(grpc.RpcError) as info:
        admin.UpsertGroup(admin_pb2.UpsertGroupRequest(group=admin_pb2.LocationGroup(
            group_id=grp, location_ids=[loc, missing])), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing in info.value.details()
    # The group was not created.
    with pytest.raises(grpc.RpcError) as info:
        get_group(avail, uid("sku"), grp)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_admin_upsert_group_duplicate_member_invalid(admin, loc):
    with pytest.raises(grpc.RpcError) as info:
        admin.UpsertGroup(admin_pb2.UpsertGroupRequest(group=admin_pb2.LocationGroup(
            group_id=uid("grp"), location_ids=[loc, loc])), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "location_ids" in info.value.details()


def test_admin_upsert_group_round_trip(admin, loc):
    other = declare_location(admin, uid("loc"))
    grp = uid("grp")
    first = admin.UpsertGroup(admin_pb2.UpsertGroupRequest(group=admin_pb2.LocationGroup(
        group_id=grp, display_name="web ship", location_ids=[other, loc], include_stale=True)),
        timeout=RPC_TIMEOUT)
    assert first.created is True
    assert list(first.group.location_ids) == [other, loc]  # priority order kept, not sorted
    assert first.group.include_stale is True and first.group.display_name == "web ship"
    assert first.group.lsn > 0 and first.group.created_at_unix_ms > 0
    second = admin.UpsertGroup(admin_pb2.UpsertGroupRequest(group=admin_pb2.LocationGroup(
        group_id=grp, location_ids=[loc])), timeout=RPC_TIMEOUT)
    assert second.created is False
    assert list(second.group.location_ids) == [loc]
    assert second.group.created_at_unix_ms == first.group.created_at_unix_ms
    assert second.group.lsn > first.group.lsn


def test_admin_list_locations_paging(admin):
    prefix = uid("page")
    mine = [declare_location(admin, f"{prefix}-{i}") for i in (3, 0, 4, 1, 2)]
    grp = declare_group(admin, uid("grp"), mine)
    ids, pages = list_all_locations(admin, 2, group_id=grp)
    assert pages == [[f"{prefix}-0", f"{prefix}-1"], [f"{prefix}-2", f"{prefix}-3"], [f"{prefix}-4"]]
    # Unfiltered, every page in id order, nothing repeated or skipped.
    ids, pages = list_all_locations(admin, 7)
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert all(len(p) <= 7 for p in pages)
    assert [i for i in ids if i.startswith(prefix + "-")] == sorted(mine)
    # Default page size.
    first = admin.ListLocations(admin_pb2.ListLocationsRequest(group_id=grp), timeout=RPC_TIMEOUT)
    assert [l.location_id for l in first.locations] == sorted(mine) and first.next_page_token == ""


def test_admin_list_locations_filters(admin):
    prefix = uid("filt")
    store = declare_location(admin, f"{prefix}-a")
    dc = declare_location(admin, f"{prefix}-b", kind=common_pb2.LOCATION_KIND_WAREHOUSE)
    closed = declare_location(admin, f"{prefix}-c", kind=common_pb2.LOCATION_KIND_WAREHOUSE, active=False)
    grp = declare_group(admin, uid("grp"), [closed, dc, store])

    def ids(**filters):
        resp = admin.ListLocations(admin_pb2.ListLocationsRequest(group_id=grp, **filters),
                                   timeout=RPC_TIMEOUT)
        return [l.location_id for l in resp.locations]

    assert ids() == [store, dc, closed]
    assert ids(kind=common_pb2.LOCATION_KIND_WAREHOUSE) == [dc, closed]
    assert ids(active_only=True) == [store, dc]
    assert ids(kind=common_pb2.LOCATION_KIND_WAREHOUSE, active_only=True) == [dc]


def test_admin_list_locations_page_size_over_limit_invalid(admin):
    with pytest.raises(grpc.RpcError) as info:
        admin.ListLocations(admin_pb2.ListLocationsRequest(page_size=1_001), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_size" in info.value.details()


def test_admin_list_locations_malformed_page_token_invalid(admin):
    # No id can contain a space or '!', so this cannot be a token the server issued.
    with pytest.raises(grpc.RpcError) as info:
        admin.ListLocations(admin_pb2.ListLocationsRequest(page_token="not a token!"),
                            timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_admin_list_groups_by_location_paged(admin, loc):
    other = declare_location(admin, uid("loc"))
    prefix = uid("lg")
    mine = [declare_group(admin, f"{prefix}-{i}", [loc] if i != 1 else [other, loc]) for i in (2, 0, 1)]
    declare_group(admin, f"{prefix}-9", [other])  # does not contain loc
    got, token, pages = [], "", 0
    while True:
        resp = admin.ListGroups(admin_pb2.ListGroupsRequest(
            location_id=loc, page_size=2, page_token=token), timeout=RPC_TIMEOUT)
        pages += 1
        got.extend(resp.groups)
        token = resp.next_page_token
        if not token:
            break
        assert pages < 100
    assert [g.group_id for g in got] == sorted(mine)
    assert pages == 2
    assert list(got[1].location_ids) == [other, loc]


# --------------------------------------------------------------------------
# 14. group availability (what an independent client sees)


def test_group_totals_over_members_with_settings(admin, ingest, avail):
    sku = uid("sku")
    a = declare_location(admin, uid("locA"), default_safety_stock=2, low_stock_threshold=5)
    b = declare_location(admin, uid("locB"), low_stock_threshold=3)
    c = declare_location(admin, uid("locC"), default_safety_stock=3)
    grp = declare_group(admin, uid("grp"), [b, a, c])
    ack = apply_events(ingest, [(a, sku, RECEIPT, 10), (b, sku, RECEIPT, 4), (c, sku, RECEIPT, 1)])

    # Members: A 10 - 2 = 8, B 4 - 0 = 4, C max(0, 1 - 3) = 0 (C's deficit hides nothing).
    g = get_group(avail, sku, grp)
    assert g.sku == sku
    assert g.WhichOneof("target") == "group_id" and g.group_id == grp
    assert g.on_hand == 15
    assert g.reserved == 0
    assert g.safety_stock == 5
    assert g.available == 12
    assert g.low_stock_threshold == 8  # 5 + 3 + 0
    assert g.status == common_pb2.STOCK_STATUS_IN_STOCK
    assert g.contributing_locations == 3
    assert g.locations_with_stock == 2
    assert g.exists is True
    assert g.lsn == ack.lsn
    assert [f.location_id for f in g.freshness] == [b, a, c]  # the group's priority order
    assert all(f.included and not f.stale for f in g.freshness)

    # Positions carry their location's settings.
    pa, pc = get(avail, sku, a), get(avail, sku, c)
    assert (pa.on_hand, pa.safety_stock, pa.available, pa.low_stock_threshold) == (10, 2, 8, 5)
    assert pa.status == common_pb2.STOCK_STATUS_IN_STOCK
    assert (pc.on_hand, pc.safety_stock, pc.available) == (1, 3, 0)
    assert pc.status == common_pb2.STOCK_STATUS_OUT_OF_STOCK

    # A sells 6: A has 2 left (<= its threshold 5: LOW_STOCK); the group 6 (<= 8: LOW_STOCK).
    ack2 = apply_events(ingest, [(a, sku, SALE, 6)])
    pa = get(avail, sku, a)
    assert (pa.on_hand, pa.available, pa.status) == (4, 2, common_pb2.STOCK_STATUS_LOW_STOCK)
    g = get_group(avail, sku, grp)
    assert (g.on_hand, g.available, g.locations_with_stock) == (9, 6, 2)
    assert g.status == common_pb2.STOCK_STATUS_LOW_STOCK
    assert g.lsn == ack2.lsn

    # Same answer in a batch slot, next to a position query.
    resp = avail.BatchGetAvailability(av_pb2.BatchGetAvailabilityRequest(queries=[
        query(sku, group=grp), query(sku, location=b)]), timeout=RPC_TIMEOUT)
    bg, bb = resp.results[0].availability, resp.results[1].availability
    assert (bg.group_id, bg.on_hand, bg.available) == (grp, 9, 6)
    assert bg.status == common_pb2.STOCK_STATUS_LOW_STOCK
    assert (bb.location_id, bb.available) == (b, 4)
    assert bb.status == common_pb2.STOCK_STATUS_IN_STOCK  # 4 > B's threshold 3


def test_group_unknown_sku_reads_zero(admin, avail):
    a = declare_location(admin, uid("loc"), default_safety_stock=1)
    grp = declare_group(admin, uid("grp"), [a])
    g = get_group(avail, uid("never"), grp)
    assert g.group_id == grp
    assert (g.on_hand, g.available, g.locations_with_stock) == (0, 0, 0)
    assert g.status == common_pb2.STOCK_STATUS_OUT_OF_STOCK
    assert g.exists is False
    assert [f.location_id for f in g.freshness] == [a]


def test_group_location_settings_change_updates_totals(admin, ingest, avail):
    sku = uid("sku")
    a, b = declare_location(admin, uid("locA")), declare_location(admin, uid("locB"))
    grp = declare_group(admin, uid("grp"), [a, b])
    apply_events(ingest, [(a, sku, RECEIPT, 10), (b, sku, RECEIPT, 5)])
    assert get_group(avail, sku, grp).available == 15
    update_location(admin, a, default_safety_stock=7, low_stock_threshold=20)
    g = get_group(avail, sku, grp)
    assert (g.on_hand, g.safety_stock, g.available) == (15, 7, 8)
    assert g.low_stock_threshold == 20
    assert g.status == common_pb2.STOCK_STATUS_LOW_STOCK
    # Safety stock above on-hand: A contributes 0, not a negative number.
    update_location(admin, a, default_safety_stock=50)
    g = get_group(avail, sku, grp)
    assert (g.available, g.locations_with_stock) == (5, 1)


def test_group_deactivating_member_removes_it_from_totals(admin, ingest, avail):
    sku = uid("sku")
    a = declare_location(admin, uid("locA"), low_stock_threshold=1)
    b = declare_location(admin, uid("locB"), default_safety_stock=1, low_stock_threshold=2)
    grp = declare_group(admin, uid("grp"), [a, b])
    apply_events(ingest, [(a, sku, RECEIPT, 6), (b, sku, RECEIPT, 5)])
    g = get_group(avail, sku, grp)
    assert (g.available, g.contributing_locations, g.locations_with_stock) == (10, 2, 2)

    stored = update_location(admin, b, active=False)
    assert stored.active is False and stored.default_safety_stock == 1
    g = get_group(avail, sku, grp)
    assert (g.on_hand, g.available) == (6, 6)
    assert (g.contributing_locations, g.locations_with_stock) == (1, 1)
    assert g.low_stock_threshold == 1
    assert [(f.location_id, f.included) for f in g.freshness] == [(a, True), (b, False)]
    # The inactive location keeps its stock but sells nothing.
    pb = get(avail, sku, b)
    assert (pb.on_hand, pb.available, pb.status) == (5, 0, common_pb2.STOCK_STATUS_OUT_OF_STOCK)
    assert pb.contributing_locations == 0 and pb.freshness[0].included is False

    # While inactive it still accepts events (its stock stays current), but
    # sells nothing: the group's totals do not move.
    dev = uid("dev")
    ack = ingest.ApplyEvents(ingest_pb2.EventBatch(events=[event(dev, 1, b, sku, RECEIPT, 3)]),
                             timeout=RPC_TIMEOUT)
    check_ack_counts(ack)
    assert (ack.received, ack.applied, ack.rejected, list(ack.outcomes)) == (1, 1, 0, [])
    assert high_water(ack) == [(dev, 1)]
    pb = get(avail, sku, b)
    assert (pb.on_hand, pb.available) == (8, 0)
    assert get_group(avail, sku, grp).available == 6

    # Active again: its current stock counts at once; a resend of seq 1 is a DUPLICATE.
    update_location(admin, b, active=True)
    g = get_group(avail, sku, grp)
    assert (g.on_hand, g.available, g.contributing_locations, g.locations_with_stock) == (14, 13, 2, 2)
    ack = ingest.ApplyEvents(ingest_pb2.EventBatch(events=[event(dev, 1, b, sku, RECEIPT, 3)]),
                             timeout=RPC_TIMEOUT)
    assert (ack.applied, ack.duplicates, high_water(ack)) == (0, 1, [(dev, 1)])
    assert get(avail, sku, b).on_hand == 8
    g = get_group(avail, sku, grp)
    assert (g.on_hand, g.available, g.contributing_locations, g.locations_with_stock) == (14, 13, 2, 2)


def test_group_membership_change_rebuilds_totals(admin, ingest, avail):
    sku = uid("sku")
    a, b, c = (declare_location(admin, uid(n)) for n in ("locA", "locB", "locC"))
    apply_events(ingest, [(a, sku, RECEIPT, 1), (b, sku, RECEIPT, 10), (c, sku, RECEIPT, 100)])
    grp = declare_group(admin, uid("grp"), [a, b])  # declared after the stock arrived
    assert get_group(avail, sku, grp).available == 11
    declare_group(admin, grp, [c, a])
    g = get_group(avail, sku, grp)
    assert (g.available, g.contributing_locations) == (101, 2)
    assert [f.location_id for f in g.freshness] == [c, a]
    declare_group(admin, grp, [])
    g = get_group(avail, sku, grp)
    assert (g.available, g.contributing_locations, len(g.freshness)) == (0, 0, 0)


def test_group_safety_stock_sum_beyond_int32(admin, ingest, avail):
    sku = uid("sku")
    members = [declare_location(admin, uid("loc"), default_safety_stock=1_000_000_000)
               for _ in range(3)]
    grp = declare_group(admin, uid("grp"), members)
    apply_events(ingest, [(m, sku, RECEIPT, 5) for m in members])
    g = get_group(avail, sku, grp)
    assert (g.on_hand, g.available) == (15, 0)
    assert g.safety_stock == 3_000_000_000
    update_location(admin, members[2], active=False)
    assert get_group(avail, sku, grp).safety_stock == 2_000_000_000


def test_freshly_declared_location_is_not_stale(admin, avail):
    loc = declare_location(admin, uid("loc"), stale_after_seconds=604_800)
    a = get(avail, uid("sku"), loc)
    assert a.stale is False
    assert a.freshness[0].stale is False


# --------------------------------------------------------------------------
# 15. WhereAvailable


ORIGIN = (40.7580, -73.9855)  # Times Square


def great_circle_km(p, q):
    (lat1, lon1), (lat2, lon2) = p, q
    rad = math.pi / 180
    dlat, dlon = (lat2 - lat1) * rad, (lon2 - lon1) * rad
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1 * rad) * math.cos(lat2 * rad) * math.sin(dlon / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


@pytest.fixture
def stores(admin, ingest):
    """One SKU over a group of stores around Manhattan, in priority order:
    far (Brooklyn, 5 units, PICKUP), near (Grand Central, 3, PICKUP + SAME_DAY),
    mid (Wall St, 10, SHIP), nocoord (no coordinates, 7, PICKUP); plus two that
    must never be listed: empty (next door, available 0 through safety stock) and
    closed (inactive, 50 on hand)."""
    P, S, D = (common_pb2.FULFILLMENT_CAPABILITY_PICKUP, common_pb2.FULFILLMENT_CAPABILITY_SHIP,
               common_pb2.FULFILLMENT_CAPABILITY_SAME_DAY)
    spec = {
        "far": dict(coordinates=(40.6782, -73.9442), capabilities=[P], qty=5),
        "empty": dict(coordinates=(40.7585, -73.9850), capabilities=[P, S, D],
                      default_safety_stock=4, qty=4),
        "near": dict(coordinates=(40.7527, -73.9772), capabilities=[P, D], qty=3,
                     kind=common_pb2.LOCATION_KIND_DARK_STORE),
        "closed": dict(coordinates=(40.7590, -73.9845), capabilities=[P, S, D], active=False, qty=50),
        "mid": dict(coordinates=(40.7060, -74.0086), capabilities=[S], qty=10,
                    kind=common_pb2.LOCATION_KIND_WAREHOUSE),
        "nocoord": dict(capabilities=[P], qty=7),
    }
    sku, ids, coords, receipts, inactive = uid("sku"), {}, {}, [], []
    for name, settings in spec.items():
        settings = dict(settings)
        qty = settings.pop("qty")
        if not settings.pop("active", True):
            inactive.append(name)  # receives its stock while active, then is deactivated
        ids[name] = declare_location(admin, uid(name), display_name=f"store {name}", **settings)
        coords[ids[name]] = settings.get("coordinates")
        receipts.append((ids[name], sku, RECEIPT, qty))
    apply_events(ingest, receipts)
    for name in inactive:
        assert update_location(admin, ids[name], active=False).active is False
    grp = declare_group(admin, uid("grp"), [ids[n] for n in spec])
    return dict(sku=sku, group=grp, ids=ids, coords=coords)


def where(avail, stores, **kw):
    if "near" in kw and isinstance(kw["near"], tuple):
        kw["near"] = common_pb2.GeoPoint(latitude=kw["near"][0], longitude=kw["near"][1])
    return avail.WhereAvailable(
        av_pb2.WhereAvailableRequest(sku=stores["sku"], group_id=stores["group"], **kw),
        timeout=RPC_TIMEOUT)


def listed(stores, resp):
    names = {v: k for k, v in stores["ids"].items()}
    return [names[l.availability.location_id] for l in resp.locations]


def test_where_available_priority_order_without_near(avail, stores):
    resp = where(avail, stores)
    assert listed(stores, resp) == ["far", "near", "mid", "nocoord"]
    assert [l.availability.available for l in resp.locations] == [5, 3, 10, 7]
    assert resp.total_available == 25
    assert resp.total_locations == 4
    assert resp.index_lsn > 0
    for l in resp.locations:
        a = l.availability
        assert a.sku == stores["sku"] and a.WhichOneof("target") == "location_id"
        assert a.status == common_pb2.STOCK_STATUS_IN_STOCK
        assert not l.HasField("distance_km")
    near = resp.locations[1]
    assert near.kind == common_pb2.LOCATION_KIND_DARK_STORE
    assert near.display_name == "store near"
    assert list(near.capabilities) == [common_pb2.FULFILLMENT_CAPABILITY_PICKUP,
                                       common_pb2.FULFILLMENT_CAPABILITY_SAME_DAY]
    assert (near.coordinates.latitude, near.coordinates.longitude) == (40.7527, -73.9772)
    assert not resp.locations[3].HasField("coordinates")


def test_where_available_nearest_first_with_near(avail, stores):
    resp = where(avail, stores, near=ORIGIN)
    assert listed(stores, resp) == ["near", "mid", "far", "nocoord"]  # no coordinates: last
    assert (resp.total_available, resp.total_locations) == (25, 4)
    for l in resp.locations[:3]:
        assert l.HasField("distance_km")
        expected = great_circle_km(ORIGIN, stores["coords"][l.availability.location_id])
        assert l.distance_km == pytest.approx(expected, rel=0.01)
    d = [l.distance_km for l in resp.locations[:3]]
    assert d == sorted(d)
    assert not resp.locations[3].HasField("distance_km")


def test_where_available_radius_filters(avail, stores):
    # near ~0.9 km, mid ~6.1 km, far ~9.5 km; without coordinates: left out.
    resp = where(avail, stores, near=ORIGIN, radius_km=7.5)
    assert listed(stores, resp) == ["near", "mid"]
    assert (resp.total_available, resp.total_locations) == (13, 2)
    assert all(l.distance_km <= 7.5 for l in resp.locations)
    resp = where(avail, stores, near=ORIGIN, radius_km=2.0)
    assert listed(stores, resp) == ["near"]
    resp = where(avail, stores, near=(0.0, 0.0), radius_km=100.0)
    assert listed(stores, resp) == [] and (resp.total_available, resp.total_locations) == (0, 0)


def test_where_available_required_capabilities(avail, stores):
    P, D, S = (common_pb2.FULFILLMENT_CAPABILITY_PICKUP, common_pb2.FULFILLMENT_CAPABILITY_SAME_DAY,
               common_pb2.FULFILLMENT_CAPABILITY_SHIP)
    assert listed(stores, where(avail, stores, required_capabilities=[P])) == ["far", "near", "nocoord"]
    resp = where(avail, stores, required_capabilities=[P, D])
    assert listed(stores, resp) == ["near"]
    assert (resp.total_available, resp.total_locations) == (3, 1)
    assert listed(stores, where(avail, stores, required_capabilities=[S])) == ["mid"]
    assert listed(stores, where(avail, stores, required_capabilities=[S, P])) == []


def test_where_available_min_available(avail, stores):
    resp = where(avail, stores, min_available=5)
    assert listed(stores, resp) == ["far", "mid", "nocoord"]
    assert (resp.total_available, resp.total_locations) == (22, 3)
    assert listed(stores, where(avail, stores, min_available=11)) == []


def test_where_available_limit_keeps_totals(avail, stores):
    resp = where(avail, stores, limit=2)
    assert listed(stores, resp) == ["far", "near"]
    assert (resp.total_available, resp.total_locations) == (25, 4)
    resp = where(avail, stores, near=ORIGIN, limit=1)
    assert listed(stores, resp) == ["near"]
    assert (resp.total_available, resp.total_locations) == (25, 4)


def test_where_available_same_distance_more_available_first(admin, ingest, avail):
    sku, here = uid("sku"), (40.7, -74.0)
    small = declare_location(admin, uid("small"), coordinates=here)
    big = declare_location(admin, uid("big"), coordinates=here)
    apply_events(ingest, [(small, sku, RECEIPT, 2), (big, sku, RECEIPT, 9)])
    grp = declare_group(admin, uid("grp"), [small, big])

    def order(**kw):
        resp = avail.WhereAvailable(av_pb2.WhereAvailableRequest(sku=sku, group_id=grp, **kw),
                                    timeout=RPC_TIMEOUT)
        return [l.availability.location_id for l in resp.locations]

    assert order() == [small, big]  # priority order
    assert order(near=common_pb2.GeoPoint(latitude=40.8, longitude=-74.0)) == [big, small]


def test_where_available_reflects_changes(admin, ingest, avail, stores):
    ids = stores["ids"]
    apply_events(ingest, [(ids["far"], stores["sku"], SALE, 5)])  # far sells out
    update_location(admin, ids["closed"], active=True)           # closed reopens with 50
    resp = where(avail, stores)
    assert listed(stores, resp) == ["near", "closed", "mid", "nocoord"]
    assert (resp.total_available, resp.total_locations) == (70, 4)


def test_where_available_unknown_sku_empty(avail, stores):
    resp = avail.WhereAvailable(av_pb2.WhereAvailableRequest(
        sku=uid("never"), group_id=stores["group"]), timeout=RPC_TIMEOUT)
    assert list(resp.locations) == []
    assert (resp.total_available, resp.total_locations) == (0, 0)


def test_where_available_unknown_group_not_found(avail):
    grp = uid("grp")
    with pytest.raises(grpc.RpcError) as info:
        avail.WhereAvailable(av_pb2.WhereAvailableRequest(sku=uid("sku"), group_id=grp),
                             timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert grp in info.value.details()


@pytest.mark.parametrize("kw, field", [
    (dict(radius_km=5.0), "near"),                # a radius needs a point
    (dict(limit=1_001), "limit"),
    (dict(near=(95.0, 0.0)), "near"),
    (dict(near=(40.0, -74.0), radius_km=-1.0), "radius_km"),
])
def test_where_available_invalid_arguments(avail, stores, kw, field):
    with pytest.raises(grpc.RpcError) as info:
        where(avail, stores, **kw)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in info.value.details()
