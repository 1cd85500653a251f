#!/usr/bin/env python3
"""Runs promtool 2.42 and `memmonctl rules` on the same inputs and demands
identical stdout, stderr and exit status:
  - `check` on every rule file of ../shared/rules-corpus/ (one run, all files);
  - `test` on every unit-test file of the corpus (tests.yaml) and of cases/.
  promtool_compare.py MEMMONCTL
Corpus parts are skipped by name when ../shared/ is absent; everything is
skipped (exit 77) without promtool.
"""
import os
import re
import shutil
import subprocess
import sys

SKIP = 77


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def positionless(res):
    """Error lines without their place: ours are FILE:LINE:COL: (inside expr
    for PromQL errors), promtool's FILE: LINE:COL: (the expr's start)."""
    rc, out, err = res
    err = re.sub(r'(?m)^([^\s:]+):( ?\d+:\d+:)? ', r'\1: ', err)
    return rc, out, err


def compare(name, ours, theirs):
    if ours == theirs:
        print('ok   %s (exit %d)' % (name, ours[0]))
        return True
    print('FAIL %s: exit %d vs promtool %d' % (name, ours[0], theirs[0]))
    for label, a, b in (('stdout', ours[1], theirs[1]), ('stderr', ours[2], theirs[2])):
        al, bl = a.splitlines(), b.splitlines()
        for i in range(max(len(al), len(bl))):
            x = al[i] if i < len(al) else '<none>'
            y = bl[i] if i < len(bl) else '<none>'
            if x != y:
                print('  %s line %d\n    memmon:   %s\n    promtool: %s' % (label, i + 1, x, y))
                break
    return False


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    ctl = os.path.abspath(sys.argv[1])
    if not shutil.which('promtool'):
        print('SKIP rules_promtool: promtool absent')
        return SKIP
    ok = True
    here = os.path.dirname(os.path.abspath(__file__))
    cases = os.path.join(here, 'cases')
    for f in sorted(os.listdir(cases)):
        if f.endswith('.test.yml'):
            ok &= compare('cases/' + f, run([ctl, 'rules', 'test', f], cases),
                          run(['promtool', 'test', 'rules', f], cases))
        elif f.endswith('.rules.yml'):
            ok &= compare('check cases/' + f,
                          positionless(run([ctl, 'rules', 'check', f], cases)),
                          positionless(run(['promtool', 'check', 'rules', f], cases)))
    shared = os.environ.get('MM_SHARED_DIR', os.path.join(here, '../../../../shared'))
    corpus = os.path.join(shared, 'rules-corpus')
    if not os.path.isdir(corpus):
        print('SKIP rules_promtool corpus: %s absent' % corpus)
    else:
        rule_files, test_files = [], []
        for d, _, files in os.walk(corpus):
            for f in files:
                rel = os.path.relpath(os.path.join(d, f), corpus)
                if f in ('tests.yaml', 'tests.yml') or f.endswith('_test.yml'):
                    test_files.append(rel)
                elif f.endswith('.yml') or f.endswith('.yaml'):
                    rule_files.append(rel)
        rule_files.sort()
        ok &= compare('check %d corpus rule files' % len(rule_files),
                      run([ctl, 'rules', 'check'] + rule_files, corpus),
                      run(['promtool', 'check', 'rules'] + rule_files, corpus))
        for t in sorted(test_files):
            ok &= compare('test corpus ' + t, run([ctl, 'rules', 'test', t], corpus),
                          run(['promtool', 'test', 'rules', t], corpus))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
