#!/bin/sh
# The ten runs of docs/results.md, one after the other (run from the repository root).
H=/work/shared/data/hippocampus/dataset.json
R=/work/shared/data/retinamnist_28/labels.csv
P=docs/results/pretrain/run_pretrain.sh
T=${T:-170}
# OpenMP threads sleep instead of spinning at barriers: on the oversubscribed shared machine
# spinning made small-patch tasks (jigsaw, CPC) 20-30x slower (jig3 first attempt: 0.6 images/s).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ONLY=${ONLY:-}   # e.g. ONLY="jig3 cpc3": just these runs
run() { if [ -z "$ONLY" ] || echo " $ONLY " | grep -q " $1 "; then $P "$@"; fi; }
run rot3 $T --task rotation --dims 3 --data $H --batch 8 --opt filters=8,levels=3,input_size=32
run rpl3 $T --task rpl --dims 3 --data $H --batch 16 --opt filters=8,levels=2,cell=11,jitter=3
run jig3 $T --task jigsaw --dims 3 --data $H --batch 8 --opt filters=8,levels=2,cell=11,jitter=3
run cpc3 $T --task cpc --dims 3 --data $H --batch 4 --opt filters=8,levels=3,input_size=32,grid=3
run exe3 $T --task exemplar --dims 3 --data $H --batch 8 --opt filters=8,levels=3,input_size=32,batch=8
run rot2 $T --task rotation --dims 2 --data $R --batch 32 --opt filters=16,levels=2,input_size=28
run rpl2 $T --task rpl --dims 2 --data $R --batch 32 --opt filters=16,levels=2,grid=3,cell=9,jitter=2
run jig2 $T --task jigsaw --dims 2 --data $R --batch 16 --opt filters=16,levels=2,grid=3,cell=9,jitter=2
run cpc2 $T --task cpc --dims 2 --data $R --batch 32 --opt filters=16,levels=2,input_size=28,grid=3
run exe2 $T --task exemplar --dims 2 --data $R --batch 16 --opt filters=16,levels=2,input_size=28,batch=16
# Rerun of exe3 (batch-hard triplet collapsed to a constant embedding, loss = margin):
run exe3n $T --task exemplar --dims 3 --data $H --batch 8 --opt filters=8,levels=3,input_size=32,batch=8,loss=ntxent
run exe2n $T --task exemplar --dims 2 --data $R --batch 16 --opt filters=16,levels=2,input_size=28,batch=16,loss=ntxent
