"""Reservations (SPEC section 3 "Reservations", ``reservations.proto``) as an independent grpcio
client sees them, over the real server.

* Races: 1,000 trials, each a fresh SKU with N (1..5) units at one location or spread over a 2-3
  member group, and K (6..10) concurrent Reserve calls released together by a barrier, on one
  channel each or on a shared channel. Every call gets OK or FAILED_PRECONDITION; no position is
  ever over-reserved; the winners are maximal (a refused request could not fit even at the end,
  1-unit requests reserve exactly min(K, N)); replaying the winners in LSN order through the
  allocation rule (priority order, else split most available first) gives exactly the
  allocations the server returned; GetAvailability agrees. Also: the same Reserve sent by K
  threads at once creates it once; Commit / Commit(1) / Release / Extend of one reservation at
  once match some serial order; Commit racing the expiry either commits or expires, never both.
* Crash: reservations with short and long TTLs (one extended, one shortened, one partially
  committed, one released), kill -9, downtime past the short expiries, restart: long ones
  byte-for-byte unchanged, short ones EXPIRED and released once (also across a second restart,
  and across a restart from an ``Admin.Checkpoint`` plus log tail); positions and
  ``GetStats.active_reservations`` agree.
* Every call in every state (ACTIVE, COMMITTED, RELEASED, EXPIRED): status, resulting state,
  position changes, nothing changed by a refusal. INVALID_ARGUMENT / NOT_FOUND / ALREADY_EXISTS
  cases, all-or-nothing refusals naming the short lines, idempotent replays, TTL bounds, safety
  stock, allow_partial and group allocation checked exactly, partial commits.
* Regression tests for bugs this suite found: CommitLine.quantity is cumulative (0 = everything
  held), an empty CommitLine.location_id covers a split line's allocations in order, and a
  refusal's message stays readable however many lines are short (grpc-message is bounded).

Waits for the server's periodic expiry (every 100 ms) are bounded polls.
"""

from __future__ import annotations

import collections
import random
import threading
import time

import grpc
import pytest

from omnistock.v1 import admin_pb2
from omnistock.v1 import admin_pb2_grpc
from omnistock.v1 import availability_pb2_grpc as av_grpc
from omnistock.v1 import ingest_pb2_grpc
from omnistock.v1 import reservations_pb2 as rs_pb2
from omnistock.v1 import reservations_pb2_grpc as rs_grpc

from omnistock_helpers import (
    RECEIPT, RPC_TIMEOUT, SALE, apply_events, declare_group, declare_location, get, get_group, now_ms,
    stats, uid, update_location)

ACTIVE = rs_pb2.RESERVATION_STATE_ACTIVE
COMMITTED = rs_pb2.RESERVATION_STATE_COMMITTED
RELEASED = rs_pb2.RESERVATION_STATE_RELEASED
EXPIRED = rs_pb2.RESERVATION_STATE_EXPIRED
STATE_NAMES = {ACTIVE: "ACTIVE", COMMITTED: "COMMITTED", RELEASED: "RELEASED", EXPIRED: "EXPIRED"}

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXISTS = grpc.StatusCode.ALREADY_EXISTS
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

LONG_TTL = 3600
EXPIRY_SLACK_S = 2.0  # the server checks every 100 ms; this only bounds the poll


# --------------------------------------------------------------------------
# helpers


class Stubs:
    """Channel and stubs for a dedicated server."""

    def __init__(self, srv):
        self.srv = srv
        self.channel = srv.channel()
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)
        self.ingest = ingest_pb2_grpc.IngestStub(self.channel)
        self.avail = av_grpc.AvailabilityStub(self.channel)
        self.rs = rs_grpc.ReservationsStub(self.channel)

    def close(self):
        self.channel.close()


def line(sku, qty, location=None, group=None):
    ln = rs_pb2.ReservationLine(sku=sku, quantity=qty)
    if location is not None:
        ln.location_id = location
    if group is not None:
        ln.group_id = group
    return ln


def reserve_request(rid, lines, ttl=0, allow_partial=False, reference=""):
    return rs_pb2.ReserveRequest(reservation_id=rid, lines=lines, ttl_seconds=ttl,
                                 allow_partial=allow_partial, reference=reference)


def reserve(rs, rid, lines, ttl=0, allow_partial=False, reference=""):
    """A Reserve that must succeed; returns the reservation."""
    resp = rs.Reserve(reserve_request(rid, lines, ttl, allow_partial, reference), timeout=RPC_TIMEOUT)
    assert not resp.replayed, resp
    assert resp.reservation.reservation_id == rid and resp.reservation.state == ACTIVE, resp
    return resp.reservation


def get_res(rs, rid):
    return rs.GetReservation(rs_pb2.GetReservationRequest(reservation_id=rid),
                             timeout=RPC_TIMEOUT).reservation


def commit(rs, rid, lines=(), release_remainder=False):
    return rs.Commit(rs_pb2.CommitRequest(reservation_id=rid, lines=list(lines),
                                          release_remainder=release_remainder),
                     timeout=RPC_TIMEOUT).reservation


def commit_line(index, qty, location=""):
    return rs_pb2.CommitLine(line_index=index, location_id=location, quantity=qty)


def release(rs, rid):
    return rs.Release(rs_pb2.ReleaseRequest(reservation_id=rid), timeout=RPC_TIMEOUT).reservation


def extend(rs, rid, ttl):
    return rs.Extend(rs_pb2.ExtendRequest(reservation_id=rid, ttl_seconds=ttl),
                     timeout=RPC_TIMEOUT).reservation


def status_of(fn, request):
    """(code, details, response) of one unary call; the response is None unless OK."""
    try:
        return OK, "", fn(request, timeout=RPC_TIMEOUT)
    except grpc.RpcError as e:
        return e.code(), e.details() or "", None


def expect_error(fn, request, code):
    got, details, resp = status_of(fn, request)
    assert got == code, f"expected {code.name}, got {got.name}: {details!r} {resp}"
    assert details, "an error must explain itself"
    return details


def alloc_summary(reservation):
    """Per line: [(location, quantity, committed, released)]."""
    return [[(a.location_id, a.quantity, a.committed, a.released) for a in ln.allocations]
            for ln in reservation.lines]


def held_by_position(reservations):
    """(sku, location) -> units still held by these reservations."""
    out = collections.Counter()
    for r in reservations:
        for ln in r.lines:
            for a in ln.allocations:
                out[(ln.line.sku, a.location_id)] += a.quantity - a.committed - a.released
    return out


def check_consistent(r):
    """The sums every reservation must carry (reservations.proto)."""
    partial = False
    for i, ln in enumerate(r.lines):
        assert ln.line_index == i, r
        assert ln.allocated == sum(a.quantity for a in ln.allocations), r
        assert ln.committed == sum(a.committed for a in ln.allocations), r
        assert ln.released == sum(a.released for a in ln.allocations), r
        assert ln.held == ln.allocated - ln.committed - ln.released >= 0, r
        assert all(a.quantity > 0 and a.committed >= 0 and a.released >= 0 for a in ln.allocations), r
        assert ln.allocated <= ln.line.quantity, r
        if not r.allow_partial:
            assert ln.allocated == ln.line.quantity, r
        partial = partial or ln.allocated < ln.line.quantity
    assert r.partial == partial, r
    held = sum(ln.held for ln in r.lines)
    committed = sum(ln.committed for ln in r.lines)
    if r.state == ACTIVE:
        assert held > 0, r
    else:
        assert held == 0, r
    if r.state == COMMITTED:
        assert committed > 0, r
    assert r.created_at_unix_ms <= r.updated_at_unix_ms, r
    assert r.lsn > 0, r


def wait_state(rs, rid, state, timeout):
    deadline = time.monotonic() + timeout
    while True:
        r = get_res(rs, rid)
        if r.state == state:
            return r
        if time.monotonic() > deadline:
            pytest.fail(f"reservation {rid} not {STATE_NAMES[state]} within {timeout} s: {r}")
        time.sleep(0.05)


