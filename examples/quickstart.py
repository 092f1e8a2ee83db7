#!/usr/bin/env python3
"""OmniStock in five minutes: stream POS events, then ask what can be sold where.

Start the server with the example network first (57 locations, groups web-ship, pickup-<city>):

    tools/serve.sh --locations examples/network.json

then, in another terminal (needs `pip install grpcio grpcio-tools`):

    python3 examples/quickstart.py            # or --target 127.0.0.1:PORT

It generates the Python stubs from proto/ into a temporary directory, and then:
1. a POS terminal in Manhattan opens a StreamEvents stream and sends two batches (a delivery,
   some sales, a cycle count), each acknowledged once durable;
2. the same batch is resent, as a terminal does after a reconnect: every event is DUPLICATE;
3. the storefront reads availability at the store, across the web-ship group and "where can I
   pick it up in NYC" (WhereAvailable);
4. the operator looks at the store's freshness and at the exceptions (the count's variance).
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def generate_stubs() -> str:
    out = tempfile.mkdtemp(prefix="omnistock-quickstart-")
    protos = [os.path.relpath(p, os.path.join(REPO, "proto"))
              for p in glob.glob(os.path.join(REPO, "proto", "omnistock", "v1", "*.proto"))]
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(REPO, "proto"),
                    "--python_out=" + out, "--grpc_python_out=" + out, *protos], check=True)
    sys.path.insert(0, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:8980")
    args = parser.parse_args()
    generate_stubs()
    import grpc
    from omnistock.v1 import admin_pb2, admin_pb2_grpc, availability_pb2, availability_pb2_grpc, common_pb2
    from omnistock.v1 import ingest_pb2, ingest_pb2_grpc

    channel = grpc.insecure_channel(args.target)
    ingest = ingest_pb2_grpc.IngestStub(channel)
    reads = availability_pb2_grpc.AvailabilityStub(channel)
    admin = admin_pb2_grpc.AdminStub(channel)
    store, sku = "store-nyc-001", "SKU-RED-SNEAKER-42"
    now = int(time.time() * 1000)
    device = f"pos-nyc-001-{now}"  # a fresh terminal id each run, so its sequence starts at 1

    def event(seq, kind, quantity, **extra):
        return ingest_pb2.StockEvent(device_id=device, device_seq=seq, location_id=store, sku=sku,
                                     type=kind, quantity=quantity, event_time_unix_ms=now + seq, **extra)

    batches = [
        ingest_pb2.EventBatch(batch_id="morning", events=[
            event(1, ingest_pb2.EVENT_TYPE_RECEIPT, 24),        # delivery arrives
            event(2, ingest_pb2.EVENT_TYPE_SALE, 1),            # two sales at the till
            event(3, ingest_pb2.EVENT_TYPE_SALE, 2)]),
        ingest_pb2.EventBatch(batch_id="cycle-count", events=[
            event(4, ingest_pb2.EVENT_TYPE_COUNT, 15)]),        # the shelf has 15, not 21
    ]
    print("== 1. a POS terminal streams two batches")
    for ack in ingest.StreamEvents(iter(batches)):
        print(f"   ack {ack.batch_id}: applied={ack.applied} lsn={ack.lsn} high-water={ack.high_water[0].device_seq}")
    print("== 2. after a reconnect it resends the first batch: nothing applies twice")
    ack = ingest.ApplyEvents(batches[0])
    print(f"   ack {ack.batch_id}: applied={ack.applied} duplicates={ack.duplicates}")

    print("== 3. the storefront asks: can I sell it, where, how many?")
    at_store = reads.GetAvailability(availability_pb2.GetAvailabilityRequest(
        query=availability_pb2.AvailabilityQuery(sku=sku, location_id=store),
        options=common_pb2.ReadOptions(min_lsn=ack.lsn)))   # read-your-writes
    a = at_store.availability
    print(f"   {store}: on_hand={a.on_hand} safety={a.safety_stock} available={a.available} status={common_pb2.StockStatus.Name(a.status)}")
    web = reads.GetAvailability(availability_pb2.GetAvailabilityRequest(
        query=availability_pb2.AvailabilityQuery(sku=sku, group_id="web-ship")))
    print(f"   web-ship group: available={web.availability.available}")
    pickup = reads.WhereAvailable(availability_pb2.WhereAvailableRequest(sku=sku, group_id="pickup-nyc"))
    for found in pickup.locations:
        print(f"   pick up at {found.display_name}: {found.availability.available} available")

    print("== 4. the operator: freshness and exceptions")
    fresh = admin.GetFreshness(admin_pb2.GetFreshnessRequest(location_ids=[store]))
    for report in fresh.locations:
        print(f"   {store}: last update {report.freshness.age_ms} ms ago, stale={report.freshness.stale}, "
              f"events last minute={report.events_last_minute}")
    exceptions = admin.ListExceptions(admin_pb2.ListExceptionsRequest(location_id=store, page_size=5))
    for item in exceptions.exceptions:
        print(f"   exception: {item.message}")


if __name__ == "__main__":
    main()
