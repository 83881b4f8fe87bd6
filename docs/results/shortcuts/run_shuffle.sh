#!/bin/sh
# Shortcut check (issue 9): proxy accuracy of rotation 3D and jigsaw 3D on hippocampus
# volumes whose voxels are shuffled within their foreground (shuffle_foreground.c).
# usage: run_shuffle.sh SSL3D_BINARY LABEL OUT_DIR SHUFFLED_DATASET_JSON
# Runs one after the other, --threads 1, nice -n 15, a fixed number of steps each;
# 20 held-out volumes x 10 evaluation rounds = 200 held-out predictions per run.
set -eu
BIN=$1; LABEL=$2; OUT=$3; DATA=$4
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive
COMMON="--dims 3 --data $DATA --threads 1 --seed 1 --val-fraction 0.1 --val-rounds 10 --lr 1e-3 --batch 8"
nice -n 15 "$BIN" pretrain --task rotation $COMMON --steps 40 \
    --opt filters=8,levels=3,input_size=48 \
    --log "$OUT/rot3-$LABEL.jsonl" --out "$OUT/rot3-$LABEL.safetensors" | tail -1
nice -n 15 "$BIN" pretrain --task jigsaw $COMMON --steps 100 \
    --opt filters=8,levels=2,cell=16,jitter=4 \
    --log "$OUT/jig3-$LABEL.jsonl" --out "$OUT/jig3-$LABEL.safetensors" | tail -1
