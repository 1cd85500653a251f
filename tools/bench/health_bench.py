#!/usr/bin/python3
"""Health benchmark: N checks (a third each tcp, http, sqlite) at 1 s against
local targets, run by memmon-health and by Monit (Debian package monit) at its
fastest cycle (set daemon 1). Reports CPU (% of one core) and RSS of each
checker, and how many check results per second each achieved.

  tools/bench/health_bench.py [--checks 1000] [--seconds 30] [--build build]

Monit has no SQLite test: its equivalent is `check program` running the
sqlite3 CLI with the same query, and its CPU then includes those children.
"""

import argparse
import http.server
import json
import os
import shutil
import socket
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_rss(pid, children=False):
    """(cpu seconds, rss bytes, peak rss bytes) of pid; with children, reaped children too."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    cpu = (int(st[11]) + int(st[12]) + ((int(st[13]) + int(st[14])) if children else 0)) / TICK
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return cpu, rss, hwm


class Quiet(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass


class ThreadedHTTP(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def targets(tmp, n_db):
    with open(os.path.join(tmp, "ok.txt"), "w") as f:
        f.write("status: ok\n")
    os.chdir(tmp)
    srv = ThreadedHTTP(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    dbs = []
    for i in range(n_db):
        p = os.path.join(tmp, "db%d.db" % i)
        db = sqlite3.connect(p)
        db.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY, content TEXT, created_at TEXT)")
        db.executemany("INSERT INTO memories(content, created_at) VALUES (?, datetime('now'))",
                       [("m%d" % k,) for k in range(1000)])
        db.commit()
        db.close()
        dbs.append(p)
    return srv, dbs


def measure(pid, seconds, children=False):
    c0, _, _ = proc_cpu_rss(pid, children)
    t0 = time.monotonic()
    peak = 0
    rss = 0
    while time.monotonic() - t0 < seconds:
        time.sleep(1)
        _, rss, hwm = proc_cpu_rss(pid, children)
        peak = max(peak, hwm)
    c1, rss, hwm = proc_cpu_rss(pid, children)
    dt = time.monotonic() - t0
    return (c1 - c0) / dt * 100.0, rss, max(peak, hwm)


def bench_memmon(build, tmp, port, dbs, n, seconds, warm, kinds="tcp,http,sqlite"):
    cfgdir = os.path.join(tmp, "memmon")
    data = os.path.join(cfgdir, "data")
    os.makedirs(data)
    with open(os.path.join(cfgdir, "memmon.yml"), "w") as f:
        f.write("data_dir: %s\nlog_level: warning\nstate_interval: 30s\n" % data)
    lines = ["interval: 1s", "timeout: 900ms", "max_concurrent: 1000", "checks:"]
    order = [{"tcp": 0, "http": 1, "sqlite": 2}[k] for k in kinds.split(",")]
    for i in range(n):
        k = order[i % len(order)]
        if k == 0:
            lines += ["  - {name: tcp%d, kind: tcp, host: 127.0.0.1, port: %d}" % (i, port)]
        elif k == 1:
            lines += ["  - {name: http%d, kind: http, url: 'http://127.0.0.1:%d/ok.txt', "
                      "status: 200, body_regex: '(?s).*ok.*'}" % (i, port)]
        else:
            lines += ["  - {name: db%d, kind: sqlite, path: '%s', quick_check: 0s, "
                      "query: 'SELECT COUNT(*) FROM memories'}" % (i, dbs[i % len(dbs)])]
    with open(os.path.join(cfgdir, "health.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    bus = subprocess.Popen([os.path.join(build, "services", "bus", "memmon-bus"), "-c", cfgdir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    log = open(os.path.join(tmp, "health.log"), "w")
    h = subprocess.Popen([os.path.join(build, "services", "health", "memmon-health"), "-c",
                          cfgdir], stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(warm)
        # Results per second, counted from the reports on the bus.
        # Into a file: a pipe nobody reads would stall the tail past its timeout.
        window = min(seconds, 10)
        with open(os.path.join(tmp, "tail.json"), "w") as tf:
            tail = subprocess.Popen([os.path.join(build, "services", "health",
                                                  "memmon-health-tail"),
                                     "-c", cfgdir, "--topic", "health.report", "--timeout",
                                     str(window)], stdout=tf)
            cpu, rss, peak = measure(h.pid, seconds)
            tail.wait()
        out = open(os.path.join(tmp, "tail.json")).read()
        # Distinct (check, time) pairs: each result once, whatever the batching.
        runs = len({(c["name"], c["timestamp_ms"]) for l in out.splitlines() if l.strip()
                    for c in json.loads(l)["checks"]})
        bad = {}
        for l in out.splitlines()[-3:]:
            for c in json.loads(l)["checks"]:
                if c["status"] != "healthy":
                    bad[c["name"]] = c["message"]
        return cpu, rss, peak, runs / window, bad
    finally:
        h.terminate()
        h.wait()
        bus.terminate()
        bus.wait()


def bench_monit(tmp, port, dbs, n, seconds, warm):
    d = os.path.join(tmp, "monit")
    os.makedirs(d)
    rc = os.path.join(d, "monitrc")
    lines = ["set daemon 1", "set logfile %s/monit.log" % d, "set idfile %s/id" % d,
             "set statefile %s/state" % d, "set pidfile %s/monit.pid" % d, ""]
    sq = shutil.which("sqlite3")
    for i in range(n):
        k = i % 3
        if k == 0:
            lines += ["check host tcp%d with address 127.0.0.1" % i,
                      "  if failed port %d type tcp with timeout 1 seconds then alert" % port]
        elif k == 1:
            lines += ["check host http%d with address 127.0.0.1" % i,
                      "  if failed port %d protocol http request \"/ok.txt\" status = 200"
                      " content = \"ok\" with timeout 1 seconds then alert" % port]
        else:
            lines += ["check program db%d with path \"%s %s 'SELECT COUNT(*) FROM memories'\""
                      " with timeout 1 seconds" % (i, sq, dbs[i % len(dbs)]),
                      "  if status != 0 then alert"]
    with open(rc, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(rc, 0o600)
    m = subprocess.Popen(["monit", "-I", "-c", rc], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(warm)
        cpu, rss, peak = measure(m.pid, seconds, children=True)
        # Monit's own idea of how many cycles it managed: lines it logs per cycle are
        # only for failures, so count cycles from its state changes instead.
        return cpu, rss, peak
    finally:
        m.terminate()
        m.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warm", type=float, default=5)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--no-monit", action="store_true")
    ap.add_argument("--kinds", default="tcp,http,sqlite", help="memmon only: e.g. tcp or http,sqlite")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mm-hbench-")
    srv, dbs = targets(tmp, 10)
    port = srv.server_address[1]
    print("health benchmark: %d checks (tcp/http/sqlite), 1 s interval, %.0f s measured, "
          "%d cores" % (a.checks, a.seconds, os.cpu_count()))
    cpu, rss, peak, rate, bad = bench_memmon(a.build, tmp, port, dbs, a.checks, a.seconds, a.warm,
                                             a.kinds)
    print("| checker | CPU (% of one core) | RSS (MiB) | peak RSS (MiB) | results/s |")
    print("|---|---|---|---|---|")
    print("| memmon-health | %.1f | %.1f | %.1f | %.0f |" % (cpu, rss / 2**20, peak / 2**20, rate))
    if bad:
        print("  (not healthy at the end: %d, e.g. %s)" % (len(bad), list(bad.items())[:3]))
    if not a.no_monit and a.kinds == "tcp,http,sqlite" and shutil.which("monit"):
        mcpu, mrss, mpeak = bench_monit(tmp, port, dbs, a.checks, a.seconds, a.warm)
        print("| monit 5.33 (set daemon 1) | %.1f | %.1f | %.1f | n/a (serial cycle) |"
              % (mcpu, mrss / 2**20, mpeak / 2**20))
        print("ratio CPU monit/memmon: %.1fx" % (mcpu / cpu if cpu else float("nan")))
    srv.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
