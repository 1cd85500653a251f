"""memmon-health end to end: the real daemon and bus from a temp config, checks
against real targets (SQLite files healthy, missing, corrupt and locked; an
HTTP server on loopback and a hung one; TCP ports; Nagios-style commands that
warn, hang or print megabytes of garbage; a process killed mid-test), read
back from the bus with memmon-health-tail and from health.db."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import Stack, TempConfig, binary, run, wait_for

TAIL = os.path.join(harness.BUILD_ROOT, "services", "health", "memmon-health-tail")
PY = "/usr/bin/python3"


def memmimic_db(path, rows=3):
    """A SQLite file with MemMimic's schema and a few fresh rows."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY AUTOINCREMENT, content TEXT NOT NULL,"
               " metadata TEXT, importance_score REAL DEFAULT 0.5, created_at TEXT NOT NULL,"
               " updated_at TEXT NOT NULL)")
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000")
    for i in range(rows):
        db.execute("INSERT INTO memories(content, metadata, created_at, updated_at)"
                   " VALUES (?, '{}', ?, ?)", ("memory %d" % i, now, now))
    db.commit()
    db.close()


def state(cfg, timeout=10):
    """The service's next full state (state.health) as {"status", "score", "checks": {name: ...}}."""
    r = run([TAIL, "-c", cfg.dir, "--topic", "state.health", "--count", "1",
             "--timeout", str(timeout)], timeout=timeout + 5)
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    if not lines:
        raise AssertionError("no state.health within %ss: %s" % (timeout, r.stderr))
    o = json.loads(lines[-1])
    o["checks"] = {c["name"]: c for c in o["checks"]}
    return o


def check_where(cfg, name, pred, timeout=30, what=None):
    """Waits until pred(check) holds for check `name`; returns the check."""
    def probe():
        c = state(cfg)["checks"].get(name)
        return c if c and pred(c) else None
    return wait_for(probe, timeout=timeout, interval=0.2, what=what or "check %s" % name)


class HungServer:
    """Accepts TCP connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                return

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


def health_yml(tmp, http_port, hung_port, closed_port):
    return """
interval: 500ms
timeout: 1500ms
fail: 1 of 1
recover: 1 of 1
checks:
  - name: db_ok
    kind: sqlite
    path: {tmp}/ok.db
    memmimic: true
    query: SELECT COUNT(*) FROM memories
    newest_age: {{degraded: 1h}}
    weight: 3
  - name: db_missing
    kind: sqlite
    path: {tmp}/missing.db
  - name: db_corrupt
    kind: sqlite
    path: {tmp}/corrupt.db
  - name: db_locked
    kind: sqlite
    path: {tmp}/locked.db
  - name: memory_system
    kind: sqlite
    path: {tmp}/missing.db
    memmimic: true
    depends_on: [db_missing]
  - name: web_ok
    kind: http
    url: http://127.0.0.1:{http}/ok.txt
    status: 200
    body_regex: '(?s).*status: ok.*'
    latency: {{degraded: 800ms}}
  - name: web_404
    kind: http
    url: http://127.0.0.1:{http}/nothing-here
  - name: web_wrong_body
    kind: http
    url: http://127.0.0.1:{http}/ok.txt
    body_regex: 'nope'
  - name: web_hung
    kind: http
    url: http://127.0.0.1:{hung}/
  - name: tcp_ok
    kind: tcp
    host: 127.0.0.1
    port: {http}
  - name: tcp_closed
    kind: tcp
    host: 127.0.0.1
    port: {closed}
  - name: tcp_hung_expect
    kind: tcp
    host: localhost
    port: {hung}
    send: "PING\\r\\n"
    expect: "PONG"
  - name: plugin_warn
    kind: command
    argv: [/bin/sh, -c, 'echo "WARNING - queue at 80% | queue=80%;70;90;0;100 age=3.5s"; exit 1']
  - name: plugin_unknown
    kind: command
    argv: [/bin/sh, -c, 'echo "cannot tell"; exit 3']
  - name: plugin_garbage
    kind: command
    argv: [/bin/sh, -c, 'head -c 3000000 /dev/urandom; exit 0']
    output_max: 4KiB
  - name: plugin_missing
    kind: command
    argv: [{tmp}/no-such-plugin]
  - name: plugin_hang
    kind: command
    interval: 1h
    timeout: 1s
    argv: [/bin/sh, -c, 'sleep 300.4242 & sleep 301.4242; echo never']
