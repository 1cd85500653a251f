"""The collector's durability and bus healing with real binaries: a kill -9
loses no history already committed (acknowledged), and the restarted
collector's full-state republish brings its series back to a subscriber."""

import http.server
import json
import os
import signal
import socket
import threading
import time

import harness
from harness import Stack, TempConfig, wait_for


def history(st, name):
    status, _, body = st.http("GET", "/api/performance?hours=1&step=1&name=" + name, timeout=10)
    assert status == 200, (status, body[:300])
    series = json.loads(body)["historical_metrics"]["series"]
    # Points are [time_ms, avg, min, max, count].
    return [p for s in series for p in s["points"]]


def test_kill9_keeps_acknowledged_history():
    udp = harness.free_port(socket.SOCK_DGRAM)
    cfg = TempConfig(files={"collector.yml": "statsd:\n  listen: 127.0.0.1:%d\n"
                                             "  flush_interval: 200ms\n"
                                             "history:\n  commit_interval: 1s\n" % udp})
    try:
        with Stack(cfg, ["bus", "collector", "gateway"]) as st:
            wait_for(lambda: st.http("GET", "/-/ready")[0] == 200, timeout=15, what="ready")
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(30):
                sock.sendto(b"e2e_durable:%d|g" % i, ("127.0.0.1", udp))
                time.sleep(0.1)
            # Acknowledged = committed: the collector counts its commits.
            before = wait_for(lambda: (lambda p: p if p and max(x[3] for x in p) == 29 else None)(
                history(st, "e2e_durable")), timeout=15, what="history committed")
            n_before = sum(p[4] for p in before)
            old = st.pid("collector")
            os.kill(old, signal.SIGKILL)
            wait_for(lambda: (st.stack.poll(), st.stack.proc("collector").alive() and
                              st.pid("collector") != old)[1], timeout=15, what="restart")
            wait_for(lambda: st.log("collector").count("MM-SERVICE-START") >= 2, what="started")
            after = wait_for(lambda: history(st, "e2e_durable"), timeout=15,
                             what="history after restart")
            t_before = {p[0]: p for p in before}
            for t, p in t_before.items():
                match = [q for q in after if q[0] == t]
                assert match and match[0][4] >= p[4], ("lost", p, match)
            assert sum(p[4] for p in after) >= n_before
            assert max(p[3] for p in after) == 29
    finally:
        cfg.cleanup()


def test_restart_heals_through_state():
    """A subscriber (the gateway) that missed the collector's batches gets its
    series back from the periodic state republish."""
    udp = harness.free_port(socket.SOCK_DGRAM)
    cfg = TempConfig(files={"collector.yml": "statsd:\n  listen: 127.0.0.1:%d\n"
                                             "  flush_interval: 200ms\n" % udp})
    try:
        with Stack(cfg, ["bus", "collector"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("collector"), what="collector")
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.sendto(b"e2e_heal:7|g", ("127.0.0.1", udp))
            time.sleep(1.0)
            # The gateway starts after the batch went by: only state can tell it.
            gw = harness.memmon_stack.Proc(
                "gateway", [harness.binary("gateway"), "--config-dir", cfg.dir],
                os.path.join(cfg.data_dir, "log", "gateway-late.log"), st.stack.env)
            gw.start()
            try:
                def seen():
                    _, _, text = st.http("GET", "/metrics")
                    return b"e2e_heal 7" in text
                # state_interval is 2 s in the test config.
                wait_for(seen, timeout=15, interval=0.3, what="series healed from state")
            finally:
                gw.signal(signal.SIGTERM)
                gw.popen.wait(10)
    finally:
        cfg.cleanup()


def test_scrape_target_up_and_down():
    """A Prometheus text endpoint is scraped over HTTP (libcurl is loaded for
    the first scrape): its samples reach the gateway with job and instance,
    `up` is 1; when the endpoint goes away, `up` turns 0."""
    class Exporter(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (b"# HELP e2e_scraped_total Things.\n# TYPE e2e_scraped_total counter\n"
                    b"e2e_scraped_total{kind=\"a\"} 5\n")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Exporter)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = TempConfig(files={"collector.yml": (
        "scrape:\n  interval: 500ms\n  timeout: 400ms\n  targets:\n"
        "    - job: e2e\n      url: http://127.0.0.1:%d/metrics\n" % port)})
    inst = "127.0.0.1:%d" % port
    try:
        with Stack(cfg, ["bus", "collector", "gateway"]) as st:
            def metrics():
                return st.http("GET", "/metrics")[2].decode()
            wait_for(lambda: ('e2e_scraped_total{instance="%s",job="e2e",kind="a"} 5' % inst)
                     in metrics(), timeout=20, interval=0.3, what="scraped sample")
            assert 'up{instance="%s",job="e2e"} 1' % inst in metrics()
            srv.shutdown()
            srv.server_close()
            wait_for(lambda: 'up{instance="%s",job="e2e"} 0' % inst in metrics(),
                     timeout=20, interval=0.3, what="up 0 after the target went away")
            assert "MM-COLLECTOR-SCRAPE-DOWN" in st.log("collector")
    finally:
        cfg.cleanup()


if __name__ == "__main__":
    harness.main([test_kill9_keeps_acknowledged_history, test_restart_heals_through_state,
                  test_scrape_target_up_and_down])
