#!/usr/bin/env python3
"""How much did the protocol runs still gain at their end?

summary.md flags a cell "best = last" when a run's best validation epoch was its last. With
the recipe's poly schedule the learning rate decays to zero at the last epoch, so the last
validation is often the best by a hair even when the run has converged; the flag alone does
not say whether a run stopped while still improving. This prints, per (method, fraction), the
late gain of each run: its best validation Dice over the last LATE validations minus its best
before them (0 when the best came earlier), read from the runs' train.jsonl.

usage: late_gain.py RUN_DIR [LATE]     RUN_DIR: a protocol run directory's runs/ folder,
                                        e.g. /work/p2/hip3/runs; LATE: default 2 (the last
                                        400 steps of a 2000-step run validated every 200)
"""
import glob
import json
import os
import sys


def val_curve(path):
    """Validation Dice by epoch from one train.jsonl (records without a value skipped)."""
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("final") or r.get("val_dice") is None:
                continue
            out[r["epoch"]] = r["val_dice"]
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runs, late = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    cells = {}
    for p in sorted(glob.glob(os.path.join(runs, "*", "f*", "s*", "train.jsonl"))):
        if not os.path.exists(os.path.join(os.path.dirname(p), "eval.json")):
            continue   # unfinished run
        method, frac, seed = p.split(os.sep)[-4:-1]
        v = val_curve(p)
        e = sorted(v)
        if len(e) <= late:
            continue
        gain = max(v[k] for k in e[-late:]) - max(v[k] for k in e[:-late])
        cells.setdefault((method, int(frac[1:])), []).append((seed, max(gain, 0.0)))
    print(f"late gain: best validation Dice of the last {late} validations minus the best before")
    print("| method | labels | runs | mean | max | per seed |")
    print("|---|--:|--:|--:|--:|---|")
    for (m, f), g in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        vals = [x for _, x in g]
        per = " ".join(f"{s}:{x:+.3f}" for s, x in g)
        print(f"| {m} | {f}% | {len(g)} | {sum(vals) / len(vals):+.4f} | {max(vals):+.4f} | {per} |")


if __name__ == "__main__":
    main()