""".format(tmp=tmp, http=http_port, hung=hung_port, closed=closed_port)


def test_config_errors():
    cfg = TempConfig(files={"health.yml": "checks:\n  - name: x\n    kind: tcp\n    host: h\n"
                                          "    port: 1\n    latency: {warning: 1s}\n"})
    try:
        r = run([binary("health"), "--config-dir", cfg.dir, "--check-config"])
        assert r.returncode == 2, (r.returncode, r.stderr)
        want = "%s:6:15: unknown key \"warning\"" % cfg.path("health.yml")
        assert want in r.stderr, r.stderr
        r = run([harness.MEMMONCTL, "--config-dir", cfg.dir, "check"])
        assert r.returncode == 1 and want in r.stderr, (r.returncode, r.stderr)
        cfg.write("health.yml", "checks:\n  - name: a\n    kind: system\n    depends_on: [b]\n")
        r = run([binary("health"), "--config-dir", cfg.dir, "--check-config"])
        assert ":4:17: check \"a\" depends on \"b\", which is not a check" in r.stderr, r.stderr
        cfg.write("health.yml", "checks:\n  - name: a\n    kind: system\n")
        r = run([harness.MEMMONCTL, "--config-dir", cfg.dir, "check"])
        assert r.returncode == 0 and "health.yml (health)" in r.stdout, (r.stdout, r.stderr)
        # The shipped config is valid.
        r = run([binary("health"), "--config-dir",
                 os.path.join(harness.SOURCE_ROOT, "deploy", "config"), "--check-config"])
        assert r.returncode == 0, r.stderr
    finally:
        cfg.cleanup()


def test_faults_become_results():
    tmp = tempfile.mkdtemp(prefix="mm-health-")
    memmimic_db(os.path.join(tmp, "ok.db"))
    with open(os.path.join(tmp, "corrupt.db"), "wb") as f:
        f.write(b"SQLite format 3\0" + os.urandom(8192))
    # A rollback-journal database held under an exclusive lock by another process.
    locked = os.path.join(tmp, "locked.db")
    memmimic_db(locked)
    locker = subprocess.Popen([PY, "-c", (
        "import sqlite3,sys,time\n"
        "db=sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(600)\n"),
        locked], stdout=subprocess.PIPE, text=True)
    assert locker.stdout.readline().strip() == "locked"
    with open(os.path.join(tmp, "ok.txt"), "w") as f:
        f.write("service status: ok\n")
    http_port = harness.free_port()
    web = subprocess.Popen([PY, "-m", "http.server", "--bind", "127.0.0.1", "--directory", tmp,
                            str(http_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hung = HungServer()
    closed = harness.free_port()
    wait_for(lambda: socket.create_connection(("127.0.0.1", http_port), 1).close() or True,
             what="http.server up")
    cfg = TempConfig(files={"health.yml": health_yml(tmp, http_port, hung.port, closed)})
    try:
        with Stack(cfg, ["bus", "health"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("health"), what="health start")
            s = wait_for(lambda: (lambda o: o if all(c["timestamp_ms"] for c in
                                                       o["checks"].values()) else None)(state(cfg)),
                         timeout=30, what="every check has run")
            c = s["checks"]
            assert c["db_ok"]["status"] == "healthy", c["db_ok"]
            assert c["db_ok"]["metadata"]["memories"] == "3", c["db_ok"]
            assert float(c["db_ok"]["metadata"]["newest_age_s"]) < 600, c["db_ok"]
            assert c["db_missing"]["status"] == "critical"
            assert "No such file" in c["db_missing"]["message"], c["db_missing"]
            assert c["db_corrupt"]["status"] == "critical"
            assert "not a database" in c["db_corrupt"]["message"] or \
                "malformed" in c["db_corrupt"]["message"], c["db_corrupt"]
            assert c["db_locked"]["status"] == "critical"
            assert "locked" in c["db_locked"]["message"], c["db_locked"]
            # Blocked by its failing dependency: reported, not a second root cause.
            ms = c["memory_system"]
            assert ms["blocked_by"] == "db_missing" and ms["score_penalty"] == 0, ms
            assert c["web_ok"]["status"] in ("healthy", "degraded"), c["web_ok"]
            assert c["web_ok"]["metadata"]["status"] == "200", c["web_ok"]
            assert c["web_404"]["status"] == "critical" and "status 404" in c["web_404"]["message"]
            assert c["web_wrong_body"]["status"] == "critical", c["web_wrong_body"]
            assert "does not match" in c["web_wrong_body"]["message"]
            wh = c["web_hung"]
            assert wh["status"] == "critical" and ("timed out" in wh["message"].lower()), wh
            assert c["tcp_ok"]["status"] == "healthy", c["tcp_ok"]
            assert c["tcp_closed"]["status"] == "critical"
            assert "refused" in c["tcp_closed"]["message"], c["tcp_closed"]
            assert c["tcp_hung_expect"]["status"] == "critical", c["tcp_hung_expect"]
            pw = c["plugin_warn"]
            assert pw["status"] == "degraded" and pw["message"] == "WARNING - queue at 80%", pw
            assert pw["metadata"]["perf.queue.%"] == "80" and pw["metadata"]["perf.age.s"] == "3.5"
            pu = c["plugin_unknown"]
            assert pu["status"] == "unhealthy" and "unknown" in pu["message"], pu
            pg = c["plugin_garbage"]
            assert pg["metadata"]["output_truncated"] == "true", pg
            assert pg["metadata"]["output_bytes"] == "3000000", pg
            pm = c["plugin_missing"]
            assert pm["status"] == "critical" and "cannot run" in pm["message"], pm
            ph = c["plugin_hang"]
            assert ph["status"] == "critical" and "timed out after 1s" in ph["message"], ph
            # Weighted score over the unblocked checks, penalties explain the rest.
            blocked = [x for x in c.values() if x["blocked_by"]]
            total = sum(x["score_penalty"] for x in c.values())
            assert abs(1 - s["score"] - total) < 1e-6, (s["score"], total)
            assert s["status"] == "critical" and len(blocked) == 1, s["status"]

            # The hung plugin's whole process group is gone, and nothing is a zombie.
            time.sleep(0.5)
            r = run(["ps", "-eo", "pid,ppid,stat,args"])
            left = [l for l in r.stdout.splitlines() if "30" in l and ".4242" in l]
            assert not left, left
            hp = st.pid("health")
            zombies = [l for l in r.stdout.splitlines()[1:]
                       if l.split()[1] == str(hp) and l.split()[2].startswith("Z")]
            assert not zombies, zombies

            # The series on metric.health.
            r = run([TAIL, "-c", cfg.dir, "--topic", "metric.health", "--count", "1",
                     "--timeout", "10"], timeout=20)
            series = json.loads(r.stdout.splitlines()[0])["series"]
            names = {x["name"] for x in series}
            for want in ("memmon_health_status", "memmon_health_check_duration_seconds",
                         "memmon_health_score", "memmon_health_runs_total",
                         "memmon_health_timeouts_total"):
                assert want in names, names
            st_of = {x["labels"]["check"]: x["value"] for x in series
                     if x["name"] == "memmon_health_status"}
            assert all(0 <= v <= 3 for v in st_of.values()), st_of
            assert st_of.get("db_missing", 3) == 3, st_of

            # Faults go away: the locker lets go, the check recovers.
            locker.kill()
            locker.wait()
            check_where(cfg, "db_locked", lambda x: x["status"] == "healthy", what="unlocked")
            assert st.stack.proc("health").alive()
            log = st.log("health")
            assert "MM-HEALTH-LEVEL db_locked: critical -> healthy" in log, log[-2000:]
    finally:
        if locker.poll() is None:
            locker.kill()
        web.terminate()
        web.wait()
        hung.close()
        cfg.cleanup()


def test_run_on_demand_and_history():
    tmp = tempfile.mkdtemp(prefix="mm-health-")
    memmimic_db(os.path.join(tmp, "ok.db"))
    flag = os.path.join(tmp, "fail")
    yml = """