def wait_until_ms(unix_ms, bound_s):
    """Sleeps until the wall clock passes ``unix_ms`` (at most ``bound_s``)."""
    delay = (unix_ms - now_ms()) / 1000.0
    assert delay <= bound_s, f"would wait {delay:.1f} s (> {bound_s} s)"
    if delay > 0:
        time.sleep(delay)


def position(avail, sku, loc, min_lsn=0):
    p = get(avail, sku, loc, min_lsn=min_lsn)
    return p.on_hand, p.reserved, p.available


def stock(ingest, loc, amounts):
    """RECEIPTs: ``amounts`` maps sku -> units (0 skipped)."""
    changes = [(loc, sku, RECEIPT, q) for sku, q in amounts.items() if q > 0]
    if changes:
        apply_events(ingest, changes)


# --------------------------------------------------------------------------
# 1. races over the real server

RACE_SEED = 20_251_201
RACE_BLOCKS = 20
TRIALS_PER_BLOCK = 50  # 20 x 50 = 1,000 trials
MAX_THREADS = 10


class RaceEnv:
    def __init__(self, srv):
        self.s = Stubs(srv)
        self.single = declare_location(self.s.admin, uid("race-loc"))
        self.members = [declare_location(self.s.admin, uid(f"race-m{i}")) for i in range(3)]
        self.groups = {
            2: declare_group(self.s.admin, uid("race-g2"), self.members[:2]),
            3: declare_group(self.s.admin, uid("race-g3"), self.members),
        }
        self.channels = [srv.channel() for _ in range(MAX_THREADS)]
        for ch in self.channels:
            grpc.channel_ready_future(ch).result(timeout=30)
        self.stubs = [rs_grpc.ReservationsStub(ch) for ch in self.channels]
        self.successes = 0

    def close(self):
        for ch in self.channels:
            ch.close()
        self.s.close()


@pytest.fixture(scope="module")
def race(server_factory):
    env = RaceEnv(server_factory())
    yield env
    env.close()


def allocate(available, qty, allow_partial):
    """The allocation rule of reservations.proto for one line over ``available`` (member ->
    units, in priority order): the first member that can hold the whole line, else split, most
    available first (ties in priority order). Returns [(member, units)] or None if refused."""
    for m, a in available.items():
        if a >= qty:
            return [(m, qty)]
    order = sorted(enumerate(available.items()), key=lambda e: (-e[1][1], e[0]))
    out, remaining = [], qty
    for _, (m, a) in order:
        take = min(a, remaining)
        if take > 0:
            out.append((m, take))
            remaining -= take
    if remaining > 0 and (not allow_partial or remaining == qty):
        return None
    return out


def run_race_trial(env, rng, trial):
    grouped = trial % 2 == 1
    shared = (trial // 2) % 2 == 1
    sku = uid("race-sku")
    n = rng.randint(1, 5)
    if grouped:
        size = rng.choice([2, 3])
        group, members = env.groups[size], env.members[:size]
        cuts = sorted(rng.randint(0, n) for _ in range(size - 1))
        parts = [b - a for a, b in zip([0] + cuts, cuts + [n])]
        stocked = dict(zip(members, parts))
    else:
        group, members = None, [env.single]
        stocked = {env.single: n}
    for m, q in stocked.items():
        stock(env.s.ingest, m, {sku: q})
    k = rng.randint(6, 10)
    unit = rng.random() < 0.5
    requests = []
    for i in range(k):
        qty = 1 if unit else rng.randint(1, 2)
        partial = False if unit else rng.random() < 0.3
        target = {"group": group} if grouped else {"location": env.single}
        requests.append(reserve_request(uid(f"race-{trial}-{i}"), [line(sku, qty, **target)],
                                        allow_partial=partial))
    ctx = (f"trial {trial}: sku {sku} stock {stocked} group {group} shared-channel {shared} "
           f"requests {[(r.lines[0].quantity, r.allow_partial) for r in requests]}")

    barrier = threading.Barrier(k, timeout=30)
    results: list = [None] * k

    def worker(i):
        stub = env.stubs[0] if shared else env.stubs[i]
        try:
            barrier.wait()
            results[i] = (OK, stub.Reserve(requests[i], timeout=RPC_TIMEOUT))
        except grpc.RpcError as e:
            results[i] = (e.code(), e.details())
        except BaseException as e:  # BrokenBarrierError, ...
            results[i] = ("exception", repr(e))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=RPC_TIMEOUT * 2)
    assert not any(t.is_alive() for t in threads), f"{ctx}: a call did not finish"
    env.successes += sum(1 for r in results if r[0] == OK)

    # Every call got a definite answer.
    for req, (code, payload) in zip(requests, results):
        assert code in (OK, PRECONDITION), f"{ctx}: {req.reservation_id} got {code}: {payload}"
    won = [(req, payload.reservation) for req, (code, payload) in zip(requests, results) if code == OK]
    lost = [(req, payload) for req, (code, payload) in zip(requests, results) if code != OK]
    for req, details in lost:
        assert "line 0" in details, f"{ctx}: refusal does not name the short line: {details!r}"
    for req, (code, payload) in zip(requests, results):
        if code == OK:
            assert not payload.replayed, f"{ctx}: {payload}"

    # Never over-reserved, per position and in total.
    per_loc = collections.Counter()
    for req, r in won:
        check_consistent(r)
        assert r.state == ACTIVE and r.reservation_id == req.reservation_id, f"{ctx}: {r}"
        for a in r.lines[0].allocations:
            assert a.location_id in members, f"{ctx}: allocated outside the target: {r}"
            per_loc[a.location_id] += a.quantity
    total = sum(per_loc.values())
    for m in members:
        assert per_loc[m] <= stocked[m], f"{ctx}: over-reserved {m}: {per_loc}"
    assert total <= n, ctx
    left = n - total

    # Maximal: stock only went down during the trial, so whatever was refused (or cut short)
    # cannot fit in what is left at the end.
    for req, _ in lost:
        q = req.lines[0].quantity
        assert (left == 0) if req.allow_partial else (q > left), \
            f"{ctx}: {req.reservation_id} ({q}) refused but {left} left at the end"
    for req, r in won:
        if r.lines[0].allocated < req.lines[0].quantity:
            assert left == 0, f"{ctx}: partial allocation while {left} remain: {r}"
    if unit:
        assert total == min(k, n) == n, f"{ctx}: {total} of {n} reserved by 1-unit requests"

    # The winners in LSN order, through the allocation rule, give exactly their allocations.
    lsns = [r.lsn for _, r in won]
    assert len(set(lsns)) == len(lsns), f"{ctx}: LSNs {lsns}"
    remaining = dict(stocked)
    for req, r in sorted(won, key=lambda w: w[1].lsn):
        expected = allocate(remaining, req.lines[0].quantity, req.allow_partial)
        got = [(a.location_id, a.quantity) for a in r.lines[0].allocations]
        assert got == expected, f"{ctx}: {req.reservation_id} got {got}, the rule gives {expected} " \
                                f"from {remaining}"
        for m, q in got:
            remaining[m] -= q

    # The index agrees.
    min_lsn = max(lsns, default=0)
    for m in members:
        p = get(env.s.avail, sku, m, min_lsn=min_lsn)
        assert (p.on_hand, p.reserved, p.available) == (stocked[m], per_loc[m], stocked[m] - per_loc[m]), \
            f"{ctx}: {m}: {p}"
    if grouped:
        g = get_group(env.s.avail, sku, group, min_lsn=min_lsn)
        assert (g.on_hand, g.reserved, g.available) == (n, total, left), f"{ctx}: {g}"


@pytest.mark.parametrize("block", range(RACE_BLOCKS))
def test_concurrent_reserves_never_oversell(race, block):
    """50 trials per block (1,000 in all): K concurrent Reserve calls for a few units; see the
    module docstring for what is checked. Also ``GetStats.active_reservations`` counts every
    winner (their TTL is 15 minutes)."""
    rng = random.Random(RACE_SEED + block)
    for t in range(TRIALS_PER_BLOCK):
        run_race_trial(race, rng, block * TRIALS_PER_BLOCK + t)
    assert stats(race.s.admin).active_reservations == race.successes


