#!/usr/bin/env bash
# One GPU verification run of the CUDA backend, sized for the few minutes a GPU machine is
# lent (about 8 minutes in all on 16 cores). Writes everything under $OUT:
#   gpu.txt            nvidia-smi -L and the driver/CUDA versions
#   build.log          make -j CUDA=1 WERROR=1 (library, CLI, plugin, tests)
#   plugin-check.log   tools/check-cuda-plugin.sh (links cuDNN/cuBLAS, exports one symbol)
#   probe.txt          ssl3d_backend_probe for cpu and cuda
#   tests-cuda.log     the CUDA-related tests: conformance (CUDA vs CPU: every op family,
#                      the CPC row gathers and scores, five steps of W2/W3 and of every
#                      proxy task), plugin, emulated kernels, upload staging, rows ops
#   tests-all.log      the whole suite (make test's binary), with the CUDA backend present
#   bench.log/.json    ssl3d bench --backend cuda --only W1,W2,W3,W4,W5 (W1 GFLOP/s per
#                      layer), when the CLI has --backend (else bench.log says why not)
#   cli/               `ssl3d pretrain --backend cpu|cuda` (CPC 2D, 5 steps, synthetic PNGs):
#                      per-step losses compared (1e-3 relative), each checkpoint resumed on
#                      the other backend, and the clear error of a bad --backend; cli.log
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
for t in conformance backend_plugin cuda_kernel cuda_cache cuda_staging rows_ops task_host_images tensor_copy; do
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

step "CLI: pretrain --backend cpu|cuda"
cli="skipped"
mkdir -p "$OUT/cli"
cat >"$OUT/cli/gen.c" <<'C'
/* Synthetic 2D images for the pretraining smoke run: N grey PNGs (ramps and noise) and a
 * CSV manifest. Usage: gen DIR N */
#include <stdio.h>
#include <stdlib.h>
#include <ssl3d.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    ssl3d_ctx *ctx;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.csv", argv[1]);
    FILE *m = fopen(path, "w");
    if (!m) return 1;
    fprintf(m, "file,label,split\n");
    const int64_t S = 64, shape[3] = { 1, S, S };
    float *v = malloc(S * S * sizeof *v);
    unsigned s = 1;
    for (int i = 0; i < atoi(argv[2]); i++) {
        for (int64_t k = 0; k < S * S; k++) {
            s = s * 1664525u + 1013904223u;
            v[k] = 0.1f + 0.5f * (float)(k / S) / S + 0.3f * (float)((k % S + 7 * i) % S) / S + 0.1f * (float)(s >> 8) / 16777216.0f;
        }
        ssl3d_tensor *t;
        snprintf(path, sizeof path, "%s/img%02d.png", argv[1], i);
        if (ssl3d_tensor_from_data(ctx, SSL3D_F32, 3, shape, v, &t) != SSL3D_OK || ssl3d_png_write(ctx, path, t, 8) != SSL3D_OK) {
            fprintf(stderr, "%s\n", ssl3d_ctx_last_error(ctx));
            return 1;
        }
        ssl3d_tensor_release(t);
        fprintf(m, "img%02d.png,%d,train\n", i, i % 2);
    }
    fclose(m);
    return 0;
}
C
pre() {  # backend, out name, extra args
  local b=$1 name=$2; shift 2
  timeout 120 ./bin/ssl3d pretrain --task cpc --dims 2 --data "$OUT/cli/manifest.csv" --batch 4 --threads 4 \
    --opt input_size=32,filters=8,levels=2 --out "$OUT/cli/$name.safetensors" --log "$OUT/cli/$name.jsonl" \
    --backend "$b" "$@" >>"$OUT/cli/cli.log" 2>&1
}
if cc -Iinclude "$OUT/cli/gen.c" -Llib -lssl3d -Wl,-rpath,"$PWD/lib" -o "$OUT/cli/gen" 2>>"$OUT/cli/cli.log" &&
   "$OUT/cli/gen" "$OUT/cli" 8 >>"$OUT/cli/cli.log" 2>&1; then
  cli="ok"
  pre cpu cpu --steps 5 || cli="cpu run failed"
  pre cuda cuda --steps 5 || cli="cuda run failed"
  # checkpoints are the same format: each continues on the other backend
  cp "$OUT/cli/cuda.safetensors" "$OUT/cli/cuda_then_cpu.safetensors" 2>/dev/null
  cp "$OUT/cli/cpu.safetensors" "$OUT/cli/cpu_then_cuda.safetensors" 2>/dev/null
  [ "$cli" = ok ] && { pre cpu cuda_then_cpu --steps 7 --resume "$OUT/cli/cuda_then_cpu.safetensors" ||
                       cli="cuda checkpoint did not continue on cpu"; }
  [ "$cli" = ok ] && { pre cuda cpu_then_cuda --steps 7 --resume "$OUT/cli/cpu_then_cuda.safetensors" ||
                       cli="cpu checkpoint did not continue on cuda"; }
  # per-step losses of the two 5-step runs, relative difference <= 1e-3
  if [ "$cli" = ok ]; then awk -F'"loss":' 'FNR == 1 { f++ } NF > 1 { split($2, a, /[,}]/); l[f, ++n[f]] = a[1] }
      END { bad = 0; for (i = 1; i <= n[1]; i++) { d = l[1, i] - l[2, i]; if (d < 0) d = -d;
            r = l[1, i] < 0 ? -l[1, i] : l[1, i]; printf "step %d: cpu %s cuda %s\n", i, l[1, i], l[2, i];
            if (!(d <= 1e-3 * r) || n[1] != n[2]) bad = 1 } exit bad }' \
      "$OUT/cli/cpu.jsonl" "$OUT/cli/cuda.jsonl" >"$OUT/cli/losses.txt" 2>&1 || cli="losses differ"; fi
  cat "$OUT/cli/losses.txt" 2>/dev/null
  tail -3 "$OUT/cli/cli.log"
  # a bad backend name is a usage error (2), not a silent CPU run
  ./bin/ssl3d pretrain --task cpc --dims 2 --data "$OUT/cli/manifest.csv" --out "$OUT/cli/x.safetensors" \
    --backend gpu >>"$OUT/cli/cli.log" 2>&1; [ $? -eq 2 ] || cli="bad --backend not refused"
else
  cli="data generation failed"
fi
[ "$cli" = ok ] || status=1
echo "cli: $cli"

count_in() { local c; c=$(grep -c "^$2 " "$OUT/$1" 2>/dev/null); echo "${c:-0}"; }
count() { count_in tests-all.log "$1"; }
count_cuda() { count_in tests-cuda.log "$1"; }
cuda_probe=$(grep '^cuda:' "$OUT/probe.txt" 2>/dev/null | sed 's/"/\\"/g')
cat >"$OUT/summary.json" <<JSON
{"gpu": "${gpu:-none}", "probe_ok": $probe_ok, "cuda_probe": "${cuda_probe}",
 "cuda_tests": {"pass": $(count_cuda PASS), "fail": $(count_cuda FAIL), "skip": $(count_cuda SKIP)},
 "all_tests": {"pass": $(count PASS), "fail": $(count FAIL), "skip": $(count SKIP)},
 "bench": "$bench", "cli": "$cli", "seconds": $(($(date +%s) - t0)), "status": $status}
JSON
cat "$OUT/summary.json"
exit $status
