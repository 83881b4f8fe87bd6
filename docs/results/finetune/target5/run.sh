#!/bin/bash
# issue 9 target runs, session 5 (2026-12-06 night; binary of session 4). Resumable: rerun the same line.
# usage: run.sh NAME SEED EPOCHS THREADS [EXTRA FINETUNE OPTIONS...]
cd /work/main
N=$1; S=$2; E=$3; T=$4; shift 4
D=../shared/data/hippocampus/dataset.json
P=docs/results/finetune/hippocampus_pool_cases.txt
mkdir -p /work/t5/$N
echo "start $N $(date -u +%FT%TZ) $(uptime)" >> /work/t5/times.txt
OMP_WAIT_POLICY=PASSIVE /usr/bin/time -o /work/t5/$N/time.txt -a -f "%U user %S sys %e wall" \
  /work/t5/ssl3d finetune --kind segment --data $D --cases $P \
  --out /work/t5/$N/model.safetensors --mode scratch --seed $S --filters 16 --levels 3 \
  --norm instance --epochs $E --steps-per-epoch 50 --val-every 4 --threads $T "$@" \
  --resume /work/t5/$N/state.safetensors --log /work/t5/$N/train.jsonl > /work/t5/$N/finetune.log 2>&1
echo "end $N $(date -u +%FT%TZ) $(uptime)" >> /work/t5/times.txt
