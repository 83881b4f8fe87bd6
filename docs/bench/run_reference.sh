#!/bin/sh
# Run the reference scripts alone, one process per workload group (as `ssl3d bench
# --reference` does), so that each group's peak RSS is its own. Prints one JSON document
# per group. Usage: docs/bench/run_reference.sh [THREADS] [REPEAT] [REF_DIR]
#   defaults: 2 threads, 5 repeats, ../shared/bench
set -eu
T=${1:-2}
R=${2:-5}
DIR=${3:-../shared/bench}
PY=/usr/bin/python3
export OMP_NUM_THREADS="$T" OPENBLAS_NUM_THREADS="$T"
for w in W1 W2 W3 W4 W5; do
    echo "# torch_ref.py --only $w" >&2
    "$PY" "$DIR/torch_ref.py" --threads "$T" --repeat "$R" --only "$w"
done
echo "# numpy_ref.py" >&2
"$PY" "$DIR/numpy_ref.py" --repeat "$R"