def run_concurrently(calls, timeout=RPC_TIMEOUT * 2):
    """Runs the zero-argument ``calls`` on one thread each, released together by a barrier;
    returns [(code, response or details)] in call order."""
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list = [None] * len(calls)

    def worker(i):
        try:
            barrier.wait()
            results[i] = (OK, calls[i]())
        except grpc.RpcError as e:
            results[i] = (e.code(), e.details())
        except BaseException as e:
            results[i] = ("exception", repr(e))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a call did not finish"
    return results


def test_concurrent_same_id_reserves_create_once(race):
    """K threads send the same Reserve at once, 50 times: exactly one creates it, the others are
    replays of the same reservation, and the units are held once."""
    rng = random.Random(RACE_SEED - 1)
    for trial in range(50):
        sku, k, qty = uid("same-sku"), rng.randint(4, MAX_THREADS), rng.randint(1, 3)
        stock(race.s.ingest, race.single, {sku: 5})
        request = reserve_request(uid("same"), [line(sku, qty, location=race.single)], ttl=LONG_TTL)
        results = run_concurrently([lambda i=i: race.stubs[i].Reserve(request, timeout=RPC_TIMEOUT)
                                    for i in range(k)])
        assert all(code == OK for code, _ in results), (trial, results)
        race.successes += 1
        assert sorted(resp.replayed for _, resp in results) == [False] + [True] * (k - 1), (trial, results)
        assert len({resp.reservation.SerializeToString() for _, resp in results}) == 1, (trial, results)
        r = results[0][1].reservation
        assert position(race.s.avail, sku, race.single, min_lsn=r.lsn) == (5, qty, 5 - qty), trial
    assert stats(race.s.admin).active_reservations == race.successes


def _model(order, calls):
    """Serial model of one 3-unit reservation under ``order`` (indices into ``calls``): the codes
    per call and the final (state, committed, released)."""
    state, committed, released, codes = ACTIVE, 0, 0, {}
    for i in order:
        call, held = calls[i], 3 - committed - released
        if call == "extend":
            codes[i] = OK if state == ACTIVE else PRECONDITION
        elif call == "commit-all":
            if state in (RELEASED, EXPIRED):
                codes[i] = PRECONDITION
            else:
                codes[i], committed = OK, committed + (held if state == ACTIVE else 0)
                state = COMMITTED
        elif call == "commit-one":
            if state in (RELEASED, EXPIRED):
                codes[i] = PRECONDITION
            else:
                codes[i] = OK
                if state == ACTIVE and committed == 0:
                    committed = 1
        elif call == "release":
            if state == COMMITTED:
                codes[i] = PRECONDITION
            else:
                codes[i], released = OK, released + (held if state == ACTIVE else 0)
                state = RELEASED
    return [codes[i] for i in range(len(calls))], (state, committed, released)


def test_concurrent_commit_release_extend_are_linearizable(race):
    """Commit (all), Commit (1 unit), Release and Extend of one reservation at once, 60 times:
    the answers and the final reservation match some serial order of the four calls, and the
    position agrees with it."""
    import itertools
    calls = ["commit-all", "commit-one", "release", "extend"]
    outcomes = collections.Counter()
    for trial in range(60):
        sku, rid = uid("lin-sku"), uid("lin")
        stock(race.s.ingest, race.single, {sku: 5})
        reserve(race.s.rs, rid, [line(sku, 3, location=race.single)], ttl=LONG_TTL)
        race.successes += 1
        stubs = [race.stubs[i] for i in random.Random(trial).sample(range(MAX_THREADS), 4)]
        fns = {
            "commit-all": lambda s: s.Commit(rs_pb2.CommitRequest(reservation_id=rid), timeout=RPC_TIMEOUT),
            "commit-one": lambda s: s.Commit(
                rs_pb2.CommitRequest(reservation_id=rid, lines=[commit_line(0, 1)]), timeout=RPC_TIMEOUT),
            "release": lambda s: s.Release(rs_pb2.ReleaseRequest(reservation_id=rid), timeout=RPC_TIMEOUT),
            "extend": lambda s: s.Extend(rs_pb2.ExtendRequest(reservation_id=rid, ttl_seconds=LONG_TTL),
                                         timeout=RPC_TIMEOUT),
        }
        results = run_concurrently([lambda c=c, s=s: fns[c](s) for c, s in zip(calls, stubs)])
        codes = [code for code, _ in results]
        final = get_res(race.s.rs, rid)
        check_consistent(final)
        a = final.lines[0].allocations[0]
        observed = (codes, (final.state, a.committed, a.released))
        assert any(_model(order, calls) == observed for order in itertools.permutations(range(4))), \
            f"trial {trial}: no serial order explains {observed}: {results}"
        race.successes -= final.state != ACTIVE
        outcomes[STATE_NAMES[final.state]] += 1
        held = 3 - a.committed - a.released
        assert position(race.s.avail, sku, race.single, min_lsn=final.lsn) == \
            (5 - a.committed, held, 5 - a.committed - held), f"trial {trial}: {final}"
    assert stats(race.s.admin).active_reservations == race.successes
    print(f"final states: {dict(outcomes)}")
    assert len(outcomes) >= 2, f"the race never went more than one way: {outcomes}"


def test_commit_racing_expiry_either_commits_or_expires(race):
    """20 reservations with ttl 1 s, each committed at a moment around its expiry (-100..+150 ms):
    each ends COMMITTED (on_hand down) or EXPIRED (Commit refused, on_hand unchanged), never a
    mix, and nothing stays reserved."""
    rng = random.Random(RACE_SEED + 7)
    made = []
    for i in range(20):
        sku, rid = uid("exp-sku"), uid("exp")
        stock(race.s.ingest, race.single, {sku: 4})
        made.append((sku, rid, reserve(race.s.rs, rid, [line(sku, 2, location=race.single)], ttl=1)))
    targets = [r.expires_at_unix_ms + rng.randint(-100, 150) for _, _, r in made]

    def committer(i):
        def go():
            wait_until_ms(targets[i], bound_s=3.0)
            return race.stubs[i % MAX_THREADS].Commit(rs_pb2.CommitRequest(reservation_id=made[i][1]),
                                                      timeout=RPC_TIMEOUT)
        return go

    results = run_concurrently([committer(i) for i in range(len(made))])
    ends = collections.Counter()
    for (sku, rid, _), (code, payload) in zip(made, results):
        assert code in (OK, PRECONDITION), (rid, code, payload)
        final = wait_state(race.s.rs, rid, COMMITTED if code == OK else EXPIRED, EXPIRY_SLACK_S)
        if code == OK:
            assert payload.reservation.state == COMMITTED
            assert alloc_summary(final) == [[(race.single, 2, 2, 0)]], final
            expected = (2, 0, 2)
        else:
            assert "EXPIRED" in payload, payload
            assert alloc_summary(final) == [[(race.single, 2, 0, 2)]], final
            expected = (4, 0, 4)
        assert position(race.s.avail, sku, race.single, min_lsn=final.lsn) == expected, final
        ends[STATE_NAMES[final.state]] += 1
    print(f"final states: {dict(ends)}")
    assert stats(race.s.admin).active_reservations == race.successes


# --------------------------------------------------------------------------
# 2. crash and restart: expiry during downtime, exactly once; checkpoint recovery


