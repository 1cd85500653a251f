#!/usr/bin/env python3
"""Prometheus side of the rule benchmark (tools/bench/rules-bench).

Reads the /metrics of a Prometheus that evaluates the benchmark's rules (it
does not scrape itself) and reports, over a window of WINDOW seconds that
starts once every group has finished one evaluation (the first creates the
ALERTS series):
  - the sum of prometheus_rule_group_last_duration_seconds over the groups
    (the figure the issue names: how long one round of every group takes);
  - the rounds actually completed in the window (completed group
    evaluations, from prometheus_rule_group_duration_seconds_count, divided
    by the number of groups), hence its real round period;
  - its CPU rate, and its CPU-seconds per round = CPU used in the window /
    rounds completed in it (the figure to set beside memmon's CPU per round);
  - its RSS now and at peak (VmHWM of the process), in MiB as memmon's.
It also reports CPU-seconds per rule evaluation (from
prometheus_rule_evaluation_duration_seconds_count) times the number of rules.
When not every group has finished an evaluation within --wait-max, or the
process ends first (e.g. at a memory cap), the report is partial: what was
completed from the start until then, first evaluations included.
"""
import argparse
import json
import sys
import time
import urllib.request


def scrape(port):
    vals = {}
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('#') or not line.strip():
                continue
            name = line.split('{')[0].split(' ')[0]
            try:
                v = float(line.rsplit(' ', 1)[1])
            except (IndexError, ValueError):
                continue
            vals.setdefault(name, []).append(v)
    return vals


def one(vals, name):
    return vals.get(name, [0.0])[0]


def status_kb(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def alive(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            return 'zombie' not in f.read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--pid', type=int, required=True)
    ap.add_argument('--groups', type=int, required=True)
    ap.add_argument('--rules', type=int, required=True)
    ap.add_argument('--wait-max', type=float, default=600,
                    help='give up waiting for every group to finish once after this long')
    ap.add_argument('--window', type=float, default=60)
    a = ap.parse_args()
    t0 = time.time()
    last = None
    peak = 0
    done = 0
    while time.time() - t0 < a.wait_max and alive(a.pid):
        try:
            vals = scrape(a.port)
            peak = max(peak, status_kb(a.pid, 'VmHWM:'))
        except OSError:
            time.sleep(2)
            continue
        last = (time.time(), vals)
        done = sum(1 for d in vals.get('prometheus_rule_group_last_duration_seconds', [])
                   if d > 0)
        if done >= a.groups:
            break
        time.sleep(5)
    warm = time.time() - t0
    if done < a.groups:
        out = {'partial': True, 'groups': a.groups, 'groups_done': done,
               'alive': alive(a.pid), 'elapsed_s': round(warm, 1)}
        if last:
            mb = last[1]
            cpu = one(mb, 'process_cpu_seconds_total')
            evals = one(mb, 'prometheus_rule_evaluation_duration_seconds_count')
            out.update({
                'cpu_s': round(cpu, 1),
                'rule_evals': int(evals),
                'cpu_s_per_round_by_rule_evals':
                    round(cpu / evals * a.rules, 1) if evals else None,
                'rss_mib': round(one(mb, 'process_resident_memory_bytes') / 1048576),
                'peak_rss_mib': round(peak / 1024),
            })
        json.dump(out, sys.stdout)
        print()
        return 0
    m0, w0 = scrape(a.port), time.time()
    time.sleep(a.window)
    m1, w1 = scrape(a.port), time.time()
    window = w1 - w0
    cpu = one(m1, 'process_cpu_seconds_total') - one(m0, 'process_cpu_seconds_total')
    evals = (one(m1, 'prometheus_rule_group_duration_seconds_count') -
             one(m0, 'prometheus_rule_group_duration_seconds_count'))
    rounds = evals / a.groups
    revals = (one(m1, 'prometheus_rule_evaluation_duration_seconds_count') -
              one(m0, 'prometheus_rule_evaluation_duration_seconds_count'))
    missed = (sum(m1.get('prometheus_rule_group_iterations_missed_total', [0])) -
              sum(m0.get('prometheus_rule_group_iterations_missed_total', [0])))
    durs = m1.get('prometheus_rule_group_last_duration_seconds', [])
    out = {
        'groups': a.groups,
        'partial': False,
        'groups_done_before_window': done,
        'warmup_s': round(warm, 1),
        'window_s': round(window, 1),
        'sum_group_durations_s': round(sum(durs), 3),
        'max_group_duration_s': round(max(durs) if durs else 0, 3),
        'group_evals_in_window': int(evals),
        'rounds_in_window': round(rounds, 3),
        'round_period_s': round(window / rounds, 2) if rounds else None,
        'iterations_missed_in_window': int(missed),
        'cpu_cores': round(cpu / window, 3),
        'cpu_s_per_round': round(cpu / rounds, 2) if rounds else None,
        'cpu_s_per_round_by_rule_evals': round(cpu / revals * a.rules, 2) if revals else None,
        'rss_mib': round(one(m1, 'process_resident_memory_bytes') / 1048576),
        'peak_rss_mib': round(max(peak, status_kb(a.pid, 'VmHWM:')) / 1024),
    }
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == '__main__':
    sys.exit(main())
