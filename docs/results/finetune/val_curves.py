#!/usr/bin/env python3
"""Validation curves of the protocol v2 runs: extract them, and compare methods epoch by epoch.

usage: val_curves.py extract RUN_DIR > val_curves.csv
       val_curves.py paired val_curves.csv METRIC [EPOCHS]

extract  RUN_DIR is a set's protocol run directory (the driver's $OUT/hip3, ...): every
         finished run (runs/METHOD/fPCT/sSEED with eval.json) contributes one row per epoch
         that validated (finetune --val-every: the others log the metric as null), with its
         val_* metrics (val_cases, a count, left out): method,fraction,seed,epoch,METRIC...
paired   one markdown table per label fraction: METRIC (e.g. val_dice) at each epoch of
         EPOCHS (comma-separated, default: every epoch in the file), method - scratch and
         method - control (the method whose name starts with "rand"), paired by seed: mean
         difference [95% interval, Student t with pairs - 1 df] (seeds ahead / pairs).

The protocol's tables compare the kept model on the test set; this asks a different question:
how early in fine-tuning an initialisation is ahead on the validation cases, and whether the
gap closes. Validation Dice is what model selection saw, so it is optimistic as an estimate of
test Dice; it is used here only to compare initialisations at equal steps. Needs scipy."""
import csv
import glob
import json
import math
import os
import statistics
import sys

from scipy import stats


def extract(run_dir):
    rows, keys = [], set()
    for log in sorted(glob.glob(os.path.join(run_dir, "runs", "*", "f*", "s*", "train.jsonl"))):
        run = os.path.dirname(log)
        if not os.path.exists(os.path.join(run, "eval.json")):
            continue                              # unfinished run
        seed_dir, frac_dir = os.path.basename(run), os.path.basename(os.path.dirname(run))
        method = os.path.basename(os.path.dirname(os.path.dirname(run)))
        fraction = float(frac_dir[1:]) / 100
        with open(log) as f:
            for line in f:
                o = json.loads(line)
                if "epoch" not in o:
                    continue
                vals = {k: v for k, v in o.items()
                        if k.startswith("val_") and k != "val_cases" and isinstance(v, (int, float))}
                if vals:
                    keys |= set(vals)
                    rows.append((method, fraction, int(seed_dir[1:]), int(o["epoch"]), vals))
    keys = sorted(keys)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["method", "fraction", "seed", "epoch"] + keys)
    for method, fraction, seed, epoch, vals in rows:
        w.writerow([method, "%g" % fraction, seed, epoch] + ["%.6g" % vals[k] if k in vals else "" for k in keys])


def interval(d):
    n, m = len(d), statistics.mean(d)
    if n < 2:
        return "%+.3f (%d/%d)" % (m, sum(x > 0 for x in d), n)
    half = stats.t.ppf(0.975, n - 1) * statistics.stdev(d) / math.sqrt(n)
    return "%+.3f [%+.3f, %+.3f] (%d/%d)" % (m, m - half, m + half, sum(x > 0 for x in d), n)


def paired(path, metric, epochs_arg):
    val = {}                                      # (method, fraction, seed, epoch) -> value
    methods = []
    with open(path) as f:
        for r in csv.DictReader(f):
            if r.get(metric, "") == "":
                continue
            val[(r["method"], float(r["fraction"]), int(r["seed"]), int(r["epoch"]))] = float(r[metric])
            if r["method"] not in methods:
                methods.append(r["method"])
    if not val:
        sys.exit("val_curves.py: no %s values in %s" % (metric, path))
    seeds = sorted({k[2] for k in val})
    control = next((m for m in methods if m.startswith("rand")), None)
    order = ["scratch"] + ([control] if control else []) + [m for m in methods if m not in ("scratch", control)]
    all_epochs = sorted({k[3] for k in val})
    epochs = [int(e) for e in epochs_arg.split(",")] if epochs_arg else all_epochs
    for fraction in sorted({k[1] for k in val}):
        print("\n%s at %g%% labels: method - baseline, paired by seed\n" % (metric, fraction * 100))
        print("| method | baseline | " + " | ".join("epoch %d" % e for e in epochs) + " |")
        print("|---|---|" + "---|" * len(epochs))
        for m in order:
            cells = []
            for e in epochs:
                seeds = sorted(k[2] for k in val if k[0] == m and k[1] == fraction and k[3] == e)
                vs = [val[(m, fraction, s, e)] for s in seeds]
                cells.append("%.3f (n=%d)" % (statistics.mean(vs), len(vs)) if vs else "")
            print("| %s | (mean) | %s |" % (m, " | ".join(cells)))
            for base in ("scratch", control):
                if base is None or m in (base, "scratch"):
                    continue                      # scratch: its mean only; the control: - scratch
                cells = []
                for e in epochs:
                    d = [val[(m, fraction, s, e)] - val[(base, fraction, s, e)]
                         for s in seeds if (m, fraction, s, e) in val and (base, fraction, s, e) in val]
                    cells.append(interval(d) if d else "")
                print("| %s | %s | %s |" % (m, base, " | ".join(cells)))


def main(argv):
    if len(argv) >= 3 and argv[1] == "extract":
        extract(argv[2])
    elif len(argv) >= 4 and argv[1] == "paired":
        paired(argv[2], argv[3], argv[4] if len(argv) > 4 else "")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
