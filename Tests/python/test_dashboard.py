"""The operations dashboard (``omnistock serve --metrics-port``, page at ``/``) in a real browser.

A server is started with the example network (``examples/network.json``: 57 locations, 7
groups), fed known stock through grpcio (receipts, sales below zero, counts that differ, a device
that skips sequence numbers, two stores made stale, a reservation) and a short ``omnistock load``.
Then Debian's ``chromium`` in headless mode loads each view (``#overview``,
``#availability?sku=...``, ``#exceptions``, ``#throughput``): ``--dump-dom`` (with
``--virtual-time-budget`` so the page's fetches complete) gives the rendered page, whose content is
checked against what the gRPC API says, and ``--screenshot`` takes a picture of each view.

Screenshots go to a temporary directory, or to ``$OMNISTOCK_SCREENSHOT_DIR`` when set (``docs/``
holds the committed ones: ``OMNISTOCK_SCREENSHOT_DIR=docs pytest Tests/python/test_dashboard.py``).
Without chromium the test installs it (``apt-get install chromium``) and is skipped, saying why,
only if that fails.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from omnistock.v1 import admin_pb2, admin_pb2_grpc, common_pb2
from omnistock.v1 import availability_pb2 as av_pb2, availability_pb2_grpc as av_grpc
from omnistock.v1 import ingest_pb2, ingest_pb2_grpc
from omnistock.v1 import reservations_pb2, reservations_pb2_grpc

from conftest import REPO, server_binary
from omnistock_helpers import COUNT, RECEIPT, RPC_TIMEOUT, SALE, event, list_exceptions, update_location

NETWORK_FILE = os.path.join(REPO, "examples", "network.json")
TEE, MUG, JEANS = "TEE-CREW-BLK-M", "MUG-STONE-RED", "JEANS-SLIM-32"
STALE_STORES = ["store-austin-009", "store-austin-010"]
VIEWS = {  # view -> (fragment, window height for its screenshot)
    "overview": ("#overview", 940),
    "availability": (f"#availability?sku={TEE}", 1560),
    "exceptions": ("#exceptions", 900),
    "throughput": ("#throughput", 780),
}
WINDOW_WIDTH = 1440
EXCEPTION_KINDS = {
    "negativeStock": admin_pb2.EXCEPTION_KIND_NEGATIVE_ON_HAND,
    "countVariances": admin_pb2.EXCEPTION_KIND_COUNT_VARIANCE,
    "staleLocations": admin_pb2.EXCEPTION_KIND_STALE_LOCATION,
    "sequenceGaps": admin_pb2.EXCEPTION_KIND_SEQUENCE_GAP,
}


# ---- chromium ----

def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium: found, or installed with apt-get; the test is skipped only if that fails."""
    found = find_chromium()
    if found:
        return found
    if not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    attempts = []
    for command in (["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "fonts-liberation"],
                    ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "fonts-liberation"]):
        result = subprocess.run(sudo + command, capture_output=True, text=True, timeout=900,
                                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        attempts.append(f"{' '.join(command)}: exit {result.returncode} {result.stderr.strip()[-300:]}")
        if find_chromium():
            return find_chromium()
    pytest.skip("chromium is not installed and could not be installed:\n" + "\n".join(attempts))


def run_chromium(binary: str, url: str, profile: str, *args: str, height: int = 1000) -> str:
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", "--disable-background-networking", "--mute-audio",
        "--force-device-scale-factor=1", f"--user-data-dir={profile}", f"--window-size={WINDOW_WIDTH},{height}",
        "--virtual-time-budget=5000", *args, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result.stdout


# ---- a small DOM of chromium's --dump-dom output ----

class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: "Node | None"):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        return " ".join("".join(c if isinstance(c, str) else c.text() + " " for c in self.children).split())

    def find_all(self, **attrs) -> list["Node"]:
        """Descendants whose attributes equal ``attrs`` (``class_`` matches one class; True: present)."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if all(child.matches(name, value) for name, value in attrs.items()):
                    found.append(child)
                found.extend(child.find_all(**attrs))
        return found

    def find(self, **attrs) -> "Node":
        found = self.find_all(**attrs)
        assert found, f"no element with {attrs} in <{self.tag} {self.attrs}>"
        return found[0]

    def matches(self, name: str, value) -> bool:
        if name == "tag":
            return self.tag == value
        if name == "class_":
            return value in self.attrs.get("class", "").split()
        key = name.replace("_", "-")
        return key in self.attrs if value is True else self.attrs.get(key) == value

    def field(self, name: str) -> str:
        return self.find(data_field=name).text()


class DOMBuilder(html.parser.HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(dom: str) -> Node:
    builder = DOMBuilder()
    builder.feed(dom)
    return builder.root


def number(text: str) -> int:
    return int(text.replace(",", "").replace("\u2212", "-").strip())


def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


# ---- the fed server ----

def apply(ingest, device, changes, first_seq=1):
    """``(location, sku, type, quantity)`` changes from ``device`` in one batch, seqs from ``first_seq``."""
    batch = ingest_pb2.EventBatch(events=[
        event(device, first_seq + i, loc, sku, etype, qty) for i, (loc, sku, etype, qty) in enumerate(changes)])
    return ingest.ApplyEvents(batch, timeout=RPC_TIMEOUT)


@pytest.fixture(scope="module")
def fed(server_factory):
    """A server with the example network, a short load run, then known stock and exceptions."""
    srv = server_factory(["--locations", NETWORK_FILE, "--metrics-port", "0"])
    assert srv.metrics_port
    channel = srv.channel()
    admin = admin_pb2_grpc.AdminStub(channel)
    ingest = ingest_pb2_grpc.IngestStub(channel)
    for store in STALE_STORES:  # no terminal reports from these two: stale 2 s from now
        update_location(admin, store, stale_after_seconds=2)
    # A short load first (its own 3 stores and every SKU stocked, so it adds traffic but no
    # exceptions), then the known stock: the newest exceptions are the known ones.
    load = subprocess.run(
        [server_binary(), "load", "--port", str(srv.port), "--seconds", "4", "--terminals", "1", "--storefronts", "1",
         "--locations", "3", "--skus", "200", "--stocked-skus", "200", "--count-percent", "0"],
        capture_output=True, text=True, timeout=120)
    assert load.returncode == 0, f"omnistock load failed:\n{load.stdout[-2000:]}\n{load.stderr[-2000:]}"
    apply(ingest, "wms-1", [
        ("dc-east", TEE, RECEIPT, 240), ("dc-central", TEE, RECEIPT, 180), ("dc-west", TEE, RECEIPT, 96),
        ("3pl-memphis", TEE, RECEIPT, 60), ("dark-nyc-brooklyn", TEE, RECEIPT, 14), ("dc-west", JEANS, RECEIPT, 500),
        ("dc-east", MUG, RECEIPT, 36)])
    apply(ingest, "pos-nyc-001-1", [("store-nyc-001", TEE, RECEIPT, 18), ("store-nyc-001", TEE, SALE, 3)])
    apply(ingest, "pos-nyc-002-1", [("store-nyc-002", TEE, RECEIPT, 6), ("store-nyc-002", TEE, SALE, 4)])
    apply(ingest, "pos-nyc-003-1", [("store-nyc-003", TEE, RECEIPT, 2), ("store-nyc-003", TEE, SALE, 2)])
    apply(ingest, "pos-chicago-001-1", [("store-chicago-001", TEE, RECEIPT, 9)])
    apply(ingest, "pos-la-002-1", [("store-la-002", TEE, RECEIPT, 11)])
    # Sold below zero: the shelf had stock the system did not know about.
    apply(ingest, "pos-seattle-003-1", [("store-seattle-003", TEE, RECEIPT, 5), ("store-seattle-003", TEE, SALE, 6)])
    apply(ingest, "pos-chicago-003-1", [("store-chicago-003", MUG, SALE, 3)])
    # Counts that differ from what the system expected by more than the location allows.
    apply(ingest, "pos-seattle-001-1", [("store-seattle-001", JEANS, RECEIPT, 40), ("store-seattle-001", JEANS, COUNT, 31)])
    apply(ingest, "wms-2", [("dc-west", JEANS, COUNT, 560)])
    # A handheld that skipped device_seq 2 and 3.
    apply(ingest, "handheld-la-004-2", [("store-la-004", JEANS, RECEIPT, 12)])
    apply(ingest, "handheld-la-004-2", [("store-la-004", JEANS, SALE, 1)], first_seq=4)
    # An order holding 8 tees at the East DC.
    reservations_pb2_grpc.ReservationsStub(channel).Reserve(reservations_pb2.ReserveRequest(
        reservation_id="order-10042", lines=[reservations_pb2.ReservationLine(sku=TEE, location_id="dc-east", quantity=8)]),
        timeout=RPC_TIMEOUT)
    # Storefront lookups of the known SKUs.
    avail = av_grpc.AvailabilityStub(channel)
    for sku in (TEE, MUG, JEANS) * 5:
        avail.GetAvailability(av_pb2.GetAvailabilityRequest(
            query=av_pb2.AvailabilityQuery(sku=sku, group_id="web-ship")), timeout=RPC_TIMEOUT)
    deadline = time.monotonic() + 10
    while True:
        freshness = admin.GetFreshness(admin_pb2.GetFreshnessRequest(stale_only=True), timeout=RPC_TIMEOUT)
        if sorted(r.freshness.location_id for r in freshness.locations) == STALE_STORES:
            break
        assert time.monotonic() < deadline, f"stale locations: {freshness}"
        time.sleep(0.2)
    yield srv, channel
    channel.close()


@pytest.fixture(scope="module")
def browser(chromium, fed, tmp_path_factory):
    """``render(view)``: the view's DOM after its fetches, and a screenshot of it (its path)."""
    srv, _ = fed
    out = os.environ.get("OMNISTOCK_SCREENSHOT_DIR") or str(tmp_path_factory.mktemp("screenshots"))
    os.makedirs(out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="omnistock-chromium-")

    def render(view: str) -> tuple[Node, str]:
        fragment, height = VIEWS[view]
        url = f"http://127.0.0.1:{srv.metrics_port}/{fragment}"
        dom = parse(run_chromium(chromium, url, profile, "--dump-dom"))
        path = os.path.join(out, f"dashboard-{view}.png")
        run_chromium(chromium, url, profile, f"--screenshot={path}", height=height)
        assert png_size(path) == (WINDOW_WIDTH, height)
        assert os.path.getsize(path) > 20_000, "a blank page compresses to almost nothing"
        return dom, path

    yield render
    shutil.rmtree(profile, ignore_errors=True)


