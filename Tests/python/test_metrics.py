"""The Prometheus endpoint (``omnistock serve --metrics-port``): after a known workload, the
counters and gauges say exactly what happened; other paths are 404."""

import urllib.error
import urllib.request

import grpc
from omnistock.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from omnistock.v1 import availability_pb2 as avail_pb2, availability_pb2_grpc as avail_pb2_grpc
from omnistock_helpers import RECEIPT, RPC_TIMEOUT, SALE, declare_location, event, uid


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_after_a_known_workload(server_factory):
    srv = server_factory(["--metrics-port", "0"])
    assert srv.metrics_port, "the server printed its metrics line"
    channel = srv.channel()
    admin = admin_pb2_grpc.AdminStub(channel)
    ingest = ingest_pb2_grpc.IngestStub(channel)
    loc = declare_location(admin, uid("loc"))
    dev, a, b = uid("dev"), uid("sku"), uid("sku")
    batch = ingest_pb2.EventBatch(events=[
        event(dev, 1, loc, a, RECEIPT, 10), event(dev, 2, loc, b, RECEIPT, 5), event(dev, 5, loc, a, SALE, 12)])
    ack = ingest.ApplyEvents(batch, timeout=RPC_TIMEOUT)
    assert (ack.applied, ack.gaps) == (3, 1)
    resend = ingest.ApplyEvents(batch, timeout=RPC_TIMEOUT)
    assert resend.duplicates == 3
    first = scrape(srv.metrics_port)
    assert first["omnistock_events_applied_total"] == 3
    assert first["omnistock_events_gap_total"] == 1
    assert first["omnistock_events_duplicate_total"] == 3
    assert first["omnistock_positions"] == 2
    assert first["omnistock_locations"] == 1
    assert first["omnistock_devices"] == 1
    assert first["omnistock_exceptions"] == 2  # the gap, and a's negative on-hand
    assert first["omnistock_index_applied_lsn"] == ack.lsn
    assert first["omnistock_log_durable_lsn"] >= ack.lsn
    assert first["omnistock_log_fsyncs_total"] >= 1
    # Every record is one LSN (the location, then the batch; the resend wrote nothing).
    assert first["omnistock_log_records_written_total"] == ack.lsn == 2
    assert first["omnistock_log_fsync_microseconds_total"] > 0
    # Requests by method and status, and their latency.
    apply = "/omnistock.v1.Ingest/ApplyEvents"
    assert first[f'omnistock_requests_total{{method="{apply}",code="OK"}}'] == 2
    assert first[f'omnistock_requests_total{{method="/omnistock.v1.Admin/UpsertLocation",code="OK"}}'] == 1
    assert first[f'omnistock_request_duration_seconds_count{{method="{apply}"}}'] == 2
    bad = avail_pb2.GetAvailabilityRequest(query=avail_pb2.AvailabilityQuery(sku="bad sku", location_id=loc))
    try:
        avail_pb2_grpc.AvailabilityStub(channel).GetAvailability(bad, timeout=RPC_TIMEOUT)
        raise AssertionError("a malformed sku was accepted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    invalid = scrape(srv.metrics_port)
    assert invalid['omnistock_requests_total{method="/omnistock.v1.Availability/GetAvailability",code="INVALID_ARGUMENT"}'] == 1
    # Counters keep counting across scrapes, never going back.
    ingest.ApplyEvents(ingest_pb2.EventBatch(events=[event(dev, 6, loc, b, SALE, 1)]), timeout=RPC_TIMEOUT)
    second = scrape(srv.metrics_port)
    assert second["omnistock_events_applied_total"] == 4
    assert second["omnistock_events_duplicate_total"] == 3
    admin.Checkpoint(admin_pb2.CheckpointRequest(), timeout=RPC_TIMEOUT)
    assert scrape(srv.metrics_port)["omnistock_checkpoint_lsn"] >= ack.lsn
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{srv.metrics_port}/elsewhere", timeout=10)
        raise AssertionError("an unknown path was served")
    except urllib.error.HTTPError as error:
        assert error.code == 404
