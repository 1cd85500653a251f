#!/usr/bin/env python3
"""Benchmark: GET /api/status under wrk (target >= 50k req/s on the 2-core box,
wrk and the gateway sharing the cores). Starts bus + gateway from a temp
config on a release build, warms up, runs wrk, prints wrk's output and the
gateway's RSS.
  tools/bench/gateway_status.py [--duration 10] [--connections 64] [--threads 2]"""

import argparse
import re
import shutil
import subprocess
import sys
import time

from gateway_benchlib import GatewayStack, rss_kb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--path", default="/api/status")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    with GatewayStack() as g:
        time.sleep(1.5)     # let heartbeats fill the services list
        status, body = g.get(a.path)
        print("%s: %d, %d bytes; gateway RSS before: %d KiB" % (a.path, status, len(body),
                                                                 rss_kb(g.pid())))
        subprocess.run(["wrk", "-t1", "-c8", "-d2s", g.url(a.path)], stdout=subprocess.DEVNULL)
        cmd = ["wrk", "-t%d" % a.threads, "-c%d" % a.connections, "-d%ds" % a.duration,
               "--latency", g.url(a.path)]
        print("$ " + " ".join(cmd))
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        print(out)
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        print("gateway RSS after: %d KiB" % rss_kb(g.pid()))
        if m:
            rps = float(m.group(1))
            print("RESULT %s %.0f req/s (target >= 50000): %s" % (a.path, rps,
                                                                  "PASS" if rps >= 50000 else "MISS"))


if __name__ == "__main__":
    main()
