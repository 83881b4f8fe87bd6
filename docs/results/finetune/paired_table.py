#!/usr/bin/env python3
"""The docs' paired tables, from the CSVs `ssl3d protocol` writes (standard library only).

usage: paired_table.py SET_DIR METRIC [NAME=LABEL ...]
  SET_DIR  a protocol v2 result folder holding summary.csv and comparisons.csv,
           e.g. docs/results/finetune/v2/hip3
  METRIC   a metric column of comparisons.csv, e.g. dice_mean, auc, qwk
  NAME=LABEL  optional display names, e.g. rot3="rotation 3D" rand3="control (random encoder)"

One row per (fraction, method): runs, METRIC as mean +- sd over seeds (summary.csv), and the
paired difference against each baseline the protocol compared it with (scratch, control) with
its 95% interval, paired-t p value and how many seeds it was ahead -- the numbers are the ones
`ssl3d protocol` computed, only formatted here. Methods keep summary.csv's order."""
import csv
import sys


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    folder, metric = argv[1], argv[2]
    label = dict(a.split("=", 1) for a in argv[3:])
    summary = read(folder + "/summary.csv")
    comparisons = [c for c in read(folder + "/comparisons.csv") if c["metric"] == metric]
    if not any(metric + "_mean" in r for r in summary[:1]):
        sys.exit("paired_table.py: summary.csv has no column %s_mean" % metric)
    paired = {}                              # (method, fraction, role) -> comparison row
    for c in comparisons:
        paired[(c["method"], float(c["fraction"]), c["baseline_role"])] = c

    def cell(c):
        if c is None:
            return ""
        return "%+.3f [%+.3f, %+.3f] p=%.2f (%s/%s)" % (
            float(c["mean_diff"]), float(c["ci_low"]), float(c["ci_high"]),
            float(c["p_value"]), c["seeds_ahead"], c["pairs"])

    print("| method | labels | runs | %s (mean ± sd) | − scratch [95%% CI] p (ahead/pairs) "
          "| − control [95%% CI] p (ahead/pairs) |" % metric)
    print("|---|--:|--:|--:|---|---|")
    rows = sorted(summary, key=lambda r: float(r["fraction"]))   # stable: keeps method order
    for r in rows:
        m, f = r["method"], float(r["fraction"])
        sd = r[metric + "_sd"]
        value = "%.3f" % float(r[metric + "_mean"]) + (" ± %.3f" % float(sd) if sd not in ("", "nan") else "")
        print("| %s | %g%% | %s | %s | %s | %s |" % (
            label.get(m, m), round(f * 100, 1), r["runs"], value,
            cell(paired.get((m, f, "scratch"))), cell(paired.get((m, f, "control")))))


if __name__ == "__main__":
    main(sys.argv)
