"""The gateway with real binaries (bus + gateway): every endpoint's status,
Content-Length and JSON errors, bearer-token ingest round-tripping through the
bus, the WebSocket protocol (snapshot, subscribe, resume, ping, errors),
promtool and a real Prometheus on the exposition, the dashboard's file
safety, the h2c guard, and a clean stop with clients connected."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import websocket

import harness
from harness import PrometheusServer, Stack, TempConfig, wait_for

JSON_TYPE = "application/json"


def header(h, name):
    for k, v in h.items():
        if k.lower() == name.lower():
            return v
    return None


def check_error(st, method, path, want_status, want_code, body=None, token=None, headers=None,
                timeout=5):
    status, h, raw = st.http(method, path, body=body, token=token, headers=headers,
                             timeout=timeout)
    assert status == want_status, (method, path, status, raw[:300])
    assert header(h, "Content-Length") == str(len(raw)), (path, h)
    assert header(h, "Content-Type").startswith(JSON_TYPE), (path, h)
    err = json.loads(raw)["error"]
    assert err["code"] == want_code and err["message"], (path, err)
    return h


def ingest(st, samples, token=None):
    return st.http("POST", "/api/ingest", body=json.dumps({"samples": samples}),
                   token=token or st.config.token, headers={"Content-Type": JSON_TYPE})


def start(cfg):
    st = Stack(cfg, ["bus", "gateway"])
    st.__enter__()
    try:
        wait_for(lambda: st.http("GET", "/-/ready")[0] == 200, timeout=15, what="gateway ready")
    except Exception:
        st.__exit__(AssertionError, None, None)
        raise
    return st


def test_http_endpoints():
    cfg = TempConfig()
    st = start(cfg)
    try:
        # Probes and the status snapshot (the reference's keys plus services).
        status, h, body = st.http("GET", "/-/healthy")
        assert status == 200 and header(h, "Content-Length") == str(len(body))
        def both():
            s = st.get_json("/api/status")
            return s if {"bus", "gateway"} <= {x["service"] for x in s["services"]} else None
        s = wait_for(both, what="bus and gateway heartbeats in /api/status")
        for key in ("timestamp", "system_status", "components", "metrics_summary", "services"):
            assert key in s, s
        assert s["components"]["bus"] == "operational", s["components"]

        # Unknown paths, wrong methods, bad parameters: 4xx with a JSON error.
        check_error(st, "GET", "/nope", 404, "not_found")
        check_error(st, "GET", "/api/status/extra", 404, "not_found")
        h = check_error(st, "DELETE", "/api/status", 405, "method_not_allowed")
        assert "GET" in header(h, "Allow"), h
        check_error(st, "GET", "/api/ingest", 405, "method_not_allowed")
        check_error(st, "GET", "/api/performance?hours=abc", 400, "bad_parameter")
        check_error(st, "GET", "/api/performance?hours=0", 400, "bad_parameter")
        check_error(st, "GET", "/api/metrics?form=xml", 400, "bad_parameter")
        check_error(st, "GET", "/ws", 400, "websocket_required")

        # Ingest: token, content type, body checks; then the value comes back
        # through the bus into every form.
        sample = [{"name": "app_jobs_total", "type": "counter", "value": 7,
                   "labels": {"queue": "a\"b\\c"}, "help": "Jobs done."}]
        check_error(st, "POST", "/api/ingest", 401, "unauthorized", body=json.dumps(sample),
                    headers={"Content-Type": JSON_TYPE})
        check_error(st, "POST", "/api/ingest", 403, "forbidden", body=json.dumps(sample),
                    token="wrong-token", headers={"Content-Type": JSON_TYPE})
        check_error(st, "POST", "/api/ingest", 415, "unsupported_media_type",
                    body=json.dumps(sample), token=cfg.token, headers={"Content-Type": "text/xml"})
        check_error(st, "POST", "/api/ingest", 400, "bad_json", body="{\"samples\": [",
                    token=cfg.token, headers={"Content-Type": JSON_TYPE})
        check_error(st, "POST", "/api/ingest", 400, "invalid_sample",
                    body='[{"name": "bad-name", "value": 1}]', token=cfg.token,
                    headers={"Content-Type": JSON_TYPE})
        # Over 1 MiB: h2o answers before the body is read, so announce it
        # and read the answer without sending the body.
        with socket.create_connection(("127.0.0.1", cfg.gateway_port), timeout=5) as s:
            s.sendall(("POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                       % (cfg.token, 2 << 20)).encode())
            raw = b""
            while b"}}" not in raw:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 "), raw
        assert b"content-length: %d" % len(body) in head.lower(), raw
        assert json.loads(body)["error"]["code"] == "too_large", body
        status, _, body = ingest(st, sample + [{"name": "app_temp_celsius", "value": 21.5}])
        assert status == 202 and json.loads(body) == {"accepted": 2}, (status, body)

        def series():
            m = st.get_json("/api/metrics")
            return m if any(x["name"] == "app_temp_celsius" for x in m["series"]) else None
        m = wait_for(series, what="ingested series in /api/metrics")
        ref = m["metrics"]["metrics"]
        assert ref["gauges"]["app_temp_celsius"] == 21.5, ref
        assert ref["counters"]['app_jobs_total{queue="a\\"b\\\\c"}'] == 7, ref
        lab = [x for x in m["series"] if x["name"] == "app_jobs_total"][0]
        assert lab["labels"] == {"queue": "a\"b\\c"} and lab["type"] == "counter", lab

        status, h, text = st.http("GET", "/metrics")
        assert status == 200 and header(h, "Content-Type") == "text/plain; version=0.0.4; charset=utf-8", h
        assert header(h, "Content-Length") == str(len(text)), h
        text = text.decode()
        assert '# HELP app_jobs_total Jobs done.\n# TYPE app_jobs_total counter\n' \
               'app_jobs_total{queue="a\\"b\\\\c"} 7\n' in text, text
        assert "app_temp_celsius 21.5\n" in text, text
        code, out = harness.promtool_check_metrics(text)
        assert code == 0 and out == "", (code, out)
        status, _, text2 = st.http("GET", "/api/metrics/prometheus")
        assert status == 200 and text2.decode().startswith("# HELP app_jobs_total"), text2[:100]

        # History goes to the collector as a command; with no collector the
        # gateway answers 504 with a JSON error after its 5 s deadline.
        t0 = time.monotonic()
        check_error(st, "GET", "/api/performance?hours=2", 504, "timeout", timeout=15)
        assert 4.5 < time.monotonic() - t0 < 7, time.monotonic() - t0

        # Health has not reported: the reference's "unknown" shape.
        assert st.get_json("/api/health")["status"] == "unknown"

        # h2c prior knowledge works for the API, and /ws refuses it (h2o
        # would assert on a WebSocket upgrade over HTTP/2).
        if shutil.which("curl"):
            r = harness.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                             "%{http_code} %{http_version}", st.url("/api/status")])
            assert r.stdout == "200 2", r.stdout
            r = harness.run(["curl", "-s", "--http2-prior-knowledge", st.url("/ws")])
            assert "websocket_required" in r.stdout, r.stdout
    finally:
        st.__exit__(None, None, None)
        cfg.cleanup()


def recv_json(ws, want_topic=None, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        f = json.loads(ws.recv())
        assert set(f) >= {"topic", "seq"}, f
        if want_topic is None or f["topic"].startswith(want_topic):
            return f
    raise AssertionError("no %s frame within %ds" % (want_topic, timeout))


def test_websocket():
    cfg = TempConfig()
    st = start(cfg)
    try:
        url = "ws://127.0.0.1:%d/ws" % cfg.gateway_port
        # A client that sends nothing: the snapshot at once, then every few seconds.
        ws = websocket.create_connection(url, timeout=10)
        first = recv_json(ws)
        assert first["topic"] == "status" and "system_status" in first["data"], first
        again = recv_json(ws, "status", timeout=8)
        assert again["data"]["timestamp"] >= first["data"]["timestamp"]

        # Raw metric updates only after subscribing.
        ws.send(json.dumps({"subscribe": ["metric.app_", "status"]}))
        sub = recv_json(ws, "subscribed")
        assert sub["data"]["topics"] == ["metric.app_", "status"], sub
        status, _, _ = ingest(st, [{"name": "app_queue_depth", "value": 3},
                                   {"name": "other_value", "value": 1}])
        assert status == 202
        up = recv_json(ws, "metric.")
        names = [s["name"] for s in up["data"]["series"]]
        assert names == ["app_queue_depth"], up
        assert up["data"]["series"][0]["value"] == 3, up

        # The reference's application ping, protocol pings, and bad input.
        ws.send(json.dumps({"type": "ping"}))
        assert recv_json(ws, "pong")["type"] == "pong"
        ws.ping("hello")
        ws.send("this is not json")
        err = recv_json(ws, "error")
        assert err["data"]["code"] == "bad_json", err
        ws.send(json.dumps({"subscribe": "metric."}))
        assert recv_json(ws, "error")["data"]["code"] == "bad_subscribe"
        ws.close()

        # Resume: a reconnecting client gets the events it missed (the
        # service.up events of the stack's start) from the ring.
        ws = websocket.create_connection(url, timeout=10)
        recv_json(ws, "status")
        ws.send(json.dumps({"resume": 0}))
        ev = recv_json(ws, "service.")
        assert ev["seq"] >= 1 and ev["data"]["service"] in ("bus", "gateway"), ev
        ws.close()

        # Many clients that vanish abruptly leave nothing behind.
        socks = []
        for _ in range(20):
            c = websocket.create_connection(url, timeout=10)
            recv_json(c, "status")
            socks.append(c)
        for i, c in enumerate(socks):
            if i % 2:
                c.close()
            else:
                c.sock.shutdown(socket.SHUT_RDWR)
                c.sock.close()

        def clients():
            _, _, text = st.http("GET", "/metrics")
            for line in text.decode().splitlines():
                if line.startswith("memmon_gateway_websocket_clients "):
                    return float(line.split()[1]) == 0
            return False
        wait_for(clients, what="websocket clients back to 0")
    finally:
        st.__exit__(None, None, None)
        cfg.cleanup()


def test_dashboard_files():
    cfg = TempConfig()
    st = start(cfg)
    try:
        for path in ("/", "/dashboard", "/dashboard/"):
            status, h, body = st.http("GET", path)
            assert status == 200 and header(h, "Content-Type").startswith("text/html"), (path, status)
            assert "frame-ancestors 'none'" in header(h, "Content-Security-Policy"), h
        status, h, _ = st.http("GET", "/dashboard/app.js")
        assert status == 200 and header(h, "Content-Type").startswith("text/javascript"), h
        for bad in ("/dashboard/../memmon.yml", "/dashboard/%2e%2e/meson.build", "/dashboard/.git",
                    "/dashboard/nope.html", "/dashboard/a/../../README.md"):
            status, _, body = st.http("GET", bad)
            assert status == 404 and json.loads(body)["error"]["code"] == "not_found", (bad, status, body)
    finally:
        st.__exit__(None, None, None)
        cfg.cleanup()


def test_prometheus_scrapes_gateway():
    cfg = TempConfig()
    st = start(cfg)
    try:
        status, _, _ = ingest(st, [{"name": "app_scraped", "value": 42, "labels": {"k": "v"}}])
        assert status == 202
        with PrometheusServer(["127.0.0.1:%d" % cfg.gateway_port]) as prom:
            def scraped():
                t = prom.targets()
                return t and t[0]["health"] == "up" and prom.query('app_scraped{k="v"}')
            res = wait_for(scraped, timeout=30, what="prometheus scrape of the gateway")
            assert res[0]["value"][1] == "42", res
    finally:
        st.__exit__(None, None, None)
        cfg.cleanup()


def test_clean_stop_with_clients():
    cfg = TempConfig()
    st = start(cfg)
    try:
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % cfg.gateway_port, timeout=10)
        recv_json(ws, "status")
        keep = socket.create_connection(("127.0.0.1", cfg.gateway_port))
        keep.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
        keep.recv(65536)
        proc = st.stack.proc("gateway").popen
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(10)
        assert code == 0 and time.monotonic() - t0 < 3, (code, time.monotonic() - t0)
        assert "MM-SERVICE-EXIT" in st.log("gateway"), st.log("gateway")[-2000:]
        keep.close()
    finally:
        st.__exit__(None, None, None)
        cfg.cleanup()


if __name__ == "__main__":
    harness.main([test_http_endpoints, test_websocket, test_dashboard_files,
                  test_prometheus_scrapes_gateway, test_clean_stop_with_clients])
