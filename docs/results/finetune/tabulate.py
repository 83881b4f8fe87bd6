#!/usr/bin/env python3
"""Markdown tables from an `ssl3d protocol` results.csv (standard library only).

usage: tabulate.py RESULTS_CSV METRIC [BASELINE]
Prints (1) METRIC as mean +- sample sd over seeds, methods x label fractions, with the
number of runs, and (2) the paired difference METRIC(method) - METRIC(BASELINE) over the
seeds both ran (same seed = same validation cases and nested label subset), with how many
seeds the method was ahead. BASELINE defaults to 'scratch'."""
import csv, statistics, sys
from collections import defaultdict

path, metric = sys.argv[1], sys.argv[2]
base = sys.argv[3] if len(sys.argv) > 3 else 'scratch'
val = defaultdict(dict)              # (method, fraction) -> {seed: value}
methods, fracs = [], set()
for r in csv.DictReader(open(path)):
    if r['status'] != 'ok':
        continue
    m, f = r['method'], float(r['fraction'])
    if m not in methods:
        methods.append(m)
    fracs.add(f)
    val[(m, f)][int(r['seed'])] = float(r[metric])
fracs = sorted(fracs)

def ms(xs, fmt='%.3f'):
    if not xs:
        return ''
    if len(xs) == 1:
        return fmt % xs[0]
    return (fmt + ' ± %.3f') % (statistics.mean(xs), statistics.stdev(xs))

head = '| method | ' + ' | '.join('%g%%' % (100 * f) for f in fracs) + ' |'
print(head); print('|---' * (len(fracs) + 1) + '|')
for m in methods:
    cells = []
    for f in fracs:
        xs = [v for _, v in sorted(val[(m, f)].items())]
        cells.append(ms(xs) + (' (n=%d)' % len(xs) if xs else ''))
    print('| %s | %s |' % (m, ' | '.join(cells)))
print()
print('Paired difference vs %s (mean ± sd over shared seeds; seeds ahead / seeds):' % base)
print(); print(head); print('|---' * (len(fracs) + 1) + '|')
for m in methods:
    if m == base:
        continue
    cells = []
    for f in fracs:
        a, b = val[(m, f)], val[(base, f)]
        d = [a[s] - b[s] for s in sorted(a) if s in b]
        cells.append('%s (%d/%d)' % (ms(d, '%+.3f'), sum(x > 0 for x in d), len(d)) if d else '')
    print('| %s | %s |' % (m, ' | '.join(cells)))
