#!/bin/bash
# issue 9 target runs, session 4 (2026-12-05 night). Resumable: rerun the same line.
# usage: run.sh NAME SEED EPOCHS THREADS [EXTRA FINETUNE OPTIONS...]
cd /work/main
N=$1; S=$2; E=$3; T=$4; shift 4
D=../shared/data/hippocampus/dataset.json
P=docs/results/finetune/hippocampus_pool_cases.txt
mkdir -p /work/t4/$N
echo "start $N $(date -u +%FT%TZ) $(uptime)" >> /work/t4/times.txt
OMP_WAIT_POLICY=PASSIVE nice -n 5 /usr/bin/time -o /work/t4/$N/time.txt -a -f "%U user %S sys %e wall" \
  /work/t4/ssl3d finetune --kind segment --data $D --cases $P \
  --out /work/t4/$N/model.safetensors --mode scratch --seed $S --filters 16 --levels 3 \
  --norm instance --epochs $E --steps-per-epoch 50 --val-every 4 --threads $T "$@" \
  --resume /work/t4/$N/state.safetensors --log /work/t4/$N/train.jsonl > /work/t4/$N/finetune.log 2>&1
echo "end $N $(date -u +%FT%TZ) $(uptime)" >> /work/t4/times.txt