def test_kill9_restart_keeps_long_reservations_and_expires_short_ones_once(server_factory):
    s = Stubs(server_factory())
    data_dir = s.srv.data_dir
    a, b = declare_location(s.admin, uid("crash-a")), declare_location(s.admin, uid("crash-b"))
    grp = declare_group(s.admin, uid("crash-g"), [a, b])
    k1, k2, k3 = uid("sku1"), uid("sku2"), uid("sku3")
    stock(s.ingest, a, {k1: 20, k3: 5})
    stock(s.ingest, b, {k2: 20, k3: 5})
    on_hand = {(k1, a): 20, (k3, a): 5, (k2, b): 20, (k3, b): 5}

    ids = {name: uid(f"crash-{name}") for name in (
        "long", "long-group", "long-partly-committed", "short", "short-group",
        "short-partly-committed", "extended", "shortened", "released")}
    reserve(s.rs, ids["long"], [line(k1, 3, location=a)], ttl=LONG_TTL)
    lg = reserve(s.rs, ids["long-group"], [line(k3, 7, group=grp)], ttl=LONG_TTL, reference="order-7")
    assert alloc_summary(lg) == [[(a, 5, 0, 0), (b, 2, 0, 0)]]  # neither holds 7: split, tie -> priority
    reserve(s.rs, ids["long-partly-committed"], [line(k2, 4, location=b), line(k1, 2, location=a)],
            ttl=LONG_TTL)
    pc = commit(s.rs, ids["long-partly-committed"], [commit_line(0, 1)])
    assert pc.state == ACTIVE and alloc_summary(pc) == [[(b, 4, 1, 0)], [(a, 2, 0, 0)]], pc
    on_hand[(k2, b)] -= 1
    reserve(s.rs, ids["short"], [line(k1, 2, location=a), line(k2, 3, location=b)], ttl=2)
    reserve(s.rs, ids["short-group"], [line(k2, 2, group=grp)], ttl=2)
    reserve(s.rs, ids["short-partly-committed"], [line(k2, 3, location=b)], ttl=2)
    spc = commit(s.rs, ids["short-partly-committed"], [commit_line(0, 1, b)])
    assert spc.state == ACTIVE and alloc_summary(spc) == [[(b, 3, 1, 0)]], spc
    on_hand[(k2, b)] -= 1
    reserve(s.rs, ids["extended"], [line(k1, 1, location=a)], ttl=2)
    ext = extend(s.rs, ids["extended"], LONG_TTL)
    assert ext.ttl_seconds == LONG_TTL and ext.state == ACTIVE
    reserve(s.rs, ids["shortened"], [line(k1, 4, location=a)], ttl=LONG_TTL)
    extend(s.rs, ids["shortened"], 2)
    reserve(s.rs, ids["released"], [line(k2, 5, location=b)], ttl=LONG_TTL)
    assert release(s.rs, ids["released"]).state == RELEASED

    before = {name: get_res(s.rs, rid) for name, rid in ids.items()}
    long_names = ["long", "long-group", "long-partly-committed", "extended"]
    short_names = ["short", "short-group", "short-partly-committed", "shortened"]
    server_now = stats(s.admin).server_time_unix_ms
    for name in short_names:
        assert before[name].state == ACTIVE, before[name]
        # The crash must come before the short expiries, so they happen while the server is down.
        assert before[name].expires_at_unix_ms > server_now + 200, \
            f"setup too slow: {name} expires at {before[name].expires_at_unix_ms}, now {server_now}"
    assert stats(s.admin).active_reservations == len(long_names) + len(short_names)
    s.srv.kill9()
    s.close()
    wait_until_ms(max(before[n].expires_at_unix_ms for n in short_names) + 200, bound_s=3.0)

    s = Stubs(server_factory(data_dir=data_dir))
    # Long ones: identical, byte for byte (state, allocations, expiry, lsn).
    for name in long_names + ["released"]:
        assert get_res(s.rs, ids[name]) == before[name], name
    # Short ones: EXPIRED, everything still held released once (committed units stay
    # committed), expires_at unchanged.
    for name in short_names:
        r = wait_state(s.rs, ids[name], EXPIRED, EXPIRY_SLACK_S)
        check_consistent(r)
        assert r.expires_at_unix_ms == before[name].expires_at_unix_ms, r
        assert r.updated_at_unix_ms >= r.expires_at_unix_ms, r
        assert r.lsn > before[name].lsn, r
        assert alloc_summary(r) == [[(loc, q, c, q - c) for loc, q, c, _ in ln]
                                    for ln in alloc_summary(before[name])], r

    def check_positions(stubs, reservations, what):
        held = held_by_position(reservations)
        min_lsn = max(r.lsn for r in reservations)
        for (sku, loc), oh in on_hand.items():
            h = held[(sku, loc)]
            assert position(stubs.avail, sku, loc, min_lsn=min_lsn) == (oh, h, oh - h), f"{what}: {sku}@{loc}"
        assert stats(stubs.admin).active_reservations == sum(r.state == ACTIVE for r in reservations), what

    now = {name: get_res(s.rs, rid) for name, rid in ids.items()}
    check_positions(s, list(now.values()), "after the first restart")

    # A second restart (kill -9 again): nothing expires twice, nothing changes.
    s.srv.kill9()
    s.close()
    s = Stubs(server_factory(data_dir=data_dir))
    time.sleep(0.3)  # several expiry rounds
    for name, rid in ids.items():
        assert get_res(s.rs, rid) == now[name], f"second restart changed {name}"
    check_positions(s, list(now.values()), "after the second restart")

    # Checkpoint recovery: one more short reservation active in the checkpoint and one change
    # after it (in the log tail only), then kill -9, downtime past the expiry, restart.
    ids["short-in-checkpoint"] = uid("crash-ckpt-short")
    reserve(s.rs, ids["short-in-checkpoint"], [line(k3, 3, group=grp)], ttl=2)
    ck = s.admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    assert ck.lsn >= get_res(s.rs, ids["short-in-checkpoint"]).lsn, ck
    ids["after-checkpoint"] = uid("crash-after-ckpt")
    reserve(s.rs, ids["after-checkpoint"], [line(k1, 2, location=a)], ttl=LONG_TTL)
    done = commit(s.rs, ids["long"])  # commits the 3 units: log tail only
    assert done.state == COMMITTED and alloc_summary(done) == [[(a, 3, 3, 0)]], done
    on_hand[(k1, a)] -= 3
    before = {name: get_res(s.rs, rid) for name, rid in ids.items()}
    assert before["short-in-checkpoint"].state == ACTIVE
    assert before["short-in-checkpoint"].expires_at_unix_ms > stats(s.admin).server_time_unix_ms + 200, \
        "setup too slow"
    s.srv.kill9()
    s.close()
    wait_until_ms(before["short-in-checkpoint"].expires_at_unix_ms + 200, bound_s=3.0)

    s = Stubs(server_factory(data_dir=data_dir))
    r = wait_state(s.rs, ids["short-in-checkpoint"], EXPIRED, EXPIRY_SLACK_S)
    assert r.expires_at_unix_ms == before["short-in-checkpoint"].expires_at_unix_ms, r
    assert alloc_summary(r) == [[(loc, q, 0, q) for loc, q, _, _ in ln]
                                for ln in alloc_summary(before["short-in-checkpoint"])], r
    for name, rid in ids.items():
        if name != "short-in-checkpoint":
            assert get_res(s.rs, rid) == before[name], f"checkpoint restart changed {name}"
    now = {name: get_res(s.rs, rid) for name, rid in ids.items()}
    check_positions(s, list(now.values()), "after the checkpoint restart")

    # And a clean restart after that: still the same, nothing released twice.
    s.close()
    s.srv.stop()
    s = Stubs(server_factory(data_dir=data_dir))
    time.sleep(0.3)
    for name, rid in ids.items():
        assert get_res(s.rs, rid) == now[name], f"last restart changed {name}"
    check_positions(s, list(now.values()), "after the last restart")
    s.close()


# --------------------------------------------------------------------------
# 3. every call in every state

STATES = ["ACTIVE", "COMMITTED", "RELEASED", "EXPIRED"]
CALLS = ["reserve-same", "reserve-different", "extend", "commit-all", "commit-line", "release", "get"]
QTY = 2  # units per table reservation
STOCKED = 5

# (call, state) -> (status, state afterwards, on_hand change, reserved change); None = unchanged.
TABLE = {}
for _st in STATES:
    TABLE[("reserve-same", _st)] = (OK, None, 0, 0)
    TABLE[("reserve-different", _st)] = (EXISTS, None, 0, 0)
    TABLE[("get", _st)] = (OK, None, 0, 0)
