"""The engine of OmniStock as an independent grpcio client sees it (SPEC sections 3, 5 and 7;
``ingest.proto``, ``admin.proto``).

* Exactly once per (device_id, device_seq): DUPLICATE, GAP (and the SEQUENCE_GAP exception),
  SUPERSEDED (counts and snapshots win over older deltas), REJECTED (malformed: code 3,
  undeclared location: code 5; an inactive location accepts events) and the ack's counts and
  high-water marks; a
  terminal that streams 10,000 events with several batches in flight, loses its stream twice and
  resends: every event applied exactly once.
* COUNT and snapshot variances, negative on-hand and stale locations in ``ListExceptions``, its
  filters and paging.
* ``GetStats`` counters after a known workload, ``GetFreshness``.
* Checkpoints (``Admin.Checkpoint``, by interval, by log size) and recovery: checkpoint + log
  replay after SIGTERM and after kill -9 keeps positions, high-water marks and exceptions.
* ``--locations FILE`` (the 57-location ``examples/network.json``): declared at start, a restart
  with the same file writes nothing.

Tests that need exact counters or a restart get their own server (``server_factory``); the
others share the session's server and use their own uuid-based ids. Timeouts only guard against
hangs; the waits for periodic work (stale after 1 s, checkpoint every second) are polls with a
bound.
"""

from __future__ import annotations

import collections
import json
import os
import random
import time

import grpc
import pytest

from omnistock.v1 import admin_pb2
from omnistock.v1 import admin_pb2_grpc
from omnistock.v1 import availability_pb2 as av_pb2
from omnistock.v1 import availability_pb2_grpc as av_grpc
from omnistock.v1 import common_pb2
from omnistock.v1 import ingest_pb2
from omnistock.v1 import ingest_pb2_grpc

from conftest import REPO
from omnistock_helpers import (
    ADJUSTMENT, COUNT, DUPLICATE, FAILED_PRECONDITION, GAP, INVALID_ARGUMENT, NOT_FOUND, RECEIPT,
    REJECTED, RETURN, RPC_TIMEOUT, SALE, SUPERSEDED, RequestQueue, apply_events, check_ack_counts,
    chunk, declare_group, declare_location, event, get, high_water,
    list_exceptions, next_with_timeout, now_ms, outcome_summary, query, stats, uid)

COUNT_VARIANCE = admin_pb2.EXCEPTION_KIND_COUNT_VARIANCE
NEGATIVE_ON_HAND = admin_pb2.EXCEPTION_KIND_NEGATIVE_ON_HAND
STALE_LOCATION = admin_pb2.EXCEPTION_KIND_STALE_LOCATION
SEQUENCE_GAP = admin_pb2.EXCEPTION_KIND_SEQUENCE_GAP
UPSERT = ingest_pb2.SNAPSHOT_MODE_UPSERT
DAMAGE = ingest_pb2.ADJUSTMENT_REASON_DAMAGE
CORRECTION = ingest_pb2.ADJUSTMENT_REASON_CORRECTION
NETWORK_FILE = os.path.join(REPO, "examples", "network.json")


class Stubs:
    """Channel and stubs for a dedicated server."""

    def __init__(self, srv):
        self.srv = srv
        self.channel = srv.channel()
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)
        self.ingest = ingest_pb2_grpc.IngestStub(self.channel)
        self.avail = av_grpc.AvailabilityStub(self.channel)

    def close(self):
        self.channel.close()


def send(ingest, events, batch_id=None):
    ack = ingest.ApplyEvents(ingest_pb2.EventBatch(batch_id=batch_id or uid("b"), events=events),
                             timeout=RPC_TIMEOUT)
    assert not ack.HasField("error"), ack
    assert ack.received == len(events)
    check_ack_counts(ack)
    return ack