def current_view(dom: Node, view: str) -> Node:
    section = dom.find(id=f"view-{view}")
    assert "hidden" not in section.attrs, f"#{view} is not the view shown"
    for other in VIEWS:
        if other != view:
            assert "hidden" in dom.find(id=f"view-{other}").attrs
    assert dom.find(tag="a", data_view=view).attrs.get("aria-current") == "page"
    assert dom.find(id="live").attrs["data-state"] == "ok", dom.find(id="live").text()
    return section


# ---- the views ----

def test_overview_shows_every_location_by_kind_fresh_or_stale(browser, fed):
    dom, _ = browser("overview")
    view = current_view(dom, "overview")
    with open(NETWORK_FILE) as f:
        network = json.load(f)["locations"]
    tiles = {tile.attrs["data-location"]: tile for tile in view.find_all(data_location=True)}
    for location in network:
        tile = tiles.get(location["locationId"])
        assert tile is not None, f"{location['locationId']} is not on the overview"
        assert tile.find(class_="tile-name").text() == location["displayName"]
        expected = "stale" if location["locationId"] in STALE_STORES else "fresh"
        assert tile.attrs["data-state"] == expected, location["locationId"]
        assert tile.find(class_="state").text() == expected
    assert len(tiles) == len(network) + 3, "the example network and the load's 3 locations"
    kinds = [section.attrs["data-kind"] for section in view.find_all(data_kind=True)]
    assert kinds == ["WAREHOUSE", "THIRD_PARTY_LOGISTICS", "DARK_STORE", "DROPSHIP_VENDOR", "STORE"]
    stores = view.find(data_kind="STORE")
    assert "53 locations · 51 fresh · 2 stale" in stores.text(), "50 example stores and the load's 3"
    assert number(view.find(data_card="stale").find(class_="value").text()) == 2
    assert number(view.find(data_card="locations").find(class_="value").text()) == len(network) + 3
    # Events in the last minute: store-nyc-001 sent 2, the load's locations many.
    assert tiles["store-nyc-001"].field("events") == "2/min"
    assert tiles["store-nyc-001"].field("age").endswith(" ago")
    assert tiles["store-austin-009"].field("age") == "no update yet"
    assert number(tiles["load-0"].field("events").removesuffix("/min")) > 100
    assert number(view.find(data_card="events").find(class_="value").text()) > 1000