TABLE.update({
    ("extend", "ACTIVE"): (OK, "ACTIVE", 0, 0),
    ("extend", "COMMITTED"): (PRECONDITION, None, 0, 0),
    ("extend", "RELEASED"): (PRECONDITION, None, 0, 0),
    ("extend", "EXPIRED"): (PRECONDITION, None, 0, 0),
    ("commit-all", "ACTIVE"): (OK, "COMMITTED", -QTY, -QTY),
    ("commit-all", "COMMITTED"): (OK, None, 0, 0),  # committing what is committed: a no-op
    ("commit-all", "RELEASED"): (PRECONDITION, None, 0, 0),
    ("commit-all", "EXPIRED"): (PRECONDITION, None, 0, 0),
    ("commit-line", "ACTIVE"): (OK, "ACTIVE", -1, -1),  # 1 of 2: still ACTIVE, 1 held
    ("commit-line", "COMMITTED"): (OK, None, 0, 0),
    ("commit-line", "RELEASED"): (PRECONDITION, None, 0, 0),
    ("commit-line", "EXPIRED"): (PRECONDITION, None, 0, 0),
    ("release", "ACTIVE"): (OK, "RELEASED", 0, -QTY),
    ("release", "COMMITTED"): (PRECONDITION, None, 0, 0),
    ("release", "RELEASED"): (OK, None, 0, 0),
    ("release", "EXPIRED"): (OK, None, 0, 0),
})
assert len(TABLE) == len(STATES) * len(CALLS)


@pytest.fixture(scope="module")
def table_reservations(admin, ingest, avail, reservations):
    """One reservation (QTY units of its own SKU, STOCKED on hand) per (call, state); the
    EXPIRED ones made with ttl_seconds=1 and waited for together."""
    loc = declare_location(admin, uid("table"))
    made = {}
    for call in CALLS:
        for st in STATES:
            sku, rid = uid("tsku"), uid(f"t-{call}-{st}")
            stock(ingest, loc, {sku: STOCKED})
            request = reserve_request(rid, [line(sku, QTY, location=loc)],
                                      ttl=1 if st == "EXPIRED" else LONG_TTL, reference=f"{call}/{st}")
            r = reserve(reservations, rid, list(request.lines), request.ttl_seconds,
                        reference=request.reference)
            if st == "COMMITTED":
                r = commit(reservations, rid)
                assert r.state == COMMITTED
            elif st == "RELEASED":
                r = release(reservations, rid)
                assert r.state == RELEASED
            made[(call, st)] = (rid, sku, request)
    expired_deadline = time.monotonic()
    for (call, st), (rid, sku, _) in made.items():
        if st != "EXPIRED":
            continue
        r = wait_state(reservations, rid, EXPIRED,
                       max(0.0, expired_deadline - time.monotonic()) + 1.0 + EXPIRY_SLACK_S)
        assert r.expires_at_unix_ms == r.created_at_unix_ms + 1000, r
        assert r.updated_at_unix_ms >= r.expires_at_unix_ms, r
        assert alloc_summary(r) == [[(loc, QTY, 0, QTY)]], r
        assert position(avail, sku, loc, min_lsn=r.lsn) == (STOCKED, 0, STOCKED)
    return loc, made


def invoke(rs, call, rid, request):
    if call == "reserve-same":
        return status_of(rs.Reserve, request)
    if call == "reserve-different":
        different = rs_pb2.ReserveRequest()
        different.CopyFrom(request)
        different.lines[0].quantity += 1
        return status_of(rs.Reserve, different)
    if call == "extend":
        return status_of(rs.Extend, rs_pb2.ExtendRequest(reservation_id=rid, ttl_seconds=7200))
    if call == "commit-all":
        return status_of(rs.Commit, rs_pb2.CommitRequest(reservation_id=rid))
    if call == "commit-line":
        return status_of(rs.Commit, rs_pb2.CommitRequest(reservation_id=rid, lines=[commit_line(0, 1)]))
    if call == "release":
        return status_of(rs.Release, rs_pb2.ReleaseRequest(reservation_id=rid))
    if call == "get":
        return status_of(rs.GetReservation, rs_pb2.GetReservationRequest(reservation_id=rid))
    raise AssertionError(call)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("call", CALLS)
def test_call_in_state(table_reservations, reservations, avail, call, state):
    loc, made = table_reservations
    rid, sku, request = made[(call, state)]
    code, after_state, d_on_hand, d_reserved = TABLE[(call, state)]
    before = get_res(reservations, rid)
    assert STATE_NAMES[before.state] == state
    pos_before = position(avail, sku, loc, min_lsn=before.lsn)
    t0 = now_ms()
    got, details, resp = invoke(reservations, call, rid, request)
    t1 = now_ms()
    assert got == code, f"{call} on {state}: expected {code.name}, got {got.name}: {details!r}"
    after = get_res(reservations, rid)
    check_consistent(after)
    if after_state is None:
        assert after == before, f"{call} on {state} changed the reservation"
    else:
        assert STATE_NAMES[after.state] == after_state and after.lsn > before.lsn, after
    if got == OK:
        assert resp.reservation == after, resp
        if call.startswith("reserve"):
            assert resp.replayed
    else:
        assert details
        if code == PRECONDITION:
            assert state in details, f"the refusal should name the state: {details!r}"
    on_hand, reserved, _ = position(avail, sku, loc, min_lsn=after.lsn)
    assert (on_hand - pos_before[0], reserved - pos_before[1]) == (d_on_hand, d_reserved), \
        f"{call} on {state}: position {pos_before} -> {(on_hand, reserved)}"
    if (call, state) == ("extend", "ACTIVE"):
        assert after.ttl_seconds == 7200
        assert t0 + 7_200_000 - 1000 <= after.expires_at_unix_ms <= t1 + 7_200_000 + 1000, after
    if (call, state) == ("commit-line", "ACTIVE"):
        assert alloc_summary(after) == [[(loc, QTY, 1, 0)]] and after.lines[0].held == 1, after
    if (call, state) == ("commit-all", "ACTIVE"):
        assert alloc_summary(after) == [[(loc, QTY, QTY, 0)]], after
    if (call, state) == ("release", "ACTIVE"):
        assert alloc_summary(after) == [[(loc, QTY, 0, QTY)]], after


# --------------------------------------------------------------------------
# argument errors, unknown targets and ids


def _reserve_invalid_cases():
    s, l = "sku-x", "loc-x"  # placeholders, replaced by the test's real ones
    good = [line(s, 1, location=l)]
    no_target = rs_pb2.ReservationLine(sku=s, quantity=1)
    return {
        "empty id": reserve_request("", good),
        "id with a space": reserve_request("bad id", good),
        "id with a non-ASCII byte": reserve_request("bad-é", good),
        "id of 129 bytes": reserve_request("r" * 129, good),
        "no lines": reserve_request("@ID", []),
        "1,001 lines": reserve_request("@ID", [line(f"{s}-{i}", 1, location=l) for i in range(1001)]),
        "quantity 0": reserve_request("@ID", [line(s, 0, location=l)]),
        "negative quantity": reserve_request("@ID", [line(s, -1, location=l)]),
        "quantity 1e9 + 1": reserve_request("@ID", [line(s, 1_000_000_001, location=l)]),
        "ttl 604,801": reserve_request("@ID", good, ttl=604_801),
        "duplicate (sku, location)": reserve_request("@ID", [line(s, 1, location=l), line(s, 2, location=l)]),
        "no target": reserve_request("@ID", [no_target]),
        "empty sku": reserve_request("@ID", [line("", 1, location=l)]),
        "malformed sku": reserve_request("@ID", [line("a b", 1, location=l)]),
        "malformed location": reserve_request("@ID", [line(s, 1, location="a b")]),
        "reference of 257 bytes": reserve_request("@ID", good, reference="x" * 257),
    }


@pytest.mark.parametrize("case", list(_reserve_invalid_cases()))
def test_reserve_invalid_argument_records_nothing(reservations, ingest, avail, loc, case):
    sku = uid("sku")
    stock(ingest, loc, {sku: 10})
    request = _reserve_invalid_cases()[case]
    rid = uid("inv")
    if request.reservation_id == "@ID":
        request.reservation_id = rid
    for ln in request.lines:
        ln.sku = ln.sku.replace("sku-x", sku)
        if ln.WhichOneof("target") == "location_id" and ln.location_id == "loc-x":
            ln.location_id = loc
    expect_error(reservations.Reserve, request, INVALID)
    if request.reservation_id == rid:
        expect_error(reservations.GetReservation, rs_pb2.GetReservationRequest(reservation_id=rid), NOT_FOUND)
    assert position(avail, sku, loc) == (10, 0, 10)


