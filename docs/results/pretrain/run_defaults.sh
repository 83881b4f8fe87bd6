#!/bin/sh
# Issue 9: pretrain each task with the new defaults (no --opt, no --batch) on the
# hippocampus training pool of the fine-tuning protocol (hippocampus_pool_cases.txt, 160
# cases; 10% of them held out for the proxy accuracy), --threads 1, nice -n 15, stopped
# after SECONDS of training (--max-seconds). One after the other.
# usage: docs/results/pretrain/run_defaults.sh SSL3D_BINARY OUT_DIR SECONDS [TASK:DIMS...]
set -eu
BIN=$1; OUT=$2; SEC=$3; shift 3
H=${H:-../shared/data/hippocampus/dataset.json}
POOL=docs/results/finetune/hippocampus_pool_cases.txt
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive
for c in ${*:-rotation:3 rpl:3 jigsaw:3 cpc:3 rotation:2 exemplar:3}; do
    task=${c%%:*}; dims=${c#*:}
    nice -n 15 "$BIN" pretrain --task "$task" --dims "$dims" --data "$H" --cases "$POOL" --threads 1 --seed 1 \
        --val-fraction 0.1 --steps 1000000 --max-seconds "$SEC" \
        --log "$OUT/$task$dims.jsonl" --out "$OUT/$task$dims.safetensors" 2> "$OUT/$task$dims.err" | tail -1
    uptime
done