def poll(predicate, timeout, what):
    """Calls ``predicate`` until it returns a truthy value (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def all_exceptions(admin, **filters):
    """Every page of ``ListExceptions`` (newest first)."""
    out, token = [], ""
    for _ in range(1000):
        resp = list_exceptions(admin, page_size=10_000, page_token=token, **filters)
        out.extend(resp.exceptions)
        token = resp.next_page_token
        if not token:
            return out
    pytest.fail("ListExceptions paging does not end")


# --------------------------------------------------------------------------
# 1. exactly once on a stream: disconnect, reconnect, resend


def apply_to_oracle(oracle, etype, sku, qty):
    if etype == COUNT:
        oracle[sku] = qty
    elif etype == SALE:
        oracle[sku] -= qty
    else:  # RECEIPT, RETURN, ADJUSTMENT (signed)
        oracle[sku] += qty


def test_stream_disconnect_and_resend_applies_every_event_exactly_once(admin, ingest, avail):
    """A terminal streams 10,000 events in batches of ~100 with up to 8 batches in flight, loses
    its stream twice (cancel) and each time reconnects and resends from a few batches before the
    first unacknowledged one. Cut 1 happens once the server has applied everything sent (so the
    unacknowledged batches are durable: their resend must be DUPLICATE); cut 2 right after a send
    (each unacknowledged batch may or may not have been applied). Afterwards on_hand equals the
    oracle: nothing lost, nothing applied twice."""
    rng = random.Random(20_251_129)
    loc = declare_location(admin, uid("loc"))
    dev, marker = uid("pos"), uid("marker")
    skus = [uid("sku") for _ in range(10)]
    total, window, resend_back = 10_000, 8, 4
    base = now_ms() - 60_000  # event_time = base + seq: increasing, so nothing is SUPERSEDED

    sizes = []
    while sum(sizes) < total:
        sizes.append(min(rng.randint(80, 120), total - sum(sizes)))
    cut1, cut2 = len(sizes) // 2, (len(sizes) * 4) // 5
    oracle = collections.Counter({s: 0 for s in skus})
    batches, last_seq, seq = [], [], 0
    for i, size in enumerate(sizes):
        events = []
        for k in range(size):
            seq += 1
            if i == cut1 - 1 and k == size - 1:
                sku, etype, qty, reason = marker, RECEIPT, 1, None  # last event before cut 1
            else:
                sku = rng.choice(skus)
                etype = rng.choices([RECEIPT, SALE, RETURN, ADJUSTMENT, COUNT], [30, 45, 10, 13, 2])[0]
                reason = None
                if etype == COUNT:
                    qty = rng.randint(0, 50)
                elif etype == ADJUSTMENT:
                    qty, reason = rng.choice([-5, -3, -1, 1, 2, 4]), rng.choice([DAMAGE, CORRECTION])
                else:
                    qty = rng.randint(1, 20)
            apply_to_oracle(oracle, etype, sku, qty)
            events.append(event(dev, seq, loc, sku, etype, qty, reason=reason, t=base + seq))
        batches.append(ingest_pb2.EventBatch(batch_id=f"{dev}-{i}", events=events))
        last_seq.append(seq)
    assert seq == total

    acks = collections.defaultdict(list)  # batch index -> every ack received for it, in order
    state = {"hw": 0, "lsn": 0}

    def record(i, ack):
        n = len(batches[i].events)
        assert ack.batch_id == batches[i].batch_id
        assert not ack.HasField("error"), ack
        check_ack_counts(ack)
        assert ack.received == n
        hw = dict(high_water(ack))
        assert list(hw) == [dev]
        if ack.applied:
            # The whole batch is one record: applied whole, no GAP (no hole in the sequence).
            assert (ack.applied, list(ack.outcomes)) == (n, []), ack
            assert hw[dev] == last_seq[i]
            assert ack.lsn > state["lsn"]
            state["lsn"] = ack.lsn
        else:
            assert ack.duplicates == n, ack
            assert [(o.index, o.kind) for o in ack.outcomes] == [(k, DUPLICATE) for k in range(n)]
            assert hw[dev] >= last_seq[i]
            assert ack.lsn >= batches_lsn_floor(i)
        assert hw[dev] >= state["hw"]  # the mark never goes back
        state["hw"] = hw[dev]
        acks[i].append(ack)

    def batches_lsn_floor(i):
        # A DUPLICATE is acknowledged with an LSN covering the original (durable before the ack).
        applied = [a.lsn for a in acks[i] if a.applied]
        return applied[0] if applied else 0

    def stream(indices, cut, wait_for_marker=False):
        """Sends ``indices`` on a new stream, at most ``window`` unacknowledged; with ``cut``
        cancels right after the last send and returns how many batches were acknowledged."""
        requests = RequestQueue()
        call = ingest.StreamEvents(iter(requests), timeout=RPC_TIMEOUT * 4)
        sent = acked = 0
        try:
            for i in indices:
                while sent - acked >= window:
                    record(indices[acked], next_with_timeout(call))
                    acked += 1
                requests.send(batches[i])
                sent += 1
            if cut:
                if wait_for_marker:
                    poll(lambda: get(avail, marker, loc).on_hand == 1, 30, "the batch before cut 1 applied")
                call.cancel()
                assert call.code() == grpc.StatusCode.CANCELLED
                assert 0 < sent - acked <= window  # some batches in flight at the cut
                return acked
            requests.close()
            while acked < sent:
                record(indices[acked], next_with_timeout(call))
                acked += 1
            with pytest.raises(StopIteration):
                next_with_timeout(call)
            assert call.code() == grpc.StatusCode.OK
            return acked
        finally:
            requests.close()

    a1 = stream(list(range(0, cut1)), cut=True, wait_for_marker=True)
    from1 = max(0, a1 - resend_back)
    a2 = from1 + stream(list(range(from1, cut2)), cut=True)
    from2 = max(0, a2 - resend_back)
    stream(list(range(from2, len(batches))), cut=False)

    def kinds(i):
        return ["applied" if a.applied else "duplicate" for a in acks[i]]

    # Acknowledged before a cut and resent: DUPLICATE.
    for i in list(range(from1, a1)) + list(range(from2, a2)):
        assert kinds(i)[0] == "applied" and kinds(i)[1:] == ["duplicate"] * (len(acks[i]) - 1), (i, kinds(i))
    # Unacknowledged at cut 1, known applied (the marker was visible): the resend is DUPLICATE.
    for i in range(a1, cut1):
        assert kinds(i)[0] == "duplicate", (i, kinds(i))
    # Unacknowledged at cut 2: each resend is all DUPLICATE (durable before the cut) or all
    # applied (lost), checked in record(); which, depends on timing.
    # Never applied twice; every batch acknowledged at least once.
    for i in range(len(batches)):
        assert acks[i], i
        assert kinds(i).count("applied") <= 1, (i, kinds(i))
    assert state["hw"] == total
    dups = sum(a.duplicates for v in acks.values() for a in v)
    assert dups >= (a1 - from1 + cut1 - a1 + a2 - from2) * 80

    resp = avail.BatchGetAvailability(av_pb2.BatchGetAvailabilityRequest(
        queries=[query(s, location=loc) for s in list(oracle)],
        options=common_pb2.ReadOptions(min_lsn=state["lsn"])), timeout=RPC_TIMEOUT)
    got = {r.availability.sku: r.availability.on_hand for r in resp.results}
    assert got == dict(oracle)


# --------------------------------------------------------------------------
# 2. outcomes on ApplyEvents


def test_apply_events_outcomes_counts_and_high_water(admin, ingest, avail):
    loc = declare_location(admin, uid("loc"))
    closed = declare_location(admin, uid("closed"), active=False)
    undeclared = uid("undeclared")
    a, b, x, y = uid("devA"), uid("devB"), uid("skuX"), uid("skuY")
    t = now_ms() - 10_000
    ack1 = send(ingest, [event(a, 1, loc, x, RECEIPT, 10, t=t), event(a, 2, loc, y, COUNT, 50, t=t + 5000)])
    assert (ack1.applied, list(ack1.outcomes), high_water(ack1)) == (2, [], [(a, 2)])

    batch2 = [
        event(a, 2, loc, x, SALE, 1, t=t + 100),                 # 0 at the mark: DUPLICATE
        event(b, 1, undeclared, x, RECEIPT, 5, t=t + 100),       # 1 REJECTED, NOT_FOUND
        event(a, 5, loc, x, SALE, 3, t=t + 1000),                # 2 GAP 3..4, applied: X 7
        event(b, 2, closed, x, RECEIPT, 5, t=t + 100),           # 3 inactive accepts: GAP 1..1
        event(a, 6, loc, y, SALE, 2, t=t + 1000),                # 4 older than Y's count: SUPERSEDED
        event(b, 3, loc, x, SALE, 0, t=t + 100),                 # 5 REJECTED, malformed
        event(a, 7, loc, y, COUNT, 40, t=t + 4000),              # 6 count older than the count: SUPERSEDED
        event(b, 4, loc, x, RETURN, 2, t=t + 2000),              # 7 GAP 3..3 (rejected seq): X 9
        event(a, 8, loc, y, ADJUSTMENT, -4, reason=DAMAGE, t=t + 6000),  # 8 Y 46
        event(a, 9, loc, y, COUNT, 45, t=t + 7000),              # 9 Y 45
        event(b, 5, loc, y, SALE, 1, t=t + 5500),                # 10 older than the new count: SUPERSEDED
    ]
    ack2 = send(ingest, batch2)
    assert (ack2.received, ack2.applied, ack2.duplicates, ack2.gaps, ack2.superseded, ack2.rejected) == \
        (11, 5, 1, 3, 3, 2)
    assert outcome_summary(ack2) == [
        (0, DUPLICATE, 0, 0, 0),
        (1, REJECTED, NOT_FOUND, 0, 0),
        (2, GAP, 0, 3, 4),
        (3, GAP, 0, 1, 1),
        (4, SUPERSEDED, 0, 0, 0),
        (5, REJECTED, INVALID_ARGUMENT, 0, 0),
        (6, SUPERSEDED, 0, 0, 0),
        (7, GAP, 0, 3, 3),
        (10, SUPERSEDED, 0, 0, 0),
    ]
    reasons = {o.index: o.reason for o in ack2.outcomes}
    assert undeclared in reasons[1] and "quantity" in reasons[5]
    assert high_water(ack2) == [(a, 9), (b, 5)]  # first-appearance order, marks after the batch
    assert ack2.lsn > ack1.lsn

    px, py = get(avail, x, loc), get(avail, y, loc)
    assert (px.on_hand, px.lsn) == (9, ack2.lsn)
    assert (py.on_hand, py.last_absolute_time_unix_ms, py.lsn) == (45, t + 7000, ack2.lsn)
    pc = get(avail, x, closed)  # the inactive location keeps its stock current, sells nothing
    assert (pc.exists, pc.on_hand, pc.available) == (True, 5, 0)
    with pytest.raises(grpc.RpcError) as info:  # and an event never declares a location
        admin.GetLocation(admin_pb2.GetLocationRequest(location_id=undeclared), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    # The same batch again: REJECTED events are rejected again (they never entered the
    # sequence), everything else, SUPERSEDED ones included, is now a DUPLICATE; nothing changes.
    ack3 = send(ingest, batch2)
    assert (ack3.applied, ack3.duplicates, ack3.superseded, ack3.rejected) == (0, 9, 0, 2)
    assert [o.index for o in ack3.outcomes if o.kind == REJECTED] == [1, 5]
    assert high_water(ack3) == [(a, 9), (b, 5)]
    assert ack3.lsn >= ack2.lsn
    assert (get(avail, x, loc).on_hand, get(avail, x, loc).lsn) == (9, ack2.lsn)
    assert (get(avail, y, loc).on_hand, get(avail, y, loc).lsn) == (45, ack2.lsn)

    # The gaps are SEQUENCE_GAP exceptions at their locations, newest first.
    gaps = all_exceptions(admin, kinds=[SEQUENCE_GAP], location_id=loc)
    assert [(e.device_id, e.gap_from, e.gap_to, e.lsn, e.location_id) for e in gaps] == [
        (b, 3, 3, ack2.lsn, loc), (a, 3, 4, ack2.lsn, loc)]
    closed_gaps = all_exceptions(admin, kinds=[SEQUENCE_GAP], location_id=closed)
    assert [(e.device_id, e.gap_from, e.gap_to) for e in closed_gaps] == [(b, 1, 1)]
    assert gaps[0].exception_id > gaps[1].exception_id
    assert all(e.message and e.detected_at_unix_ms > 0 for e in gaps)


def test_snapshot_supersedes_older_deltas(admin, ingest, avail):
    loc, dev, sku = declare_location(admin, uid("loc")), uid("dev"), uid("sku")
    as_of = now_ms() - 5_000
    result = ingest.SyncSnapshot(iter([chunk(uid("snap"), loc, UPSERT, as_of, [(sku, 100)])]),
                                 timeout=RPC_TIMEOUT)
    ack = send(ingest, [
        event(dev, 1, loc, sku, SALE, 7, t=as_of - 1),  # inside the snapshot already
        event(dev, 2, loc, sku, SALE, 3, t=as_of),      # not earlier than as_of: applies
        event(dev, 3, loc, sku, RECEIPT, 1, t=as_of + 1),
    ])
    assert (ack.applied, ack.superseded, outcome_summary(ack)) == (2, 1, [(0, SUPERSEDED, 0, 0, 0)])
    assert "snapshot" in ack.outcomes[0].reason or "count" in ack.outcomes[0].reason
    assert high_water(ack) == [(dev, 3)]  # a SUPERSEDED event advances the mark
    p = get(avail, sku, loc)
    assert (p.on_hand, p.last_absolute_time_unix_ms, p.lsn) == (98, as_of, ack.lsn)
    assert ack.lsn > result.lsn


def test_undeclared_location_snapshot_not_found_applies_nothing(admin, ingest, avail):
    loc, undeclared, sku = declare_location(admin, uid("loc")), uid("undeclared"), uid("sku")
    sid, as_of = uid("snap"), now_ms()
    with pytest.raises(grpc.RpcError) as info:
        ingest.SyncSnapshot(iter([
            chunk(sid, loc, UPSERT, as_of, [(sku, 5)]),
            chunk(sid, undeclared, UPSERT, as_of, [(sku, 5)]),
        ]), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert undeclared in info.value.details()
    assert get(avail, sku, loc).exists is False  # all or nothing
    with pytest.raises(grpc.RpcError) as info:
        get(avail, sku, undeclared)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_undeclared_location_event_rejected_on_stream(admin, ingest, avail):
    loc, undeclared, dev, sku = declare_location(admin, uid("loc")), uid("undeclared"), uid("dev"), uid("sku")
    requests = RequestQueue()
    call = ingest.StreamEvents(iter(requests), timeout=RPC_TIMEOUT)
    try:
        requests.send(ingest_pb2.EventBatch(batch_id="one", events=[
            event(dev, 1, undeclared, sku, RECEIPT, 4), event(dev, 2, loc, sku, RECEIPT, 4)]))
        ack = next_with_timeout(call)
        check_ack_counts(ack)
        assert outcome_summary(ack) == [(0, REJECTED, NOT_FOUND, 0, 0), (1, GAP, 0, 1, 1)]
        assert undeclared in ack.outcomes[0].reason
        declare_location(admin, undeclared)
        # Declared now, but seq 1 is below the mark: the device's resend is a DUPLICATE (the
        # SEQUENCE_GAP exception is how an operator learns of it).
        requests.send(ingest_pb2.EventBatch(batch_id="two", events=[
            event(dev, 1, undeclared, sku, RECEIPT, 4), event(dev, 3, undeclared, sku, RECEIPT, 2)]))
        ack2 = next_with_timeout(call)
        assert (ack2.applied, outcome_summary(ack2)) == (1, [(0, DUPLICATE, 0, 0, 0)])
    finally:
        requests.close()
    with pytest.raises(StopIteration):
        next_with_timeout(call)
    assert (get(avail, sku, loc).on_hand, get(avail, sku, undeclared).on_hand) == (4, 2)


# --------------------------------------------------------------------------
# 3. exceptions: count variances, negative on-hand, stale locations, paging


def variance_rows(admin, loc):
    return [(e.sku, e.device_id, e.on_hand, e.counted, e.variance, e.lsn)
            for e in all_exceptions(admin, kinds=[COUNT_VARIANCE], location_id=loc)]


@pytest.mark.parametrize("settings, counts, flagged", [
    # defaults (both 0): 3 units or 20% of expected; on_hand starts at 100 (RECEIPT)
    ({}, [98, 95, 95, 76, 78], [False, True, False, True, False]),
    # units only: 5 units (percent off: 40% is fine)
    ({"count_variance_units": 5}, [104, 109, 105, 110], [False, True, False, True]),
    # percent only: 50% of |expected|
    ({"count_variance_percent": 50.0}, [149, 224, 112, 111], [False, True, True, False]),
])
def test_count_variance_thresholds(admin, ingest, settings, counts, flagged):
    loc, dev, sku = declare_location(admin, uid("loc"), **settings), uid("dev"), uid("sku")
    t = now_ms() - 60_000
    send(ingest, [event(dev, 1, loc, sku, RECEIPT, 100, t=t)])
    expected, rows = 100, []
    for k, counted in enumerate(counts):
        ack = send(ingest, [event(dev, k + 2, loc, sku, COUNT, counted, t=t + 1000 * (k + 1))])
        assert (ack.applied, list(ack.outcomes)) == (1, [])
        if flagged[k]:
            rows.append((sku, dev, expected, counted, counted - expected, ack.lsn))
        expected = counted
    assert variance_rows(admin, loc) == rows[::-1]  # newest first


def test_count_variance_from_zero_and_fields(admin, ingest):
    # Expected 0: any non-zero variance is an exception (with the default 20%).
    loc, dev, sku = declare_location(admin, uid("loc")), uid("dev"), uid("sku")
    before = now_ms()
    ack = send(ingest, [event(dev, 1, loc, sku, COUNT, 1), event(dev, 2, loc, uid("sku"), COUNT, 0)])
    [e] = all_exceptions(admin, kinds=[COUNT_VARIANCE], location_id=loc)
    assert (e.kind, e.sku, e.location_id, e.device_id) == (COUNT_VARIANCE, sku, loc, dev)
    assert (e.on_hand, e.counted, e.variance, e.lsn) == (0, 1, 1, ack.lsn)
    assert before - 1000 <= e.detected_at_unix_ms <= now_ms() + 1000
    assert e.exception_id > 0 and e.message


def test_snapshot_variance_exceptions(admin, ingest):
    loc = declare_location(admin, uid("loc"))
    f, g, h = uid("skuF"), uid("skuG"), uid("skuH")
    apply_events(ingest, [(loc, f, RECEIPT, 10), (loc, h, RECEIPT, 5)])
    result = ingest.SyncSnapshot(iter([
        chunk(uid("snap"), loc, UPSERT, now_ms(), [(f, 20), (g, 1), (h, 5)])]), timeout=RPC_TIMEOUT)
    assert result.locations[0].variances == 2
    rows = {(e.sku, e.device_id, e.on_hand, e.counted, e.variance, e.lsn)
            for e in all_exceptions(admin, kinds=[COUNT_VARIANCE], location_id=loc)}
    assert rows == {(f, "", 10, 20, 10, result.lsn), (g, "", 0, 1, 1, result.lsn)}


def test_negative_on_hand_listed_while_it_holds(admin, ingest, avail):
    loc, sku = declare_location(admin, uid("loc")), uid("sku")
    apply_events(ingest, [(loc, sku, RECEIPT, 2)])
    assert all_exceptions(admin, kinds=[NEGATIVE_ON_HAND], location_id=loc) == []
    ack = apply_events(ingest, [(loc, sku, SALE, 5)])
    [e] = all_exceptions(admin, kinds=[NEGATIVE_ON_HAND], location_id=loc)
    assert (e.kind, e.sku, e.location_id, e.on_hand, e.lsn) == (NEGATIVE_ON_HAND, sku, loc, -3, ack.lsn)
    assert e.message and e.detected_at_unix_ms > 0
    assert get(avail, sku, loc).on_hand == -3
    apply_events(ingest, [(loc, sku, SALE, 1)])  # still negative: same condition, on_hand now
    [e2] = all_exceptions(admin, kinds=[NEGATIVE_ON_HAND], location_id=loc)
    assert (e2.on_hand, e2.lsn, e2.detected_at_unix_ms) == (-4, ack.lsn, e.detected_at_unix_ms)
    apply_events(ingest, [(loc, sku, RECEIPT, 4)])  # back to 0: no longer listed
    assert all_exceptions(admin, kinds=[NEGATIVE_ON_HAND], location_id=loc) == []
    assert all_exceptions(admin, location_id=loc, sku=sku) == []


def test_list_exceptions_paging_and_filters(admin, ingest):
    loc = declare_location(admin, uid("loc"), count_variance_units=1)
    dev, sku, other = uid("dev"), uid("sku"), uid("sku")
    t = now_ms() - 60_000
    counted = [10, 20, 10, 20, 10, 20, 10]  # every count moves on_hand: 7 variances
    lsns = [send(ingest, [event(dev, k + 1, loc, sku, COUNT, q, t=t + k)]).lsn for k, q in enumerate(counted)]
    send(ingest, [event(dev, 8, loc, other, COUNT, 3, t=t + 100)])  # an 8th, other sku

    everything = all_exceptions(admin, location_id=loc, sku=sku)
    assert [(e.counted, e.lsn) for e in everything] == list(zip(counted, lsns))[::-1]
    ids = [e.exception_id for e in everything]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7

    pages, token = [], ""
    for _ in range(10):
        resp = list_exceptions(admin, location_id=loc, sku=sku, page_size=3, page_token=token)
        assert resp.total == 7
        pages.append([e.exception_id for e in resp.exceptions])
        token = resp.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sum(pages, []) == ids

    assert list_exceptions(admin, location_id=loc).total == 8
    assert [e.sku for e in all_exceptions(admin, location_id=loc, sku=other)] == [other]
    assert list_exceptions(admin, location_id=loc, kinds=[NEGATIVE_ON_HAND, STALE_LOCATION]).total == 0
    assert list_exceptions(admin, location_id=loc, kinds=[COUNT_VARIANCE, NEGATIVE_ON_HAND]).total == 8
    assert list_exceptions(admin, location_id=loc, since_unix_ms=now_ms() + 60_000).total == 0
    newest = everything[0].detected_at_unix_ms
    assert all(e.detected_at_unix_ms >= newest for e in all_exceptions(admin, location_id=loc, since_unix_ms=newest))
    # Default page size is 100: everything here fits.
    assert len(list_exceptions(admin, location_id=loc).exceptions) == 8


@pytest.mark.parametrize("filters, field", [
    ({"page_size": 10_001}, "page_size"),
    ({"page_token": "not a token!"}, "page_token"),
    ({"location_id": "bad id!"}, "location_id"),
    ({"sku": "bad sku"}, "sku"),
])
def test_list_exceptions_invalid_arguments(admin, filters, field):
    with pytest.raises(grpc.RpcError) as info:
        list_exceptions(admin, **filters)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in info.value.details()


def test_stale_location_exception_and_freshness(admin, ingest):
    loc = declare_location(admin, uid("loc"), stale_after_seconds=1)
    fresh = declare_location(admin, uid("loc"))
    inactive = declare_location(admin, uid("loc"), stale_after_seconds=1, active=False)

    def stale():
        return all_exceptions(admin, kinds=[STALE_LOCATION], location_id=loc)

    [e] = poll(stale, 10, "a location with stale_after_seconds=1 listed STALE_LOCATION")
    assert (e.kind, e.location_id, e.lsn, e.sku) == (STALE_LOCATION, loc, 0, "")
    assert e.age_ms > 1000 and e.message
    rep = admin.GetFreshness(admin_pb2.GetFreshnessRequest(
        location_ids=[loc, fresh], stale_only=True), timeout=RPC_TIMEOUT)
    assert [r.freshness.location_id for r in rep.locations] == [loc]
    assert rep.stale_locations == 1
    f = rep.locations[0].freshness
    assert (f.stale, f.stale_after_seconds, f.last_update_unix_ms) == (True, 1, 0)
    assert f.age_ms > 1000
    # Inactive locations are not listed as stale (they contribute nothing anyway).
    assert all_exceptions(admin, kinds=[STALE_LOCATION], location_id=inactive) == []
    # An update makes it fresh: the condition is gone.
    apply_events(ingest, [(loc, uid("sku"), RECEIPT, 1)])
    assert stale() == []
    r = admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[loc]), timeout=RPC_TIMEOUT)
    assert r.locations[0].freshness.stale is False and r.stale_locations == 0


# --------------------------------------------------------------------------
# 4. GetStats after a known workload (a server of its own: exact counters)


@pytest.fixture
def dedicated(server_factory):
    """``dedicated(extra_args=(), data_dir=None)`` starts a server of the test's own and returns
    its ``Stubs``; each is stopped at the end (SIGTERM, exit 0 required) unless already stopped."""
    made = []

    def start(extra_args=(), data_dir=None):
        stubs = Stubs(server_factory(extra_args, data_dir=data_dir))
        made.append(stubs)
        return stubs

    yield start
    for stubs in made:
        stubs.close()
        stubs.srv.stop()


def counters(st):
    return (st.events_total, st.duplicates_total, st.gaps_total, st.superseded_total, st.rejected_total)


def test_stats_counters_after_known_workload(dedicated):
    s = dedicated()
    st0 = stats(s.admin)
    assert counters(st0) == (0, 0, 0, 0, 0)
    assert (st0.devices, st0.locations, st0.groups, st0.positions, st0.skus, st0.exceptions) == (0,) * 6
    assert (st0.durable_lsn, st0.applied_lsn, st0.last_checkpoint_lsn, st0.last_checkpoint_unix_ms) == (0,) * 4
    assert (st0.active_reservations, st0.watchers) == (0, 0)
    assert st0.version and 0 < st0.started_at_unix_ms <= st0.server_time_unix_ms

    l1, l2 = declare_location(s.admin, "L1"), declare_location(s.admin, "L2")
    declare_group(s.admin, "G", [l1, l2])  # LSNs 1, 2, 3
    t = now_ms() - 10_000
    batch_a = [event("A", 1, l1, "s1", RECEIPT, 10, t=t), event("A", 2, l2, "s2", RECEIPT, 4, t=t),
               event("A", 3, l1, "s1", COUNT, 10, t=t + 1000)]  # variance 0: no exception
    ack1 = send(s.ingest, batch_a)
    ack2 = send(s.ingest, [
        event("A", 2, l1, "s1", SALE, 1, t=t + 2000),  # DUPLICATE
        event("A", 3, l1, "s1", SALE, 1, t=t + 2000),  # DUPLICATE
        event("A", 5, l1, "s1", SALE, 5, t=t + 2000),  # GAP 4..4
        event("A", 6, l1, "s1", SALE, 1, t=t + 500),   # SUPERSEDED by the count
    ])
    ack3 = send(s.ingest, [event("B", 1, "nowhere", "s3", RECEIPT, 1),   # REJECTED
                           event("B", 2, l1, "s3", RECEIPT, 1)])         # GAP 1..1
    ack4 = send(s.ingest, [event("C", 1, "nowhere", "s3", RECEIPT, 1)])  # REJECTED: C has no mark
    ack5 = send(s.ingest, batch_a)                                       # all DUPLICATE
    assert [(a.applied, a.duplicates, a.gaps, a.superseded, a.rejected) for a in (ack1, ack2, ack3, ack4, ack5)] == [
        (3, 0, 0, 0, 0), (1, 2, 1, 1, 0), (1, 0, 1, 0, 1), (0, 0, 0, 0, 1), (0, 3, 0, 0, 0)]
    assert [ack1.lsn, ack2.lsn, ack3.lsn] == [4, 5, 6]  # one record per batch, no holes
    assert (ack4.lsn, ack5.lsn) == (6, 6)  # nothing logged: the current LSN
    assert high_water(ack4) == [("C", 0)] and high_water(ack5) == [("A", 6)]

    st = stats(s.admin)
    assert counters(st) == (13, 5, 2, 1, 2)
    assert (st.devices, st.locations, st.groups, st.positions, st.skus) == (2, 2, 1, 3, 3)
    assert (st.durable_lsn, st.applied_lsn) == (6, 6)
    assert st.exceptions == 2  # the two SEQUENCE_GAPs
    assert st.log_segments >= 1 and st.log_size_bytes > 0
    assert st.last_checkpoint_lsn == 0 and st.started_at_unix_ms == st0.started_at_unix_ms

    ck = s.admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    assert (ck.lsn, ck.positions) == (6, 3)
    st = stats(s.admin)
    assert st.last_checkpoint_lsn == 6
    assert ck.started_at_unix_ms <= st.last_checkpoint_unix_ms <= ck.completed_at_unix_ms
    assert counters(st) == (13, 5, 2, 1, 2)


def test_stats_events_per_second_over_last_ten_seconds(dedicated):
    s = dedicated()
    loc = declare_location(s.admin, "L1")
    batch = [event("A", k + 1, loc, "s", RECEIPT, 1) for k in range(100)]
    send(s.ingest, batch)
    send(s.ingest, batch)  # 100 DUPLICATE: received as well
    # 200 events received within the last second or so: 20 per second over 10 seconds.
    assert stats(s.admin).events_per_second == pytest.approx(20.0, rel=0.05)


def test_stats_event_streams_counts_open_streams(dedicated):
    s = dedicated()
    requests = RequestQueue()
    call = s.ingest.StreamEvents(iter(requests), timeout=RPC_TIMEOUT)
    try:
        requests.send(ingest_pb2.EventBatch(batch_id="ping"))
        assert next_with_timeout(call).batch_id == "ping"  # the stream is open on the server
        assert stats(s.admin).event_streams == 1
    finally:
        requests.close()
    with pytest.raises(StopIteration):
        next_with_timeout(call)
    poll(lambda: stats(s.admin).event_streams == 0, 10, "event_streams back to 0")


# --------------------------------------------------------------------------
# 5. GetFreshness


def test_freshness_events_and_devices_last_hour(admin, ingest):
    loc, quiet = declare_location(admin, uid("fa")), declare_location(admin, uid("fb"))
    closed = declare_location(admin, uid("fc"), active=False)
    devs, sku = [uid("dev") for _ in range(3)], uid("sku")
    base = now_ms() - 30_000
    before = now_ms()
    send(ingest, [event(devs[0], k + 1, loc, sku, RECEIPT, 1, t=base + k) for k in range(4)])
    send(ingest, [event(devs[1], k + 1, loc, sku, RECEIPT, 1, t=base + 1000 + k) for k in range(3)])
    send(ingest, [event(devs[2], k + 1, loc, sku, RECEIPT, 1, t=base + 500 + k) for k in range(2)])

    rep = admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[loc]), timeout=RPC_TIMEOUT)
    [r] = rep.locations
    assert (r.events_last_minute, r.devices_last_hour) == (9, 3)
    assert (r.last_event_time_unix_ms, r.last_snapshot_as_of_unix_ms, r.active) == (base + 1002, 0, True)
    f = r.freshness
    assert (f.location_id, f.stale, f.included, f.stale_after_seconds) == (loc, False, True, 900)
    # One-second resolution (SPEC: freshness is about seconds to minutes).
    assert before - 1000 <= f.last_update_unix_ms <= rep.server_time_unix_ms
    assert f.age_ms == rep.server_time_unix_ms - f.last_update_unix_ms
    assert rep.stale_locations == 0

    as_of = now_ms() - 1_000
    ingest.SyncSnapshot(iter([chunk(uid("snap"), loc, UPSERT, as_of, [(uid("sku"), 3)])]), timeout=RPC_TIMEOUT)
    [r] = admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[loc]), timeout=RPC_TIMEOUT).locations
    assert (r.last_snapshot_as_of_unix_ms, r.events_last_minute) == (as_of, 9)

    # Every location: ordered by id, active only unless include_inactive.
    everything = admin.GetFreshness(admin_pb2.GetFreshnessRequest(), timeout=RPC_TIMEOUT).locations
    ids = [x.freshness.location_id for x in everything]
    assert ids == sorted(ids) and loc in ids and quiet in ids and closed not in ids
    q = next(x for x in everything if x.freshness.location_id == quiet)
    assert (q.events_last_minute, q.devices_last_hour, q.last_event_time_unix_ms) == (0, 0, 0)
    assert q.freshness.last_update_unix_ms == 0 and q.freshness.age_ms >= 0
    with_inactive = admin.GetFreshness(admin_pb2.GetFreshnessRequest(include_inactive=True),
                                       timeout=RPC_TIMEOUT).locations
    c = next(x for x in with_inactive if x.freshness.location_id == closed)
    assert (c.active, c.freshness.included) == (False, False)


def test_freshness_unknown_or_malformed_location(admin, loc):
    missing = uid("undeclared")
    with pytest.raises(grpc.RpcError) as info:
        admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[loc, missing]), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=["bad id!"]), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_freshness_events_last_minute_counts_every_outcome(admin, ingest):
    loc, dev, sku = declare_location(admin, uid("loc")), uid("dev"), uid("sku")
    batch = [event(dev, k + 1, loc, sku, RECEIPT, 1) for k in range(3)]
    send(ingest, batch)
    send(ingest, batch)  # 3 DUPLICATE
    send(ingest, [event(dev, 4, loc, sku, SALE, 0)])  # 1 REJECTED (malformed)
    [r] = admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[loc]), timeout=RPC_TIMEOUT).locations
    assert r.events_last_minute == 7


def test_freshness_requested_locations_ordered_by_id(admin):
    prefix = uid("ord")
    a, b = declare_location(admin, f"{prefix}-a"), declare_location(admin, f"{prefix}-b")
    rep = admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[b, a]), timeout=RPC_TIMEOUT)
    assert [r.freshness.location_id for r in rep.locations] == [a, b]


# --------------------------------------------------------------------------
# 6. checkpoints and recovery


def capture(s, positions):
    """What must survive a restart: positions (on_hand, lsn, last absolute time), the recorded
    exceptions, the device count and the durable LSN."""
    resp = s.avail.BatchGetAvailability(av_pb2.BatchGetAvailabilityRequest(
        queries=[query(sku, location=loc) for loc, sku in positions]), timeout=RPC_TIMEOUT)
    pos = [(r.availability.on_hand, r.availability.lsn, r.availability.last_absolute_time_unix_ms)
           for r in resp.results]
    exc = [(e.exception_id, e.kind, e.sku, e.location_id, e.device_id, e.on_hand, e.counted, e.variance,
            e.gap_from, e.gap_to, e.lsn, e.detected_at_unix_ms) for e in all_exceptions(s.admin)]
    st = stats(s.admin)
    return {"positions": pos, "exceptions": exc, "devices": st.devices, "durable_lsn": st.durable_lsn,
            "locations": st.locations}


def resend_is_duplicate(s, batch, mark):
    """Resends a device's last acknowledged batch: all DUPLICATE, the mark unchanged."""
    ack = send(s.ingest, batch)
    assert (ack.applied, ack.duplicates) == (0, len(batch)), ack
    assert high_water(ack) == [(batch[0].device_id, mark)]


