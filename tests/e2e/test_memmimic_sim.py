#!/usr/bin/python3
"""End-to-end test of tools/memmimic-sim: the database it writes, the StatsD lines it sends, its
control API, and the effect of each fault switch (slow_db, cache_miss_storm, cpu_burn,
classifier_slow, crash), measured from outside the way a health check would see it.
"""

import datetime
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.environ.get("MM_SOURCE_ROOT",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SIM = os.path.join(ROOT, "tools", "memmimic-sim")

# DogStatsD: name:value|type[|@rate][|#k:v,...]
LINE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*):(-?[0-9]+(?:\.[0-9]+)?)\|(c|g|ms|h)"
                     r"(?:\|@[0-9.]+)?(?:\|#([A-Za-z_][A-Za-z0-9_]*:[^,|#]+"
                     r"(?:,[A-Za-z_][A-Za-z0-9_]*:[^,|#]+)*))?$")

# StatsD name -> type, for what a healthy simulator sends within a few seconds.
EXPECTED = {
    "memmimic_memories_stored": "c", "memmimic_memories_retrieved": "c",
    "memmimic_searches": "c", "memmimic_cxd_classifications": "c",
    "memmimic_cache_hits": "c", "memmimic_cache_misses": "c", "memmimic_db_queries": "c",
    "memmimic_quality_gate_pass": "c",
    "memmimic_cache_size_bytes": "g", "memmimic_cache_entries": "g",
    "memmimic_db_connections_active": "g", "memmimic_db_size_bytes": "g",
    "memmimic_health_score": "g", "memmimic_memory_usage_bytes": "g",
    "memmimic_cpu_usage_percent": "g", "memmimic_disk_usage_bytes": "g",
    "memmimic_cache_hit_rate": "g", "memmimic_memory_usage_percent": "g",
    "memmimic_cxd_classification_latency_seconds": "g",
    "memmimic_operation_duration": "ms", "memmimic_search_duration": "ms",
    "memmimic_storage_duration": "ms", "memmimic_cxd_classification_duration": "ms",
    "memmimic_db_query_duration": "ms", "memmimic_quality_score": "h",
}
# Sent only when something goes wrong (or rarely); when sent, they must have this type.
OPTIONAL = {"memmimic_errors": "c", "memmimic_alerts": "c", "memmimic_quality_gate_fail": "c",
            "memmimic_memory_available_bytes": "g", "memmimic_disk_available_bytes": "g",
            "memmimic_disk_usage_percent": "g", "memmimic_load_average_1m": "g",
            "memmimic_load_average_5m": "g", "memmimic_load_average_15m": "g"}


class StatsdReceiver:
    """A UDP socket of the test's own that records (time, line) for every line received."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            now = time.monotonic()
            with self.lock:
                self.lines.extend((now, line) for line in data.decode().split("\n") if line)

    def since(self, t):
        with self.lock:
            return [line for ts, line in self.lines if ts >= t]

    def values(self, name, since=0.0, kind=None):
        """Values of metric `name` received since `since` (monotonic)."""
        out = []
        for line in self.since(since):
            m = LINE_RE.match(line)
            if m and m.group(1) == name and (kind is None or m.group(3) == kind):
                out.append(float(m.group(2)))
        return out

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


class Sim:
    """One simulator process in a directory of its own."""

    def __init__(self, workdir, statsd_port=None, args=()):
        self.dir = workdir
        self.db = os.path.join(workdir, "memmimic.db")
        self.state = os.path.join(workdir, "state")
        self.log = open(os.path.join(workdir, "sim.log"), "ab")
        cmd = [sys.executable, SIM, "--db", self.db, "--state-dir", self.state,
               "--control-port", "0",
               "--statsd", "127.0.0.1:%d" % statsd_port if statsd_port else "off"] + list(args)
        portfile = os.path.join(self.state, "control.port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        self.port = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(portfile) as f:
                    self.port = int(f.read())
                break
            except (OSError, ValueError):
                time.sleep(0.05)

    def http(self, method, path, timeout=10):
        """(status, decoded JSON body)."""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def fault(self, name, on, value=None, test=None):
        """Flips a switch over HTTP; with test, switches it off again at the test's cleanup."""
        if on and test is not None:
            test.addCleanup(self.fault, name, 0)
        q = "?on=%d" % on + ("&value=%s" % value if value is not None else "")
        status, doc = self.http("POST", "/fault/%s%s" % (name, q))
        assert status == 200 and doc["on"] == bool(on), (status, doc)

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(10)
        if rc is None:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def logtext(self):
        with open(os.path.join(self.dir, "sim.log"), errors="replace") as f:
            return f.read()