interval: 1h
timeout: 2s
checks:
  - name: db
    kind: sqlite
    path: {tmp}/ok.db
  - name: flag
    kind: command
    argv: [/bin/sh, -c, 'if [ -e {flag} ]; then echo "CRITICAL - flag set"; exit 2; fi; echo "OK"']
""".format(tmp=tmp, flag=flag)
    cfg = TempConfig(files={"health.yml": yml})
    try:
        with Stack(cfg, ["bus", "health"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("health"), what="health start")
            wait_for(lambda: state(cfg)["checks"]["flag"]["timestamp_ms"], what="first run")
            open(flag, "w").close()
            # Interval 1 h: only the command makes the check run again now.
            r = run([TAIL, "-c", cfg.dir, "--run", "flag", "--timeout", "10"], timeout=20)
            lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
            assert len(lines) == 2, (r.stdout, r.stderr)
            reply, rep = lines
            assert reply["status"] == 202 and reply["result"]["checks"] == ["flag"], reply
            assert rep["topic"] == "health.run." + reply["id"], rep
            assert [c["name"] for c in rep["checks"]] == ["flag"], rep
            assert rep["checks"][0]["status"] == "critical", rep
            assert rep["checks"][0]["message"] == "CRITICAL - flag set", rep
            # An unknown check name is a 404 with the name.
            r = run([TAIL, "-c", cfg.dir, "--run", "nope", "--timeout", "10"], timeout=20)
            o = json.loads(r.stdout.splitlines()[0])
            assert o["status"] == 404 and "nope" in o["error_message"], o
            os.unlink(flag)
            run([TAIL, "-c", cfg.dir, "--run", "flag", "--timeout", "10"], timeout=20)
            s = state(cfg)
            assert s["checks"]["flag"]["status"] == "healthy", s["checks"]["flag"]
            ch = [(x["check"], x["from"], x["to"]) for x in s["changes"]]
            assert ("flag", "healthy", "critical") in ch and ("flag", "critical", "healthy") in ch, ch
        dbfile = os.path.join(cfg.data_dir, "health.db")
        assert os.path.exists(dbfile), dbfile
        # A restart keeps the history and the levels (from health.db).
        with Stack(cfg, ["bus", "health"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("health"), what="health restart")
            s = state(cfg)
            ch = [(x["check"], x["from"], x["to"]) for x in s["changes"]]
            assert ("flag", "healthy", "critical") in ch, ch
        db = sqlite3.connect(dbfile)
        n = db.execute("SELECT COUNT(*) FROM changes WHERE check_name = 'flag'").fetchone()[0]
        assert n >= 2, n
        db.close()
    finally:
        cfg.cleanup()


def test_run_through_gateway():
    """POST /api/health/run: token required, 202 with the run's id, and the new
    result in GET /api/health, as an operator (or the incident service) uses it."""
    tmp = tempfile.mkdtemp(prefix="mm-health-")
    flag = os.path.join(tmp, "fail")
    yml = """