def test_availability_lists_the_sku_everywhere_with_the_api_figures(browser, fed):
    srv, channel = fed
    dom, _ = browser("availability")
    view = current_view(dom, "availability")
    assert view.find(tag="input", id="sku").attrs.get("value", TEE) == TEE
    assert view.find(class_="sku").text() == TEE
    avail = av_grpc.AvailabilityStub(channel)

    def grpc_row(**target):
        return avail.GetAvailability(av_pb2.GetAvailabilityRequest(
            query=av_pb2.AvailabilityQuery(sku=TEE, **target)), timeout=RPC_TIMEOUT).availability

    status = {common_pb2.STOCK_STATUS_IN_STOCK: "In stock", common_pb2.STOCK_STATUS_LOW_STOCK: "Low stock",
              common_pb2.STOCK_STATUS_OUT_OF_STOCK: "Out of stock"}
    locations = {row.attrs["data-id"]: row for row in view.find(id="availability-locations").find_all(tag="tr", data_id=True)}
    assert list(locations) == ["dc-central", "dc-east", "dc-west", "3pl-memphis", "dark-nyc-brooklyn", "store-chicago-001",
                               "store-la-002", "store-nyc-001", "store-nyc-002", "store-nyc-003", "store-seattle-003"]
    for location_id, row in locations.items():
        expected = grpc_row(location_id=location_id)
        shown = [number(row.field(f)) for f in ("onHand", "reserved", "safetyStock", "available")]
        assert shown == [expected.on_hand, expected.reserved, expected.safety_stock, expected.available], location_id
        assert row.field("status").startswith(status[expected.status]), location_id
    # The known figures, in words a store manager reads.
    east = locations["dc-east"]
    assert [number(east.field(f)) for f in ("onHand", "reserved", "safetyStock", "available")] == [240, 8, 5, 227]
    assert locations["store-nyc-002"].field("status") == "Low stock"
    assert locations["store-nyc-003"].field("status") == "Out of stock"
    seattle = locations["store-seattle-003"]
    assert number(seattle.field("onHand")) == -1 and "negative" in seattle.find(data_field="onHand").attrs["class"]
    groups = {row.attrs["data-id"]: row for row in view.find(id="availability-groups").find_all(tag="tr", data_id=True)}
    assert {g for g in groups if not g.startswith("load-")} == {
        "web-ship", "pickup-nyc", "pickup-chicago", "pickup-la", "pickup-seattle", "pickup-austin", "same-day-nyc"}
    for group_id, row in groups.items():
        expected = grpc_row(group_id=group_id)
        shown = [number(row.field(f)) for f in ("onHand", "reserved", "safetyStock", "available")]
        assert shown == [expected.on_hand, expected.reserved, expected.safety_stock, expected.available], group_id
        assert row.field("locationsWithStock").startswith(f"{expected.locations_with_stock} of ")
    assert "Pickup in store: New York City" in groups["pickup-nyc"].text()
    unrecorded = view.find(data_unrecorded=True)
    assert number(unrecorded.attrs["data-unrecorded"]) == 57 + 3 - len(locations)


