#!/usr/bin/env python3
"""Writes examples/network.json: a realistic OmniStock location network.

    python3 tools/make-example-network.py            # rewrites examples/network.json
    python3 tools/make-example-network.py -          # prints it instead

The network of a mid-sized omnichannel retailer: 3 distribution centres, 2 dark
stores (New York same-day), 1 third-party-logistics overflow warehouse, 1
dropship vendor and 50 stores in 5 cities, plus the groups the channels read:
`web-ship` (everything that ships, in priority order), `pickup-<city>` (each
city's stores) and `same-day-nyc`.

The output is the proto3 JSON form of omnistock.config.v1.LocationNetwork
(proto/omnistock/config/v1/network.proto), the file `omnistock serve
--locations FILE` loads: lowerCamelCase field names, enums by name, int64
values as plain JSON numbers (accepted by every proto3 JSON parser).

Deterministic: the data is written out below, nothing is random, and the same
script always produces byte-identical output.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "examples" / "network.json"

SHIP = "FULFILLMENT_CAPABILITY_SHIP"
PICKUP = "FULFILLMENT_CAPABILITY_PICKUP"
SAME_DAY = "FULFILLMENT_CAPABILITY_SAME_DAY"

# Store data is counted every 15 minutes by the POS; warehouses sync hourly from
# the WMS; the dropship vendor sends a feed twice a day.
STORE_STALE_AFTER = 900
WAREHOUSE_STALE_AFTER = 3600
VENDOR_STALE_AFTER = 43200

# city id -> (city name, stores). A store is (display name, latitude,
# longitude, ships from store?). Flagships (the first of each city) keep a
# safety stock of 2, other stores 1. Ids are store-<city>-NNN in this order.
CITIES = {
    "nyc": ("New York City", [
        ("Manhattan 5th Ave", 40.7625, -73.9740, True),
        ("Herald Square", 40.7505, -73.9884, True),
        ("SoHo Broadway", 40.7237, -73.9985, False),
        ("Union Square", 40.7359, -73.9911, True),
        ("Upper West Side", 40.7870, -73.9754, False),
        ("Upper East Side", 40.7736, -73.9566, False),
        ("Harlem 125th St", 40.8090, -73.9482, False),
        ("Brooklyn Atlantic Terminal", 40.6840, -73.9776, True),
        ("Williamsburg", 40.7081, -73.9571, False),
        ("Queens Center", 40.7347, -73.8697, False),
    ]),
    "chicago": ("Chicago", [
        ("Michigan Avenue", 41.8945, -87.6245, True),
        ("State Street Loop", 41.8817, -87.6278, True),
        ("Lincoln Park", 41.9214, -87.6513, False),
        ("Wicker Park", 41.9088, -87.6796, False),
        ("Lakeview", 41.9400, -87.6538, False),
        ("Hyde Park", 41.7943, -87.5907, False),
        ("Evanston", 42.0451, -87.6877, False),
        ("Oak Brook", 41.8489, -87.9536, True),
        ("Schaumburg Woodfield", 42.0462, -88.0372, True),
        ("South Loop", 41.8676, -87.6256, False),
    ]),
    "la": ("Los Angeles", [
        ("Santa Monica Third Street", 34.0159, -118.4965, True),
        ("Beverly Hills", 34.0696, -118.4053, False),
        ("The Grove", 34.0720, -118.3573, True),
        ("Downtown LA", 34.0478, -118.2580, False),
        ("Hollywood & Highland", 34.1022, -118.3404, False),
        ("Pasadena Colorado Blvd", 34.1457, -118.1480, True),
        ("Glendale Galleria", 34.1456, -118.2563, False),
        ("Culver City", 34.0211, -118.3965, False),
        ("Long Beach", 33.7701, -118.1937, True),
        ("Burbank", 34.1808, -118.3090, False),
    ]),
    "seattle": ("Seattle", [
        ("Downtown Pine Street", 47.6119, -122.3366, True),
        ("Capitol Hill", 47.6231, -122.3208, False),
        ("Ballard", 47.6687, -122.3841, False),
        ("Fremont", 47.6510, -122.3500, False),
        ("University Village", 47.6627, -122.2995, True),
        ("Bellevue Square", 47.6158, -122.2038, True),
        ("Redmond Town Center", 47.6740, -122.1215, False),
        ("West Seattle Junction", 47.5615, -122.3868, False),
        ("Northgate", 47.7065, -122.3255, False),
        ("Southcenter", 47.4590, -122.2585, True),
    ]),
    "austin": ("Austin", [
        ("Congress Avenue", 30.2672, -97.7431, True),
        ("South Congress", 30.2480, -97.7500, False),
        ("The Domain", 30.4021, -97.7253, True),
        ("Mueller", 30.2984, -97.7050, False),
        ("Barton Creek", 30.2573, -97.8076, True),
        ("East 6th Street", 30.2643, -97.7301, False),
        ("Round Rock", 30.5083, -97.6789, True),
        ("Cedar Park", 30.5052, -97.8203, False),
        ("South Lamar", 30.2585, -97.7638, False),
        ("Arboretum", 30.3937, -97.7480, False),
    ]),
}


def location(location_id, kind, name, capabilities, safety, low, stale_after,
             coordinates=None, variance_units=0, variance_percent=0):
    record = {
        "locationId": location_id,
        "kind": "LOCATION_KIND_" + kind,
        "displayName": name,
        "capabilities": capabilities,
        "defaultSafetyStock": safety,
        "lowStockThreshold": low,
        "staleAfterSeconds": stale_after,
        "active": True,
    }
    if coordinates is not None:
        record["coordinates"] = {"latitude": coordinates[0], "longitude": coordinates[1]}
    if variance_units:
        record["countVarianceUnits"] = variance_units
    if variance_percent:
        record["countVariancePercent"] = variance_percent
    return record


def group(group_id, name, members, include_stale=False):
    return {
        "groupId": group_id,
        "displayName": name,
        "locationIds": members,
        "includeStale": include_stale,
    }


def network():
    # Distribution centres: ship only, large buffers, hourly WMS sync.
    dcs = [
        location("dc-east", "WAREHOUSE", "East DC (Carlisle, PA)", [SHIP], 5, 20,
                 WAREHOUSE_STALE_AFTER, (40.2010, -77.1889), 50, 2),
        location("dc-central", "WAREHOUSE", "Central DC (Joliet, IL)", [SHIP], 5, 20,
                 WAREHOUSE_STALE_AFTER, (41.5250, -88.0817), 50, 2),
        location("dc-west", "WAREHOUSE", "West DC (Ontario, CA)", [SHIP], 5, 20,
                 WAREHOUSE_STALE_AFTER, (34.0633, -117.6509), 50, 2),
    ]
    # Dark stores: New York same-day delivery (and ship when the DCs are short).
    dark_stores = [
        location("dark-nyc-brooklyn", "DARK_STORE", "Brooklyn Navy Yard dark store", [SHIP, SAME_DAY], 1, 3,
                 STORE_STALE_AFTER, (40.7003, -73.9712), 5, 10),
        location("dark-nyc-queens", "DARK_STORE", "Long Island City dark store", [SHIP, SAME_DAY], 1, 3,
                 STORE_STALE_AFTER, (40.7447, -73.9485), 5, 10),
    ]
    third_party = [
        location("3pl-memphis", "THIRD_PARTY_LOGISTICS", "Memphis 3PL overflow warehouse", [SHIP], 10, 25,
                 WAREHOUSE_STALE_AFTER, (35.0456, -89.9773), 50, 2),
    ]
    # The vendor's warehouse address is not shared: no coordinates.
    vendors = [
        location("vendor-acme-home", "DROPSHIP_VENDOR", "Acme Home Goods (dropship)", [SHIP], 0, 5,
                 VENDOR_STALE_AFTER),
    ]

    stores = []
    ship_from_store = []
    pickup_groups = []
    for city, (city_name, city_stores) in CITIES.items():
        members = []
        for number, (name, latitude, longitude, ships) in enumerate(city_stores, start=1):
            store_id = f"store-{city}-{number:03d}"
            capabilities = [PICKUP, SHIP] if ships else [PICKUP]
            safety = 2 if number == 1 else 1
            stores.append(location(store_id, "STORE", name, capabilities, safety, 3, STORE_STALE_AFTER,
                                   (latitude, longitude), 5, 10))
            members.append(store_id)
            if ships:
                ship_from_store.append(store_id)
        pickup_groups.append(group(f"pickup-{city}", f"Pickup in store: {city_name}", members))

    locations = dcs + dark_stores + third_party + vendors + stores
    # Priority: own DCs, then the 3PL overflow, then ship-from-store, then the dark
    # stores (their stock is kept for same-day), and the dropship vendor last.
    web_ship = (
        [l["locationId"] for l in dcs]
        + [l["locationId"] for l in third_party]
        + ship_from_store
        + [l["locationId"] for l in dark_stores]
        + [l["locationId"] for l in vendors]
    )
    groups = [group("web-ship", "Web orders: ship to home", web_ship)]
    groups += pickup_groups
    groups.append(group("same-day-nyc", "Same-day delivery: New York City",
                        [l["locationId"] for l in dark_stores]))
    return {"locations": locations, "groups": groups}


def main(argv):
    text = json.dumps(network(), indent=2, ensure_ascii=False) + "\n"
    if len(argv) > 1 and argv[1] == "-":
        sys.stdout.write(text)
        return 0
    if len(argv) > 1:
        sys.stderr.write(__doc__)
        return 2
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    data = json.loads(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(data['locations'])} locations, "
          f"{len(data['groups'])} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
