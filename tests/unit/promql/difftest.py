#!/usr/bin/env python3
"""Differential test of memmon's PromQL engine against Prometheus 2.42.

Generates random series (promtool's `1+2x10 _ stale` notation) and random
expressions from the supported grammar, evaluates every expression with our
engine (the v2.42 runner's --dump mode) and with `promtool test rules`
(a generated promql_expr_test with no expected samples, so promtool prints
what it got), and compares: same error-or-not, same label sets, values equal
within a relative 1e-6 (NaN equal to NaN). Any difference is a bug.

usage: difftest.py RUNNER [--count N] [--seed S] [--keep DIR] [--verbose]
Exits 77 (skip) when promtool is not installed.
"""
import argparse
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

JOBS = ["api", "db", "web"]
STATS = {"errors": 0, "empty": 0, "samples": 0, "ties": 0}
INSTS = ["i1", "i2"]
LES = ["0.1", "0.5", "1", "+Inf"]
INTERVAL_S = 60
N_SAMPLES = 40


class Gen:
    def __init__(self, rnd):
        self.r = rnd

    def pick(self, xs):
        return self.r.choice(xs)

    # ---- data ----
    def values(self, kind):
        r = self.r
        out = []
        v = r.randint(0, 20)
        i = 0
        while i < N_SAMPLES:
            x = r.random()
            if x < 0.05:
                out.append("_")
                i += 1
            elif x < 0.08 and kind != "counter":
                out.append("stale")
                i += 1
            elif x < 0.10 and kind == "gauge":
                out.append(self.pick(["NaN", "Inf", "-Inf"]))
                i += 1
            elif x < 0.55:
                n = r.randint(1, 8)
                step = r.randint(0, 5) if kind == "counter" else r.randint(-3, 3)
                out.append("%d%+dx%d" % (v, step, n))
                v += step * n
                i += n + 1
            else:
                if kind == "counter" and r.random() < 0.15:
                    v = r.randint(0, 3)  # counter reset
                else:
                    v += r.randint(0, 4) if kind == "counter" else r.randint(-5, 5)
                out.append(str(v))
                i += 1
        return " ".join(out)

    def series(self):
        s = []
        for j in JOBS:
            for inst in INSTS:
                if self.r.random() < 0.85:
                    s.append(('a{job="%s",inst="%s"}' % (j, inst), self.values("gauge")))
                if self.r.random() < 0.7:
                    s.append(('b{job="%s",inst="%s"}' % (j, inst), self.values("gauge")))
                if self.r.random() < 0.85:
                    s.append(('c_total{job="%s",inst="%s"}' % (j, inst), self.values("counter")))
            base = self.r.randint(0, 3)
            vals = None
            for le in LES:
                if vals is None or True:
                    cnt = self.r.randint(0, 5) + base
                    base = cnt
                    vals = "%d+%dx%d" % (cnt, self.r.randint(0, 4), N_SAMPLES - 1)
                s.append(('h_bucket{job="%s",le="%s"}' % (j, le), vals))
        return s

    # ---- expressions ----
    def dur(self):
        return self.pick(["1m", "2m", "3m", "5m", "10m", "90s", "150s"])

    def selector(self):
        name = self.pick(["a", "b", "c_total", "a", "c_total"])
        m = self.pick([
            "", "", '{job="api"}', '{job!="db"}', '{job=~"a.*|web"}', '{inst="i1"}',
            '{job!~"api"}', '{inst=~"i[12]"}'])
        s = name + m
        if self.r.random() < 0.08:
            s = '{__name__=~"a|b"' + (',job="api"' if self.r.random() < 0.5 else "") + "}"
        if self.r.random() < 0.15:
            s += " offset " + self.pick(["1m", "5m", "30s", "7m", "-2m", "-30s"])
        if self.r.random() < 0.06:
            s += " @ " + self.at()
        return s

    def at(self):
        return self.pick(["start()", "end()", str(self.r.randint(0, 2400)), "%d.5" % self.r.randint(0, 2400)])

    def matrix(self, depth):
        r = self.r.random()
        if r < 0.75 or depth <= 0:
            sel = self.selector()
            mods = ""
            for kw in (" offset ", " @ "):
                if kw in sel:
                    i = sel.index(kw)
                    sel, mods = sel[:i], sel[i:] + mods
            return "%s[%s]%s" % (sel, self.dur(), mods)
        step = self.pick(["", "1m", "30s", "2m", "45s"])
        s = "%s[%s:%s]" % (self.vector(depth - 1), self.pick(["5m", "10m", "3m"]), step)
        if self.r.random() < 0.2:
            s += " offset " + self.pick(["1m", "-1m", "90s"])
        if self.r.random() < 0.1:
            s += " @ " + self.at()
        return s

    def scalar(self, depth):
        r = self.r.random()
        if r < 0.6 or depth <= 0:
            return self.pick(["1", "2", "0.5", "3", "10", "0", "-1", "100", "0.1"])
        if r < 0.75:
            return "scalar(%s)" % self.vector(depth - 1)
        if r < 0.85:
            return "time()"
        return "(%s %s %s)" % (self.scalar(depth - 1), self.pick(["+", "-", "*", "/", "%", "^"]),
                               self.scalar(depth - 1))

    def grouping(self):
        lbls = self.pick(["job", "inst", "job, inst", "", "le", "nonexistent"])
        kw = self.pick(["by", "without", "BY"])
        return "%s (%s)" % (kw, lbls)

    def vector(self, depth):
        r = self.r.random()
        if depth <= 0 or r < 0.2:
            return self.selector()
        if r < 0.38:
            f = self.pick(["rate", "increase", "delta", "irate", "idelta", "deriv", "changes",
                           "resets", "avg_over_time", "min_over_time", "max_over_time",
                           "sum_over_time", "count_over_time", "stddev_over_time",
                           "stdvar_over_time", "last_over_time", "present_over_time",
                           "absent_over_time"])
            return "%s(%s)" % (f, self.matrix(depth - 1))
        if r < 0.42:
            x = self.r.random()
            if x < 0.4:
                return "quantile_over_time(%s, %s)" % (self.pick(["0.5", "0.9", "0", "1"]), self.matrix(depth - 1))
            if x < 0.7:
                return "predict_linear(%s, %s)" % (self.matrix(depth - 1), self.pick(["60", "600", "-30"]))
            return "holt_winters(%s, %s, %s)" % (self.matrix(depth - 1), self.pick(["0.1", "0.5", "0.9"]),
                                                  self.pick(["0.1", "0.5", "0.9"]))
        if r < 0.52:
            f = self.pick(["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn",
                           "sin", "cos", "atan", "deg", "rad", "timestamp", "sort", "sort_desc",
                           "absent", "-", "round", "clamp_min", "clamp_max", "clamp"])
            v = self.vector(depth - 1)
            if f == "-":
                return "-" + v
            if f == "round":
                return "round(%s, %s)" % (v, self.pick(["1", "0.5", "5"]))
            if f in ("clamp_min", "clamp_max"):
                return "%s(%s, %s)" % (f, v, self.pick(["1", "5", "-1"]))
            if f == "clamp":
                return "clamp(%s, %s, %s)" % (v, self.pick(["0", "2"]), self.pick(["1", "10"]))
            return "%s(%s)" % (f, v)
        if r < 0.66:
            op = self.pick(["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
                            "topk", "bottomk", "quantile", "count_values"])
            v = self.vector(depth - 1)
            g = self.grouping() if self.r.random() < 0.7 else ""
            if op in ("topk", "bottomk"):
                arg = "%s, %s" % (self.pick(["1", "2", "5"]), v)
            elif op == "quantile":
                arg = "%s, %s" % (self.pick(["0.5", "0.9", "0", "1"]), v)
            elif op == "count_values":
                arg = '"val", %s' % v
            else:
                arg = v
            if g and self.r.random() < 0.5:
                return "%s(%s) %s" % (op, arg, g)
            return "%s %s (%s)" % (op, g, arg)
        if r < 0.70:
            return ('histogram_quantile(%s, sum by (le, job) (rate(h_bucket[%s])))'
                    % (self.pick(["0.5", "0.9", "0.99", "0"]), self.dur()))
        if r < 0.74:
            v = self.vector(depth - 1)
            x = self.r.random()
            if x < 0.3:
                return 'label_replace(%s, "dst", "x-$1", "job", "(a.*)")' % v
            if x < 0.45:
                return 'label_replace(%s, "job", "${1}_$name", "inst", "(?P<name>i)(\\\\d)")' % v
            if x < 0.55:
                return 'label_replace(%s, "inst", "", "job", "(?i)API|db")' % v
            if x < 0.65:
                return 'absent(%s)' % self.pick(['nonexistent{job="x",inst=~"y"}', 'a{job="api"}', 'a{job="nope",job="nope"}', 'sum(nonexistent)'])
            if x < 0.75:
                return 'absent_over_time(%s)' % self.pick(['nonexistent{job="x"}[5m]', 'a{job="api"}[1m] offset 1h'])
            if x < 0.85:
                return '(time() - timestamp(%s))' % v
            return 'label_join(%s, "dst", "-", "job", "inst")' % v
        if r < 0.80:
            s = self.scalar(depth - 1)
            v = self.vector(depth - 1)
            op = self.pick(["+", "-", "*", "/", "%", "^", ">", "<", "==", "!=", ">=", "<=",
                            "> bool", "< bool", "== bool", "atan2"])
            if self.r.random() < 0.5:
                return "%s %s %s" % (v, op, s)
            return "%s %s %s" % (s, op, v)
        if r < 0.95:
            op = self.pick(["+", "-", "*", "/", ">", "<", "==", "> bool", "and", "or", "unless",
                            "%", "^", "atan2"])
            l, rr = self.vector(depth - 1), self.vector(depth - 1)
            m = ""
            x = self.r.random()
            if x < 0.25:
                m = " on (%s)" % self.pick(["job", "job, inst", "inst", ""])
            elif x < 0.4:
                m = " ignoring (%s)" % self.pick(["inst", "job", ""])
            if m and op not in ("and", "or", "unless") and self.r.random() < 0.3:
                m += " group_%s" % self.pick(["left", "right"])
                if self.r.random() < 0.5:
                    m += " (inst)"
            return "(%s %s%s %s)" % (l, op, m, rr)
        return "vector(%s)" % self.scalar(depth - 1)