def test_reserve_boundaries_accepted(reservations, admin, ingest, avail, loc):
    """ttl 1 and 604,800, ttl 0 = 900, a 128-byte id, a 256-byte reference, 1,000 lines, the same
    SKU at two different targets, quantity 1e9 with allow_partial (gets what there is)."""
    sku, other = uid("sku"), declare_location(admin, uid("loc2"))
    stock(ingest, loc, {sku: 10})
    stock(ingest, other, {sku: 10})
    r = reserve(reservations, uid("ttl1"), [line(sku, 1, location=loc)], ttl=1)
    assert r.ttl_seconds == 1 and r.expires_at_unix_ms == r.created_at_unix_ms + 1000, r
    r = reserve(reservations, uid("ttlmax"), [line(sku, 1, location=loc)], ttl=604_800)
    assert r.ttl_seconds == 604_800 and r.expires_at_unix_ms == r.created_at_unix_ms + 604_800_000, r
    r = reserve(reservations, uid("ttl0"), [line(sku, 1, location=loc)], ttl=0)
    assert r.ttl_seconds == 900 and r.expires_at_unix_ms == r.created_at_unix_ms + 900_000, r
    t0 = now_ms()
    e = extend(reservations, r.reservation_id, 0)  # Extend: 0 means 900 too
    assert e.ttl_seconds == 900, e
    assert t0 + 900_000 - 1000 <= e.expires_at_unix_ms <= now_ms() + 900_000 + 1000, e
    e = extend(reservations, r.reservation_id, 604_800)
    assert e.ttl_seconds == 604_800
    long_id = ("r" * 128)[:-12] + uid("")[1:]
    assert len(long_id) == 128
    r = reserve(reservations, long_id, [line(sku, 1, location=loc)], reference="é" * 128)
    assert r.reference == "é" * 128
    r = reserve(reservations, uid("two-targets"), [line(sku, 1, location=loc), line(sku, 1, location=other)])
    assert alloc_summary(r) == [[(loc, 1, 0, 0)], [(other, 1, 0, 0)]]
    many = [uid("m") for _ in range(1000)]
    apply_events(ingest, [(loc, m, RECEIPT, 1) for m in many])
    r = reserve(reservations, uid("many"), [line(m, 1, location=loc) for m in many])
    assert [ln.allocated for ln in r.lines] == [1] * 1000
    r = reserve(reservations, uid("huge"), [line(sku, 1_000_000_000, location=other)], allow_partial=True)
    assert r.partial and alloc_summary(r) == [[(other, 9, 0, 0)]], r  # 10 - the 1 above
    assert position(avail, sku, other, min_lsn=r.lsn) == (10, 10, 0)


def test_not_found(reservations, admin, ingest, avail, loc):
    sku = uid("sku")
    stock(ingest, loc, {sku: 5})
    grp = declare_group(admin, uid("grp"), [loc])
    for lines, what in (([line(sku, 1, location=uid("nowhere"))], "location"),
                        ([line(sku, 1, group=uid("nogroup"))], "group"),
                        ([line(sku, 1, location=loc), line(sku, 1, group=uid("nogroup"))], "group")):
        rid = uid("nf")
        details = expect_error(reservations.Reserve, reserve_request(rid, lines), NOT_FOUND)
        assert what in details, details
        expect_error(reservations.GetReservation, rs_pb2.GetReservationRequest(reservation_id=rid), NOT_FOUND)
    assert position(avail, sku, loc) == (5, 0, 5)
    unknown = uid("unknown")
    expect_error(reservations.GetReservation, rs_pb2.GetReservationRequest(reservation_id=unknown), NOT_FOUND)
    expect_error(reservations.Extend, rs_pb2.ExtendRequest(reservation_id=unknown, ttl_seconds=60), NOT_FOUND)
    expect_error(reservations.Commit, rs_pb2.CommitRequest(reservation_id=unknown), NOT_FOUND)
    expect_error(reservations.Commit, rs_pb2.CommitRequest(reservation_id=unknown, lines=[commit_line(0, 1)]),
                 NOT_FOUND)
    expect_error(reservations.Release, rs_pb2.ReleaseRequest(reservation_id=unknown), NOT_FOUND)
    # A declared group is found (the group line works).
    r = reserve(reservations, uid("found"), [line(sku, 1, group=grp)])
    assert alloc_summary(r) == [[(loc, 1, 0, 0)]]


def test_other_calls_invalid_arguments_change_nothing(reservations, ingest, avail, loc):
    sku = uid("sku")
    stock(ingest, loc, {sku: 10})
    rid = uid("r")
    r = reserve(reservations, rid, [line(sku, 3, location=loc)], ttl=LONG_TTL)
    for bad in ("", "bad id", "r" * 129):
        expect_error(reservations.GetReservation, rs_pb2.GetReservationRequest(reservation_id=bad), INVALID)
        expect_error(reservations.Extend, rs_pb2.ExtendRequest(reservation_id=bad, ttl_seconds=60), INVALID)
        expect_error(reservations.Commit, rs_pb2.CommitRequest(reservation_id=bad), INVALID)
        expect_error(reservations.Release, rs_pb2.ReleaseRequest(reservation_id=bad), INVALID)
    expect_error(reservations.Extend, rs_pb2.ExtendRequest(reservation_id=rid, ttl_seconds=604_801), INVALID)
    for lines in ([commit_line(1, 1)],                    # no line 1
                  [commit_line(0, 1, uid("elsewhere"))],  # location not in the line's allocations
                  [commit_line(0, 4)],                    # beyond the allocation (3)
                  [commit_line(0, -1)]):
        expect_error(reservations.Commit, rs_pb2.CommitRequest(reservation_id=rid, lines=lines), INVALID)
    assert get_res(reservations, rid) == r
    assert position(avail, sku, loc) == (10, 3, 7)


# --------------------------------------------------------------------------
# all-or-nothing, idempotency, partial, groups, safety stock, commits


def test_all_or_nothing_names_short_lines_and_records_nothing(reservations, admin, ingest, avail, loc):
    a, b, c = uid("a"), uid("b"), uid("c")
    stock(ingest, loc, {a: 5, b: 1, c: 2})
    rid = uid("aon")
    details = expect_error(reservations.Reserve, reserve_request(
        rid, [line(a, 5, location=loc), line(b, 2, location=loc), line(c, 3, location=loc)]), PRECONDITION)
    assert "line 1" in details and "line 2" in details and "line 0" not in details, details
    expect_error(reservations.GetReservation, rs_pb2.GetReservationRequest(reservation_id=rid), NOT_FOUND)
    for sku, q in ((a, 5), (b, 1), (c, 2)):
        assert position(avail, sku, loc) == (q, 0, q)
    # The same id may be retried once there is stock.
    stock(ingest, loc, {b: 1, c: 1})
    r = reserve(reservations, rid,
                [line(a, 5, location=loc), line(b, 2, location=loc), line(c, 3, location=loc)])
    assert not r.partial and alloc_summary(r) == [[(loc, 5, 0, 0)], [(loc, 2, 0, 0)], [(loc, 3, 0, 0)]]
    # Lines of one request sharing a position see each other: 2 + 2 of 3 at two targets of one
    # location is impossible; at the location and a group of it too.
    d = uid("d")
    stock(ingest, loc, {d: 3})
    grp = declare_group(admin, uid("grp"), [loc])
    details = expect_error(reservations.Reserve, reserve_request(
        uid("shared"), [line(d, 2, location=loc), line(d, 2, group=grp)]), PRECONDITION)
    assert "line 1" in details, details
    assert position(avail, d, loc) == (3, 0, 3)


