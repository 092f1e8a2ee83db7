"""Lifecycle (issue 9): the server's parts shut down in order on SIGTERM. gRPC drains first, so a
write that is still in flight when the signal arrives is acknowledged once durable; the log
closes last. After a restart, the acknowledged write is there."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.v1 import admin_pb2_grpc, availability_pb2 as av_pb2, availability_pb2_grpc as av_grpc
from omnistock.v1 import ingest_pb2, ingest_pb2_grpc
from omnistock_helpers import RPC_TIMEOUT, RequestQueue, declare_location, event, next_with_timeout, uid


def test_write_acked_during_shutdown_is_durable_and_the_log_closes_last(server_factory):
    srv = server_factory()
    sku, device = uid("sku"), uid("dev")
    requests = RequestQueue()
    with srv.channel() as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        location = declare_location(admin_pb2_grpc.AdminStub(ch), uid("loc"))
        health = health_pb2_grpc.HealthStub(ch)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT * 2)
        assert next_with_timeout(watch).status == health_pb2.HealthCheckResponse.SERVING
        call = ingest_pb2_grpc.IngestStub(ch).StreamEvents(iter(requests), timeout=RPC_TIMEOUT * 2)
        requests.send(ingest_pb2.EventBatch(batch_id="before", events=[
            event(device, 1, location, sku, ingest_pb2.EVENT_TYPE_RECEIPT, 10)]))
        assert next_with_timeout(call).applied == 1

        srv.send_sigterm()
        assert next_with_timeout(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        # Draining: the open stream still takes a batch, and acknowledges it once it is on disk.
        requests.send(ingest_pb2.EventBatch(batch_id="during", events=[
            event(device, 2, location, sku, ingest_pb2.EVENT_TYPE_SALE, 3)]))
        during = next_with_timeout(call)
        assert during.batch_id == "during" and during.applied == 1
        requests.close()
        assert srv.wait_exit(30) == 0, srv.stderr_tail()
        watch.cancel()
    log = srv.stderr_tail(100_000)
    draining, closed, stopped = (log.index(line) for line in (
        "graceful shutdown: draining connections", "write-ahead log closed", "omnistock stopped"))
    assert draining < closed < stopped, "gRPC drains first, the log closes last"
    srv.stop()

    again = server_factory(data_dir=srv.data_dir)
    with again.channel() as ch:
        answer = av_grpc.AvailabilityStub(ch).GetAvailability(
            av_pb2.GetAvailabilityRequest(query=av_pb2.AvailabilityQuery(sku=sku, location_id=location)),
            timeout=RPC_TIMEOUT)
        assert answer.availability.on_hand == 7, "the sale acknowledged during shutdown survived the restart"
    again.stop()
