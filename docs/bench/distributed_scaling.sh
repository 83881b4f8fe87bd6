#!/usr/bin/env bash
# 2 ranks x 1 thread (mpirun) against 1 rank x 2 threads on one 2-core machine, for the W2
# and W3 models of docs/performance.md trained by the CLI on ../shared/data/hippocampus:
#   W2: rotation 3D pretraining, encoder f16 / 4 levels, batch norm, 48^3 inputs, global batch 4
#   W3: segmentation fine-tuning, encoder + decoder f16 / 4 levels, 48^3 patches (W3 uses
#       48x64x48), global batch 2
# Prints samples/s of each (training steps only: the first step is a warm-up and is excluded,
# no validation). Usage: docs/bench/distributed_scaling.sh [STEPS] (default 12), from the
# repository root after `make`. docs/distributed.md has the numbers.
set -euo pipefail
STEPS=${1:-12}
DATA=${SSL3D_DATA:-../shared/data}/hippocampus/dataset.json
OUT=$(mktemp -d)
MPIRUN="mpirun --allow-run-as-root --oversubscribe -np 2"
W2="pretrain --task rotation --dims 3 --data $DATA --batch 4 --steps $STEPS --val-fraction 0 --loader-threads 0
    --opt filters=16,levels=4,input_size=48,hidden=256,norm=batch --out $OUT/w2.safetensors --print-every 1000"
W3="finetune --kind segment --data $DATA --filters 16 --levels 4 --norm batch --patch 48 --batch 2 --epochs 1
    --steps-per-epoch $STEPS --val-fraction 0 --out $OUT/w3.safetensors --quiet"

# W2: per-step samples_per_s is cumulative; use the step times between step 0 and the last.
w2_rate() {  # log -> samples/s over steps 1..STEPS-1
    /usr/bin/python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"final"' not in l]
# cumulative rate r_k after k+1 steps of 4 samples: time_k = 4 (k+1) / r_k
t = [4 * (r["step"] + 1) / r["samples_per_s"] for r in rows]
print(f"{4 * (len(t) - 1) / (t[-1] - t[0]):.2f}")
PY
}
w3_rate() {  # log -> samples/s of the epoch (STEPS steps of 2 samples, no validation)
    /usr/bin/python3 - "$1" "$STEPS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l]
print(f"{2 * int(sys.argv[2]) / rows[-1]['seconds']:.2f}")
PY
}
./bin/ssl3d $W2 --threads 2 --log $OUT/w2_1x2.jsonl 2>/dev/null >/dev/null
$MPIRUN ./bin/ssl3d $W2 --threads 1 --log $OUT/w2_2x1.jsonl 2>/dev/null >/dev/null
./bin/ssl3d $W3 --threads 2 --log $OUT/w3_1x2.jsonl 2>/dev/null
$MPIRUN ./bin/ssl3d $W3 --threads 1 --log $OUT/w3_2x1.jsonl 2>/dev/null
echo "W2 rotation 3D  1 rank x 2 threads: $(w2_rate $OUT/w2_1x2.jsonl) samples/s   2 ranks x 1 thread: $(w2_rate $OUT/w2_2x1.jsonl) samples/s"
echo "W3 segment 3D   1 rank x 2 threads: $(w3_rate $OUT/w3_1x2.jsonl) samples/s   2 ranks x 1 thread: $(w3_rate $OUT/w3_2x1.jsonl) samples/s"
rm -rf "$OUT"
