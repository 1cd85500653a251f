"""Shared by the gateway benchmarks: a bus + gateway stack from a temp config
on an optimized build, and HTTP helpers. Standard library only."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "lib"))
import memmon_stack  # noqa: E402

TOKEN = "bench-token-0123456789"


def build_dir():
    """$MM_BUILD_ROOT, else build-bench/ (release, no tests), built if needed."""
    d = os.environ.get("MM_BUILD_ROOT") or os.path.join(ROOT, "build-bench")
    if not os.path.exists(os.path.join(d, "build.ninja")):
        subprocess.run(["meson", "setup", d, ROOT, "-Dbuildtype=release", "-Dtests=false"],
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", d, "services/bus/memmon-bus",
                    "services/gateway/memmon-gateway"], check=True, stdout=subprocess.DEVNULL)
    return d


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class GatewayStack:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="mm-bench-")
        self.cfg = os.path.join(self.root, "config")
        self.data = os.path.join(self.root, "data")
        os.makedirs(self.cfg)
        self.port = free_port()
        with open(os.path.join(self.cfg, "memmon.yml"), "w") as f:
            f.write('data_dir: "%s"\ngateway_port: %d\napi_token: "%s"\nlog_level: "notice"\n'
                    % (self.data, self.port, TOKEN))
        self.stack = memmon_stack.Stack(build_dir(), self.cfg, self.data,
                                        services=["bus", "gateway"])

    def __enter__(self):
        self.stack.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if self.get("/-/healthy")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gateway did not start")

    def __exit__(self, *exc):
        self.stack.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        return False

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        if conn is None:
            c.close()
        return r.status, body

    def ingest(self, samples):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("POST", "/api/ingest", body=json.dumps({"samples": samples}),
                  headers={"Authorization": "Bearer " + TOKEN,
                           "Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 202:
            raise RuntimeError("ingest: %d %s" % (r.status, body[:200]))

    def own_value(self, name):
        _, body = self.get("/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def pid(self):
        return self.stack.proc("gateway").popen.pid


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
