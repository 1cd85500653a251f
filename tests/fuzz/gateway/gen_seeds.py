#!/usr/bin/env python3
"""Writes the bus-frame seeds of the gateway fuzzer (seeds_bus/): hand-encoded
protobuf envelopes framed as the harness reads them (2-byte length, topic,
NUL, envelope). Run once; the output is committed."""
import os
import struct


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def s(num, text):
    return field(num, 2, text.encode())


def u(num, n):
    return field(num, 0, varint(n))


def d(num, x):
    return field(num, 1, struct.pack("<d", x))


def label(k, v):
    return s(1, k) + s(2, v)


def series(name, labels, typ, value, t, family=""):
    body = s(1, name) + b"".join(field(2, 2, label(k, v)) for k, v in labels)
    body += u(3, typ) + s(4, "help for " + name)
    body += field(5, 2, varint(t)) + field(6, 2, struct.pack("<d", value))
    if family:
        body += s(8, family)
    return body


def envelope(sender, inst, family, payload_num, payload):
    return s(1, sender) + s(2, inst) + field(3, 1, struct.pack("<Q", 7)) + s(4, family) + \
        u(5, 1) + u(6, 1700000000000) + field(payload_num, 2, payload)


def frame(topic, env):
    body = topic.encode() + b"\0" + env
    return struct.pack("<H", len(body)) + body


T = 1700000000000
batch = b"".join(field(1, 2, x) for x in [
    series("memmimic_cache_hits_total", [("cache", "main")], 1, 5, T),
    series("node_load1", [], 2, 0.5, T),
    series("req_seconds_bucket", [("le", "0.1")], 3, 2, T, "req_seconds"),
    series("req_seconds_bucket", [("le", "+Inf")], 3, 3, T, "req_seconds"),
    series("req_seconds_count", [], 3, 3, T, "req_seconds"),
    series("req_seconds_sum", [], 3, 0.4, T, "req_seconds"),
])
hb = s(1, "0.1.0") + u(2, 2) + u(5, 42) + u(15, 1000)
check = s(1, "database") + s(2, "sqlite") + u(3, 1) + s(5, "ok") + d(7, 3)
health = u(1, 1) + d(2, 97.5) + field(3, 2, check)
state = field(1, 1, struct.pack("<Q", 9)) + u(2, 0) + u(3, 1) + field(10, 2, batch)
reply = s(1, "ab" * 16) + u(2, 200) + s(5, '{"ok":true}')

os.makedirs("seeds_bus", exist_ok=True)
seeds = {
    "metrics": frame("metric.batch", envelope("collector", "h-collector", "metric", 10, batch)),
    "heartbeat": frame("state.collector.hb", envelope("collector", "h-collector", "state", 11, hb)),
    "health": frame("health.report", envelope("health", "h-health", "health", 12, health)),
    "state": frame("state.collector", envelope("collector", "h-collector", "state", 15, state)),
    "reply": frame("reply.fuzz-gateway", envelope("health", "h-health", "reply", 14, reply)),
}
seeds["all"] = b"".join(seeds.values())
for name, data in seeds.items():
    with open(os.path.join("seeds_bus", name), "wb") as f:
        f.write(data)