def parse_promtool(out):
    """Maps 'expr@time' -> ('ERR', msg) or list of (labels, value) from promtool's report."""
    res = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r'^\s+expr: "(.*)", time: (\S+?),( err: (.*))?$', line)
        if m:
            key = (bytes(m.group(1), "utf-8").decode("unicode_escape"), m.group(2))
            if m.group(3):
                res[key] = ("ERR", m.group(4))
                cur = None
            else:
                cur = key
                res[key] = []
            continue
        m = re.match(r"^\s+got: (.*)$", line)
        if m and cur is not None:
            body = m.group(1)
            if body.strip() != "nil":
                for item in re.finditer(r"(\{[^}]*\}) (\S+?)(?:, |$)", body):
                    res[cur].append((item.group(1), float(item.group(2).replace("E", "e"))))
            cur = None
    return res


def parse_ours(out):
    res = {}
    cur = None
    for line in out.splitlines():
        if line.startswith("#"):
            cur = int(line[1:])
            res[cur] = []
        elif line.startswith("ERR "):
            res[cur] = ("ERR", line[4:])
        elif line.startswith("SCALAR "):
            res[cur] = [("{}", float(line.split()[1]))]
        else:
            lbl, val = line.rsplit(" ", 1)
            res[cur].append((lbl, float(val)))
    return res