def test_checkpoint_then_restart_keeps_state(dedicated):
    s = dedicated()
    data_dir = s.srv.data_dir
    loc = declare_location(s.admin, "store-1", count_variance_units=2)
    t = now_ms() - 60_000
    skus = ["k0", "k1", "k2", "k3"]
    positions = [(loc, k) for k in skus]
    last = {}  # device -> (its last acknowledged batch, its high-water mark)

    def write(device, seqs, changes, at):
        batch = [event(device, q, loc, sku, etype, qty, t=at + i) for i, (q, (sku, etype, qty)) in
                 enumerate(zip(seqs, changes))]
        ack = send(s.ingest, batch)
        last[device] = (batch, seqs[-1])
        return ack

    write("A", [1, 2, 3], [("k0", RECEIPT, 10), ("k1", RECEIPT, 5), ("k0", SALE, 2)], t)
    write("B", [1, 3], [("k2", RECEIPT, 7), ("k1", COUNT, 9)], t + 100)  # GAP 2, variance +4
    ack = write("C", [1], [("k3", RECEIPT, 1)], t + 200)
    ck = s.admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    assert ck.lsn >= ack.lsn
    assert ck.file_name.startswith("checkpoints/")
    assert os.path.isfile(os.path.join(data_dir, ck.file_name)) and ck.size_bytes > 0
    assert ck.positions == 4 and ck.started_at_unix_ms <= ck.completed_at_unix_ms
    assert stats(s.admin).last_checkpoint_lsn == ck.lsn

    # After the checkpoint: recovery has to replay these from the log on top of it.
    write("A", [4, 6], [("k1", SALE, 1), ("k0", COUNT, 20)], t + 300)  # GAP 5, variance +12
    write("D", [1, 2], [("k3", RECEIPT, 2), ("k2", SALE, 3)], t + 400)
    before = capture(s, positions)
    assert before["positions"][0][0] == 20 and before["devices"] == 4
    assert [e[1] for e in before["exceptions"]] == [COUNT_VARIANCE, SEQUENCE_GAP, COUNT_VARIANCE, SEQUENCE_GAP]

    s.close()
    s.srv.stop()  # SIGTERM, exit 0
    s = dedicated(data_dir=data_dir)
    assert capture(s, positions) == before
    st = stats(s.admin)
    assert ck.lsn <= st.last_checkpoint_lsn <= st.durable_lsn
    for device, (batch, mark) in last.items():
        resend_is_duplicate(s, batch, mark)
    ack = write("A", [7], [("k1", RECEIPT, 1)], t + 500)  # the mark is exactly 6: no GAP
    assert (ack.applied, list(ack.outcomes)) == (1, [])
    assert ack.lsn == before["durable_lsn"] + 1  # LSNs continue, none reused

    # Once more, now crashing (kill -9) after a second checkpoint and one more write.
    ck2 = s.admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    assert ck2.lsn >= ack.lsn > ck.lsn
    ack = write("E", [1], [("k2", RECEIPT, 4)], t + 600)
    before = capture(s, positions)
    s.close()
    s.srv.kill9()
    s = dedicated(data_dir=data_dir)
    assert capture(s, positions) == before
    assert stats(s.admin).last_checkpoint_lsn >= ck2.lsn
    for device, (batch, mark) in last.items():
        resend_is_duplicate(s, batch, mark)


