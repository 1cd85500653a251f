"""The service lifecycle with real binaries: --check-config, config errors
with file:line:col, memmonctl check, SIGHUP reload keeping the old config on
error, graceful SIGTERM, and the supervisor restarting a killed process."""

import os
import signal
import time

import harness
from harness import Stack, TempConfig, binary, run, wait_for


def test_check_config_errors():
    cfg = TempConfig()
    try:
        r = run([binary("bus"), "--config-dir", cfg.dir, "--check-config"])
        assert r.returncode == 0, r.stderr
        cfg.write("memmon.yml", "gateway_port: 8080\nlog_levl: debug\n")
        r = run([binary("bus"), "--config-dir", cfg.dir, "--check-config"])
        assert r.returncode == 2, (r.returncode, r.stderr)
        want = "%s:2:1: unknown key \"log_levl\"" % cfg.path("memmon.yml")
        assert want in r.stderr, r.stderr
        r = run([harness.MEMMONCTL, "--config-dir", cfg.dir, "check"])
        assert r.returncode == 1 and want in r.stderr, (r.returncode, r.stderr)
        cfg.write("memmon.yml", "gateway_port: [8080\n")
        r = run([harness.MEMMONCTL, "--config-dir", cfg.dir, "check"])
        assert r.returncode == 1 and cfg.path("memmon.yml") + ":" in r.stderr, r.stderr
        cfg.write("memmon.yml", "gateway_port: 99999\n")
        r = run([binary("bus"), "--config-dir", cfg.dir])
        assert r.returncode == 2 and ":1:15: gateway_port must be a port" in r.stderr, r.stderr
    finally:
        cfg.cleanup()


def test_plain_remote_bus_refused():
    cfg = TempConfig(memmon={"bus_in": "tcp://192.0.2.1:5555", "bus_out": "tcp://127.0.0.1:0"})
    try:
        r = run([binary("bus"), "--config-dir", cfg.dir], timeout=10)
        assert r.returncode == 2, r.returncode
        assert "bus_in \"tcp://192.0.2.1:5555\": a bus address that is not loopback must use tls+tcp://" in r.stderr, r.stderr
    finally:
        cfg.cleanup()


def test_reload_and_stop():
    cfg = TempConfig()
    try:
        with Stack(cfg, ["bus"]) as st:
            wait_for(lambda: "MM-SERVICE-START" in st.log("bus"), what="bus start")
            good = open(cfg.path("memmon.yml")).read()
            cfg.write("memmon.yml", good + "bogus_key: 1\n")
            os.kill(st.pid("bus"), signal.SIGHUP)
            wait_for(lambda: "MM-CONFIG-RELOAD-FAIL" in st.log("bus"), what="reload failure")
            log = st.log("bus")
            assert "keeping the running config" in log and "bogus_key" in log, log
            assert st.stack.proc("bus").alive()
            cfg.write("memmon.yml", good.replace("log_level: \"debug\"", "log_level: \"info\""))
            os.kill(st.pid("bus"), signal.SIGHUP)
            wait_for(lambda: "MM-CONFIG-RELOAD " in st.log("bus"), what="reload")
            # The supervisor restarts a process killed outright, and says so.
            old = st.pid("bus")
            os.kill(old, signal.SIGKILL)
            wait_for(lambda: (st.stack.poll(), st.stack.proc("bus").restarts >= 1)[1],
                     what="restart")
            assert st.pid("bus") != old
            wait_for(lambda: st.log("bus").count("MM-SERVICE-START") >= 2, what="restarted bus")
            assert any("bus exited (killed by SIGKILL)" in m for m in st.messages), st.messages
            p = st.stack.proc("bus").popen
        wait_for(lambda: p.poll() is not None, what="exit")
        assert p.returncode == 0, p.returncode
        assert "MM-SERVICE-EXIT" in open(os.path.join(cfg.data_dir, "log", "bus.log")).read()
    finally:
        cfg.cleanup()


if __name__ == "__main__":
    harness.main([test_check_config_errors, test_plain_remote_bus_refused, test_reload_and_stop])
