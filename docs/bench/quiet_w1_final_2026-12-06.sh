#!/bin/bash
cd /work/main
for cfg in "SSL3D_CPU_ISA=avx512" "-u OPENBLAS_CORETYPE SSL3D_CPU_ISA=avx512" "SSL3D_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2" "-u OPENBLAS_CORETYPE SSL3D_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2"; do
  n=$(echo "$cfg" | tr -d ' =' | tr 'A-Z' 'a-z' | cut -c1-40)
  echo "== $cfg $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"
  env $cfg OMP_WAIT_POLICY=PASSIVE /work/b5/ssl3d_final bench --threads 2 --repeat 15 --only W1 --reference ../shared/bench --json /work/b5/keep/final-w1-$n.json 2>&1 | grep -A6 "^workload"
done
