#!/bin/sh
# One pretraining run of docs/results.md: NAME then the ssl3d pretrain arguments.
# Writes /tmp/res/NAME.{jsonl,out,safetensors}; appends the load before/after to /tmp/res/NAME.out.
set -u
name=$1; shift
mkdir -p /tmp/res
rm -f /tmp/res/$name.jsonl
{ echo "uptime before: $(uptime)"; echo "cmd: ./bin/ssl3d pretrain $* --threads 2 --seed 1 --val-fraction 0.1 --log /tmp/res/$name.jsonl --out /tmp/res/$name.safetensors"; } > /tmp/res/$name.out
SSL3D_PROGRESS=plain ./bin/ssl3d pretrain "$@" --threads 2 --seed 1 --val-fraction 0.1 \
    --log /tmp/res/$name.jsonl --out /tmp/res/$name.safetensors >> /tmp/res/$name.out 2>&1
echo "exit: $?" >> /tmp/res/$name.out
echo "uptime after: $(uptime)" >> /tmp/res/$name.out
