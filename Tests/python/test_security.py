"""Security over the real server, with Python grpcio over TLS (issue 8).

* The auth matrix: every role x every RPC, plus no token and an unknown token: a role gets
  PERMISSION_DENIED exactly for the methods it may not call, everyone else UNAUTHENTICATED, and
  health checks need no token.
* Location scope: a POS token writes only its own locations, per event (the rest of the batch
  applies; the refused event leaves no trace at the other location); a sync token's snapshot of
  another location is refused whole.
* Mutual TLS: no client certificate, or one from another CA, cannot connect.
* SIGHUP reloads tokens and the certificate; open connections keep working.
* Limits: a token's calls per second, connections per server, and calls per connection.
* Safe defaults: a non-loopback address without tokens is refused before anything is bound.

Certificates and tokens are made fresh for the run (``openssl`` and ``omnistock token create``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import grpc
import pytest

from conftest import CHANNEL_OPTIONS, HOST, server_binary
from omnistock_helpers import event, now_ms, uid

from omnistock.v1 import (  # noqa: E402  (generated at session start)
    admin_pb2, admin_pb2_grpc, availability_pb2, availability_pb2_grpc, common_pb2, ingest_pb2,
    ingest_pb2_grpc, reservations_pb2, reservations_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

OWN = "sec-own"
OTHER = "sec-other"
TIMEOUT = 10


# --- certificates and tokens ---------------------------------------------------------------

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
             cwd=directory)


def _make_leaf(directory, name, ca, server):
    ext = f"{name}.ext"
    with open(os.path.join(directory, ext), "w") as f:
        if server:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext, cwd=directory)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1, a second server certificate (for reload), a
    client certificate from the CA, and one from an unrelated CA."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates (apt-get install openssl)")
    d = str(tmp_path_factory.mktemp("pki"))
    _make_ca(d, "ca")
    _make_ca(d, "rogue-ca")
    _make_leaf(d, "server", "ca", server=True)
    _make_leaf(d, "server2", "ca", server=True)
    _make_leaf(d, "client", "ca", server=False)
    _make_leaf(d, "rogue-client", "rogue-ca", server=False)
    return d


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def make_token(name, role, locations=(), calls_per_second=None):
    """A new token and its tokens-file entry, from ``omnistock token create``."""
    cmd = [server_binary(), "token", "create", "--name", name, "--role", role]
    if locations:
        cmd += ["--locations", ",".join(locations)]
    if calls_per_second:
        cmd += ["--calls-per-second", str(calls_per_second)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    token = next(line.split(": ", 1)[1] for line in out if line.startswith("token: "))
    entry = json.loads(next(line.split(": ", 1)[1] for line in out if line.startswith("entry: ")))
    assert entry["sha256"] != token and token not in json.dumps(entry), "the entry must not hold the secret"
    return token, entry


def write_tokens(path, entries):
    with open(path, "w") as f:
        json.dump({"tokens": entries}, f)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    made = {
        "admin": make_token("ops", "admin"),
        "pos": make_token("own-pos", "pos", [OWN]),
        "sync": make_token("own-wms", "sync", [OWN]),
        "storefront": make_token("web", "storefront"),
        "oms": make_token("orders", "oms"),
        "limited": make_token("slow", "storefront", calls_per_second=3),
    }
    path = str(tmp_path_factory.mktemp("tokens") / "tokens.json")
    write_tokens(path, [entry for _, entry in made.values()])
    return {"path": path, **{role: token for role, (token, _) in made.items()}}


@pytest.fixture(scope="module")
def secure_server(server_factory, pki, tokens, tmp_path_factory):
    """A server with TLS and tokens; its certificate files are copies the reload test may swap."""
    d = str(tmp_path_factory.mktemp("served-cert"))
    shutil.copy(os.path.join(pki, "server.pem"), os.path.join(d, "cert.pem"))
    shutil.copy(os.path.join(pki, "server.key"), os.path.join(d, "key.pem"))
    srv = server_factory(["--tls-cert", os.path.join(d, "cert.pem"), "--tls-key", os.path.join(d, "key.pem"),
                          "--tokens", tokens["path"]])
    srv.cert_dir = d
    with secure_channel(srv, pki) as ch:
        admin = admin_pb2_grpc.AdminStub(ch)
        for location in (OWN, OTHER):
            request = admin_pb2.UpsertLocationRequest()
            request.location.location_id = location
            request.location.kind = common_pb2.LOCATION_KIND_STORE
            request.location.active = True
            admin.UpsertLocation(request, metadata=bearer(tokens["admin"]), timeout=TIMEOUT)
        admin.UpsertGroup(admin_pb2.UpsertGroupRequest(group=admin_pb2.LocationGroup(group_id="sec-group", location_ids=[OWN])),
                          metadata=bearer(tokens["admin"]), timeout=TIMEOUT)
    return srv


def secure_channel(srv, pki, client=None):
    key = cert = None
    if client:
        key, cert = _read(os.path.join(pki, f"{client}.key")), _read(os.path.join(pki, f"{client}.pem"))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(os.path.join(pki, "ca.pem")), private_key=key, certificate_chain=cert)
    return grpc.secure_channel(srv.address, credentials, options=CHANNEL_OPTIONS)


def bearer(token):
    return [("authorization", f"Bearer {token}")]


# --- the matrix ----------------------------------------------------------------------------

def _stream_events(stub, metadata):
    batch = ingest_pb2.EventBatch(events=[event(uid("dev"), 1, OWN, uid("sku"), ingest_pb2.EVENT_TYPE_RECEIPT, 1)])
    return next(stub.StreamEvents(iter([batch]), metadata=metadata, timeout=TIMEOUT))


def _snapshot(stub, metadata):
    chunk = ingest_pb2.SnapshotChunk(snapshot_id=uid("snap"), location_id=OWN, as_of_unix_ms=now_ms(),
                                     mode=ingest_pb2.SNAPSHOT_MODE_UPSERT,
                                     entries=[ingest_pb2.SnapshotEntry(sku=uid("sku"), on_hand=5)])
    return stub.SyncSnapshot(iter([chunk]), metadata=metadata, timeout=TIMEOUT)


def _watch(stub, metadata):
    request = availability_pb2.WatchAvailabilityRequest(
        filter=availability_pb2.WatchFilter(skus=["W1"], location_ids=[OWN]), skip_initial_state=True)
    calls = stub.WatchAvailability(request, metadata=metadata, timeout=TIMEOUT)
    try:
        return next(calls)  # the INITIAL_STATE_COMPLETE marker
    finally:
        calls.cancel()


def _query():
    return availability_pb2.AvailabilityQuery(sku="M1", location_id=OWN)


# (service stub class, method, call) for every RPC of the contract.
RPCS = [
    ("Availability", "GetAvailability", lambda s, m: s.GetAvailability(
        availability_pb2.GetAvailabilityRequest(query=_query()), metadata=m, timeout=TIMEOUT)),
    ("Availability", "BatchGetAvailability", lambda s, m: s.BatchGetAvailability(
        availability_pb2.BatchGetAvailabilityRequest(queries=[_query()]), metadata=m, timeout=TIMEOUT)),
    ("Availability", "WhereAvailable", lambda s, m: s.WhereAvailable(
        availability_pb2.WhereAvailableRequest(sku="M1", group_id="sec-group"), metadata=m, timeout=TIMEOUT)),
    ("Availability", "WatchAvailability", _watch),
    ("Ingest", "ApplyEvents", lambda s, m: s.ApplyEvents(ingest_pb2.EventBatch(
        events=[event(uid("dev"), 1, OWN, uid("sku"), ingest_pb2.EVENT_TYPE_RECEIPT, 1)]), metadata=m, timeout=TIMEOUT)),
    ("Ingest", "StreamEvents", _stream_events),
    ("Ingest", "SyncSnapshot", _snapshot),
    ("Reservations", "Reserve", lambda s, m: s.Reserve(reservations_pb2.ReserveRequest(
        reservation_id=uid("r"), lines=[reservations_pb2.ReservationLine(sku="M1", location_id=OWN, quantity=1)]),
        metadata=m, timeout=TIMEOUT)),
    ("Reservations", "Extend", lambda s, m: s.Extend(
        reservations_pb2.ExtendRequest(reservation_id=uid("r"), ttl_seconds=60), metadata=m, timeout=TIMEOUT)),
    ("Reservations", "Commit", lambda s, m: s.Commit(
        reservations_pb2.CommitRequest(reservation_id=uid("r")), metadata=m, timeout=TIMEOUT)),
    ("Reservations", "Release", lambda s, m: s.Release(
        reservations_pb2.ReleaseRequest(reservation_id=uid("r")), metadata=m, timeout=TIMEOUT)),
    ("Reservations", "GetReservation", lambda s, m: s.GetReservation(
        reservations_pb2.GetReservationRequest(reservation_id=uid("r")), metadata=m, timeout=TIMEOUT)),
    ("Admin", "UpsertLocation", lambda s, m: s.UpsertLocation(admin_pb2.UpsertLocationRequest(
        location=admin_pb2.Location(location_id=OWN, kind=common_pb2.LOCATION_KIND_STORE, active=True)),
        metadata=m, timeout=TIMEOUT)),
    ("Admin", "GetLocation", lambda s, m: s.GetLocation(
        admin_pb2.GetLocationRequest(location_id=OWN), metadata=m, timeout=TIMEOUT)),
    ("Admin", "ListLocations", lambda s, m: s.ListLocations(admin_pb2.ListLocationsRequest(), metadata=m, timeout=TIMEOUT)),
    ("Admin", "UpsertGroup", lambda s, m: s.UpsertGroup(admin_pb2.UpsertGroupRequest(
        group=admin_pb2.LocationGroup(group_id="sec-group", location_ids=[OWN])), metadata=m, timeout=TIMEOUT)),
    ("Admin", "ListGroups", lambda s, m: s.ListGroups(admin_pb2.ListGroupsRequest(), metadata=m, timeout=TIMEOUT)),
    ("Admin", "GetFreshness", lambda s, m: s.GetFreshness(admin_pb2.GetFreshnessRequest(), metadata=m, timeout=TIMEOUT)),
    ("Admin", "ListExceptions", lambda s, m: s.ListExceptions(admin_pb2.ListExceptionsRequest(), metadata=m, timeout=TIMEOUT)),
    ("Admin", "GetStats", lambda s, m: s.GetStats(admin_pb2.GetStatsRequest(), metadata=m, timeout=TIMEOUT)),
    ("Admin", "Checkpoint", lambda s, m: s.Checkpoint(admin_pb2.CheckpointRequest(), metadata=m, timeout=TIMEOUT)),
    ("Health", "Check", lambda s, m: s.Check(health_pb2.HealthCheckRequest(), metadata=m, timeout=TIMEOUT)),
]

# What each role may call (the README's table); health needs no token at all.
ALLOWED = {
    "admin": {"Availability", "Ingest", "Reservations", "Admin"},
    "pos": {"Ingest.ApplyEvents", "Ingest.StreamEvents"},
    "sync": {"Ingest.SyncSnapshot"},
    "storefront": {"Availability"},
    "oms": {"Availability", "Reservations"},
}
# What an allowed call may answer in this matrix: it ran (unknown reservations are NOT_FOUND;
# a reservation with no stock is FAILED_PRECONDITION).
RAN = {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}


def _stubs(ch):
    return {
        "Availability": availability_pb2_grpc.AvailabilityStub(ch),
        "Ingest": ingest_pb2_grpc.IngestStub(ch),
        "Reservations": reservations_pb2_grpc.ReservationsStub(ch),
        "Admin": admin_pb2_grpc.AdminStub(ch),
        "Health": health_pb2_grpc.HealthStub(ch),
    }


def _outcome(call, stub, metadata):
    try:
        call(stub, metadata)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


@pytest.mark.parametrize("caller", ["admin", "pos", "sync", "storefront", "oms", "none", "unknown"])
def test_auth_matrix(secure_server, pki, tokens, caller):
    metadata = {"none": [], "unknown": bearer("omst_not-a-token")}.get(caller)
    if metadata is None:
        metadata = bearer(tokens[caller])
    wrong = []
    with secure_channel(secure_server, pki) as ch:
        stubs = _stubs(ch)
        for service, method, call in RPCS:
            code, details = _outcome(call, stubs[service], metadata)
            if service == "Health":
                expected = {grpc.StatusCode.OK}
            elif caller in ("none", "unknown"):
                expected = {grpc.StatusCode.UNAUTHENTICATED}
            elif service in ALLOWED[caller] or f"{service}.{method}" in ALLOWED[caller]:
                expected = RAN
            else:
                expected = {grpc.StatusCode.PERMISSION_DENIED}
            if code not in expected:
                wrong.append(f"{service}.{method}: got {code.name} ({details!r}), expected {sorted(c.name for c in expected)}")
            elif code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                assert details, f"{service}.{method}: a refusal must say why"
    assert not wrong, f"caller {caller}:\n" + "\n".join(wrong)


def test_refusals_say_what_to_do(secure_server, pki, tokens):
    with secure_channel(secure_server, pki) as ch:
        stub = ingest_pb2_grpc.IngestStub(ch)
        batch = ingest_pb2.EventBatch(events=[event(uid("dev"), 1, OWN, "S", ingest_pb2.EVENT_TYPE_RECEIPT, 1)])
        with pytest.raises(grpc.RpcError) as missing:
            stub.ApplyEvents(batch, timeout=TIMEOUT)
        assert "authorization: Bearer" in missing.value.details()
        with pytest.raises(grpc.RpcError) as scheme:
            stub.ApplyEvents(batch, metadata=[("authorization", f"Basic {tokens['pos']}")], timeout=TIMEOUT)
        assert scheme.value.code() == grpc.StatusCode.UNAUTHENTICATED and "Bearer" in scheme.value.details()
        with pytest.raises(grpc.RpcError) as role:
            stub.ApplyEvents(batch, metadata=bearer(tokens["storefront"]), timeout=TIMEOUT)
        assert role.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "web" in role.value.details() and "storefront" in role.value.details() and "pos" in role.value.details()


# --- location scope ------------------------------------------------------------------------

def _on_hand(ch, token, sku, location):
    stub = availability_pb2_grpc.AvailabilityStub(ch)
    answer = stub.GetAvailability(availability_pb2.GetAvailabilityRequest(
        query=availability_pb2.AvailabilityQuery(sku=sku, location_id=location)), metadata=bearer(token), timeout=TIMEOUT)
    return answer.availability.on_hand


def _events_last_minute(ch, token, location):
    stub = admin_pb2_grpc.AdminStub(ch)
    report = stub.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[location]), metadata=bearer(token), timeout=TIMEOUT)
    return report.locations[0].events_last_minute


def test_pos_token_writes_only_its_locations_per_event(secure_server, pki, tokens):
    sku, device = uid("sku"), uid("pos")
    with secure_channel(secure_server, pki) as ch:
        before_other = _events_last_minute(ch, tokens["admin"], OTHER)
        stub = ingest_pb2_grpc.IngestStub(ch)
        batch = ingest_pb2.EventBatch(events=[
            event(device, 1, OWN, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 7),
            event(device, 2, OTHER, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 5),
            event(device, 3, OWN, sku, ingest_pb2.EVENT_TYPE_SALE, 2),
        ])
        ack = stub.ApplyEvents(batch, metadata=bearer(tokens["pos"]), timeout=TIMEOUT)
        assert (ack.received, ack.applied, ack.rejected) == (3, 2, 1)
        refused = [o for o in ack.outcomes if o.kind == ingest_pb2.OUTCOME_KIND_REJECTED]
        assert len(refused) == 1 and refused[0].index == 1
        assert refused[0].code == grpc.StatusCode.PERMISSION_DENIED.value[0]
        assert OTHER in refused[0].reason and "own-pos" in refused[0].reason
        assert _on_hand(ch, tokens["admin"], sku, OWN) == 5
        assert _on_hand(ch, tokens["admin"], sku, OTHER) == 0
        # The refused event left no trace at the other location: its freshness did not move.
        assert _events_last_minute(ch, tokens["admin"], OTHER) == before_other
        # The same on a stream.
        streamed = ingest_pb2.EventBatch(events=[event(device, 4, OTHER, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 1)])
        ack = next(stub.StreamEvents(iter([streamed]), metadata=bearer(tokens["pos"]), timeout=TIMEOUT))
        assert (ack.applied, ack.rejected) == (0, 1)
        assert _on_hand(ch, tokens["admin"], sku, OTHER) == 0


def test_sync_token_snapshot_of_another_location_is_refused_whole(secure_server, pki, tokens):
    sku = uid("sku")
    with secure_channel(secure_server, pki) as ch:
        stub = ingest_pb2_grpc.IngestStub(ch)
        chunks = [
            ingest_pb2.SnapshotChunk(snapshot_id=uid("snap"), location_id=OTHER, as_of_unix_ms=now_ms(),
                                     mode=ingest_pb2.SNAPSHOT_MODE_UPSERT,
                                     entries=[ingest_pb2.SnapshotEntry(sku=sku, on_hand=9)]),
        ]
        with pytest.raises(grpc.RpcError) as refused:
            stub.SyncSnapshot(iter(chunks), metadata=bearer(tokens["sync"]), timeout=TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert OTHER in refused.value.details()
        assert _on_hand(ch, tokens["admin"], sku, OTHER) == 0


# --- mutual TLS ----------------------------------------------------------------------------

def test_mutual_tls_requires_a_certificate_from_the_client_ca(server_factory, pki, tokens):
    srv = server_factory(["--tls-cert", os.path.join(pki, "server.pem"), "--tls-key", os.path.join(pki, "server.key"),
                          "--tls-client-ca", os.path.join(pki, "ca.pem"), "--tokens", tokens["path"]])
    request = health_pb2.HealthCheckRequest()
    with secure_channel(srv, pki, client="client") as ch:
        assert health_pb2_grpc.HealthStub(ch).Check(request, timeout=TIMEOUT).status == health_pb2.HealthCheckResponse.SERVING
    for client in (None, "rogue-client"):
        with secure_channel(srv, pki, client=client) as ch:
            with pytest.raises(grpc.RpcError) as refused:
                health_pb2_grpc.HealthStub(ch).Check(request, timeout=TIMEOUT)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, client
    srv.stop()


def test_plaintext_client_cannot_talk_to_a_tls_server(secure_server):
    with grpc.insecure_channel(secure_server.address, options=CHANNEL_OPTIONS) as ch:
        with pytest.raises(grpc.RpcError) as refused:
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


# --- reload on SIGHUP ----------------------------------------------------------------------

def _served_certificate(srv):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((HOST, srv.port), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw) as tls:
            assert tls.selected_alpn_protocol() == "h2"
            return tls.getpeercert(binary_form=True)


def _wait_for(predicate, what, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_sighup_reloads_tokens_and_certificate_without_dropping_connections(server_factory, pki, tmp_path):
    old, old_entry = make_token("old-web", "storefront")
    new, new_entry = make_token("new-web", "storefront")
    tokens_path = str(tmp_path / "tokens.json")
    write_tokens(tokens_path, [old_entry])
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    shutil.copy(os.path.join(pki, "server.pem"), cert)
    shutil.copy(os.path.join(pki, "server.key"), key)
    srv = server_factory(["--tls-cert", cert, "--tls-key", key, "--tokens", tokens_path])
    first_certificate = _served_certificate(srv)
    request = availability_pb2.GetAvailabilityRequest(query=availability_pb2.AvailabilityQuery(sku="S", location_id="nowhere"))

    def status(ch, token):
        try:
            availability_pb2_grpc.AvailabilityStub(ch).GetAvailability(request, metadata=bearer(token), timeout=TIMEOUT)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()

    with secure_channel(srv, pki) as open_channel:
        assert status(open_channel, old) == grpc.StatusCode.NOT_FOUND  # ran: the location is unknown
        assert status(open_channel, new) == grpc.StatusCode.UNAUTHENTICATED
        write_tokens(tokens_path, [new_entry])
        shutil.copy(os.path.join(pki, "server2.pem"), cert)
        shutil.copy(os.path.join(pki, "server2.key"), key)
        srv.proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: status(open_channel, old) == grpc.StatusCode.UNAUTHENTICATED, "the old token to be revoked")
        # The connection opened before the reload still serves calls.
        assert status(open_channel, new) == grpc.StatusCode.NOT_FOUND
        assert _served_certificate(srv) != first_certificate
        # A broken tokens file changes nothing.
        with open(tokens_path, "w") as f:
            f.write("{not json")
        srv.proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: "tokens reload failed" in srv.stderr_tail(20000), "the reload failure to be logged")
        assert status(open_channel, new) == grpc.StatusCode.NOT_FOUND
    srv.stop()


# --- limits --------------------------------------------------------------------------------

def test_token_rate_limit_is_resource_exhausted(secure_server, pki, tokens):
    request = availability_pb2.GetAvailabilityRequest(query=_query())
    codes = []
    with secure_channel(secure_server, pki) as ch:
        stub = availability_pb2_grpc.AvailabilityStub(ch)
        for _ in range(10):  # a burst of 10 against a limit of 3 per second (3 in the bucket)
            try:
                stub.GetAvailability(request, metadata=bearer(tokens["limited"]), timeout=TIMEOUT)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as e:
                codes.append(e.code())
                if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    assert "slow" in e.details() and "calls per second" in e.details()
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 6, codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes


def _frames_until_close(port, send=b""):
    """Sends the HTTP/2 client preface, an empty SETTINGS frame and `send`, then reads frames
    until the server closes the connection: [(type, flags, payload)]."""
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as raw:
        raw.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + send)
        received = b""
        raw.settimeout(10)
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            received += chunk
    frames = []
    while len(received) >= 9:
        length = int.from_bytes(received[:3], "big")
        frames.append((received[3], received[4], received[9:9 + length]))
        received = received[9 + length:]
    return frames


def _goaway(frames):
    """(error code, debug text) of the first GOAWAY frame."""
    payloads = [payload for kind, _, payload in frames if kind == 0x7]
    assert payloads, f"expected GOAWAY before close, got frame types {[k for k, _, _ in frames]}"
    return int.from_bytes(payloads[0][4:8], "big"), payloads[0][8:].decode()


def test_connections_beyond_the_limit_are_turned_away(server_factory):
    srv = server_factory(["--max-connections", "2"])
    request = health_pb2.HealthCheckRequest()
    channels = [grpc.insecure_channel(srv.address, options=CHANNEL_OPTIONS + [("grpc.use_local_subchannel_pool", 1)])
                for _ in range(2)]
    try:
        for ch in channels:
            health_pb2_grpc.HealthStub(ch).Check(request, timeout=TIMEOUT)
        code, reason = _goaway(_frames_until_close(srv.port))
        assert code == 0xB and "too many connections" in reason  # ENHANCE_YOUR_CALM
        # The admitted connections keep working.
        for ch in channels:
            health_pb2_grpc.HealthStub(ch).Check(request, timeout=TIMEOUT)
    finally:
        for ch in channels:
            ch.close()
    srv.stop()


def test_calls_per_connection_limit(server_factory):
    srv = server_factory(["--max-calls-per-second-per-connection", "5"])
    codes = []
    with srv.channel() as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for _ in range(15):
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as e:
                codes.append(e.code())
                assert "calls per second" in e.details()
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 8, codes
    srv.stop()


def test_idle_connection_gets_goaway(server_factory):
    srv = server_factory(["--idle-timeout-seconds", "1"])
    code, _ = _goaway(_frames_until_close(srv.port))
    assert code == 0  # NO_ERROR: a graceful close the client may simply reconnect after
    srv.stop()


def test_calls_keep_a_connection_from_going_idle(server_factory):
    """The idle clock restarts whenever the last call in flight ends: a connection that calls every
    0.25 s for 3 s (longer than the 2 s timeout in all) keeps working, and once it stops calling it
    gets GOAWAY NO_ERROR naming its last call."""
    import h2.config
    import h2.connection
    import h2.events

    srv = server_factory(["--idle-timeout-seconds", "2"])
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    body = health_pb2.HealthCheckRequest().SerializeToString()
    with socket.create_connection((HOST, srv.port), timeout=TIMEOUT) as raw:
        connection.initiate_connection()
        raw.sendall(connection.data_to_send())

        def events_until(done):
            deadline = time.monotonic() + TIMEOUT
            seen = []
            while not any(done(e) for e in seen):
                assert time.monotonic() < deadline, f"no answer in {TIMEOUT} s; events {seen}"
                data = raw.recv(65536)
                assert data, f"the server closed the connection; events {seen}"
                seen += connection.receive_data(data)
                raw.sendall(connection.data_to_send())
            return seen

        last = 0
        for stream_id in range(1, 25, 2):
            connection.send_headers(stream_id, [
                (":method", "POST"), (":scheme", "http"), (":path", "/grpc.health.v1.Health/Check"),
                (":authority", f"{HOST}:{srv.port}"), ("content-type", "application/grpc"), ("te", "trailers")])
            connection.send_data(stream_id, b"\x00" + len(body).to_bytes(4, "big") + body, end_stream=True)
            raw.sendall(connection.data_to_send())
            seen = events_until(lambda e: isinstance(e, (h2.events.StreamEnded, h2.events.ConnectionTerminated)))
            assert not any(isinstance(e, h2.events.ConnectionTerminated) for e in seen), seen
            last = stream_id
            time.sleep(0.25)
        seen = events_until(lambda e: isinstance(e, h2.events.ConnectionTerminated))
        goaway = next(e for e in seen if isinstance(e, h2.events.ConnectionTerminated))
        assert goaway.error_code == 0 and goaway.last_stream_id == last
    srv.stop()


# --- safe defaults -------------------------------------------------------------------------

def test_non_loopback_without_tokens_is_refused_before_binding(tmp_path):
    result = subprocess.run(
        [server_binary(), "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--tokens" in result.stderr and "--insecure" in result.stderr
    assert "listening" not in result.stdout


# --- metrics ---------------------------------------------------------------------------------

def test_denials_and_refused_connections_are_counted_in_metrics(server_factory, tokens):
    from test_metrics import scrape
    srv = server_factory(["--tokens", tokens["path"], "--metrics-port", "0", "--max-connections", "1"])
    request = availability_pb2.GetAvailabilityRequest(query=_query())
    with srv.channel() as ch:
        stub = availability_pb2_grpc.AvailabilityStub(ch)
        for metadata in ([], bearer("omst_wrong"), bearer(tokens["pos"])):
            with pytest.raises(grpc.RpcError):
                stub.GetAvailability(request, metadata=metadata, timeout=TIMEOUT)
        _goaway(_frames_until_close(srv.port))  # a second connection: over the limit of 1
        values = scrape(srv.metrics_port)
    assert values["omnistock_auth_unauthenticated_total"] == 2
    assert values["omnistock_auth_permission_denied_total"] == 1
    assert values["omnistock_auth_rate_limited_total"] == 0
    assert values["omnistock_connections_refused_total"] == 1
    assert values["omnistock_connections"] >= 1
    srv.stop()


def _await_grpc_status(raw, conn, stream_id):
    """Reads frames (answering what h2 needs to) until `stream_id` has a grpc-status:
    (status, message)."""
    import h2.events
    while True:
        data = raw.recv(65536)
        assert data, f"the connection closed before stream {stream_id} was answered"
        for event in conn.receive_data(data):
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)) and event.stream_id == stream_id:
                fields = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                          for k, v in event.headers}
                if "grpc-status" in fields:
                    raw.sendall(conn.data_to_send())
                    return fields["grpc-status"], fields.get("grpc-message", "")
        raw.sendall(conn.data_to_send())


def test_a_trickled_request_is_cancelled_and_frees_its_stream(server_factory):
    """Slowloris: a unary request whose message never completes is cancelled after
    --request-read-timeout-seconds; the connection keeps serving."""
    import h2.config
    import h2.connection
    srv = server_factory(["--request-read-timeout-seconds", "1"])
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()

    def headers(path):
        return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", srv.address),
                ("content-type", "application/grpc"), ("te", "trailers")]

    conn.send_headers(1, headers("/omnistock.v1.Ingest/ApplyEvents"))
    conn.send_data(1, b"\x00\x00\x00\x00\x64" + b"\x0a" * 10)  # announces 100 bytes, sends 10, then stalls
    with socket.create_connection((HOST, srv.port), timeout=TIMEOUT) as raw:
        raw.sendall(conn.data_to_send())
        raw.settimeout(15)
        code, message = _await_grpc_status(raw, conn, 1)
        assert code == "1" and "did not arrive completely within 1 s" in message
        # The same connection serves the next call.
        conn.send_headers(3, headers("/grpc.health.v1.Health/Check"))
        conn.send_data(3, b"\x00\x00\x00\x00\x00", end_stream=True)
        raw.sendall(conn.data_to_send())
        assert _await_grpc_status(raw, conn, 3)[0] == "0"
    srv.stop()
