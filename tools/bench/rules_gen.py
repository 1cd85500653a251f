#!/usr/bin/env python3
"""Workload generator of the rule benchmark (tools/bench/rules-bench).

Rules: the real alerting expressions of ../shared/rules-corpus/, with every
metric name they select mapped onto one of the generated metrics (gauges,
counters, a histogram) and the selectors' label matchers dropped, so each
expression reads real data; repeated (with other mappings) up to --rules,
in groups of --group-size.

Data (--openmetrics): --series series sampled every 15 s for --minutes
(and --ahead minutes more), written as OpenMetrics for `promtool tsdb
create-blocks-from openmetrics`; rules_bench.c generates the very same
values in memory (same formulas).
"""
import argparse
import os
import re
import sys

import yaml

N_GAUGE, N_COUNTER, N_HIST = 60, 30, 1
LES = ['0.005', '0.01', '0.05', '0.1', '0.5', '1', '5', '10', '50', '+Inf']
KEYWORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless',
            'bool', 'offset', 'inf', 'nan', 'sum', 'avg', 'min', 'max', 'count', 'topk',
            'bottomk', 'quantile', 'stddev', 'stdvar', 'count_values', 'group', 'atan2', 'start',
            'end', 'le', 'BY', 'AND', 'OR', 'OFFSET', 'Inf', 'NaN'}


def series_of(i):
    """(metric, labels, kind) of generated series i (same as rules_bench.c)."""
    per = 1000
    fam = i // per
    k = i % per
    labels = {'job': 'job%d' % (k % 10), 'instance': 'inst%d' % (k // 10)}
    if fam < N_GAUGE:
        return 'bench_gauge_%d' % fam, labels, 'g'
    if fam < N_GAUGE + N_COUNTER:
        return 'bench_counter_%d_total' % (fam - N_GAUGE), labels, 'c'
    labels = {'job': 'job%d' % (k % 10), 'instance': 'inst%d' % (k // 10 % 10),
              'le': LES[k // 100 % 10]}
    return 'bench_hist_%d_bucket' % (fam - N_GAUGE - N_COUNTER), labels, 'h'


def value_of(i, kind, step):
    """Sample value of series i at step (15 s apart); counters reset."""
    if kind == 'g':
        return float((i * 7919 + step * 31) % 1000) / 10.0
    if kind == 'c':
        return float((step % 200) * (i % 13 + 1))
    le = i % 1000 // 100
    return float((step % 200) * (le + 1) * (i % 7 + 1))


GROUPING = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right'}


def metric_for(name, salt):
    h = sum(ord(c) for c in name) + salt
    if name.endswith('_bucket'):
        return 'bench_hist_0_bucket'
    if re.search(r'(_total|_count|_sum)$', name):
        return 'bench_counter_%d_total' % (h % N_COUNTER)
    return 'bench_gauge_%d' % (h % N_GAUGE)


def map_expr(expr, salt):
    """Maps metric names onto generated ones and drops their matchers; a
    small lexer keeps strings, ranges, functions and label lists intact."""
    out, i, n = [], 0, len(expr)

    def skip_ws(j):
        while j < n and expr[j] in ' \t\r\n':
            j += 1
        return j

    def group_end(j, open_c, close_c):
        depth = 0
        while j < n:
            c = expr[j]
            if c in '"\'`':
                q = c
                j += 1
                while j < n and expr[j] != q:
                    j += 2 if expr[j] == '\\' and q != '`' else 1
            elif c == open_c:
                depth += 1
            elif c == close_c:
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return n

    while i < n:
        c = expr[i]
        if c in '"\'`':
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == '\\' and c != '`' else 1
            out.append(expr[i:j + 1])
            i = j + 1
        elif c == '[':
            j = group_end(i, '[', ']')
            out.append(expr[i:j])
            i = j
        elif c.isdigit() or (c == '.' and i + 1 < n and expr[i + 1].isdigit()):
            j = i
            while j < n and (expr[j].isalnum() or expr[j] in '._'):
                j += 1
            out.append(expr[i:j])
            i = j
        elif c.isalpha() or c in '_:':
            j = i
            while j < n and (expr[j].isalnum() or expr[j] in '_:'):
                j += 1
            word = expr[i:j]
            k = skip_ws(j)
            if word.lower() in GROUPING:
                out.append(word)
                if k < n and expr[k] == '(':
                    e = group_end(k, '(', ')')
                    out.append(expr[j:e])
                    j = e
                i = j
            elif (k < n and expr[k] == '(') or word.lower() in KEYWORDS or word in KEYWORDS:
                out.append(word)
                i = j
            else:
                out.append(metric_for(word, salt))
                if k < n and expr[k] == '{':
                    j = group_end(k, '{', '}')
                i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--corpus', default=os.path.join(os.path.dirname(__file__),
                                                     '../../../shared/rules-corpus'))
    ap.add_argument('--rules', type=int, default=1000)
    ap.add_argument('--group-size', type=int, default=50)
    ap.add_argument('--interval', default='15s')
    ap.add_argument('--out')
    ap.add_argument('--openmetrics')
    ap.add_argument('--series', type=int, default=100000)
    ap.add_argument('--minutes', type=int, default=60)
    ap.add_argument('--ahead', type=int, default=0,
                    help='minutes of samples after the hour, for a Prometheus that evaluates '
                         'at wall-clock time while the benchmark runs')
    ap.add_argument('--start', type=int, default=1700000000)
    ap.add_argument('--check-with')
    a = ap.parse_args()
    if a.out:
        exprs = []
        for d, _, files in sorted(os.walk(a.corpus)):
            for f in sorted(files):
                if not (f.endswith('.yml') or f.endswith('.yaml')) or f == 'tests.yaml':
                    continue
                doc = yaml.safe_load(open(os.path.join(d, f))) or {}
                for g in doc.get('groups') or []:
                    for r in g.get('rules') or []:
                        if 'alert' in r:
                            exprs.append(str(r['expr']))
        rules = []
        salt = 0
        while len(rules) < a.rules:
            for e in exprs:
                if len(rules) >= a.rules:
                    break
                rules.append({'alert': 'Bench%d' % len(rules), 'expr': map_expr(e, salt),
                              'for': '5m'})
            salt += 1
        groups = [{'name': 'bench%d' % (i // a.group_size), 'interval': a.interval,
                   'rules': rules[i:i + a.group_size]}
                  for i in range(0, len(rules), a.group_size)]
        with open(a.out, 'w') as fh:
            yaml.safe_dump({'groups': groups}, fh, sort_keys=False, width=1 << 20)
    if a.openmetrics:
        steps = (a.minutes + a.ahead) * 4 + 1
        with open(a.openmetrics, 'w') as fh:
            done = set()
            for i in range(a.series):
                name, labels, kind = series_of(i)
                if name not in done:
                    fh.write('# TYPE %s %s\n' % (name[:-6] if kind != 'g' and name.endswith('_total') else name,
                                                 'gauge' if kind == 'g' else 'unknown'))
                    done.add(name)
                lb = ','.join('%s="%s"' % kv for kv in sorted(labels.items()))
                for s in range(steps):
                    fh.write('%s{%s} %r %d\n' % (name, lb, value_of(i, kind, s), a.start + s * 15))
            fh.write('# EOF\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