def test_exceptions_counts_match_the_admin_api(browser, fed):
    _, channel = fed
    dom, _ = browser("exceptions")
    view = current_view(dom, "exceptions")
    admin = admin_pb2_grpc.AdminStub(channel)
    for key, kind in EXCEPTION_KINDS.items():
        expected = list_exceptions(admin, kinds=[kind], page_size=1).total
        shown = number(view.find(data_card=key).find(class_="value").text())
        assert shown == expected, key
        rows = view.find(data_list=key).find_all(tag="tr", data_location=True)
        assert len(rows) == min(expected, 20), f"{key}: the page lists the newest 20 of each kind"
    assert number(view.find(data_card="staleLocations").find(class_="value").text()) == 2
    stale = {row.attrs["data-location"] for row in view.find(data_list="staleLocations").find_all(tag="tr", data_location=True)}
    assert stale == set(STALE_STORES)
    negative = {(row.attrs["data-sku"], row.attrs["data-location"]): row
                for row in view.find(data_list="negativeStock").find_all(tag="tr", data_location=True)}
    assert number(negative[(MUG, "store-chicago-003")].field("onHand")) == -3
    assert number(negative[(TEE, "store-seattle-003")].field("onHand")) == -1
    variances = {(row.attrs["data-sku"], row.attrs["data-location"]): row
                 for row in view.find(data_list="countVariances").find_all(tag="tr", data_location=True)}
    seattle = variances[(JEANS, "store-seattle-001")]
    assert [number(seattle.field(f)) for f in ("expected", "counted")] == [40, 31] and seattle.field("variance") == "-9"
    assert variances[(JEANS, "dc-west")].field("variance") == "+60"
    gaps = view.find(data_list="sequenceGaps")
    assert "handheld-la-004-2" in gaps.text() and "#2–3 (2)" in gaps.text()
    badge = dom.find(id="exceptions-badge")
    assert "hidden" not in badge.attrs and number(badge.text()) >= 6


