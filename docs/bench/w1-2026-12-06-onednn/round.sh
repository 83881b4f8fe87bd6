#!/bin/bash
# round.sh T GROUP ORDER: one interleaved group of W1 timings (run under /work/quiet.sh).
#   GROUP avx512: ours SSL3D_CPU_ISA=avx512, PyTorch default, oneDNN direct default ISA
#   GROUP avx2:   ours SSL3D_CPU_ISA=avx2, PyTorch ONEDNN_MAX_CPU_ISA=AVX2, oneDNN direct AVX2
#   ORDER fwd|rev
T=$1; G=$2; ORD=$3; R=${R:-9}
cd /work/wt-onednn
export OMP_WAIT_POLICY=passive
snap() { echo "## $(date -u +%T) uptime:$(uptime | sed 's/.*load/ load/')"; ps -eo ni,pcpu,etimes,args --sort=-pcpu | awk 'NR>1 && $2>5' | cut -c1-110 | head -6; }
ours() { echo "== ours $1 T=$T $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"; SSL3D_CPU_ISA=$1 /tmp/onednn_meas/w1_cputime $R $T; }
torch() { echo "== torch ${1:-default} T=$T $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"; if [ -n "$1" ]; then export ONEDNN_MAX_CPU_ISA=$1; fi; OMP_NUM_THREADS=$T /usr/bin/python3 docs/bench/w1_cputime.py $R $T; unset ONEDNN_MAX_CPU_ISA; }
dnnl() { echo "== onednn ${1:-default} T=$T $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"; if [ -n "$1" ]; then export ONEDNN_MAX_CPU_ISA=$1; fi; bin/onednn_w1 $R $T; unset ONEDNN_MAX_CPU_ISA; }
snap
if [ $G = avx512 ]; then steps="ours:avx512 torch: dnnl:"; else steps="ours:avx2 torch:AVX2 dnnl:AVX2"; fi
[ $ORD = rev ] && steps=$(echo $steps | tr ' ' '\n' | tac | tr '\n' ' ')
for s in $steps; do ${s%%:*} ${s#*:}; done
snap
