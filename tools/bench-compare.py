#!/usr/bin/env python3
"""Helpers of tools/bench-compare.sh: request bodies, parsing each load generator's output into
one JSON line per measurement, and the Markdown table (min/median/max over runs, ratios
ours/other, targets of issue 7).

    bench-compare.py free-port
    bench-compare.py event-body FILE SKU LOCATION QUANTITY
    bench-compare.py record RESULTS KIND FILE [LOG] key=value...   (KIND: h2load redis pgbench load)
    bench-compare.py redis-n CSV_FILE SECONDS                       (requests for ~SECONDS)
    bench-compare.py peak RESULTS RUN SYSTEM CONFIG                 (median req/s, or empty)
    bench-compare.py fetch URL FILE                                 (an HTTP GET into FILE)
    bench-compare.py table RESULTS key=value...                     (the Markdown table)

A results line is a JSON object: group, config, system, run, value (the row's figure: req/s,
events/s or, for the mixed rows, p99 in µs), rate (ops/s), p50_us, p99_us, errors, ok, note,
other_cpu.
"""
import csv
import glob
import json
import os
import re
import socket
import statistics
import struct
import sys
import time

# --- small protobuf / gRPC encoding (enough for one EventBatch) -----------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def event_body(path: str, sku: str, location: str, quantity: int) -> None:
    """A gRPC-framed EventBatch (Ingest/ApplyEvents) with one RECEIPT of `quantity` units, so
    the position the h2load lookups read exists and holds stock (field numbers of
    proto/omnistock/v1/ingest.proto: StockEvent device_id=1 device_seq=2 location_id=3 sku=4
    type=5 quantity=6 event_time_unix_ms=7; EventBatch events=2; EVENT_TYPE_RECEIPT=3)."""
    event = (field_bytes(1, b"bench-compare-preload") + field_varint(2, 1) + field_bytes(3, location.encode())
             + field_bytes(4, sku.encode()) + field_varint(5, 3) + field_varint(6, quantity)
             + field_varint(7, int(time.time() * 1000)))
    batch = field_bytes(2, event)
    with open(path, "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(batch)) + batch)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- parsers: one measurement -> dict(rate, p50_us, p99_us, errors, ok, note) --------------------


def pct(sorted_values, p):
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return float(sorted_values[k])


def parse_h2load(path, log):
    """h2load's summary (req/s, failures, status codes) and its per-request log (--log-file:
    start µs, status, duration µs; measurement phase only) for exact percentiles."""
    text = open(path, errors="replace").read()
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
    rate = float(m.group(1)) if m else 0.0
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    errors = sum(int(x) for x in m.groups()) if m else -1
    m = re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    errors += sum(int(x) for x in m.groups()) if m else 0
    durations = []
    if log and os.path.exists(log):
        with open(log) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    durations.append(int(parts[2]))
    durations.sort()
    ok = bool(m) and errors == 0 and rate > 0
    return dict(rate=rate, p50_us=pct(durations, 50), p99_us=pct(durations, 99), errors=errors, ok=ok,
                note="" if ok else "h2load reported failures")


def parse_redis(path, _log):
    """redis-benchmark --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
    "p95_latency_ms","p99_latency_ms","max_latency_ms" (last line)."""
    with open(path, errors="replace", newline="") as f:
        rows = [r for r in csv.reader(f) if len(r) >= 8 and r[0] != "test"]
    if not rows:
        return dict(rate=0.0, p50_us=float("nan"), p99_us=float("nan"), errors=-1, ok=False, note="no redis-benchmark result")
    r = rows[-1]
    return dict(rate=float(r[1]), p50_us=float(r[4]) * 1000, p99_us=float(r[6]) * 1000, errors=0, ok=True, note="")


def parse_pgbench(path, logdir, per_txn=1):
    """pgbench's summary (tps without connection time, failed transactions) and its -l logs
    (client_id transaction_no time_us ...) for percentiles. A pipelined script runs `per_txn`
    queries per transaction: the rate is queries/s, the latencies are of whole pipelines."""
    text = open(path, errors="replace").read()
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    rate = float(m.group(1)) * per_txn if m else 0.0
    m = re.search(r"number of failed transactions: (\d+)", text)
    errors = int(m.group(1)) if m else 0
    durations = []
    for f in glob.glob(os.path.join(logdir or "", "tx*")):
        for line in open(f):
            parts = line.split()
            if len(parts) >= 3:
                durations.append(int(parts[2]))
    durations.sort()
    ok = rate > 0 and errors == 0
    return dict(rate=rate, p50_us=pct(durations, 50), p99_us=pct(durations, 99), errors=errors, ok=ok,
                note="" if ok else "pgbench failed")


def parse_load(path, exit_code):
    """`omnistock load --json`: the operation this measurement is about (the `op` key: a prefix
    of an operation name), events/s for event rows (eventsAcknowledged / seconds). A non-zero
    exit status (ledger mismatch, or no report) fails the measurement."""
    try:
        report = json.load(open(path))
    except (OSError, ValueError):
        return dict(rate=0.0, p50_us=float("nan"), p99_us=float("nan"), errors=-1, ok=False,
                    note=f"omnistock load exited {exit_code} without a report")
    return report


def record(results, kind, path, extra, meta):
    if kind == "h2load":
        m = parse_h2load(path, extra)
    elif kind == "redis":
        m = parse_redis(path, extra)
    elif kind == "pgbench":
        m = parse_pgbench(path, extra, int(meta.get("per_txn", "1")))
    elif kind == "load":
        exit_code = int(meta.pop("exit", "0"))
        report = parse_load(path, exit_code)
        if "operations" not in report:
            m = report
        else:
            op = next((o for o in report["operations"] if o["name"].startswith(meta["op"])), None)
            errors = sum(op["errors"].values()) if op else -1
            mismatches = len(report.get("mismatches", []))
            if meta.get("unit") == "events/s":
                rate = report["eventsAcknowledged"] / report["seconds"] if report["seconds"] else 0.0
            else:
                rate = op["callsPerSecond"] if op else 0.0
            ok = exit_code == 0 and op is not None and op["calls"] > 0 and errors == 0 and mismatches == 0
            note = ""
            if mismatches or exit_code:
                note = f"ledger check failed: {mismatches} positions differ (exit {exit_code})"
            elif errors:
                note = f"{errors} calls failed: {op['errors']}"
            m = dict(rate=rate, p50_us=float(op["p50Micros"]) if op else float("nan"),
                     p99_us=float(op["p99Micros"]) if op else float("nan"), errors=errors, ok=ok, note=note,
                     client_cpu_s=report.get("cpuSeconds"), checked_positions=report.get("checkedPositions"),
                     unsent=report.get("unsentCalls", 0),
                     other_ops={o["name"]: dict(rate=o["callsPerSecond"], p99_us=o["p99Micros"])
                                for o in report["operations"] if o["calls"] and o is not op})
            if "server_metrics" in meta:
                m["server_p99_us"] = server_p99(*meta.pop("server_metrics").split(","))
        meta.pop("op", None)
    else:
        sys.exit(f"unknown kind {kind}")
    row = dict(meta)
    row["run"] = int(row["run"])
    # Wall time of the whole step (quiet wait, setup, measurement), for tuning the time budget.
    row["step_s"] = round(time.time() - float(row.pop("step_t0")), 1) if "step_t0" in row else None
    row["other_cpu"] = float(row.get("other_cpu", "nan"))
    row.update(m)
    # The figure of the row: latency rows (mixed) report p99, the others their rate.
    row["value"] = row["p99_us"] if row.get("unit") == "p99 µs" else row["rate"]
    with open(results, "a") as f:
        f.write(json.dumps(row) + "\n")
    status = "ok" if row["ok"] else "FAILED: " + row["note"]
    print(f"  run {row['run']} {row['group']:7s} {row['config']:22s} {row['system']:14s} {row['rate']:12,.0f} /s  "
          f"p50 {row['p50_us']:8.0f} µs  p99 {row['p99_us']:8.0f} µs  other_cpu {row['other_cpu']:5.1f}%  "
          f"step {row.get('step_s', '?')} s  {status}",
          file=sys.stderr)


GET_AVAILABILITY = "/omnistock.v1.Availability/GetAvailability"


def server_p99(before, after, method=GET_AVAILABILITY):
    """The server's own p99 of `method` between two scrapes of its Prometheus metrics
    (omnistock_request_duration_seconds histogram): the upper bound, in µs, of the first bucket
    holding 99% of the calls in between (None when there is none)."""
    def buckets(path):
        out = {}
        pattern = re.compile(r'omnistock_request_duration_seconds_bucket\{method="([^"]*)",le="([^"]*)"\} (\S+)')
        for line in open(path):
            m = pattern.match(line)
            if m and m.group(1) == method:
                out[float(m.group(2))] = float(m.group(3))
        return out
    try:
        a, b = buckets(before), buckets(after)
    except OSError:
        return None
    delta = sorted((le, b[le] - a.get(le, 0.0)) for le in b)
    if not delta or delta[-1][1] <= 0:
        return None
    total = delta[-1][1]
    return next(le * 1e6 for le, n in delta if n >= 0.99 * total)


def load_rows(results):
    return [json.loads(line) for line in open(results) if line.strip()] if os.path.exists(results) else []


# --- the table ----------------------------------------------------------------------------------

# What each system id is, as shown in the table.
SYSTEMS = {
    "ours-h2load": ("OmniStock GetAvailability", "h2load"),
    "ours-load": ("OmniStock GetAvailability", "omnistock load"),
    "baseline": ("grpc-swift-2, trivial handler", "h2load"),
    "nghttpd": ("nghttpd static 70 B (HTTP/2 ceiling)", "h2load"),
    "redis-hget": ("Redis HGET", "redis-benchmark"),
    "pg-select": ("PostgreSQL PK SELECT", "pgbench -M prepared"),
    "ours-unary": ("OmniStock ApplyEvents, 1 event/call", "omnistock load"),
    "ours-stream": ("OmniStock StreamEvents, 20 events/batch", "omnistock load"),
    "redis-hincrby": ("Redis HINCRBY, appendfsync always", "redis-benchmark"),
    "pg-update": ("PostgreSQL UPDATE, synchronous commit", "pgbench -M prepared"),
    "mixed-alone": ("OmniStock lookups, no ingest", "omnistock load"),
    "mixed-ingest": ("OmniStock lookups + POS ingest", "omnistock load"),
    "mixed-h2load-alone": ("OmniStock lookups, no ingest", "h2load --rps"),
    "mixed-h2load-ingest": ("OmniStock lookups + POS ingest", "h2load --rps + omnistock load"),
    "mixed-h2load-nghttpd": ("nghttpd static 70 B (this machine's floor)", "h2load --rps"),
}


def fmt_rate(v):
    return f"{v:,.0f}"


def fmt_us(v):
    if v != v:  # nan
        return "-"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


class Table:
    def __init__(self, rows, settings):
        self.rows = rows
        self.settings = settings
        self.lines = []

    def runs(self, group, config, system):
        """Successful runs of one row, by run number."""
        return {r["run"]: r for r in self.rows
                if r["group"] == group and r["config"] == config and r["system"] == system and r["ok"]}

    def all_runs(self, group, config, system):
        return [r for r in self.rows if r["group"] == group and r["config"] == config and r["system"] == system]

    @staticmethod
    def med(runs, key="value"):
        return statistics.median(r[key] for r in runs.values()) if runs else float("nan")

    def ratio(self, ours, other, higher_is_better=True):
        """ours/other of the medians, and the range of the per-run ratios (same run = same
        noise). Returns (median ratio, text) or (nan, "-")."""
        if not ours or not other:
            return float("nan"), "-"
        a, b = self.med(ours), self.med(other)
        if not b or not a:
            return float("nan"), "-"
        r = a / b if higher_is_better else b / a
        per_run = [(ours[k]["value"] / other[k]["value"]) if higher_is_better else (other[k]["value"] / ours[k]["value"])
                   for k in sorted(set(ours) & set(other)) if other[k]["value"] and ours[k]["value"]]
        spread = f" ({min(per_run):.2f}-{max(per_run):.2f})" if len(per_run) > 1 else ""
        return r, f"{r:.2f}x{spread}"

    def add(self, workload, group, config, system, setting, unit, ratio_text="", target=""):
        every = self.all_runs(group, config, system)
        if not every:
            return
        ok = self.runs(group, config, system)
        name, client = SYSTEMS[system]
        values = sorted(r["value"] for r in ok.values())
        show = fmt_us if unit == "p99" else fmt_rate
        if values:
            lo, mid, hi = show(values[0]), show(statistics.median(values)), show(values[-1])
        else:
            lo = mid = hi = "-"
        if unit == "p99":
            extra = f"{fmt_rate(self.med(ok, 'rate'))} lookups/s achieved" if ok else ""
            inside = sorted(r["server_p99_us"] for r in ok.values() if r.get("server_p99_us"))
            if inside:
                extra += f"; inside the server p99 <= {fmt_us(inside[0])}-{fmt_us(inside[-1])}"
            acks = [r["other_ops"][k]["p99_us"] for r in ok.values() for k in r.get("other_ops", {})
                    if k.startswith("StreamEvents")]
            if acks:
                extra += f"; ingest ack p99 {fmt_us(statistics.median(acks))}"
        else:
            extra = fmt_us(self.med(ok, "p99_us")) if ok else ""
        failed = [r for r in every if not r["ok"]]
        if failed:
            notes = "; ".join(sorted({r["note"] for r in failed}))
            extra = (extra + "; " if extra else "") + f"**{len(failed)} of {len(every)} runs FAILED**: {notes}"
        ocs = ", ".join(f"{r['other_cpu']:g}" for r in sorted(every, key=lambda r: r["run"]))
        self.lines.append(f"| {workload} | {name} | {client} | {setting} | {unit} | {lo} | {mid} | {hi} | {extra} | "
                          f"{ratio_text} | {target} | {ocs} |")

    def build(self):
        s = self.settings
        c = s["conc"]
        depth = s["depth"]
        self.lines = [
            "| workload | system | client | setting | unit | min | median | max | p99 latency (median) | ours/other (median; per-run range) | target | other_cpu % per run |",
            "|---|---|---|---|---|---:|---:|---:|---|---|---|---|",
        ]
        # Lookups: ours = OmniStock via h2load (a C load generator, like redis-benchmark and
        # pgbench); the omnistock load row shows the same server through the project's own client.
        for config, label in ((f"c={c} m=1", f"{c} conn, 1 in flight each"),
                              (f"c={c} m={depth}", f"{c} conn, {depth} in flight each")):
            ours = self.runs("lookup", config, "ours-h2load")
            ours_load = self.runs("lookup", config, "ours-load")
            self.add("lookups", "lookup", config, "ours-h2load", label + " (one position)", "req/s", "(ours)")
            self.add("lookups", "lookup", config, "ours-load", label + " (uniform keys)", "req/s",
                     "(ours)")
            for system, target_x in (("baseline", 10), ("nghttpd", None), ("redis-hget", None), ("pg-select", 3)):
                other = self.runs("lookup", config, system)
                r, text = self.ratio(ours, other)
                if system in ("redis-hget", "pg-select") and ours_load:
                    _, text_load = self.ratio(ours_load, other)
                    text = f"h2load {text}; load {text_load}"
                target = ""
                if target_x and other:
                    target = f">= {target_x}x: {'met' if r >= target_x else '**not met**'}"
                setting = label
                if system == "redis-hget":
                    setting = f"{c} conn, pipeline {1 if config.endswith('m=1') else depth}"
                elif system == "pg-select":
                    setting = f"{c} clients, -j 2" + ("" if config.endswith("m=1") else f", pipeline of {depth} (p99 per pipeline)")
                self.add("lookups", "lookup", config, system, setting, "req/s", text, target)
        # Durable writes: two OmniStock rows (one event per call, batched stream), then the
        # alternatives with both ratios.
        for w in s["writers"]:
            config = f"W={w}"
            unary = self.runs("write", config, "ours-unary")
            stream = self.runs("write", config, "ours-stream")
            plural = "s" if w != 1 else ""
            self.add("durable writes", "write", config, "ours-unary", f"{w} writer{plural}, 1 call in flight each", "events/s", "(ours)")
            self.add("durable writes", "write", config, "ours-stream", f"{w} stream{plural}, 4 batches in flight each", "events/s", "(ours)")
            for system in ("redis-hincrby", "pg-update"):
                other = self.runs("write", config, system)
                rb, tb = self.ratio(stream, other)
                ru, tu = self.ratio(unary, other)
                target = ""
                if system == "redis-hincrby" and w == max(s["writers"]) and other:
                    target = (f"batched >= 10x: {'met' if rb >= 10 else '**not met**'}; "
                              f"1/call >= 2x: {'met' if ru >= 2 else '**not met**'}")
                setting = f"{w} client{plural}, pipeline 1" if system.startswith("redis") else f"{w} client{plural}"
                self.add("durable writes", "write", config, system, setting, "writes/s", f"batched {tb}; 1/call {tu}", target)
        # Mixed: open-loop lookups at a fraction of the measured peak, alone and under ingest.
        config = "mixed"
        alone = self.runs("mixed", config, "mixed-alone")
        ingest = self.runs("mixed", config, "mixed-ingest")
        open_loop = s["open_loop"]
        setting_alone = s["mixed_alone"]
        setting_ingest = s["mixed_ingest"]
        self.add("mixed", "mixed", config, "mixed-alone", setting_alone, "p99", "(ours)")
        _, text = self.ratio(ingest, alone, higher_is_better=True)
        target = ""
        if ingest:
            p99 = self.med(ingest)
            if open_loop:
                target = f"p99 <= 2 ms: {'met' if p99 <= 2000 else '**not met**'}"
            else:
                target = "not evaluated (closed-loop fallback)"
        self.add("mixed", "mixed", config, "mixed-ingest", setting_ingest, "p99",
                 f"p99 with/without ingest {text}" if text != "-" else "", target)
        # The same open-loop rate from h2load --rps: ours alone, ours under ingest, and nghttpd's
        # static file (what this machine itself allows at that rate).
        h2_alone = self.runs("mixed", config, "mixed-h2load-alone")
        h2_ingest = self.runs("mixed", config, "mixed-h2load-ingest")
        floor = self.runs("mixed", config, "mixed-h2load-nghttpd")
        rate_note = f"same rate, h2load --rps, {c} conn x 1 in flight"
        self.add("mixed", "mixed", config, "mixed-h2load-alone", rate_note + ", no ingest", "p99", "(ours)")
        _, text = self.ratio(h2_ingest, h2_alone, higher_is_better=True)
        target = ""
        if h2_ingest:
            target = f"p99 <= 2 ms: {'met' if self.med(h2_ingest) <= 2000 else '**not met**'}"
        self.add("mixed", "mixed", config, "mixed-h2load-ingest",
                 rate_note + f" + {s['ingest_eps']} events/s POS ingest", "p99",
                 f"p99 with/without ingest {text}" if text != "-" else "", target)
        _, text_floor = self.ratio(h2_alone, floor, higher_is_better=True)
        self.add("mixed", "mixed", config, "mixed-h2load-nghttpd", rate_note, "p99",
                 f"ours/floor p99 {text_floor}" if text_floor != "-" else "")
        return "\n".join(self.lines)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "free-port":
        print(free_port())
    elif cmd == "event-body":
        event_body(argv[2], argv[3], argv[4], int(argv[5]))
    elif cmd == "record":
        results, kind, path = argv[2:5]
        rest = argv[5:]
        extra = None
        if rest and "=" not in rest[0]:
            extra, rest = rest[0], rest[1:]
        meta = dict(a.split("=", 1) for a in rest)
        record(results, kind, path, extra, meta)
    elif cmd == "redis-n":
        m = parse_redis(argv[2], None)
        print(max(2000, int(m["rate"] * float(argv[3]))))
    elif cmd == "fetch":
        import urllib.request
        with urllib.request.urlopen(argv[2], timeout=10) as response, open(argv[3], "wb") as f:
            f.write(response.read())
    elif cmd == "peak":
        results, run, system, config = argv[2], int(argv[3]), argv[4], argv[5]
        vals = [r["rate"] for r in load_rows(results)
                if r["system"] == system and r["config"] == config and r["ok"] and r["run"] == run]
        print(f"{statistics.median(vals):.0f}" if vals else "")
    elif cmd == "table":
        settings = dict(a.split("=", 1) for a in argv[3:])
        settings["conc"] = int(settings["conc"])
        settings["depth"] = int(settings["depth"])
        settings["writers"] = [int(w) for w in settings["writers"].split()]
        settings["open_loop"] = settings.get("open_loop") == "1"
        print(Table(load_rows(argv[2]), settings).build())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
