#!/bin/sh
# Shortcut check on RetinaMNIST 2D (issue 9): the protocol v2 pretraining of rotation, RPL and
# jigsaw 2D (run_protocol_v2.sh, set ret2: same options, batch, steps, seed 1, 10% held out,
# --threads 1), on the training images whose disc pixels are shuffled (shuffle_disc.py).
# Compare with the same runs on the real images (the protocol's logs ret_*.jsonl).
# usage: run_shuffle_ret.sh SSL3D_BINARY OUT_DIR SHUFFLED_LABELS_CSV
set -eu
BIN=$1; OUT=$2; DATA=$3
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive
run() {  # NAME TASK BATCH OPTS STEPS
    nice -n 15 "$BIN" pretrain --task "$2" --dims 2 --data "$DATA" --batch "$3" --opt "$4" --steps "$5" \
        --seed 1 --threads 1 --val-fraction 0.1 --print-every 1000 \
        --log "$OUT/$1-shuffled.jsonl" --out "$OUT/$1-shuffled.safetensors" | tail -1
}
run rot2 rotation 32 filters=16,levels=2,input_size=28 4000
run rpl2 rpl 32 filters=16,levels=2,grid=3,cell=9,jitter=2 12000
run jig2 jigsaw 16 filters=16,levels=2,grid=3,cell=9,jitter=2 6000
