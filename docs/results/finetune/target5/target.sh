#!/bin/bash
# Session 5 target attempt: the fourth session's best configuration (two deep-supervised 16-filter
# networks on all 160 pool cases, side by side, one thread each, ensemble + mirroring) with 130
# epochs (6500 steps) instead of 110, on an idle machine: the protocol (/work/p2) is paused
# with SIGSTOP for the whole attempt and resumed at the end. Wall clock = start of the two runs
# to the end of the test evaluation.
pids=$(pgrep -f '/work/p2/' | tr '\n' ' ')
resume() { [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; echo "protocol resumed $(date -u +%FT%TZ)" >> /work/t5/times.txt; }
trap resume EXIT INT TERM
[ -n "$pids" ] && kill -STOP $pids
echo "protocol paused [$pids] $(date -u +%FT%TZ)" >> /work/t5/times.txt
sleep 2
T0=$(date +%s.%N)
echo "attempt start $(date -u +%FT%TZ) $(uptime)" >> /work/t5/times.txt
bash /work/t5/run.sh DSall130s0 0 130 1 --deep-supervision on --val-fraction 0 &
bash /work/t5/run.sh DSall130s1 1 130 1 --deep-supervision on --val-fraction 0 &
wait
cd /work/main
OMP_WAIT_POLICY=PASSIVE /usr/bin/time -o /work/t5/eval_time.txt -f "%U user %S sys %e wall" \
  /work/t5/ssl3d evaluate --model /work/t5/DSall130s0/model.safetensors --model /work/t5/DSall130s1/model.safetensors \
  --data ../shared/data/hippocampus/dataset.json --cases docs/results/finetune/hippocampus_test_cases.txt \
  --json --threads 2 --tta > /work/t5/ens130--tta.json
T1=$(date +%s.%N)
echo "attempt end $(date -u +%FT%TZ) wall $(echo "$T1 - $T0" | bc) s $(uptime)" >> /work/t5/times.txt
