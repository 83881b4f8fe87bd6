#!/bin/sh
# Shortcut check of region=inner on RetinaMNIST 2D (issue 9): the pretraining runs of
# run_shuffle_ret.sh (protocol v2 set ret2 options, batch, seed 1, 10% held out, --threads 1)
# with fewer steps (rotation 1000, RPL 3000, jigsaw 1500), three ways at the same budget:
#   inner-shuffled  crops inside the disc (region=inner,fg_level=F) on the disc-shuffled images
#   inner-real      the same on the real images
#   box-shuffled    crops from the foreground box (the default: the whole image) on the shuffled ones
# F (5th argument) defaults to 0.04: at 0.06 the shuffle (which moves the pixels whose
# brightest channel exceeds 15/255) scatters pixels under 6% of their channel's range into
# the disc, the inner square of some shuffled images shrinks to 10-11 and RPL / jigsaw
# (grid 3 x 2^levels 4 = 12) refuse them; at 0.04 the inner squares of the shuffled and the
# real images are alike (side 16-28, mean 20.3). SETS (6th argument, default all three)
# picks some of them, e.g. "inner-shuffled inner-real".
# The held-out proxy accuracy is the last line of each run ("proxy_accuracy").
# usage: run_shuffle_ret_inner.sh SSL3D_BINARY OUT_DIR SHUFFLED_LABELS_CSV REAL_LABELS_CSV [F] [SETS]
set -eu
BIN=$1; OUT=$2; SHUF=$3; REAL=$4; F=${5:-0.04}; SETS=${6:-inner-shuffled inner-real box-shuffled}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive
INNER=region=inner,fg_level=$F
run() {  # NAME TASK BATCH OPTS STEPS DATA TAG
    nice -n 15 "$BIN" pretrain --task "$2" --dims 2 --data "$6" --batch "$3" --opt "$4" --steps "$5" \
        --seed 1 --threads 1 --val-fraction 0.1 --print-every 500 \
        --log "$OUT/$1-$7.jsonl" --out "$OUT/$1-$7.safetensors" | tail -1
}
for set in $SETS; do
    case $set in
        inner-shuffled) DATA=$SHUF; EXTRA=,$INNER; TAG=$set-$F ;;
        inner-real) DATA=$REAL; EXTRA=,$INNER; TAG=$set-$F ;;
        box-shuffled) DATA=$SHUF; EXTRA=; TAG=$set ;;
        *) echo "unknown set $set" >&2; exit 2 ;;
    esac
    echo "== $TAG"
    run rot2 rotation 32 "filters=16,levels=2,input_size=28$EXTRA" 1000 "$DATA" "$TAG"
    run rpl2 rpl 32 "filters=16,levels=2,grid=3,cell=9,jitter=2$EXTRA" 3000 "$DATA" "$TAG"
    run jig2 jigsaw 16 "filters=16,levels=2,grid=3,cell=9,jitter=2$EXTRA" 1500 "$DATA" "$TAG"
done