def test_replay_and_already_exists(reservations, ingest, avail, loc):
    sku = uid("sku")
    stock(ingest, loc, {sku: 10})
    rid = uid("idem")
    request = reserve_request(rid, [line(sku, 2, location=loc)], ttl=600, reference="order-1")
    first = reservations.Reserve(request, timeout=RPC_TIMEOUT)
    assert not first.replayed
    again = reservations.Reserve(request, timeout=RPC_TIMEOUT)
    assert again.replayed and again.reservation == first.reservation
    assert position(avail, sku, loc, min_lsn=first.reservation.lsn) == (10, 2, 8)
    variants = {
        "quantity": reserve_request(rid, [line(sku, 3, location=loc)], ttl=600, reference="order-1"),
        "reference": reserve_request(rid, [line(sku, 2, location=loc)], ttl=600, reference="order-2"),
        "allow_partial": reserve_request(rid, [line(sku, 2, location=loc)], ttl=600, reference="order-1",
                                         allow_partial=True),
        "sku": reserve_request(rid, [line(uid("sku"), 2, location=loc)], ttl=600, reference="order-1"),
        "extra line": reserve_request(rid, [line(sku, 2, location=loc), line(uid("s"), 1, location=loc)],
                                      ttl=600, reference="order-1"),
    }
    for what, variant in variants.items():
        details = expect_error(reservations.Reserve, variant, EXISTS)
        assert rid in details, (what, details)
    assert get_res(reservations, rid) == first.reservation
    assert position(avail, sku, loc) == (10, 2, 8)
    # The TTL is not part of the compared content: a retry with another TTL replays.
    other_ttl = reserve_request(rid, [line(sku, 2, location=loc)], ttl=601, reference="order-1")
    replay = reservations.Reserve(other_ttl, timeout=RPC_TIMEOUT)
    assert replay.replayed and replay.reservation == first.reservation
    # Replays after a state change answer the current state.
    released = release(reservations, rid)
    again = reservations.Reserve(request, timeout=RPC_TIMEOUT)
    assert again.replayed and again.reservation == released and released.state == RELEASED
    assert position(avail, sku, loc, min_lsn=released.lsn) == (10, 0, 10)


def test_allow_partial_allocations_exact(reservations, ingest, avail, loc):
    a, b, c = uid("a"), uid("b"), uid("c")
    stock(ingest, loc, {a: 3, c: 4})
    rid = uid("partial")
    r = reserve(reservations, rid,
                [line(a, 5, location=loc), line(b, 2, location=loc), line(c, 4, location=loc)],
                allow_partial=True)
    check_consistent(r)
    assert r.allow_partial and r.partial
    assert alloc_summary(r) == [[(loc, 3, 0, 0)], [], [(loc, 4, 0, 0)]]
    assert [(ln.allocated, ln.held) for ln in r.lines] == [(3, 3), (0, 0), (4, 4)]
    assert position(avail, a, loc, min_lsn=r.lsn) == (3, 3, 0)
    assert position(avail, c, loc, min_lsn=r.lsn) == (4, 4, 0)
    # Nothing at all available: refused even with allow_partial, nothing recorded.
    rid2 = uid("partial-none")
    details = expect_error(reservations.Reserve, reserve_request(
        rid2, [line(a, 1, location=loc), line(b, 1, location=loc)], allow_partial=True), PRECONDITION)
    assert "line 0" in details and "line 1" in details, details
    expect_error(reservations.GetReservation, rs_pb2.GetReservationRequest(reservation_id=rid2), NOT_FOUND)
    # A partial reservation whose every line got everything is not partial.
    d = uid("d")
    stock(ingest, loc, {d: 2})
    r = reserve(reservations, uid("partial-full"), [line(d, 2, location=loc)], allow_partial=True)
    assert not r.partial and alloc_summary(r) == [[(loc, 2, 0, 0)]]
    # Committing a partial reservation commits what it holds; the empty line has nothing.
    done = commit(reservations, rid)
    assert done.state == COMMITTED and alloc_summary(done) == [[(loc, 3, 3, 0)], [], [(loc, 4, 4, 0)]]
    assert position(avail, a, loc, min_lsn=done.lsn) == (0, 0, 0)


def test_group_allocation_priority_then_split_exact(reservations, admin, ingest, avail):
    m1, m2, m3 = (declare_location(admin, uid(f"gm{i}")) for i in range(3))
    grp = declare_group(admin, uid("gsplit"), [m1, m2, m3])
    sku = uid("sku")
    stock(ingest, m1, {sku: 2})
    stock(ingest, m2, {sku: 5})
    stock(ingest, m3, {sku: 3})

    def step(qty, expected, item=None, **kw):
        r = reserve(reservations, uid("g"), [line(item or sku, qty, group=grp)], **kw)
        check_consistent(r)
        assert alloc_summary(r) == [[(m, q, 0, 0) for m, q in expected]], r
        return r

    step(2, [(m1, 2)])            # the first member that can hold it all, in priority order
    step(4, [(m2, 4)])            # m1 is empty now: m2 holds all 4
    r = step(3, [(m3, 3)])        # left m2 1, m3 3 -> m3 holds all 3
    assert position(avail, sku, m1, min_lsn=r.lsn) == (2, 2, 0)
    stock(ingest, m1, {sku: 2})   # left m1 2, m2 1, m3 0
    r = step(3, [(m1, 2), (m2, 1)])  # nobody holds 3: split, most available first
    g = get_group(avail, sku, grp, min_lsn=r.lsn)
    assert (g.on_hand, g.reserved, g.available) == (12, 12, 0), g

    # Split order: most available first, ties in priority order; with allow_partial the whole
    # group is drained when it is short.
    sku2 = uid("sku2")
    stock(ingest, m1, {sku2: 1})
    stock(ingest, m2, {sku2: 3})
    stock(ingest, m3, {sku2: 3})
    step(6, [(m2, 3), (m3, 3)], sku2)
    r = step(4, [(m1, 1)], sku2, allow_partial=True)
    assert r.partial and r.lines[0].allocated == 1

    # Commit a split line: each member's on_hand goes down by its allocation.
    sku3 = uid("sku3")
    stock(ingest, m1, {sku3: 1})
    stock(ingest, m2, {sku3: 2})
    stock(ingest, m3, {sku3: 2})
    r = step(5, [(m2, 2), (m3, 2), (m1, 1)], sku3)
    done = commit(reservations, r.reservation_id)
    assert done.state == COMMITTED and alloc_summary(done) == [[(m2, 2, 2, 0), (m3, 2, 2, 0), (m1, 1, 1, 0)]]
    for m in (m1, m2, m3):
        assert position(avail, sku3, m, min_lsn=done.lsn) == (0, 0, 0)


def test_group_skips_inactive_members(reservations, admin, ingest, avail):
    m1, m2 = declare_location(admin, uid("ia1")), declare_location(admin, uid("ia2"))
    grp = declare_group(admin, uid("ig"), [m1, m2])
    sku = uid("sku")
    stock(ingest, m1, {sku: 5})
    stock(ingest, m2, {sku: 5})
    update_location(admin, m1, active=False)
    r = reserve(reservations, uid("ia"), [line(sku, 3, group=grp)])
    assert alloc_summary(r) == [[(m2, 3, 0, 0)]], r
    details = expect_error(reservations.Reserve, reserve_request(uid("ia"), [line(sku, 1, location=m1)]),
                           PRECONDITION)
    assert "line 0" in details
    assert position(avail, sku, m1)[:2] == (5, 0)


def test_sales_below_reserved_keep_available_at_zero(reservations, ingest, avail, loc):
    """Sales may eat reserved stock (the shelf is the truth): available stays 0, never negative,
    nothing more can be reserved, and committing the reservation takes on_hand below zero."""
    sku = uid("sku")
    stock(ingest, loc, {sku: 5})
    rid = uid("eaten")
    reserve(reservations, rid, [line(sku, 3, location=loc)])
    apply_events(ingest, [(loc, sku, SALE, 4)])
    assert position(avail, sku, loc) == (1, 3, 0)
    for partial in (False, True):
        expect_error(reservations.Reserve, reserve_request(
            uid("more"), [line(sku, 1, location=loc)], allow_partial=partial), PRECONDITION)
    r = commit(reservations, rid)
    assert r.state == COMMITTED
    assert position(avail, sku, loc, min_lsn=r.lsn) == (-2, 0, 0)