interval: 1h
timeout: 2s
checks:
  - name: flag
    kind: command
    argv: [/bin/sh, -c, 'if [ -e {flag} ]; then echo "CRITICAL - flag set"; exit 2; fi; echo "OK"']
""".format(flag=flag)
    cfg = TempConfig(files={"health.yml": yml})
    try:
        with Stack(cfg, ["bus", "health", "gateway"]) as st:
            def flag_status():
                doc = st.get_json("/api/health")
                return {c["name"]: c["status"] for c in doc.get("checks", [])}.get("flag")
            wait_for(lambda: flag_status() == "healthy", timeout=20, what="first result")
            status, _, body = st.http("POST", "/api/health/run", body='{"checks":["flag"]}')
            assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized", body
            status, _, body = st.http("POST", "/api/health/run", body='{"checks":["flag"]}',
                                      token="wrong")
            assert status == 403, body
            status, _, body = st.http("GET", "/api/health/run", token=cfg.token)
            assert status == 405, body
            status, _, body = st.http("POST", "/api/health/run", body='{"checks":"flag"}',
                                      token=cfg.token)
            assert status == 400, body
            open(flag, "w").close()
            status, _, body = st.http("POST", "/api/health/run", body='{"checks":["flag"]}',
                                      token=cfg.token)
            doc = json.loads(body)
            assert status == 202 and doc["checks"] == ["flag"] and len(doc["id"]) > 0, body
            # Interval 1 h: only the on-demand run can have changed the level.
            wait_for(lambda: flag_status() == "critical", timeout=20, what="critical after run")
            status, _, body = st.http("POST", "/api/health/run", body='{"checks":["nope"]}',
                                      token=cfg.token)
            assert status == 404 and "nope" in body.decode(), body
            # No body: every check runs.
            os.unlink(flag)
            status, _, body = st.http("POST", "/api/health/run", token=cfg.token)
            assert status == 202, body
            wait_for(lambda: flag_status() == "healthy", timeout=20, what="healthy again")
    finally:
        cfg.cleanup()


def test_process_killed():
    tmp = tempfile.mkdtemp(prefix="mm-health-")
    pidfile = os.path.join(tmp, "app.pid")

    def spawn():
        p = subprocess.Popen(["sleep", "1000"])
        with open(pidfile, "w") as f:
            f.write("%d\n" % p.pid)
        return p

    app = spawn()
    yml = """
