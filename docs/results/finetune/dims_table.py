#!/usr/bin/env python3
"""Hippocampus 3D against 2D, paired by seed, from the protocol v2 results.csv of both sets.

usage: dims_table.py [V2_DIR]     V2_DIR: default docs/results/finetune/v2 (holds hip3/, hip2/)

A seed picks the same labelled and validation volumes in both sets (same pool, split seed and
subset rule), so test Dice can be paired by seed across the sets. Prints, at 5%, 10% and 25%
labels, 3D - 2D for scratch, the control and rotation, and the difference of the two
rotation encoders' gains over their own scratch: mean, 95% interval (Student t, pairs - 1
df), two-sided paired t-test p, seeds ahead. Needs scipy (Debian: python3-scipy)."""
import csv
import math
import statistics
import sys

from scipy import stats


def load(path):
    out = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["status"] == "ok":
                out[(r["method"], float(r["fraction"]), int(r["seed"]))] = float(r["dice_mean"])
    return out


def paired(a, b, label):
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        print("%-50s fewer than 2 pairs" % label)
        return
    d = [a[s] - b[s] for s in seeds]
    n, m, sd = len(d), statistics.mean(d), statistics.stdev(d)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    p = 2 * stats.t.sf(abs(m / (sd / math.sqrt(n))), n - 1)
    print("%-50s n=%d %+.3f [%+.3f, %+.3f] p=%.3f ahead %d/%d"
          % (label, n, m, m - half, m + half, p, sum(x > 0 for x in d), n))


def main(argv):
    root = argv[1] if len(argv) > 1 else "docs/results/finetune/v2"
    h3, h2 = load(root + "/hip3/results.csv"), load(root + "/hip2/results.csv")

    def by_seed(res, method, f):
        return {k[2]: v for k, v in res.items() if k[0] == method and k[1] == f}

    for f in (0.05, 0.1, 0.25):
        for m3, m2 in (("scratch", "scratch"), ("rand3", "rand2"), ("rot3", "rot2")):
            paired(by_seed(h3, m3, f), by_seed(h2, m2, f), "%s 3D - %s 2D at %g" % (m3, m2, f))
        s3, s2 = by_seed(h3, "scratch", f), by_seed(h2, "scratch", f)
        g3 = {s: v - s3[s] for s, v in by_seed(h3, "rot3", f).items() if s in s3}
        g2 = {s: v - s2[s] for s, v in by_seed(h2, "rot2", f).items() if s in s2}
        paired(g3, g2, "gain(rot3 - scratch 3D) - gain(rot2 - scratch 2D) at %g" % f)


if __name__ == "__main__":
    main(sys.argv)
