#!/bin/sh
# Exemplar 3D diagnosis runs of docs/results.md ("Exemplar 3D: the cause"). Builds the
# probe against the static library and runs the configurations one after the other
# (one thread, nice -n 15). 120 steps of batch 8 each (chance 1/15), held-out: the 20
# held-out hippocampus volumes (split seed 0) in chunks of 8, 2 rounds.
# usage: docs/results/exemplar/run_probe.sh [CONFIG...]   (from the repository root)
set -eu
H=${H:-../shared/data/hippocampus/dataset.json}
P=${P:-/tmp/exemplar_probe}
cc -O2 -Iinclude docs/results/exemplar/exemplar_probe.c lib/libssl3d.a -fopenmp -lopenblas -lcjson -lnifti2 \
    -lznz -lpng -lz -lm -o "$P"
export OMP_WAIT_POLICY=passive
B="filters=8,levels=3,input_size=32,loss=ntxent"
M="max_degrees=20,rot90=0,zoom=0.1,contrast=0.2,brightness=0.05"
run() { nice -n 15 "$P" "$H" 120 8 1e-3 "$1"; }
for c in ${*:-A B C D G H J}; do
  case $c in
    A) run "$B,feature_norm=0" ;;                          # the task as it was (one shared random window)
    B) run "$B,feature_norm=1" ;;                          # standardised features
    C) run "$B,feature_norm=1,$M" ;;                       # + milder augmentation
    D) run "$B,feature_norm=1,norm=none,$M" ;;             # no batch statistics anywhere
    G) run "$B,feature_norm=1,shared_crop=0" ;;            # a training window per view
    H) run "$B,feature_norm=1,random_window=0" ;;          # centred training windows
    J) run "$B,feature_norm=1,random_window=0,$M" ;;       # centred windows, milder augmentation
  esac
done
