#!/bin/bash
# The reduced CPU data-efficiency protocol of docs/results-finetune.md, exactly as run.
# usage: run_protocol.sh PHASE...   (phases at the end; each job is resumable: a finished
#        pretraining (its .safetensors exists) or protocol run (its eval.json) is skipped)
# Environment: SSL3D (the ssl3d binary, default ./bin/ssl3d), DATA (default ../shared/data),
#              OUT (work directory, default /tmp/p5), LANES (parallel jobs, default 2).
# Every job uses --threads 1 and LANES jobs run side by side (on 2 cores this gave 1.3x
# the throughput of one job with 2 threads). Results do not depend on LANES.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SSL3D=${SSL3D:-./bin/ssl3d}; DATA=${DATA:-../shared/data}; OUT=${OUT:-/tmp/p5}; LANES=${LANES:-2}
export SSL3D DATA OUT HERE
mkdir -p "$OUT/ckpt" "$OUT/logs"

# ---------------------------------------------------------------- pretraining
# pre NAME TASK DIMS MANIFEST BATCH OPTS [EXTRA...]: 60 s of training, seed 1, 10% held out
pre() {
    local name=$1 task=$2 dims=$3 data=$4 batch=$5 opts=$6; shift 6
    [ -f "$OUT/ckpt/$name.safetensors" ] && return 0
    "$SSL3D" pretrain --task "$task" --dims "$dims" --data "$data" --batch "$batch" --opt "$opts" \
        --out "$OUT/ckpt/$name.safetensors" --max-seconds 60 --steps 100000 --seed 1 --threads 1 \
        --val-fraction 0.1 --log "$OUT/logs/$name.jsonl" --print-every 1000 "$@" > "$OUT/logs/$name.out" 2>&1
}
HIP=$OUT/hip_pool.json
RET=$DATA/retinamnist_28/labels.csv
ADR=$DATA/adrenalmnist3d_28/labels.csv
pretrain_jobs() {   # one line per job
    case $1 in
    hip3) for t in "rot3 rotation 8 filters=8,levels=3,input_size=32" "rpl3 rpl 16 filters=8,levels=3,cell=11,jitter=3" \
                   "jig3 jigsaw 8 filters=8,levels=3,cell=11,jitter=3" "cpc3 cpc 4 filters=8,levels=3,input_size=32,grid=3" \
                   "exe3 exemplar 8 filters=8,levels=3,input_size=32,batch=8"; do
              set -- $t; echo "pre hip_$1 $2 3 $HIP $3 $4"; done ;;
    hip2) for t in "rot2 rotation 32 filters=16,levels=3,input_size=32" "rpl2 rpl 32 filters=16,levels=3,cell=11,jitter=3" \
                   "jig2 jigsaw 16 filters=16,levels=3,cell=11,jitter=3" "cpc2 cpc 16 filters=16,levels=3,input_size=32,grid=3" \
                   "exe2 exemplar 16 filters=16,levels=3,input_size=32,batch=16"; do
              set -- $t; echo "pre hip_$1 $2 2 $HIP $3 $4"; done ;;
    ret2) for t in "rot2 rotation 32 filters=16,levels=2,input_size=28" "rpl2 rpl 32 filters=16,levels=2,grid=3,cell=9,jitter=2" \
                   "jig2 jigsaw 16 filters=16,levels=2,grid=3,cell=9,jitter=2" "cpc2 cpc 32 filters=16,levels=2,input_size=28,grid=3" \
                   "exe2 exemplar 16 filters=16,levels=2,input_size=28,batch=16"; do
              set -- $t; echo "pre ret_$1 $2 2 $RET $3 $4"; done ;;
    adr3) for t in "rot3 rotation 16 filters=8,levels=2,input_size=28" "rpl3 rpl 16 filters=8,levels=2,grid=3,cell=9,jitter=2" \
                   "jig3 jigsaw 8 filters=8,levels=2,grid=3,cell=9,jitter=2" "cpc3 cpc 8 filters=8,levels=2,input_size=28,grid=3" \
                   "exe3 exemplar 8 filters=8,levels=2,input_size=28,batch=8"; do
              set -- $t; echo "pre adr_$1 $2 3 $ADR $3 $4 --normalisation minmax"; done ;;
    esac
}

