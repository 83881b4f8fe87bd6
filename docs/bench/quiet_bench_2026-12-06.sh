#!/bin/bash
# Session 5 quiet benchmark (issue 10): the protocol (/work/p2) paused with SIGSTOP for the whole
# run; the helpers were told not to build before 02:40 UTC. Binary: main at commit.txt.
cd /work/main
pids=$(pgrep -f '/work/p2/' | tr '\n' ' ')
resume() { [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; echo "protocol resumed $(date -u +%FT%TZ)" >> /work/b5/log.txt; }
trap resume EXIT INT TERM
[ -n "$pids" ] && kill -STOP $pids
echo "protocol paused [$pids] $(date -u +%FT%TZ)" >> /work/b5/log.txt
run() {  # NAME ONLY ENV...
  n=$1; only=$2; shift 2
  echo "start $n $(date -u +%FT%TZ) $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/b5/log.txt
  env "$@" OMP_WAIT_POLICY=PASSIVE /work/b5/ssl3d bench --threads 2 --repeat 9 --only $only \
    --json /work/b5/$n.json --reference ../shared/bench > /work/b5/$n.out 2>&1
  echo "end $n rc=$? $(date -u +%FT%TZ) $(cut -d' ' -f1-3 /proc/loadavg)" >> /work/b5/log.txt
}
run avx512-coretype W1,W2,W3,W4,W5,W6,W7 SSL3D_CPU_ISA=avx512
run avx512-nocoretype W1,W2,W3,W4,W5 -u OPENBLAS_CORETYPE SSL3D_CPU_ISA=avx512
run avx2-coretype W1,W2,W3,W4,W5,W6,W7 SSL3D_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2
run avx2-nocoretype W1,W2,W3,W4,W5 -u OPENBLAS_CORETYPE SSL3D_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2
