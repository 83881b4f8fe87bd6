#!/usr/bin/env python3
"""Collect the runs of docs/results/pretrain/run_all.sh (/tmp/res/NAME.{jsonl,out}) into
docs/results/pretrain/pretrain_summary.jsonl (the final summary line of each run plus run facts) and
print a Markdown table for docs/results.md."""
import json, re, sys

RUNS = ["rot3", "rpl3", "jig3", "cpc3", "exe3", "exe3n", "rot2", "rpl2", "jig2", "cpc2", "exe2", "exe2n"]
DIR = sys.argv[1] if len(sys.argv) > 1 else "/tmp/res"

def preds_per_image(task, dims, opts):
    """Proxy predictions per image per step (what the log's samples_per_s counts)."""
    if task == "cpc":
        g = int(opts.get("grid", 4)); steps = int(opts.get("steps", 2))
        return g ** (dims - 1) * sum(g - l for l in range(1, steps + 1))
    if task == "exemplar":
        return 2
    return 1

rows = []
out = open("docs/results/pretrain/pretrain_summary.jsonl", "w")
for name in RUNS:
    try:
        lines = [json.loads(l) for l in open(f"{DIR}/{name}.jsonl")]
        text = open(f"{DIR}/{name}.out").read()
    except OSError:
        continue
    finals = [l for l in lines if l.get("final")]
    if not finals:
        print(f"{name}: no final line", file=sys.stderr)
        continue
    fin = finals[-1]
    cmd = re.search(r"^cmd: (.*?) --steps 1000000", text, re.M).group(1)
    opts = dict(kv.split("=") for kv in re.search(r"--opt (\S+)", cmd).group(1).split(","))
    batch = int(re.search(r"--batch (\d+)", cmd).group(1))
    steps = fin["steps"]
    step_lines = {l["step"]: l for l in lines if "step" in l and not l.get("final")}
    sps = step_lines[steps - 1]["samples_per_s"]          # cumulative over the training time
    ppi = preds_per_image(fin["task"], fin["dims"], opts)
    train_s = steps * batch * ppi / sps
    wall = float(re.search(r"train wall: ([\d.]+) s", text).group(1))
    up = re.search(r"uptime before: .*load average: ([\d.]+)", text).group(1)
    up2 = re.search(r"uptime at stop: .*load average: ([\d.]+)", text).group(1)
    fin.update({"run": name, "command": cmd, "batch": batch, "train_seconds": round(train_s, 1),
                "wall_seconds_until_stop": wall, "images_per_s": round(steps * batch / train_s, 2),
                "proxy_predictions_per_s": round(sps, 2), "ratio_to_chance": round(fin["proxy_accuracy"] / fin["chance"], 2),
                "load1_before": float(up), "load1_at_stop": float(up2)})
    out.write(json.dumps(fin) + "\n")
    rows.append(fin)
out.close()
print("| run | task | dims | steps | batch | train s (wall s) | images/s | held-out proxy acc | chance | ratio | held-out samples | load (1 min) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['run']} | {r['task']} | {r['dims']}D | {r['steps']} | {r['batch']} | {r['train_seconds']} ({r['wall_seconds_until_stop']}) "
          f"| {r['images_per_s']} | {r['proxy_accuracy']:.4f} | {r['chance']:.4f} | {r['ratio_to_chance']:.1f}x "
          f"| {r['val_samples']} | {r['load1_before']}-{r['load1_at_stop']} |")