# ---------------------------------------------------------------- fine-tuning protocol
# method_arg SET METHOD: --method value (scratch, or NAME=its pretraining checkpoint)
method_arg() {
    if [ "$2" = scratch ]; then echo scratch; else echo "$2=$OUT/ckpt/${1%2d}_$2.safetensors"; fi
}
# run_set SET SEEDS FRACTIONS [PROTOCOL OPTIONS...]: one `ssl3d protocol` call of a data set
# with its reduced settings (the options after -- go to every finetune)
run_set() {
    local set=$1 seeds=$2 fr=$3; shift 3
    local common=(--mode warmup --fractions "$fr" --seeds "$seeds" --quiet "$@")
    case $set in
    hip) "$SSL3D" protocol --kind segment --data "$DATA/hippocampus/dataset.json" --run-dir "$OUT/hip3" \
            "${common[@]}" --test-fraction 0.2 --split-seed 0 -- \
            --epochs 6 --steps-per-epoch 50 --batch 4 --lr 2e-3 --fg-prob 0.5 --filters 8 --levels 3 --patch 24 \
            --warmup-epochs 1 --threads 1 ;;
    hip2d) "$SSL3D" protocol --kind segment --data "$DATA/hippocampus/dataset.json" --run-dir "$OUT/hip2" \
            "${common[@]}" --test-fraction 0.2 --split-seed 0 -- \
            --dims 2 --epochs 6 --steps-per-epoch 50 --batch 16 --lr 2e-3 --fg-prob 0.5 --filters 16 --levels 3 \
            --patch 32 --warmup-epochs 1 --threads 1 ;;
    ret) "$SSL3D" protocol --kind classify --data "$RET" --run-dir "$OUT/ret" "${common[@]}" --metric auc -- \
            --ordinal --epochs 10 --steps-per-epoch 20 --batch 32 --filters 16 --levels 2 --warmup-epochs 2 \
            --threads 1 ;;
    adr) "$SSL3D" protocol --kind classify --data "$ADR" --run-dir "$OUT/adr" "${common[@]}" --metric auc -- \
            --epochs 10 --steps-per-epoch 20 --batch 8 --filters 8 --levels 2 --hidden 64 --warmup-epochs 2 \
            --threads 1 ;;
    esac
}
# prot SET METHOD SEEDS FRACTIONS: the runs of one method (no plots; see report)
prot() {
    run_set "$1" "$3" "$4" --no-plots --method "$(method_arg "$1" "$2")" \
        > "$OUT/logs/prot_$1_$2_s${3//,/_}_f${4//,/_}.out" 2>&1
}
# report SET SEEDS FRACTIONS: once the runs are done, one call over all methods of the set
# runs nothing new and writes results.csv, summary.md/.csv and the gnuplot plots.
report() {
    local methods m args=()
    case $1 in hip|adr) methods="scratch rot3 rpl3 jig3 cpc3 exe3" ;; *) methods="scratch rot2 rpl2 jig2 cpc2 exe2" ;; esac
    for m in $methods; do args+=(--method "$(method_arg "$1" "$m")"); done
    run_set "$1" "$2" "$3" "${args[@]}"
}
export -f pre prot run_set method_arg
export RET ADR

run_jobs() { xargs -P "$LANES" -I{} bash -c '{}'; }

for phase in "$@"; do
    case $phase in
    pretrain-*) pretrain_jobs "${phase#pretrain-}" | run_jobs ;;
    # hip-sS / hip2d-sS: every method, all five fractions, seed S
    # (hip2d-sS:FRACTIONS: only those fractions)
    hip-s*) for m in scratch rot3 rpl3 jig3 cpc3 exe3; do echo "prot hip $m ${phase#hip-s} 5,10,25,50,100"; done | run_jobs ;;
    hip2d-s*:*) p=${phase#hip2d-s}
        for m in scratch rot2 rpl2 jig2 cpc2 exe2; do echo "prot hip2d $m ${p%%:*} ${p#*:}"; done | run_jobs ;;
    hip2d-s*) for m in scratch rot2 rpl2 jig2 cpc2 exe2; do echo "prot hip2d $m ${phase#hip2d-s} 5,10,25,50,100"; done | run_jobs ;;
    # ret / adr: every method, 10% and 100% labels, seeds 0-2
    ret) for m in scratch rot2 rpl2 jig2 cpc2 exe2; do echo "prot ret $m 0,1,2 10,100"; done | run_jobs ;;
    adr) for m in scratch rot3 rpl3 jig3 cpc3 exe3; do echo "prot adr $m 0,1,2 100"; done | run_jobs ;;
    # control: a RANDOM encoder through the same warm-up schedule (frozen 50 steps, fresh Adam),
    # to separate "pretrained features" from "warm-up schedule". The checkpoint is a rotation
    # "pretraining" with --lr 0: weights stay at their seeded initialisation (proxy accuracy at
    # chance), 30 s of steps only fill the batch-norm running statistics.
    control)
        for d in 3 2; do
            b=8; f=8; [ $d = 2 ] && { b=32; f=16; }
            [ -f "$OUT/ckpt/hip_rand$d.safetensors" ] || "$SSL3D" pretrain --task rotation --dims $d --data "$HIP" \
                --batch $b --opt filters=$f,levels=3,input_size=32 --out "$OUT/ckpt/hip_rand$d.safetensors" \
                --max-seconds 30 --steps 100000 --lr 0 --seed 1 --threads 1 --val-fraction 0.1 --print-every 1000 \
                > "$OUT/logs/hip_rand$d.out" 2>&1 &
        done; wait
        printf '%s\n' "prot hip rand3 0,1,2 5,10" "prot hip2d rand2 0,1,2 5,10" | run_jobs ;;
    # report-SET:SEEDS:FRACTIONS, e.g. report-hip:0,1,2:5,10,25,50,100
    report-*) IFS=: read -r set seeds fr <<< "${phase#report-}"; report "$set" "$seeds" "$fr" ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
    esac
done
