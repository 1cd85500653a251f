"""Start, supervise and stop a local memmon stack.

Used by tools/run (the interactive stack) and by the end-to-end tests (a stack
from a temp config). Each process runs from a build directory with
--config-dir; its stdout/stderr go to <data_dir>/log/<service>.log, rotated
by size. A process that dies is restarted with exponential backoff, and the
supervisor says so. Standard library only (Debian's /usr/bin/python3).
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

# Start order: the bus first, then the services, the gateway last.
SERVICES = ["bus", "collector", "health", "security", "alerting", "incident", "gateway"]
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_KEEP = 3


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    """Runs in the child before exec: its own session (a Ctrl-C in the
    terminal reaches only the supervisor, which then stops everyone in order),
    and SIGTERM when the supervisor dies, so no process outlives it."""
    os.setsid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def binary_path(build_dir, service):
    return os.path.join(build_dir, "services", service, "memmon-" + service)


def available_services(build_dir, wanted=None):
    """The services whose binaries exist in build_dir, in start order."""
    names = wanted or SERVICES
    return [s for s in SERVICES if s in names and os.path.exists(binary_path(build_dir, s))]


def rotate(path):
    """Renames path to path.1 (and older ones up) once it exceeds LOG_MAX_BYTES."""
    try:
        if os.path.getsize(path) < LOG_MAX_BYTES:
            return
    except OSError:
        return
    for i in range(LOG_KEEP - 1, 0, -1):
        src = "%s.%d" % (path, i)
        if os.path.exists(src):
            os.replace(src, "%s.%d" % (path, i + 1))
    os.replace(path, path + ".1")


class Proc:
    """One supervised child process."""

    def __init__(self, name, argv, log_path, env):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.popen = None
        self.restarts = 0
        self.backoff = 0.5
        self.next_start = 0.0
        self.started_at = 0.0

    def start(self):
        rotate(self.log_path)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=self.env,
                                      preexec_fn=_child_setup)
        log.close()
        self.started_at = time.monotonic()

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass


class Stack:
    """A set of supervised memmon processes sharing one config directory."""

    def __init__(self, build_dir, config_dir, data_dir, services=None, extra=None,
                 env=None, say=None):
        self.build_dir = os.path.abspath(build_dir)
        self.config_dir = os.path.abspath(config_dir)
        self.data_dir = os.path.abspath(data_dir)
        self.log_dir = os.path.join(self.data_dir, "log")
        self.env = dict(os.environ if env is None else env)
        self.env["MEMMON_CONFIG_DIR"] = self.config_dir
        self.say = say or (lambda msg: None)
        self.procs = []
        os.makedirs(self.log_dir, exist_ok=True)
        for s in available_services(self.build_dir, services):
            argv = [binary_path(self.build_dir, s), "--config-dir", self.config_dir]
            self.procs.append(Proc(s, argv, os.path.join(self.log_dir, s + ".log"), self.env))
        for name, argv in (extra or []):
            self.procs.append(Proc(name, argv, os.path.join(self.log_dir, name + ".log"),
                                   self.env))

    def names(self):
        return [p.name for p in self.procs]

    def proc(self, name):
        for p in self.procs:
            if p.name == name:
                return p
        raise KeyError(name)

    def start(self):
        for p in self.procs:
            p.start()
            self.say("started %s (pid %d), log %s" % (p.name, p.popen.pid, p.log_path))
            if p.name == "bus":
                time.sleep(0.2)

    def poll(self):
        """Restarts processes that died, with backoff. Call every ~100 ms."""
        now = time.monotonic()
        for p in self.procs:
            if p.alive():
                # A process that stayed up for a minute earns its backoff back.
                if now - p.started_at > 60:
                    p.backoff = 0.5
                continue
            if p.next_start == 0.0:
                code = p.popen.returncode if p.popen else None
                p.next_start = now + p.backoff
                self.say("%s exited (%s); restarting in %.1fs (see %s)" % (
                    p.name, describe_exit(code), p.backoff, p.log_path))
                p.backoff = min(p.backoff * 2, 30.0)
            elif now >= p.next_start:
                p.next_start = 0.0
                p.restarts += 1
                p.start()
                self.say("restarted %s (pid %d, restart #%d)" % (p.name, p.popen.pid,
                                                                  p.restarts))

    def stop(self, timeout=10.0):
        """SIGTERM to all (gateway first, bus last), then SIGKILL stragglers."""
        for p in reversed(self.procs):
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in reversed(self.procs):
            if p.popen is None:
                continue
            try:
                p.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("%s did not stop in %.0fs; killing it" % (p.name, timeout))
                p.signal(signal.SIGKILL)
                p.popen.wait()


def describe_exit(code):
    if code is None:
        return "unknown status"
    if code < 0:
        try:
            return "killed by " + signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit code %d" % code