interval: 300ms
timeout: 2s
fail: 1 of 1
recover: 1 of 1
checks:
  - name: app
    kind: process
    pidfile: {pidfile}
    rss: {{critical: 1GiB}}
  - name: sleepers
    kind: process
    process: "sleep"
  - name: machine
    kind: system
    memory: {{critical: 100}}
    cpu: {{critical: 101}}
    disk: {{critical: 100}}
""".format(pidfile=pidfile)
    cfg = TempConfig(files={"health.yml": yml})
    try:
        with Stack(cfg, ["bus", "health"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("health"), what="health start")
            c = check_where(cfg, "app", lambda x: x["timestamp_ms"] > 0)
            assert c["status"] == "healthy" and c["metadata"]["pid"] == str(app.pid), c
            m = check_where(cfg, "machine", lambda x: x["timestamp_ms"] > 0)
            assert m["status"] == "healthy", m
            assert 0 <= float(m["metadata"]["memory_percent"]) <= 100, m
            assert "disk_percent:/" in m["metadata"], m
            # Killed mid-test: critical with the reason.
            app.kill()
            app.wait()
            c = check_where(cfg, "app", lambda x: x["status"] == "critical", what="app dead")
            assert "not running" in c["message"], c
            # Started again under a new pid: seen as a restart (degraded), then healthy.
            app = spawn()
            c = check_where(cfg, "app", lambda x: x["metadata"].get("pid") == str(app.pid),
                            what="app back")
            assert c["metadata"]["restarts"] == "1", c
            assert "restart" in st.log("health") or c["status"] in ("degraded", "healthy"), c
    finally:
        app.kill()
        app.wait()
        cfg.cleanup()




def test_simulator_faults():
    """The shipped health.yml against the MemMimic simulator: each fault switch
    moves its check to a worse level and back (CONTRACTS.md §7). The collector
    is stood in for by memmon-health-tail publishing the two gauges the
    simulator would send over StatsD."""
    import yaml
    cfg = TempConfig()
    sim_state = os.path.join(cfg.data_dir, "memmimic-sim")
    shipped = yaml.safe_load(open(os.path.join(harness.SOURCE_ROOT, "deploy", "config",
                                               "health.yml")))
    names = [c["name"] for c in shipped["checks"]]
    for want in ("database", "cache", "memory_system", "cxd_classifier", "system_resources"):
        assert want in names, names
    shipped.update({"interval": "500ms", "fail": "1 of 1", "recover": "1 of 1"})
    for c in shipped["checks"]:
        c.pop("fail", None)
        c.pop("recover", None)
        if c["kind"] == "process":
            c["pidfile"] = os.path.join(sim_state, "memmimic-sim.pid")
            # Two shared cores may give the burning thread well under one
            # core; what matters is that the check sees it.
            c["cpu"] = {"degraded": 25}
    cfg.write("health.yml", yaml.safe_dump(shipped))
    port = harness.free_port()
    sim = [PY, os.path.join(harness.SOURCE_ROOT, "tools", "memmimic-sim"),
           "--db", os.path.join(cfg.data_dir, "memmimic.db"), "--statsd", "off",
           "--control-port", str(port), "--state-dir", sim_state, "--rate", "20"]
    gauges = None

    def fault(name, on):
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d/fault/%s?on=%d" % (port, name, on),
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def publish(hit, lat):
        nonlocal gauges
        if gauges:
            gauges.terminate()
            gauges.wait()
        gauges = subprocess.Popen([TAIL, "-c", cfg.dir, "--timeout", "600",
                                   "--gauge", 'memmimic_cache_hit_rate{cache="recall"}=%g' % hit,
                                   "--gauge", "memmimic_cxd_classification_latency_seconds=%g" % lat])

    try:
        with Stack(cfg, ["bus", "health"], extra=[("memmimic-sim", sim)]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("health"), what="health start")
            publish(0.85, 0.01)
            for name in ("database", "cache", "memory_system", "cxd_classifier"):
                check_where(cfg, name, lambda x: x["status"] == "healthy",
                            what="%s healthy at first" % name)
            check_where(cfg, "memmimic_process", lambda x: x["timestamp_ms"] > 0)
            # slow_db: the database check gets worse (and memory_system is blocked).
            fault("slow_db", 1)
            c = check_where(cfg, "database", lambda x: x["status"] in ("degraded", "unhealthy"),
                            what="database slow")
            fault("slow_db", 0)
            check_where(cfg, "database", lambda x: x["status"] == "healthy", what="database back")
            # cache_miss_storm: the hit rate falls to 0.
            publish(0.0, 0.01)
            check_where(cfg, "cache", lambda x: x["status"] == "critical", what="cache storm")
            publish(0.85, 0.01)
            check_where(cfg, "cache", lambda x: x["status"] == "healthy", what="cache back")
            # classifier_slow: 0.3 s is over the 0.25 s unhealthy bound.
            publish(0.85, 0.31)
            check_where(cfg, "cxd_classifier", lambda x: x["status"] == "unhealthy",
                        what="classifier slow")
            publish(0.85, 0.01)
            check_where(cfg, "cxd_classifier", lambda x: x["status"] == "healthy",
                        what="classifier back")
            # cpu_burn: one core busy in the simulator's process.
            fault("cpu_burn", 1)
            check_where(cfg, "memmimic_process", lambda x: x["status"] != "healthy",
                        what="simulator CPU")
            fault("cpu_burn", 0)
            check_where(cfg, "memmimic_process", lambda x: x["status"] == "healthy",
                        what="simulator CPU back")
            # crash: the process is gone (critical), then restarted under a new pid.
            pid = st.pid("memmimic-sim")
            fault("crash", 1)
            check_where(cfg, "memmimic_process", lambda x: x["status"] == "critical",
                        what="simulator crashed")
            os.unlink(os.path.join(sim_state, "faults", "crash"))

            def restarted():
                st.stack.poll()     # the supervisor's restart, as tools/run does it
                c = state(cfg, timeout=3)["checks"]["memmimic_process"]
                return c if c["status"] == "healthy" and \
                    c["metadata"].get("pid") not in (None, str(pid)) else None
            c = wait_for(restarted, timeout=60, interval=0.1, what="simulator restarted")
            assert int(c["metadata"]["restarts"]) >= 1, c
    finally:
        if gauges:
            gauges.terminate()
            gauges.wait()
        cfg.cleanup()


def test_reload():
    """SIGHUP: a broken health.yml keeps the running checks (file:line:col in the
    log); a good one adds and removes checks, keeping the state of the rest."""
    yml = ("interval: 300ms\nchecks:\n"
           "  - name: a\n    kind: command\n    argv: [/bin/sh, -c, 'echo A; exit 1']\n")
    cfg = TempConfig(files={"health.yml": yml})
    try:
        with Stack(cfg, ["bus", "health"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("health"), what="health start")
            check_where(cfg, "a", lambda x: x["status"] == "degraded")
            cfg.write("health.yml", yml + "  - name: b\n    kind: sqlite\n    bogus: 1\n")
            os.kill(st.pid("health"), signal.SIGHUP)
            wait_for(lambda: "MM-CONFIG-RELOAD-FAIL" in st.log("health"), what="reload failure")
            assert "health.yml:8:5: unknown key \"bogus\"" in st.log("health"), st.log("health")
            assert list(state(cfg)["checks"]) == ["a"]
            cfg.write("health.yml", yml + "  - name: b\n    kind: command\n"
                      "    argv: [/bin/sh, -c, 'echo B; exit 0']\n")
            os.kill(st.pid("health"), signal.SIGHUP)
            wait_for(lambda: "MM-CONFIG-RELOAD " in st.log("health"), what="reload")
            s = check_where(cfg, "b", lambda x: x["status"] == "healthy")
            s = state(cfg)
            assert s["checks"]["a"]["status"] == "degraded", s["checks"]["a"]
            assert s["checks"]["a"]["since_ms"] < s["checks"]["b"]["since_ms"], s
            assert st.stack.proc("health").alive()
    finally:
        cfg.cleanup()


def test_tls_cert_expiry():
    """https: days until the certificate expires against cert_days; an
    unverifiable certificate is critical with curl's reason."""
    import shutil
    if not shutil.which("openssl"):
        raise harness.SkipTest("no openssl CLI to make a certificate")
    tmp = tempfile.mkdtemp(prefix="mm-health-tls-")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "10", "-nodes",
         "-subj", "/CN=localhost", "-keyout", os.path.join(tmp, "k.pem"),
         "-out", os.path.join(tmp, "c.pem")])
    port = harness.free_port()
    srv = subprocess.Popen([PY, "-c", (
        "import http.server, ssl, sys, os\n"
        "os.chdir(sys.argv[2])\n"
        "s = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])),"
        " http.server.SimpleHTTPRequestHandler)\n"
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('c.pem', 'k.pem')\n"
        "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
        "s.serve_forever()\n"), str(port), tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yml = """
interval: 500ms
checks:
  - name: tls
    kind: http
    url: https://127.0.0.1:{p}/c.pem
    tls_verify: false
    cert_days: {{degraded: 30, critical: 7}}
  - name: tls_verified
    kind: http
    url: https://127.0.0.1:{p}/c.pem
""".format(p=port)
    cfg = TempConfig(files={"health.yml": yml})
    try:
        with Stack(cfg, ["bus", "health"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("health"), what="health start")
            c = check_where(cfg, "tls", lambda x: "cert_days_left" in x["metadata"])
            assert c["status"] == "degraded", c
            assert 9 < float(c["metadata"]["cert_days_left"]) <= 10, c
            assert "expires in" in c["message"], c
            v = check_where(cfg, "tls_verified", lambda x: x["timestamp_ms"] > 0)
            assert v["status"] == "critical" and "certificate" in v["message"], v
    finally:
        srv.terminate()
        srv.wait()
        cfg.cleanup()


if __name__ == "__main__":
    harness.main([test_config_errors, test_faults_become_results, test_run_on_demand_and_history, test_run_through_gateway,
                  test_process_killed, test_simulator_faults, test_reload,
                  test_tls_cert_expiry])
