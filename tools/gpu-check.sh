#!/usr/bin/env bash
# One GPU verification run of the CUDA backend, sized for the few minutes a GPU machine is
# lent (about 8 minutes in all on 16 cores). Writes everything under $OUT:
#   gpu.txt            nvidia-smi -L and the driver/CUDA versions
#   build.log          make -j CUDA=1 WERROR=1 (library, CLI, plugin, tests)
#   plugin-check.log   tools/check-cuda-plugin.sh (links cuDNN/cuBLAS, exports one symbol)
#   probe.txt          ssl3d_backend_probe for cpu and cuda
#   tests-cuda.log     the CUDA-related tests: conformance (CUDA vs CPU), plugin, kernels
#   tests-all.log      the whole suite (make test's binary), with the CUDA backend present
#   bench.log/.json    ssl3d bench --backend cuda --only W1,W2,W3,W4,W5 (W1 GFLOP/s per
#                      layer), when the CLI has --backend (else bench.log says why not)
#   summary.json       one object: gpu, probe, pass/fail/skip counts, bench status
# Usage: OUT=/path tools/gpu-check.sh        (run from anywhere; exits non-zero on a failure)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder for logs}
mkdir -p "$OUT"
status=0
t0=$(date +%s)
step() { echo "== $* ($(($(date +%s) - t0)) s)" | tee -a "$OUT/steps.txt"; }

step "GPU"
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv; } >"$OUT/gpu.txt" 2>&1 || true
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

step "build (CUDA=1 WERROR=1)"
jobs=$(nproc)
if ! timeout 240 make -j"$jobs" CUDA=1 WERROR=1 all bin/test_ssl3d >"$OUT/build.log" 2>&1; then
  echo "build failed; see build.log" | tee -a "$OUT/steps.txt"; tail -30 "$OUT/build.log"; status=1
fi

step "plugin link check"
tools/check-cuda-plugin.sh >"$OUT/plugin-check.log" 2>&1 || status=1

step "probe"
cat >"$OUT/probe.c" <<'C'
#include <stdio.h>
#include <ssl3d.h>
int main(void) {
    char msg[1024];
    const char *names[2] = { "cpu", "cuda" };
    int ok = 1;
    for (int b = 0; b < 2; b++) {
        ssl3d_status st = ssl3d_backend_probe(b, msg, sizeof msg);
        printf("%s: %s: %s\n", names[b], st == SSL3D_OK ? "available" : "unavailable", msg);
        if (st != SSL3D_OK) ok = 0;
    }
    return ok ? 0 : 1;
}
C
probe_ok=0
if cc -Iinclude "$OUT/probe.c" -Llib -lssl3d -Wl,-rpath,"$PWD/lib" -o "$OUT/probe" 2>>"$OUT/probe.txt" &&
   "$OUT/probe" >"$OUT/probe.txt" 2>&1; then probe_ok=1; else status=1; fi
cat "$OUT/probe.txt"

step "CUDA tests"
for t in conformance backend_plugin cuda_kernel cuda_cache tensor_copy; do
  OMP_WAIT_POLICY=passive timeout 120 ./bin/test_ssl3d "$t" >>"$OUT/tests-cuda.log" 2>&1 || status=1
done
grep -E '^(PASS|FAIL|SKIP)|skipped:|\.c:[0-9]+:' "$OUT/tests-cuda.log" | head -80

step "whole suite"
OMP_WAIT_POLICY=passive timeout 180 ./bin/test_ssl3d >"$OUT/tests-all.log" 2>&1 || status=1
tail -2 "$OUT/tests-all.log"

step "bench"
bench="skipped"
if ./bin/ssl3d bench --help 2>&1 | grep -q -- '--backend'; then
  if timeout 150 ./bin/ssl3d bench --backend cuda --only W1,W2,W3,W4,W5 --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1; then
    bench="ran"
  else
    bench="failed"; status=1
  fi
else
  echo "skipped: this ssl3d bench has no --backend option yet (CUDA benchmarks need it; issue 13)" >"$OUT/bench.log"
fi

count_in() { local c; c=$(grep -c "^$2 " "$OUT/$1" 2>/dev/null); echo "${c:-0}"; }
count() { count_in tests-all.log "$1"; }
count_cuda() { count_in tests-cuda.log "$1"; }
cuda_probe=$(grep '^cuda:' "$OUT/probe.txt" 2>/dev/null | sed 's/"/\\"/g')
cat >"$OUT/summary.json" <<JSON
{"gpu": "${gpu:-none}", "probe_ok": $probe_ok, "cuda_probe": "${cuda_probe}",
 "cuda_tests": {"pass": $(count_cuda PASS), "fail": $(count_cuda FAIL), "skip": $(count_cuda SKIP)},
 "all_tests": {"pass": $(count PASS), "fail": $(count FAIL), "skip": $(count SKIP)},
 "bench": "$bench", "seconds": $(($(date +%s) - t0)), "status": $status}
JSON
cat "$OUT/summary.json"
exit $status