def test_checkpoints_by_interval_and_by_log_size(dedicated, tmp_path):
    # Every second when anything changed.
    s = dedicated(["--checkpoint-interval-seconds", "1", "--checkpoint-log-bytes", "0"])
    loc = declare_location(s.admin, "L1")
    ack = apply_events(s.ingest, [(loc, "s", RECEIPT, 1)])
    poll(lambda: stats(s.admin).last_checkpoint_lsn >= ack.lsn, 10, "an interval checkpoint")
    assert [f for f in os.listdir(os.path.join(s.srv.data_dir, "checkpoints")) if f.endswith(".ckpt")]
    # Whenever the log grew by 4 KiB (and never by time).
    s = dedicated(["--checkpoint-interval-seconds", "0", "--checkpoint-log-bytes", "4096"])
    loc = declare_location(s.admin, "L1")
    ack = apply_events(s.ingest, [(loc, f"s{k}", RECEIPT, 1) for k in range(200)])
    poll(lambda: stats(s.admin).last_checkpoint_lsn >= ack.lsn, 10, "a log-size checkpoint")


def test_checkpoint_size_bytes_is_the_file_size(dedicated):
    s = dedicated()
    apply_events(s.ingest, [(declare_location(s.admin, "L1"), "s", RECEIPT, 1)])
    ck = s.admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    assert os.path.getsize(os.path.join(s.srv.data_dir, ck.file_name)) == ck.size_bytes