def test_throughput_shows_a_sparkline_history(browser, fed):
    dom, _ = browser("throughput")
    view = current_view(dom, "throughput")
    cards = {card.attrs["data-series"]: card for card in view.find_all(data_series=True)}
    assert list(cards) == ["eventsPerSecond", "lookupsPerSecond", "lookupP99Ms"]
    for key, card in cards.items():
        assert number(card.attrs["data-samples"]) >= 4, "the server keeps one sample a second from its start"
        assert card.find(tag="svg").find_all(tag="path", class_="line"), f"{key} has no line"
        assert card.field("peak").startswith("peak "), card.text()
    events_peak = float(cards["eventsPerSecond"].field("peak").split()[1].replace(",", ""))
    lookups_peak = float(cards["lookupsPerSecond"].field("peak").split()[1].replace(",", ""))
    assert events_peak > 50 and lookups_peak > 50, "the load's events and lookups show"


def test_the_api_refuses_bad_requests_with_a_message(fed):
    srv, _ = fed
    base = f"http://127.0.0.1:{srv.metrics_port}"

    def refused(path, method="GET", data=None):
        request = urllib.request.Request(base + path, method=method, data=data)
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=10)
        body = json.loads(raised.value.read())
        assert raised.value.headers["content-type"].startswith("application/json")
        return raised.value.code, body["error"]

    assert refused("/api/availability") == (400, "which SKU? Ask for /api/availability?sku=SKU")
    code, message = refused("/api/availability?sku=two%20words")
    assert code == 400 and "outside [A-Za-z0-9._:/-]" in message
    assert refused("/api/availability?sku=NEVER-SOLD") == (404, "no location has reported SKU 'NEVER-SOLD' yet")
    assert refused("/api/exceptions?limit=many")[0] == 400
    assert refused("/api/unknown")[0] == 404
    assert refused("/api/overview", method="POST", data=b"x") == (405, "/api/overview answers GET only, not POST")
    # A body larger than the bound is refused from its headers, and the connection closed.
    with socket.create_connection(("127.0.0.1", srv.metrics_port), timeout=10) as raw:
        raw.sendall(b"POST /api/overview HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"connection: close" in head.lower()
    assert "limited to 16384 bytes" in json.loads(body)["error"]
    with urllib.request.urlopen(f"{base}/api/availability?sku={TEE}", timeout=10) as response:
        assert json.loads(response.read())["sku"] == TEE
