#!/usr/bin/env python3
"""Agreement test: for alerting rules of ../shared/rules-corpus/, generate
input series for the metrics each rule reads (values that cross thresholds
over many magnitudes, counters that reset, series that go stale and vanish),
write a promtool unit-test file whose alert_rule_test entries expect nothing,
and run it through `promtool test rules` and `memmonctl rules test`. promtool
then prints every alert that fired (labels and annotations) at every checked
time; the rule agrees when both outputs and exit codes are identical.

  agreement.py MEMMONCTL SELECTORS [--sample N] [--seed S] [--min-share F]
                                   [--report FILE] [--keep DIR]
Skips (exit 77) when ../shared/ or promtool is absent.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SKIP = 77


def corpus_files(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if (f.endswith('.yml') or f.endswith('.yaml')) and f != 'tests.yaml':
                out.append(os.path.join(d, f))
    return sorted(out)


class Selectors:
    """Talks to the rules_selectors helper (our parser's selector list)."""

    def __init__(self, exe):
        self.p = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        self.cache = {}

    def get(self, expr):
        if expr not in self.cache:
            self.p.stdin.write(json.dumps(expr) + '\n')
            self.p.stdin.flush()
            self.cache[expr] = json.loads(self.p.stdout.readline())
        return self.cache[expr]

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def parse_dur(s):
    if s is None:
        return 0
    total = 0
    for num, unit in re.findall(r'(\d+)(ms|y|w|d|h|m|s)', str(s)):
        total += int(num) * {'ms': 1, 's': 1000, 'm': 60000, 'h': 3600000, 'd': 86400000,
                             'w': 7 * 86400000, 'y': 365 * 86400000}[unit]
    return total


def value_for(op, pattern, base):
    """A label value satisfying one matcher (None: leave the label out)."""
    if op == '=':
        return pattern if pattern != '' else None
    if op == '!=':
        return base if base != pattern else base + 'x'
    try:
        rx = re.compile(r'(?:' + pattern + r')\Z', re.S)
    except re.error:
        rx = None
    cands = []
    for alt in pattern.split('|'):
        lit = re.sub(r'\\(.)', r'\1', alt)
        lit = re.sub(r'[\^\$\(\)\[\]\{\}\*\+\?]', '', lit).replace('.', 'x')
        cands.append(lit)
    cands += [base, 'x', 'a', '1', '0', 'default', '']
    for c in cands:
        ok = bool(rx.match(c)) if rx else False
        if (op == '=~') == ok:
            return c if c != '' else None
    return base if op == '!~' else None


GAUGE_A = ('0 0.5 1 2 5 10 20 50 80 90 95 99 100 200 1000 1e4 1e6 1e9 '
           '1e9x10 0x10 stale _x10 1x20 0.2x30 0.97x30 _x20')
GAUGE_B = '100x30 0x25 1x25 stale _x5 70x40 0x30'
COUNTER_A = '0+10x20 5+1000x20 0+1x20 stale _x10 0+2x30 0+0x30'
COUNTER_B = '0+0x30 0+5x30 3+300x30 0+1x40'
BUCKET_FRACTIONS = [('0.1', 0.2), ('1', 0.5), ('10', 0.9), ('+Inf', 1.0)]


def is_counter(name):
    return re.search(r'(_total|_count|_sum|_bucket|_seconds_total|_bytes_total)$', name) is not None


def series_lines(sel_list):
    """Input series for every selected metric, two variants each."""
    seen = set()
    out = []
    for s in sel_list:
        metric = s.get('metric')
        if not metric:
            continue
        labels = {}
        for name, op, val in s['matchers']:
            if name == '__name__':
                continue
            v = value_for(op, val, {'job': 'job1', 'instance': 'inst1'}.get(name, 'v1'))
            if v is not None:
                labels[name] = v
        for variant, (gauge, counter) in enumerate([(GAUGE_A, COUNTER_A), (GAUGE_B, COUNTER_B)]):
            lb = dict(labels)
            lb.setdefault('job', 'job1')
            if 'instance' not in labels:
                lb['instance'] = 'inst%d' % (variant + 1)
            elif variant:
                lb.setdefault('pod', 'pod2')
            buckets = [None]
            if metric.endswith('_bucket') and 'le' not in labels:
                buckets = BUCKET_FRACTIONS
            for b in buckets:
                l2 = dict(lb)
                values = counter if is_counter(metric) else gauge
                if b is not None:
                    l2['le'] = b[0]
                    values = ' '.join(scale(tok, b[1]) for tok in values.split())
                key = (metric, tuple(sorted(l2.items())))
                if key in seen:
                    continue
                seen.add(key)
                body = ', '.join('%s=%s' % (k, json.dumps(v)) for k, v in sorted(l2.items()))
                out.append({'series': '%s{%s}' % (metric, body), 'values': values})
    return out


def scale(tok, f):
    m = re.fullmatch(r'([-+]?[0-9.e]+)([-+][0-9.e]+)?x(\d+)', tok)
    if m:
        a = float(m.group(1)) * f
        b = float(m.group(2) or 0) * f
        return '%s%+gx%s' % (repr(a), b, m.group(3))
    try:
        return repr(float(tok) * f)
    except ValueError:
        return tok


def build_cases(files, sels):
    cases = []
    for path in files:
        with open(path) as fh:
            doc = yaml.safe_load(fh) or {}
        groups = doc.get('groups') or []
        records = {}
        for g in groups:
            for r in g.get('rules') or []:
                if 'record' in r:
                    records.setdefault(r['record'], []).append(r)
        for gi, g in enumerate(groups):
            for ri, r in enumerate(g.get('rules') or []):
                if 'alert' not in r:
                    continue
                cases.append((path, gi, ri, r, records))
    return cases


def case_files(case, sels, workdir, idx):
    path, gi, ri, rule, records = case
    # Recording rules the alert depends on, transitively, in file order.
    needed, todo, sel_all = [], [rule['expr']], []
    done = set()
    while todo:
        expr = str(todo.pop())
        res = sels.get(expr)
        for s in res.get('selectors', []):
            m = s.get('metric')
            if m in records and m not in done:
                done.add(m)
                for rr in records[m]:
                    needed.append(rr)
                    todo.append(rr['expr'])
            elif m not in records:
                sel_all.append(s)
    order = [id(x) for x in needed]
    rec_rules = sorted(needed, key=lambda x: order.index(id(x)))
    rec_rules.reverse()
    groups = []
    if rec_rules:
        groups.append({'name': 'rec', 'rules': rec_rules})
    groups.append({'name': 'zalert', 'rules': [rule]})
    rf = os.path.join(workdir, 'case%d.rules.yml' % idx)
    with open(rf, 'w') as fh:
        yaml.safe_dump({'groups': groups}, fh, sort_keys=False, allow_unicode=True)
    for_ms = parse_dur(rule.get('for')) + parse_dur(rule.get('keep_firing_for'))
    horizon = min(max(150, for_ms // 60000 + 40), 240)
    tests = [{'eval_time': '%dm' % t, 'alertname': rule['alert']}
             for t in range(0, horizon + 1, 5)]
    tf = os.path.join(workdir, 'case%d.test.yml' % idx)
    test = {
        'rule_files': [os.path.basename(rf)],
        'evaluation_interval': '1m',
        'group_eval_order': [g['name'] for g in groups],
        'tests': [{
            'interval': '1m',
            'external_labels': {'cluster': 'c1'},
            'input_series': series_lines(sel_all),
            'alert_rule_test': tests,
        }],
    }
    with open(tf, 'w') as fh:
        yaml.safe_dump(test, fh, sort_keys=False, allow_unicode=True)
    return tf


NUM = re.compile(r'-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+e[-+]?\d+|-?\d{6,}')


def rounded(res):
    """The output with every decimal number rounded to 12 significant digits:
    what remains when only the last bits of a sum differ."""
    def r(m):
        try:
            return '%.12g' % float(m.group(0))
        except ValueError:
            return m.group(0)
    return tuple(NUM.sub(r, x) if isinstance(x, str) else x for x in res)


def run(cmd, cwd):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return -1, '', 'timeout'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('memmonctl')
    ap.add_argument('selectors')
    ap.add_argument('--sample', type=int, default=0)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--min-share', type=float, default=0.0)
    ap.add_argument('--report')
    ap.add_argument('--keep')
    a = ap.parse_args()
    shared = os.environ.get('MM_SHARED_DIR', os.path.join(os.path.dirname(__file__),
                                                          '../../../../shared'))
    corpus = os.path.join(shared, 'rules-corpus')
    if not os.path.isdir(corpus):
        print('SKIP rules_agreement: %s absent' % corpus)
        return SKIP
    if not shutil.which('promtool'):
        print('SKIP rules_agreement: promtool absent')
        return SKIP
    sels = Selectors(a.selectors)
    cases = build_cases(corpus_files(corpus), sels)
    if a.sample and a.sample < len(cases):
        cases = random.Random(a.seed).sample(cases, a.sample)
    workdir = a.keep or tempfile.mkdtemp(prefix='rules-agree-')
    os.makedirs(workdir, exist_ok=True)
    agree = fired = rounding = 0
    bad = []
    for i, c in enumerate(cases):
        tf = case_files(c, sels, workdir, i)
        base = os.path.basename(tf)
        theirs = run(['promtool', 'test', 'rules', base], workdir)
        ours = run([os.path.abspath(a.memmonctl), 'rules', 'test', base], workdir)
        if 'got:[\n' in theirs[2]:
            fired += 1
        # promtool is not deterministic where Go iterates a map (the order
        # of a sum's additions, so the last bits of $value): retry it.
        for _ in range(3):
            if theirs == ours:
                break
            theirs = run(['promtool', 'test', 'rules', base], workdir)
        if theirs == ours:
            agree += 1
        else:
            if rounded(theirs) == rounded(ours):
                rounding += 1
            bad.append((c[0], c[3]['alert'], tf, theirs, ours))
    sels.close()
    n = len(cases)
    share = agree / n if n else 1.0
    summary = ('rules agreement: %d of %d alerting rules agree with promtool (%.1f%%); '
               'alerts fired for %d of them; %d more differ only in the last bits of a value '
               '(summation order; promtool itself varies there)' % (agree, n, 100 * share, fired,
                                                                    rounding))
    print(summary)
    for path, name, tf, theirs, ours in bad[:20]:
        print('DIFF %s %s (%s)' % (os.path.relpath(path, corpus), name, tf))
        tl = (theirs[1] + theirs[2]).splitlines()
        ol = (ours[1] + ours[2]).splitlines()
        for k in range(max(len(tl), len(ol))):
            x = tl[k] if k < len(tl) else '<none>'
            y = ol[k] if k < len(ol) else '<none>'
            if x != y:
                print('  promtool: %s\n  memmon:   %s' % (x[:300], y[:300]))
                break
    if a.report:
        with open(a.report, 'w') as fh:
            fh.write(summary + '\n')
            for path, name, tf, _, _ in bad:
                fh.write('%s\t%s\t%s\n' % (os.path.relpath(path, corpus), name, tf))
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if share >= a.min_share else 1


if __name__ == '__main__':
    sys.exit(main())