def test_freshness_last_times_survive_checkpoint_restart(dedicated):
    s = dedicated()
    loc = declare_location(s.admin, "L1")
    t, as_of = now_ms() - 5_000, now_ms() - 10_000
    send(s.ingest, [event("A", 1, loc, "s", RECEIPT, 1, t=t)])
    s.ingest.SyncSnapshot(iter([chunk("snap", loc, UPSERT, as_of, [("u", 1)])]), timeout=RPC_TIMEOUT)
    s.admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    data_dir = s.srv.data_dir
    s.close()
    s.srv.stop()
    s = dedicated(data_dir=data_dir)
    [r] = s.admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[loc]), timeout=RPC_TIMEOUT).locations
    assert (r.last_event_time_unix_ms, r.last_snapshot_as_of_unix_ms) == (t, as_of)


def test_negative_on_hand_exception_unchanged_by_checkpoint_restart(dedicated):
    s = dedicated()
    loc = declare_location(s.admin, "L1")
    apply_events(s.ingest, [(loc, "s", RECEIPT, 2)])
    went_negative = apply_events(s.ingest, [(loc, "s", SALE, 5)])
    time.sleep(1.1)  # the next change in another second
    apply_events(s.ingest, [(loc, "s", SALE, 1)])
    [e] = all_exceptions(s.admin, kinds=[NEGATIVE_ON_HAND])
    assert (e.on_hand, e.lsn) == (-4, went_negative.lsn)
    s.admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    data_dir = s.srv.data_dir
    s.close()
    s.srv.stop()
    s = dedicated(data_dir=data_dir)
    [e2] = all_exceptions(s.admin, kinds=[NEGATIVE_ON_HAND])
    assert (e2.on_hand, e2.lsn, e2.detected_at_unix_ms) == (-4, e.lsn, e.detected_at_unix_ms)


