#!/bin/sh
# One pretraining run of docs/results.md, bounded in wall time: NAME SECONDS then the
# ssl3d pretrain arguments (without --steps). The run gets --steps 1000000 --save-every 10
# and is stopped (SIGTERM) after SECONDS; then `--resume` with --steps = the last saved step
# trains nothing, evaluates the held-out images and writes the final summary line.
# (ssl3d pretrain has no --max-seconds; the training loop supports it for `ssl3d demo`.)
# Files: /tmp/res/NAME.{jsonl,out,safetensors}.
set -u
name=$1; secs=$2; shift 2
mkdir -p /tmp/res
ck=/tmp/res/$name.safetensors
rm -f /tmp/res/$name.jsonl $ck
common="--threads 2 --seed 1 --val-fraction 0.1 --log /tmp/res/$name.jsonl --out $ck"
{ echo "uptime before: $(uptime)"; echo "cmd: ./bin/ssl3d pretrain $* $common --steps 1000000 --save-every 10 (stopped after ${secs} s)"; } > /tmp/res/$name.out
t0=$(date +%s.%N)
SSL3D_PROGRESS=plain timeout -s TERM $secs ./bin/ssl3d pretrain "$@" $common --steps 1000000 --save-every 10 >> /tmp/res/$name.out 2>&1
echo "exit: $?" >> /tmp/res/$name.out
t1=$(date +%s.%N)
echo "uptime at stop: $(uptime)" >> /tmp/res/$name.out
step=$(python3 -c "
import json,struct,sys
f=open('$ck','rb');n=struct.unpack('<Q',f.read(8))[0];print(json.loads(f.read(n))['__metadata__']['step'])")
echo "train wall: $(python3 -c "print(round($t1-$t0,1))") s, saved step $step" >> /tmp/res/$name.out
echo "resume: --resume $ck --steps $step" >> /tmp/res/$name.out
SSL3D_PROGRESS=plain ./bin/ssl3d pretrain "$@" $common --steps $step --resume $ck >> /tmp/res/$name.out 2>&1
echo "exit: $?" >> /tmp/res/$name.out
echo "uptime after: $(uptime)" >> /tmp/res/$name.out
