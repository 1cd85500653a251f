"""The foreground supervisor behind tools/run: starts the stack, prints the
URLs, restarts what dies, and stops everything on Ctrl-C or SIGTERM."""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import memmon_stack  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--config-dir", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--gateway", required=True, help="host:port the gateway serves")
    ap.add_argument("--statsd", default="127.0.0.1:8125")
    ap.add_argument("sim", nargs=argparse.REMAINDER,
                    help="after --: the simulator's command line")
    args = ap.parse_args()

    def say(msg):
        print("memmon: " + msg, flush=True)

    extra = []
    sim = args.sim[1:] if args.sim[:1] == ["--"] else args.sim
    if sim:
        extra.append(("memmimic-sim", sim))
    stack = memmon_stack.Stack(args.build_dir, args.config_dir, args.data_dir, extra=extra,
                               say=say)
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack.start()
    base = "http://" + args.gateway
    print("""
memmon is running: %s
  dashboard      %s/dashboard
  status         %s/api/status
  metrics        %s/api/metrics   (Prometheus text: %s/metrics)
  websocket      ws://%s/ws
  StatsD         udp://%s
  logs           %s
Press Ctrl-C to stop.
""" % (", ".join(stack.names()), base, base, base, base, args.gateway, args.statsd,
       stack.log_dir), flush=True)
    while not stop["now"]:
        stack.poll()
        time.sleep(0.1)
    say("stopping")
    stack.stop()
    say("stopped")


if __name__ == "__main__":
    main()
