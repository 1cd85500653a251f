#!/usr/bin/env python3
"""Benchmark: render and serve the text exposition of 10k and 100k series
(target: 100k in <= 50 ms). Series are pushed through /api/ingest (and so the
bus) as 100 families with two labels each. "cold" = the first GET after the
view changed (render + serve); "warm" = a GET of the cached render (serve
only). Times are wall-clock on a kept-alive connection, body fully read.
Also runs wrk on /metrics for throughput.
  tools/bench/exposition.py [--sizes 10000,100000] [--rounds 7]"""

import argparse
import http.client
import json
import random
import re
import shutil
import statistics
import subprocess
import time

from gateway_benchlib import GatewayStack, rss_kb

FAMILIES = 100


def samples(n, value, start=0, kind="short"):
    """kind "short": values with 3 decimals (gauges, counters, bucket counts are
    like this); "random": arbitrary doubles that need 15-17 digits."""
    def val(i):
        if kind == "random":
            return value + random.random() * 1000
        return round(value + i * 0.001, 3)
    return [{"name": "bench_family_%03d_seconds" % (i % FAMILIES), "value": val(i),
             "labels": {"instance": "host-%d" % (i // FAMILIES % 50), "series": str(i)}}
            for i in range(start, start + n)]


def fill(g, n):
    # 5000 samples keep a request under the 1 MiB body limit.
    for start in range(0, n, 5000):
        g.ingest(samples(min(5000, n - start), 1.0, start))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (g.own_value("memmon_gateway_series") or 0) >= n:
            return
        time.sleep(0.1)
    raise RuntimeError("only %s series arrived" % g.own_value("memmon_gateway_series"))


def timed_get(g, conn):
    t0 = time.perf_counter()
    status, body = g.get("/metrics", conn)
    return (time.perf_counter() - t0) * 1000, status, len(body)


def run_size(g, n, rounds):
    fill(g, n)
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=60)
    cold, warm = [], []
    size = 0
    for r in range(rounds):
        # Change one series so that the next GET renders everything again.
        g.ingest([{"name": "bench_family_000_seconds", "value": float(r),
                   "labels": {"instance": "host-0", "series": "0"}}])
        time.sleep(0.05)
        ms, status, size = timed_get(g, conn)
        assert status == 200
        cold.append(ms)
        for _ in range(3):
            warm.append(timed_get(g, conn)[0])
    # Every value changed (what a full collector batch does): the render
    # formats all n values again.
    full = {}
    for kind in ("short", "random"):
        full[kind] = []
        for r in range(3):
            batch = []
            for start in range(0, n, 5000):
                batch = samples(min(5000, n - start), 200.0 + r, start, kind)
                g.ingest(batch)
            # Wait for the last sample without touching /metrics (which would
            # render): the JSON form does not use the exposition's caches.
            last = batch[-1]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                _, body = g.get("/api/metrics?form=labelled&name=" + last["name"])
                vals = [x["value"] for x in json.loads(body)["series"]
                        if x["labels"]["series"] == last["labels"]["series"]]
                if vals and vals[0] == last["value"]:
                    break
                time.sleep(0.05)
            full[kind].append(timed_get(g, conn)[0])
    conn.close()
    return (statistics.median(cold), min(cold), statistics.median(warm), size,
            statistics.median(full["short"]), statistics.median(full["random"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--wrk", type=int, default=5, help="wrk seconds per size (0: skip)")
    a = ap.parse_args()
    rows = []
    with GatewayStack() as g:
        for n in [int(x) for x in a.sizes.split(",")]:
            cold, cold_min, warm, size, full, rnd = run_size(g, n, a.rounds)
            rps = None
            if a.wrk and shutil.which("wrk"):
                out = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % a.wrk, g.url("/metrics")],
                                     capture_output=True, text=True).stdout
                m = re.search(r"Requests/sec:\s+([\d.]+)", out)
                rps = float(m.group(1)) if m else None
            rows.append((n, size, cold, cold_min, full, rnd, warm, rps, rss_kb(g.pid())))
    print("| series | body | render+serve, 1 value changed (median/min) | all values changed, 3-decimal values | "
          "all values changed, 17-digit doubles | serve cached | wrk -t2 -c8 /metrics | gateway RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for n, size, cold, cold_min, full, rnd, warm, rps, rss in rows:
        print("| %d | %.1f MB | %.1f / %.1f ms | %.1f ms | %.1f ms | %.1f ms | %s | %.1f MB |" % (
            n, size / 1e6, cold, cold_min, full, rnd, warm, "%.0f req/s" % rps if rps else "-",
            rss / 1024))
    for n, size, cold, cold_min, full, rnd, warm, rps, rss in rows:
        if n == 100000:
            print("RESULT 100k series render+serve %.1f ms with 3-decimal values, %.1f ms with "
                  "17-digit doubles (target <= 50 ms): %s / %s"
                  % (full, rnd, "PASS" if full <= 50 else "MISS", "PASS" if rnd <= 50 else "MISS"))


if __name__ == "__main__":
    main()
