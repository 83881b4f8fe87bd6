#!/bin/sh
# Cost per training step of each (task, dims) with the defaults (no --opt, no --batch):
# `ssl3d pretrain --steps N` on hippocampus (3D) / RetinaMNIST (2D), one thread, and the
# training seconds of its final summary line divided by N (the first step, which
# allocates, included). Prints one line per configuration.
# usage: time_steps.sh SSL3D_BINARY OUT_DIR [STEPS] [THREADS]
# BASELINE=1 instead times CPC 3D and exemplar 3D with the previous defaults (given
# explicitly: CPC input_size=64,code_size=128,hidden=256,overlap=0.5; exemplar
# input_size=48; --batch 4) for comparison.
set -eu
BIN=$1; OUT=$2; N=${3:-10}; T=${4:-1}
H=${H:-../shared/data/hippocampus/dataset.json}
R=${R:-../shared/data/retinamnist_28/labels.csv}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive
CONFIGS="3:rotation 3:rpl 3:jigsaw 3:cpc 3:exemplar 2:rotation 2:rpl 2:jigsaw 2:cpc 2:exemplar"
[ "${BASELINE:-0}" = 1 ] && CONFIGS="3:cpc 3:exemplar"
for c in $CONFIGS; do
    dims=${c%%:*}; task=${c#*:}
    data=$H; [ "$dims" = 2 ] && data=$R
    extra=""
    if [ "${BASELINE:-0}" = 1 ]; then
      extra="--batch 4"
      [ "$task" = cpc ] && extra="$extra --opt input_size=64,code_size=128,hidden=256,overlap=0.5"
      [ "$task" = exemplar ] && extra="$extra --opt input_size=48"
      task_tag=$task$dims-old
    else task_tag=$task$dims; fi
    log="$OUT/time-$task_tag.jsonl"
    rm -f "$log"
    nice -n 15 "$BIN" pretrain --task "$task" --dims "$dims" --data "$data" --steps "$N" --threads "$T" $extra \
        --seed 1 --val-fraction 0.1 --val-max 4 --val-rounds 1 --log "$log" --out "$OUT/time-$task_tag.safetensors" \
        > /dev/null 2> "$OUT/time-$task_tag.err" || { echo "$task_tag failed: $(tail -1 "$OUT/time-$task_tag.err")"; continue; }
    /usr/bin/python3 - "$log" "$task_tag" "$dims" <<'PY'
import json, sys
log, task, dims = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(log)]
last = [r for r in rows if "train_seconds" in r][-1]
head = open(log.replace(".jsonl", ".err")).readline().strip()
print(f"{task:14s} {last['train_seconds'] / (last['step'] + 1):7.3f} s/step  | {head}")
PY
done
