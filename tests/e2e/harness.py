"""End-to-end test harness: a memmon stack from a temp config directory.

Tests start the real binaries from the build directory given by
MM_BUILD_ROOT (meson sets it), talk to them over HTTP, UDP and WebSocket, and
always stop them. Standard library plus Debian's python3 packages only.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SOURCE_ROOT = os.environ.get("MM_SOURCE_ROOT", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_ROOT = os.environ.get("MM_BUILD_ROOT", os.path.join(SOURCE_ROOT, "build-test"))
SHARED_DIR = os.environ.get("MM_SHARED_DIR", os.path.join(SOURCE_ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tools", "lib"))
import memmon_stack  # noqa: E402

MEMMONCTL = os.path.join(BUILD_ROOT, "tools", "memmonctl", "memmonctl")


def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def binary(service):
    return memmon_stack.binary_path(BUILD_ROOT, service)


def wait_for(pred, timeout=10.0, what="condition", interval=0.05):
    """Polls pred() until it returns a truthy value; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # the service may not be up yet
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))


class TempConfig:
    """A config directory with memmon.yml and any service files, in a temp dir."""

    def __init__(self, files=None, memmon=None):
        self.root = tempfile.mkdtemp(prefix="mm-e2e-")
        self.dir = os.path.join(self.root, "config")
        self.data_dir = os.path.join(self.root, "data")
        os.makedirs(self.dir)
        os.makedirs(self.data_dir)
        self.gateway_port = free_port()
        self.token = "test-token-0123456789"
        base = {
            "data_dir": self.data_dir,
            "log_level": "debug",
            "gateway_host": "127.0.0.1",
            "gateway_port": self.gateway_port,
            "api_token": self.token,
            "heartbeat_interval": "1s",
            "state_interval": "2s",
            "memmimic_db": os.path.join(self.data_dir, "memmimic.db"),
        }
        base.update(memmon or {})
        self.write("memmon.yml", "".join("%s: %s\n" % (k, json.dumps(v) if isinstance(v, str)
                                                       else v) for k, v in base.items()))
        for name, text in (files or {}).items():
            self.write(name, text)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def path(self, name):
        return os.path.join(self.dir, name)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


class Stack:
    """Runs services from a TempConfig under the same supervisor tools/run uses."""

    def __init__(self, config, services, extra=None):
        self.config = config
        self.messages = []
        self.stack = memmon_stack.Stack(BUILD_ROOT, config.dir, config.data_dir,
                                        services=services, extra=extra,
                                        say=self.messages.append)
        missing = set(services) - set(self.stack.names())
        if missing:
            raise AssertionError("binaries not built: %s" % ", ".join(sorted(missing)))

    def __enter__(self):
        self.stack.start()
        return self

    def __exit__(self, *exc):
        self.stack.stop()
        if exc[0] is not None:
            self.dump_logs()
        return False

    def log(self, service):
        with open(os.path.join(self.stack.log_dir, service + ".log"), errors="replace") as f:
            return f.read()

    def dump_logs(self):
        for name in self.stack.names():
            try:
                sys.stderr.write("---- %s.log ----\n%s\n" % (name, self.log(name)[-4000:]))
            except OSError:
                pass

    def pid(self, service):
        return self.stack.proc(service).popen.pid

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.config.gateway_port, path)

    def http(self, method, path, body=None, token=None, headers=None, timeout=5):
        """Returns (status, headers, body bytes) without raising on 4xx/5xx."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.url(path), data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get_json(self, path):
        status, _, body = self.http("GET", path)
        if status != 200:
            raise AssertionError("GET %s -> %d %r" % (path, status, body[:200]))
        return json.loads(body)


def run(cmd, **kw):
    """Runs a command, returns CompletedProcess with text output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)


def main(tests):
    """Runs test functions in order; prints one line each and a closing count."""
    failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            print("ok   %s (%.1fs)" % (t.__name__, time.monotonic() - start), flush=True)
        except SkipTest as e:
            print("skip %s: %s" % (t.__name__, e), flush=True)
        except Exception:
            failed += 1
            import traceback
            print("FAIL %s" % t.__name__, flush=True)
            traceback.print_exc()
    sys.exit(1 if failed else 0)


class SkipTest(Exception):
    pass


class PrometheusServer:
    """A real Prometheus server (Debian's package) scraping given targets, as an oracle."""

    def __init__(self, targets, interval="1s", job="memmon", metrics_path="/metrics"):
        self.root = tempfile.mkdtemp(prefix="mm-prom-")
        self.port = free_port()
        cfg = os.path.join(self.root, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: %s\n  evaluation_interval: %s\n"
                    "scrape_configs:\n  - job_name: %s\n    metrics_path: %s\n"
                    "    static_configs:\n      - targets: [%s]\n"
                    % (interval, interval, job, metrics_path,
                       ", ".join('"%s"' % t for t in targets)))
        self.argv = ["prometheus", "--config.file=" + cfg,
                     "--storage.tsdb.path=" + os.path.join(self.root, "data"),
                     "--web.listen-address=127.0.0.1:%d" % self.port,
                     "--log.level=warn"]
        self.popen = None

    def __enter__(self):
        if not shutil.which("prometheus"):
            raise SkipTest("prometheus is not installed (tools/bootstrap installs it)")
        self.log = open(os.path.join(self.root, "prometheus.log"), "wb")
        self.popen = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.api("/-/ready", raw=True), timeout=30, what="prometheus ready")
        return self

    def __exit__(self, *exc):
        if self.popen:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)
        return False

    def api(self, path, raw=False):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=5) as r:
            body = r.read()
        return body if raw else json.loads(body)

    def query(self, expr):
        """Instant query; returns the result list."""
        q = urllib.request.quote(expr)
        return self.api("/api/v1/query?query=" + q)["data"]["result"]

    def targets(self):
        return self.api("/api/v1/targets")["data"]["activeTargets"]


def promtool_check_metrics(text):
    """Runs `promtool check metrics` on exposition text; returns (code, output)."""
    if not shutil.which("promtool"):
        raise SkipTest("promtool is not installed (tools/bootstrap installs prometheus)")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).strip()