def read_latency(db, timeout=10.0):
    """Seconds an outside read-only reader needs for SELECT COUNT(*), as a sqlite check does."""
    t0 = time.monotonic()
    conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=timeout)
    try:
        conn.execute("SELECT COUNT(*) FROM memories").fetchone()
    finally:
        conn.close()
    return time.monotonic() - t0


def wait_for(cond, timeout, step=0.1):
    """Polls cond() until it returns a true value or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


class MemmimicSimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mm-sim-")
        cls.rx = StatsdReceiver()
        cls.sim = Sim(cls.tmp.name, cls.rx.port,
                      ["--rate", "40", "--interval", "0.5", "--window", "2", "--seed", "7"])
        assert cls.sim.port, "simulator did not start:\n" + cls.sim.logtext()
        cls.t0 = time.monotonic()
        time.sleep(2.0)

    @classmethod
    def tearDownClass(cls):
        rc = cls.sim.stop()
        cls.rx.close()
        log = cls.sim.logtext()
        cls.tmp.cleanup()
        assert rc == 0, "simulator exited %r on SIGTERM:\n%s" % (rc, log)

    def setUp(self):
        self.assertIsNone(self.sim.proc.poll(), self.sim.logtext())

    def test_help(self):
        r = subprocess.run([sys.executable, SIM, "--help"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 0)
        for word in ("--db", "--statsd", "--rate", "--control-port", "--state-dir", "--fault",
                     "--duration", "--seed", "slow_db", "cache_miss_storm", "cpu_burn", "crash"):
            self.assertIn(word, r.stdout)
        r = subprocess.run([sys.executable, SIM, "--fault", "nonsense"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 2)

    def test_schema_and_rows(self):
        conn = sqlite3.connect("file:%s?mode=ro" % self.sim.db, uri=True, timeout=10)
        try:
            cols = [(r[1], r[2], r[3], r[4], r[5])
                    for r in conn.execute("PRAGMA table_info(memories)")]
            self.assertEqual(cols, [("id", "INTEGER", 0, None, 1), ("content", "TEXT", 1, None, 0),
                                    ("metadata", "TEXT", 0, None, 0),
                                    ("importance_score", "REAL", 0, "0.5", 0),
                                    ("created_at", "TEXT", 1, None, 0),
                                    ("updated_at", "TEXT", 1, None, 0)])
            idx = {r[0]: r[1] for r in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='memories'")}
            self.assertEqual(set(idx), {"idx_importance", "idx_created_at", "idx_content_fts"})
            self.assertIn("(content)", idx["idx_content_fts"])
            self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            self.assertTrue(conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'").fetchone())
            rows = conn.execute("SELECT * FROM memories ORDER BY id").fetchall()
            self.assertGreater(len(rows), 100)  # 100 seeded + the workload's
            types = set()
            for _id, content, meta, importance, created, updated in rows:
                self.assertTrue(content)
                m = json.loads(meta)
                self.assertEqual(set(m), {"cxd", "type"})
                self.assertRegex(m["cxd"], r"^(?!.*(.).*\1)[CXD]{1,3}$")
                types.add(m["type"])
                self.assertEqual(importance, 0.5)
                self.assertEqual(datetime.datetime.fromisoformat(created).isoformat(), created)
                self.assertEqual(updated, created)
            self.assertLessEqual(types, {"interaction", "reflection", "milestone"})
            # The reference's recall_cxd query finds what the workload wrote.
            hits = conn.execute("SELECT * FROM memories WHERE content LIKE ? ORDER BY "
                                "importance_score DESC, created_at DESC LIMIT ?",
                                ("%data%", 10)).fetchall()
            self.assertTrue(hits)
        finally:
            conn.close()

    def test_statsd_lines(self):
        lines = self.rx.since(0)
        self.assertGreater(len(lines), 100)
        seen = {}
        for line in lines:
            m = LINE_RE.match(line)
            self.assertIsNotNone(m, "not a DogStatsD line: %r" % line)
            name, kind = m.group(1), m.group(3)
            self.assertTrue(name.startswith("memmimic_"), line)
            self.assertFalse(name.endswith(("_total", "_seconds_count", "_count")), line)
            want = EXPECTED.get(name, OPTIONAL.get(name))
            self.assertEqual(kind, want, "unexpected name or type: %r" % line)
            seen.setdefault(name, set()).add(m.group(4) or "")
        self.assertEqual(set(EXPECTED) - set(seen), set())
        self.assertIn("operation:remember", seen["memmimic_operation_duration"])
        self.assertIn("operation:recall_cxd", seen["memmimic_operation_duration"])
        self.assertIn("cache:recall", seen["memmimic_cache_hits"])
        self.assertTrue(any(t.startswith("op:") for t in seen["memmimic_db_queries"]))
        for score in self.rx.values("memmimic_health_score"):
            self.assertTrue(0 <= score <= 1)

    def test_status_and_control(self):
        status, doc = self.sim.http("GET", "/status")
        self.assertEqual(status, 200)
        self.assertEqual(doc["status"], "operational")
        self.assertGreater(doc["memories"], 100)
        self.assertTrue(doc["cxd_available"])
        self.assertEqual(doc["simulator"]["pid"], self.sim.proc.pid)
        datetime.datetime.fromisoformat(doc["performance"]["newest_created_at"])
        with open(os.path.join(self.sim.state, "memmimic-sim.pid")) as f:
            self.assertEqual(int(f.read()), self.sim.proc.pid)
        status, doc = self.sim.http("GET", "/cxd/classify?text=analyze+the+metrics+data")
        self.assertEqual(status, 200)
        self.assertEqual(doc["pattern"][0], "D")
        self.assertEqual(self.sim.http("GET", "/cache/probe")[0], 200)
        self.assertEqual(self.sim.http("POST", "/fault/nonsense?on=1")[0], 404)
        self.assertEqual(self.sim.http("POST", "/fault/slow_db?on=maybe")[0], 400)
        self.assertEqual(self.sim.http("GET", "/nowhere")[0], 404)
        status, doc = self.sim.http("GET", "/faults")
        self.assertEqual(set(doc), {"slow_db", "cache_miss_storm", "cpu_burn", "classifier_slow",
                                    "crash"})

    def test_fault_slow_db(self):
        before = [read_latency(self.sim.db) for _ in range(5)]
        self.assertLess(max(before), 0.25, before)
        t_on = time.monotonic()
        self.sim.fault("slow_db", 1, 800, test=self)
        samples = []
        while time.monotonic() < t_on + 3.0:
            samples.append(read_latency(self.sim.db))
            time.sleep(0.15)
        self.sim.fault("slow_db", 0)
        # Outside readers now wait for the simulator's lock, and its own queries are slow.
        self.assertGreaterEqual(max(samples), 0.3, samples)
        own = self.rx.values("memmimic_db_query_duration", since=t_on + 0.5, kind="ms")
        self.assertTrue(own and max(own) >= 700, own)
        time.sleep(1.0)
        after = [read_latency(self.sim.db) for _ in range(5)]
        self.assertLess(max(after), 0.25, after)

    def test_fault_cache_miss_storm(self):
        rate = lambda since: self.rx.values("memmimic_cache_hit_rate", since=since)
        self.assertTrue(wait_for(lambda: [v for v in rate(0)[-1:] if v > 0.5], 8), rate(0))
        path = os.path.join(self.sim.state, "faults", "cache_miss_storm")
        t_on = time.monotonic()
        open(path, "w").close()  # through the control directory this time
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        low = wait_for(lambda: [v for v in rate(t_on + 0.3)[-1:] if v < 0.1], 6)
        self.assertTrue(low, rate(t_on))
        hits = sum(self.rx.values("memmimic_cache_hits", since=t_on + 0.5))
        misses = sum(self.rx.values("memmimic_cache_misses", since=t_on + 0.5))
        self.assertGreater(misses, 5 * max(hits, 1), (hits, misses))
        self.assertEqual(self.sim.http("GET", "/cache/probe")[0], 503)
        t_off = time.monotonic()
        os.unlink(path)
        high = wait_for(lambda: [v for v in rate(t_off + 0.3)[-1:] if v > 0.5], 8)
        self.assertTrue(high, rate(t_off))
        self.assertEqual(self.sim.http("GET", "/cache/probe")[0], 200)

    def test_fault_cpu_burn(self):
        def cores_used(seconds):
            c0, t0 = self.sim.cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            return (self.sim.cpu_seconds() - c0) / (time.monotonic() - t0)

        def first_window(pred, windows):
            # CPU share depends on what else runs on this 2-core machine, so
            # look at several 1-second windows and keep the first that shows it.
            seen = []
            for _ in range(windows):
                seen.append(cores_used(1.0))
                if pred(seen[-1]):
                    return seen[-1], seen
            return None, seen
        idle = cores_used(1.0)
        self.sim.fault("cpu_burn", 1, test=self)
        busy, seen = first_window(lambda u: u > idle + 0.35, 10)
        self.assertIsNotNone(busy, (idle, seen))
        self.assertLess(max(seen), 1.25, seen)  # bounded: about one core at most
        self.sim.fault("cpu_burn", 0)
        calm, seen = first_window(lambda u: u < busy - 0.3, 5)
        self.assertIsNotNone(calm, (busy, seen))

    def test_fault_classifier_slow(self):
        def probe():
            t0 = time.monotonic()
            status, doc = self.sim.http("GET", "/cxd/classify")
            self.assertEqual(status, 200)
            return time.monotonic() - t0
        self.assertLess(probe(), 0.2)
        t_on = time.monotonic()
        self.sim.fault("classifier_slow", 1, 300, test=self)
        self.assertGreaterEqual(probe(), 0.3)
        gauge = lambda: self.rx.values("memmimic_cxd_classification_latency_seconds",
                                       since=t_on)[-1:]
        self.assertTrue(wait_for(lambda: [v for v in gauge() if v >= 0.2], 4), gauge())
        self.assertTrue(max(self.rx.values("memmimic_cxd_classification_duration",
                                           since=t_on)) >= 300)
        self.sim.fault("classifier_slow", 0)
        self.assertLess(probe(), 0.2)


class CrashAndRestartTest(unittest.TestCase):
    """The crash switch, the crash loop while it stays on, and a clean SIGTERM."""

    def test_crash_loop_and_sigterm(self):
        with tempfile.TemporaryDirectory(prefix="mm-sim-crash-") as tmp:
            sim = Sim(tmp, args=["--rate", "10", "--seed", "3"])
            self.assertTrue(sim.port, sim.logtext())
            sim.fault("crash", 1, 0.3)
            self.assertEqual(sim.wait(5), 70, sim.logtext())
            pidfile = os.path.join(sim.state, "memmimic-sim.pid")
            self.assertTrue(os.path.exists(pidfile))  # stale, as a real crash leaves it
            sim.log.close()
            # The switch stays on: a restarted simulator crashes again.
            sim = Sim(tmp, args=["--rate", "10", "--seed", "3"])
            self.assertEqual(sim.wait(5), 70, sim.logtext())
            sim.log.close()
            # Switched off (file removed): the next start stays up and stops cleanly.
            os.unlink(os.path.join(sim.state, "faults", "crash"))
            sim = Sim(tmp, args=["--rate", "10", "--seed", "3"])
            self.assertTrue(sim.port, sim.logtext())
            time.sleep(1.5)
            self.assertIsNone(sim.proc.poll(), sim.logtext())
            self.assertEqual(sim.stop(), 0, sim.logtext())
            self.assertFalse(os.path.exists(pidfile))
            self.assertIn("stopped after", sim.logtext())

    def test_seed_is_deterministic(self):
        def contents(tmp, seed):
            sim = Sim(tmp, args=["--rate", "200", "--duration", "1", "--seed", str(seed),
                                 "--initial", "20"])
            self.assertEqual(sim.wait(15), 0, sim.logtext())
            sim.log.close()
            conn = sqlite3.connect(sim.db)
            try:
                return [r[0] for r in conn.execute("SELECT content FROM memories ORDER BY id")]
            finally:
                conn.close()
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, \
                tempfile.TemporaryDirectory() as c:
            ra, rb, rc = contents(a, 11), contents(b, 11), contents(c, 12)
        n = min(len(ra), len(rb))
        self.assertGreater(n, 30)
        self.assertEqual(ra[:n], rb[:n])
        self.assertNotEqual(ra[:20], rc[:20])


if __name__ == "__main__":
    unittest.main(verbosity=2)