# --------------------------------------------------------------------------
# 7. the network file (--locations)


def locations_and_groups(admin):
    locs, token = [], ""
    for _ in range(100):
        resp = admin.ListLocations(admin_pb2.ListLocationsRequest(page_size=10, page_token=token),
                                   timeout=RPC_TIMEOUT)
        assert len(resp.locations) <= 10
        locs.extend(resp.locations)
        token = resp.next_page_token
        if not token:
            break
    groups = admin.ListGroups(admin_pb2.ListGroupsRequest(page_size=1000), timeout=RPC_TIMEOUT).groups
    return locs, list(groups)


def test_network_file_declares_locations_once(dedicated, tmp_path):
    with open(NETWORK_FILE) as f:
        network = json.load(f)
    expected_ids = sorted(l["locationId"] for l in network["locations"])
    assert len(expected_ids) == 57
    web_ship = next(g for g in network["groups"] if g["groupId"] == "web-ship")

    s = dedicated(["--locations", NETWORK_FILE])
    locs, groups = locations_and_groups(s.admin)
    assert [l.location_id for l in locs] == expected_ids  # paged, in id order, none twice
    assert sorted(g.group_id for g in groups) == sorted(g["groupId"] for g in network["groups"])
    ws = next(g for g in groups if g.group_id == "web-ship")
    assert list(ws.location_ids) == web_ship["locationIds"]  # priority order kept
    dc = next(l for l in locs if l.location_id == "dc-east")
    assert (dc.kind, dc.count_variance_units, dc.stale_after_seconds, dc.active) == (3, 50, 3600, True)
    lsn_before = {l.location_id: (l.lsn, l.updated_at_unix_ms) for l in locs}
    group_lsn = {g.group_id: g.lsn for g in groups}
    durable = stats(s.admin).durable_lsn
    assert durable == len(locs) + len(groups)  # one record per declaration
    data_dir = s.srv.data_dir
    s.close()
    s.srv.stop()

    # Same file again: nothing differs, nothing is written.
    s = dedicated(["--locations", NETWORK_FILE], data_dir=data_dir)
    for loc_id, (lsn, updated) in lsn_before.items():
        got = s.admin.GetLocation(admin_pb2.GetLocationRequest(location_id=loc_id), timeout=RPC_TIMEOUT).location
        assert (got.lsn, got.updated_at_unix_ms) == (lsn, updated), loc_id
    assert {g.group_id: g.lsn for g in locations_and_groups(s.admin)[1]} == group_lsn
    assert stats(s.admin).durable_lsn == durable
    s.close()
    s.srv.stop()

    # One store edited: only it is upserted.
    edited = json.loads(json.dumps(network))
    store = next(l for l in edited["locations"] if l["locationId"] == expected_ids[-1])
    store["displayName"] = "renamed"
    path = tmp_path / "network-edited.json"
    path.write_text(json.dumps(edited))
    s = dedicated(["--locations", str(path)], data_dir=data_dir)
    locs, _ = locations_and_groups(s.admin)
    changed = {l.location_id for l in locs if (l.lsn, l.updated_at_unix_ms) != lsn_before[l.location_id]}
    assert changed == {expected_ids[-1]}
    got = next(l for l in locs if l.location_id == expected_ids[-1])
    assert (got.display_name, got.lsn) == ("renamed", durable + 1)