def test_safety_stock_limits_reservations(reservations, admin, ingest, avail):
    loc = declare_location(admin, uid("safe"), default_safety_stock=2)
    sku = uid("sku")
    stock(ingest, loc, {sku: 5})
    expect_error(reservations.Reserve, reserve_request(uid("s"), [line(sku, 4, location=loc)]), PRECONDITION)
    r = reserve(reservations, uid("s"), [line(sku, 2, location=loc)])
    p = get(avail, sku, loc, min_lsn=r.lsn)
    assert (p.on_hand, p.reserved, p.safety_stock, p.available) == (5, 2, 2, 1)
    r = reserve(reservations, uid("s"), [line(sku, 3, location=loc)], allow_partial=True)
    assert alloc_summary(r) == [[(loc, 1, 0, 0)]]
    p = get(avail, sku, loc, min_lsn=r.lsn)
    assert (p.reserved, p.available) == (3, 0)


def test_partial_commit_then_release_or_commit_remainder(reservations, ingest, avail, loc):
    sku, other = uid("sku"), uid("other")
    stock(ingest, loc, {sku: 10, other: 10})
    # Partial commit, then Release: the committed units stay committed, the rest goes back;
    # RELEASED ("after a partial commit the remainder was released").
    rid = uid("pc")
    reserve(reservations, rid, [line(sku, 5, location=loc), line(other, 2, location=loc)])
    r = commit(reservations, rid, [commit_line(0, 2)])
    assert r.state == ACTIVE and alloc_summary(r) == [[(loc, 5, 2, 0)], [(loc, 2, 0, 0)]], r
    assert position(avail, sku, loc, min_lsn=r.lsn) == (8, 3, 5)
    assert extend(reservations, rid, 60).state == ACTIVE  # still ACTIVE, may be extended
    r = release(reservations, rid)
    assert r.state == RELEASED and alloc_summary(r) == [[(loc, 5, 2, 3)], [(loc, 2, 0, 2)]], r
    check_consistent(r)
    assert position(avail, sku, loc, min_lsn=r.lsn) == (8, 0, 8)
    assert position(avail, other, loc, min_lsn=r.lsn) == (10, 0, 10)
    assert release(reservations, rid) == r  # releasing again: unchanged
    expect_error(reservations.Commit, rs_pb2.CommitRequest(reservation_id=rid), PRECONDITION)

    # Partial commit with release_remainder: COMMITTED, the rest released.
    rid = uid("pc-rr")
    reserve(reservations, rid, [line(sku, 4, location=loc), line(other, 3, location=loc)])
    r = commit(reservations, rid, [commit_line(1, 1)], release_remainder=True)
    assert r.state == COMMITTED and alloc_summary(r) == [[(loc, 4, 0, 4)], [(loc, 3, 1, 2)]], r
    check_consistent(r)
    assert position(avail, sku, loc, min_lsn=r.lsn) == (8, 0, 8)
    assert position(avail, other, loc, min_lsn=r.lsn) == (9, 0, 9)
    expect_error(reservations.Release, rs_pb2.ReleaseRequest(reservation_id=rid), PRECONDITION)
    assert commit(reservations, rid) == r  # committing a COMMITTED one is a no-op

    # Commit without lines after a partial commit: commits everything still held.
    rid = uid("pc-all")
    reserve(reservations, rid, [line(sku, 3, location=loc)])
    commit(reservations, rid, [commit_line(0, 1)])
    r = commit(reservations, rid)
    assert r.state == COMMITTED and alloc_summary(r) == [[(loc, 3, 3, 0)]], r
    assert position(avail, sku, loc, min_lsn=r.lsn) == (5, 0, 5)


def test_commit_line_quantity_is_cumulative(reservations, ingest, avail, loc):
    sku = uid("sku")
    stock(ingest, loc, {sku: 10})
    rid = uid("cum")
    reserve(reservations, rid, [line(sku, 5, location=loc)])
    first = commit(reservations, rid, [commit_line(0, 2)])
    assert alloc_summary(first) == [[(loc, 5, 2, 0)]]
    again = commit(reservations, rid, [commit_line(0, 2)])  # a retry: must be a no-op
    assert alloc_summary(again) == [[(loc, 5, 2, 0)]], again
    assert position(avail, sku, loc, min_lsn=again.lsn) == (8, 3, 5)


def test_commit_line_quantity_up_to_the_allocation(reservations, ingest, avail, loc):
    sku = uid("sku")
    stock(ingest, loc, {sku: 10})
    rid = uid("cum4")
    reserve(reservations, rid, [line(sku, 5, location=loc)])
    commit(reservations, rid, [commit_line(0, 2)])
    r = commit(reservations, rid, [commit_line(0, 4)])
    assert alloc_summary(r) == [[(loc, 5, 4, 0)]], r
    assert position(avail, sku, loc, min_lsn=r.lsn) == (6, 1, 5)


def test_commit_line_quantity_zero_commits_everything_held(reservations, ingest, avail, loc):
    sku, other = uid("sku"), uid("other")
    stock(ingest, loc, {sku: 10, other: 10})
    rid = uid("zero")
    reserve(reservations, rid, [line(sku, 3, location=loc), line(other, 2, location=loc)])
    r = commit(reservations, rid, [commit_line(0, 0)])
    assert r.state == ACTIVE and alloc_summary(r) == [[(loc, 3, 3, 0)], [(loc, 2, 0, 0)]], r


def test_commit_line_without_location_on_split_line(reservations, admin, ingest, avail):
    m1, m2 = declare_location(admin, uid("sl1")), declare_location(admin, uid("sl2"))
    grp = declare_group(admin, uid("slg"), [m1, m2])
    sku = uid("sku")
    stock(ingest, m1, {sku: 2})
    stock(ingest, m2, {sku: 3})
    rid = uid("split")
    r = reserve(reservations, rid, [line(sku, 5, group=grp)])
    assert alloc_summary(r) == [[(m2, 3, 0, 0), (m1, 2, 0, 0)]]
    r = commit(reservations, rid, [commit_line(0, 4)])  # 4 of the line: m2's 3, then 1 of m1
    assert alloc_summary(r) == [[(m2, 3, 3, 0), (m1, 2, 1, 0)]], r


def test_commit_line_by_location_on_split_line(reservations, admin, ingest, avail):
    m1, m2 = declare_location(admin, uid("bl1")), declare_location(admin, uid("bl2"))
    grp = declare_group(admin, uid("blg"), [m1, m2])
    sku = uid("sku")
    stock(ingest, m1, {sku: 2})
    stock(ingest, m2, {sku: 3})
    rid = uid("bysplit")
    r = reserve(reservations, rid, [line(sku, 5, group=grp)])
    assert alloc_summary(r) == [[(m2, 3, 0, 0), (m1, 2, 0, 0)]]
    expect_error(reservations.Commit, rs_pb2.CommitRequest(
        reservation_id=rid, lines=[commit_line(0, 3, m1)]), INVALID)  # m1 holds 2
    r = commit(reservations, rid, [commit_line(0, 1, m1)])
    assert r.state == ACTIVE and alloc_summary(r) == [[(m2, 3, 0, 0), (m1, 2, 1, 0)]], r
    assert position(avail, sku, m1, min_lsn=r.lsn) == (1, 1, 0)
    assert position(avail, sku, m2, min_lsn=r.lsn) == (3, 3, 0)


def _all_short_request(loc, n):
    """A Reserve of ``n`` lines of never-stocked SKUs: every line is short."""
    return reserve_request(uid("short"), [line(uid("never"), 1, location=loc) for _ in range(n)])


def test_refusal_of_many_short_lines_is_readable(reservations, loc):
    got, details, _ = status_of(reservations.Reserve, _all_short_request(loc, 300))
    assert got == PRECONDITION, f"{got.name}: {details[:200]!r}"


def test_refusal_of_1000_short_lines_is_answered(reservations, loc):
    request = _all_short_request(loc, 1000)
    try:
        reservations.Reserve(request, timeout=3)
        code = OK
    except grpc.RpcError as e:
        code = e.code()
    assert code not in (OK, grpc.StatusCode.DEADLINE_EXCEEDED), "no answer within 3 s"
    assert code == PRECONDITION, code