def close(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    d = abs(a - b)
    if d < 1e-12:
        # Sums whose exact result is 0 keep a rounding residue that depends on
        # the order of the series, which promtool randomises.
        return True
    return d / (abs(a) + abs(b)) < 1e-6


def go_duration(s):
    return "%dm" % (s // 60) if s % 60 == 0 else "%dm%ds" % (s // 60, s % 60) if s > 60 else "%ds" % s


def run_batch(runner, rnd, count, workdir, verbose, batch_no=0):
    g = Gen(rnd)
    series = g.series()
    cases = []
    for _ in range(count):
        expr = g.vector(rnd.randint(1, 4))
        t = rnd.randint(5, N_SAMPLES - 1) * INTERVAL_S + rnd.choice([0, 0, 0, 17, 30])
        cases.append((expr, t))
    # Our side.
    lines = ["load 1m"] + ["\t%s %s" % s for s in series] + [""]
    index = {}
    for expr, t in cases:
        lines.append("eval instant at %ds %s" % (t, expr))
        index[len(lines)] = (expr, t)
        lines.append("")
    ours_path = os.path.join(workdir, "cases-%d.test" % batch_no)
    with open(ours_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = subprocess.run([runner, "--dump", ours_path], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit("runner failed: " + out.stderr)
    ours_by_line = parse_ours(out.stdout)
    # promtool's side.
    y = ["rule_files: []", "evaluation_interval: 1m", "tests:", "  - interval: 1m",
         "    input_series:"]
    for name, vals in series:
        y.append("      - series: '%s'" % name)
        y.append("        values: '%s'" % vals)
    y.append("    promql_expr_test:")
    for expr, t in cases:
        y.append("      - expr: '%s'" % expr.replace("'", "''"))
        y.append("        eval_time: %ds" % t)
    # promtool loads samples lazily up to the latest eval_time of the group;
    # a late dummy case makes every sample visible, as in our store.
    y.append("      - expr: 'vector(1)'")
    y.append("        eval_time: 2h")
    y.append("        exp_samples: [{labels: '{}', value: 1}]")
    pt_path = os.path.join(workdir, "cases-%d.yml" % batch_no)
    with open(pt_path, "w") as f:
        f.write("\n".join(y) + "\n")
    out = subprocess.run(["promtool", "test", "rules", pt_path], capture_output=True, text=True,
                         timeout=600)
    theirs = parse_promtool(out.stdout + out.stderr)
    agree = differ = 0
    for line, (expr, t) in index.items():
        ours = ours_by_line.get(line, ("ERR", "missing"))
        STATS["errors" if isinstance(ours, tuple) else "empty" if not ours else "samples"] += 1
        ours = ours_by_line.get(line, ("ERR", "missing"))
        key = (expr, go_dur_key(t))
        th = theirs.get(key, [])
        ok = compare(ours, th)
        if not ok and tie_equivalent(expr, ours, th):
            STATS["ties"] += 1
            ok = True
        if ok:
            agree += 1
        else:
            differ += 1
            print("DIFF at %ds (%s:%d): %s\n  ours:     %s\n  promtool: %s"
                  % (t, os.path.basename(ours_path), line, expr, fmt(ours), fmt(th)))
    return agree, differ


def go_dur_key(t):
    # promtool prints model.Duration: e.g. 10m, 10m30s, 17s
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    out = ""
    if h:
        out += "%dh" % h
    if m:
        out += "%dm" % m
    if s:
        out += "%ds" % s
    return out or "0s"


def fmt(v):
    if isinstance(v, tuple):
        return "error: " + v[1]
    return ", ".join("%s %r" % x for x in sorted(v)) or "(empty)"


def norm_labels(l):
    inner = l.strip()[1:-1].strip()
    if not inner:
        return ()
    return tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', inner)))


def compare(ours, theirs):
    if isinstance(ours, tuple) or isinstance(theirs, tuple):
        return isinstance(ours, tuple) and isinstance(theirs, tuple)
    if len(ours) != len(theirs):
        return False
    a = {norm_labels(l): v for l, v in ours}
    b = {norm_labels(l): v for l, v in theirs}
    if set(a) != set(b):
        return False
    return all(close(a[k], b[k]) for k in a)


def tie_equivalent(expr, ours, theirs):
    """topk/bottomk among equal values may keep different series: Prometheus
    breaks ties by series creation order, which promtool's loader randomises
    (it iterates a Go map). Same values, different series: not a bug."""
    if "topk" not in expr and "bottomk" not in expr:
        return False
    if isinstance(ours, tuple) or isinstance(theirs, tuple) or len(ours) != len(theirs):
        return False
    a = sorted(v for _, v in ours)
    b = sorted(v for _, v in theirs)
    return all(close(x, y) for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runner")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--batch", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not shutil.which("promtool"):
        print("SKIP promql_difftest: promtool is not installed")
        return 77
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    workdir = args.keep or tempfile.mkdtemp(prefix="promql-diff-")
    os.makedirs(workdir, exist_ok=True)
    agree = differ = 0
    left = args.count
    while left > 0:
        n = min(left, args.batch)
        a, d = run_batch(args.runner, rnd, n, workdir, args.verbose, (args.count - left) // args.batch)
        agree += a
        differ += d
        left -= n
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print("promql difftest (seed %d): %d expressions, %d agree with promtool 2.42, %d differ "
          "(ours: %d with samples, %d empty, %d errors; %d topk/bottomk ties)"
          % (seed, agree + differ, agree, differ, STATS["samples"], STATS["empty"], STATS["errors"],
             STATS["ties"]))
    return 0 if differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
