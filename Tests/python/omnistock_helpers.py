"""Helpers shared by the Python grpcio suites (``test_interop.py``, ``test_engine.py``,
``test_reservations.py``).

Imported by test modules only (after ``conftest.pytest_configure`` has generated the
``omnistock.v1`` stubs and put them on ``sys.path``).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid

import grpc
import pytest

from omnistock.v1 import admin_pb2
from omnistock.v1 import availability_pb2 as av_pb2
from omnistock.v1 import common_pb2
from omnistock.v1 import ingest_pb2

RPC_TIMEOUT = 30.0  # generous: only to turn a hang into a failure
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]  # 3
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]  # 5
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]  # 9
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS.value[0]  # 6

SALE = ingest_pb2.EVENT_TYPE_SALE
RETURN = ingest_pb2.EVENT_TYPE_RETURN
RECEIPT = ingest_pb2.EVENT_TYPE_RECEIPT
ADJUSTMENT = ingest_pb2.EVENT_TYPE_ADJUSTMENT
COUNT = ingest_pb2.EVENT_TYPE_COUNT

APPLIED = ingest_pb2.OUTCOME_KIND_APPLIED
DUPLICATE = ingest_pb2.OUTCOME_KIND_DUPLICATE
GAP = ingest_pb2.OUTCOME_KIND_GAP
SUPERSEDED = ingest_pb2.OUTCOME_KIND_SUPERSEDED
REJECTED = ingest_pb2.OUTCOME_KIND_REJECTED


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


def get(stub, sku, location, min_lsn=0):
    """One position; ``min_lsn`` (read-your-writes) waits until the index has applied it."""
    return stub.GetAvailability(
        av_pb2.GetAvailabilityRequest(query=query(sku, location=location),
                                      options=common_pb2.ReadOptions(min_lsn=min_lsn)),
        timeout=RPC_TIMEOUT).availability


def get_group(stub, sku, group, min_lsn=0):
    return stub.GetAvailability(
        av_pb2.GetAvailabilityRequest(query=query(sku, group=group),
                                      options=common_pb2.ReadOptions(min_lsn=min_lsn)),
        timeout=RPC_TIMEOUT).availability


def location_message(location_id, **settings) -> admin_pb2.Location:
    """A full ``Location`` with test defaults: kind STORE, active (proto3: an
    omitted ``active`` would mean inactive), display name = id. ``coordinates``
    may be a ``(latitude, longitude)`` tuple."""
    settings.setdefault("kind", common_pb2.LOCATION_KIND_STORE)
    settings.setdefault("active", True)
    settings.setdefault("display_name", location_id)
    coords = settings.pop("coordinates", None)
    loc = admin_pb2.Location(location_id=location_id, **settings)
    if coords is not None:
        if isinstance(coords, tuple):
            coords = common_pb2.GeoPoint(latitude=coords[0], longitude=coords[1])
        loc.coordinates.CopyFrom(coords)
    return loc


def declare_location(admin_stub, location_id, **settings) -> str:
    """Declares (or fully replaces) a location with ``Admin.UpsertLocation``;
    returns its id."""
    resp = admin_stub.UpsertLocation(
        admin_pb2.UpsertLocationRequest(location=location_message(location_id, **settings)),
        timeout=RPC_TIMEOUT)
    assert resp.location.location_id == location_id
    return location_id


def update_location(admin_stub, location_id, **changes) -> admin_pb2.Location:
    """Reads the stored location, changes some fields, upserts the whole of it
    again (UpsertLocation replaces every field); returns the stored result."""
    loc = admin_stub.GetLocation(
        admin_pb2.GetLocationRequest(location_id=location_id), timeout=RPC_TIMEOUT).location
    for name, value in changes.items():
        setattr(loc, name, value)
    return admin_stub.UpsertLocation(
        admin_pb2.UpsertLocationRequest(location=loc), timeout=RPC_TIMEOUT).location


def declare_group(admin_stub, group_id, location_ids, include_stale=False) -> str:
    resp = admin_stub.UpsertGroup(admin_pb2.UpsertGroupRequest(group=admin_pb2.LocationGroup(
        group_id=group_id, location_ids=list(location_ids), include_stale=include_stale)),
        timeout=RPC_TIMEOUT)
    assert list(resp.group.location_ids) == list(location_ids)
    return group_id


def apply_events(ingest_stub, changes):
    """Applies ``(location, sku, event type, quantity)`` changes as one batch
    from a fresh device; every event must be applied cleanly (no outcome listed).
    Returns the ack."""
    dev = uid("dev")
    batch = ingest_pb2.EventBatch(batch_id=uid("b"), events=[
        event(dev, i + 1, loc, sku, etype, qty) for i, (loc, sku, etype, qty) in enumerate(changes)])
    ack = ingest_stub.ApplyEvents(batch, timeout=RPC_TIMEOUT)
    assert (ack.applied, ack.rejected, list(ack.outcomes)) == (len(changes), 0, []), ack
    return ack


def chunk(snapshot_id, loc, mode, as_of, entries, **kw):
    return ingest_pb2.SnapshotChunk(
        snapshot_id=snapshot_id, location_id=loc, mode=mode, as_of_unix_ms=as_of,
        entries=[ingest_pb2.SnapshotEntry(sku=s, on_hand=q) for s, q in entries], **kw)


def outcome_summary(ack):
    """The ack's listed outcomes as comparable tuples
    ``(index, kind, code, gap_from, gap_to)``."""
    return [(o.index, o.kind, o.code, o.gap_from, o.gap_to) for o in ack.outcomes]


def high_water(ack):
    return [(h.device_id, h.device_seq) for h in ack.high_water]


def check_ack_counts(ack):
    """The invariants every ack must satisfy (ingest.proto): the counts add up
    and agree with the listed outcomes, listed in index order."""
    kinds = [o.kind for o in ack.outcomes]
    assert ack.applied + ack.duplicates + ack.superseded + ack.rejected == ack.received, ack
    assert ack.duplicates == kinds.count(DUPLICATE), ack
    assert ack.gaps == kinds.count(GAP), ack
    assert ack.superseded == kinds.count(SUPERSEDED), ack
    assert ack.rejected == kinds.count(REJECTED), ack
    assert APPLIED not in kinds and ingest_pb2.OUTCOME_KIND_UNSPECIFIED not in kinds, ack
    indices = [o.index for o in ack.outcomes]
    assert indices == sorted(set(indices)), ack
    assert all(i < ack.received for i in indices), ack


def list_all_locations(admin, page_size, **filters):
    ids, pages, token = [], [], ""
    while True:
        resp = admin.ListLocations(admin_pb2.ListLocationsRequest(
            page_size=page_size, page_token=token, **filters), timeout=RPC_TIMEOUT)
        pages.append([l.location_id for l in resp.locations])
        ids.extend(pages[-1])
        token = resp.next_page_token
        if not token:
            return ids, pages
        assert len(pages) < 10_000, "paging does not end"


def list_exceptions(admin, **filters):
    """One ``ListExceptions`` call."""
    return admin.ListExceptions(admin_pb2.ListExceptionsRequest(**filters), timeout=RPC_TIMEOUT)


def stats(admin):
    return admin.GetStats(admin_pb2.GetStatsRequest(), timeout=RPC_TIMEOUT)


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
