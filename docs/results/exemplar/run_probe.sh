#!/bin/sh
# Exemplar 3D diagnosis runs of docs/results.md ("Exemplar 3D: the cause"). Builds the
# probe against the static library and runs the configurations one after the other
# (one thread, nice -n 15). 120 steps (250 for B250, J250) of batch 8 each (chance 1/15); held-out: the 20
# held-out hippocampus volumes (split seed 0) in chunks of 8, 2 rounds.
# usage: docs/results/exemplar/run_probe.sh [CONFIG...]   (from the repository root)
set -eu
H=${H:-../shared/data/hippocampus/dataset.json}
P=${P:-/tmp/exemplar_probe}
cc -O2 -Iinclude docs/results/exemplar/exemplar_probe.c lib/libssl3d.a -fopenmp -lopenblas -lcjson -lnifti2 \
    -lznz -lpng -lz -lm -o "$P"
export OMP_WAIT_POLICY=passive
B="filters=8,levels=3,input_size=32,loss=ntxent"
# The full augmentation of data.h (the 3D default before issue 9) and the milder one (the
# 3D default since); every option is given explicitly, so the runs do not depend on them.
F="max_degrees=180,rot90=0.5,zoom=0.2,contrast=0.5,brightness=0.125"
M="max_degrees=20,rot90=0,zoom=0.1,contrast=0.2,brightness=0.05"
R="random_window=1,shared_crop=1"   # one random window per image, shared by both views
run() { nice -n 15 "$P" "$H" "${2:-120}" 8 1e-3 "$1"; }
for c in ${*:-A B C D G H J B250 J250}; do
  case $c in
    A) run "$B,$F,$R,feature_norm=0" ;;                     # the task as it was
    B) run "$B,$F,$R,feature_norm=1" ;;                     # standardised features
    C) run "$B,$M,$R,feature_norm=1" ;;                     # + milder augmentation
    D) run "$B,$M,$R,feature_norm=1,norm=none" ;;           # no batch statistics anywhere
    G) run "$B,$F,random_window=1,shared_crop=0,feature_norm=1" ;;   # a training window per view
    H) run "$B,$F,random_window=0,feature_norm=1" ;;        # centred training windows
    J) run "$B,$M,random_window=0,feature_norm=1" ;;        # centred windows, milder augmentation
    B250) run "$B,$F,$R,feature_norm=1" 250 ;;
    J250) run "$B,$M,random_window=0,feature_norm=1" 250 ;;
  esac
done
