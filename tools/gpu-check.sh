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
#   ft/                `ssl3d finetune --backend cpu|cuda` (segmentation, synthetic 24^3 NIfTI,
#                      3 epochs of 4 steps): per-epoch losses compared (1e-3 relative); each
#                      model evaluated on both backends (and with --tta on cuda); a run
#                      stopped after its first epoch continued with --resume on the other backend
#   nccl/              the NCCL communicator (docs/distributed.md): `ssl3d info --backends`
#                      (libnccl found), the 1-rank test on device buffers (allreduce = input,
#                      broadcast, barrier; a skip is a failure here), and with >= 2 GPUs and
#                      mpirun: `mpirun -np 2 ssl3d pretrain --backend cuda --comm nccl` against
#                      1 rank (rotation 2D, group norm, 5 steps: losses to 1e-4 relative); nccl.log
#   ft/overlap.txt     the same fine-tuning on cuda with batches uploaded ahead on the copy
#                      stream (default) and with --no-prefetch: losses identical, seconds of both
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
EXPECT_NCCL=$([ -e "${CUDA_HOME:-/usr/local/cuda}/include/nccl.h" ] && echo 1 || echo 0) tools/check-cuda-plugin.sh >"$OUT/plugin-check.log" 2>&1 || status=1

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
for t in conformance backend_plugin cuda_kernel cuda_cache cuda_staging cuda_upload rows_ops task_host_images tensor_copy; do
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

step "NCCL"
nccl="ok"
mkdir -p "$OUT/nccl"
./bin/ssl3d info --backends >"$OUT/nccl/nccl.log" 2>&1
grep -q '^nccl  available' "$OUT/nccl/nccl.log" || nccl="libnccl not found (see nccl.log)"
timeout 60 ./bin/test_ssl3d comm_nccl_one_rank >>"$OUT/nccl/nccl.log" 2>&1
grep -q '^PASS comm_nccl_one_rank_on_a_cuda_device' "$OUT/nccl/nccl.log" || nccl="1-rank NCCL test did not pass"
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "$nccl" = ok ] && [ "${ngpu:-0}" -ge 2 ] && command -v mpirun >/dev/null && [ -e lib/ssl3d-mpi.so ]; then
  rot() {  # name, launcher...: rotation 2D with group norm on the CLI's synthetic PNGs, 5 steps, cuda
    local name=$1; shift   # (--comm is ignored by a single process)
    timeout 120 "$@" ./bin/ssl3d pretrain --task rotation --dims 2 --data "$OUT/cli/manifest.csv" --batch 4 \
      --threads 2 --steps 5 --val-fraction 0 --opt filters=8,levels=2,norm=group --backend cuda --comm nccl \
      --out "$OUT/nccl/$name.safetensors" --log "$OUT/nccl/$name.jsonl" >>"$OUT/nccl/nccl.log" 2>&1
  }
  rot one env || nccl="1-rank cuda run failed"
  [ "$nccl" = ok ] && { rot two mpirun --allow-run-as-root -np 2 || nccl="2-rank --comm nccl run failed"; }
  [ "$nccl" = ok ] && { awk -F'"loss":' 'FNR == 1 { f++ } NF > 1 { split($2, a, /[,}]/); l[f, ++n[f]] = a[1] }
      END { bad = 0; for (i = 1; i <= n[1]; i++) { d = l[1, i] - l[2, i]; if (d < 0) d = -d;
            r = l[1, i] < 0 ? -l[1, i] : l[1, i]; printf "step %d: 1 rank %s, 2 ranks nccl %s\n", i, l[1, i], l[2, i];
            if (!(d <= 1e-4 * r) || n[1] != n[2] || n[1] == 0) bad = 1 } exit bad }' \
      "$OUT/nccl/one.jsonl" "$OUT/nccl/two.jsonl" >"$OUT/nccl/losses.txt" 2>&1 || nccl="2 ranks (nccl) and 1 rank differ"; }
  cat "$OUT/nccl/losses.txt" 2>/dev/null
elif [ "$nccl" = ok ]; then
  echo "2-rank NCCL run skipped: ${ngpu:-0} GPU(s), mpirun $(command -v mpirun >/dev/null && echo found || echo missing)" \
    | tee -a "$OUT/nccl/nccl.log"
fi
tail -3 "$OUT/nccl/nccl.log"
[ "$nccl" = ok ] || status=1
echo "nccl: $nccl"

step "CLI: finetune / evaluate --backend cpu|cuda"
ft="skipped"
mkdir -p "$OUT/ft"
cat >"$OUT/ft/gen_msd.c" <<'C'
/* Synthetic MSD segmentation set for the fine-tuning smoke runs: N volumes of 24^3
 * (uncompressed NIfTI-1 written by hand: float32 images, uint8 labels; no geometry) with a
 * bright cube (label 1) and a dimmer box (label 2) over noise, and dataset.json.
 * Usage: gen_msd DIR N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define S 24
static int write_nii(const char *path, const void *data, int16_t datatype, int16_t bitpix) {
    unsigned char h[352];
    memset(h, 0, sizeof h);
    int32_t sz = 348; memcpy(h, &sz, 4);
    int16_t dim[8] = { 3, S, S, S, 1, 1, 1, 1 }; memcpy(h + 40, dim, 16);
    memcpy(h + 70, &datatype, 2); memcpy(h + 72, &bitpix, 2);
    float pixdim[8] = { 1, 1, 1, 1, 1, 1, 1, 1 }; memcpy(h + 76, pixdim, 32);
    float off = 352; memcpy(h + 108, &off, 4);
    memcpy(h + 344, "n+1", 4);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    size_t n = (size_t)S * S * S * (size_t)(bitpix / 8);
    int bad = fwrite(h, 1, sizeof h, f) != sizeof h || fwrite(data, 1, n, f) != n;
    return fclose(f) != 0 || bad;
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char p[4096];
    snprintf(p, sizeof p, "mkdir -p '%s/imagesTr' '%s/labelsTr'", argv[1], argv[1]);
    if (system(p) != 0) return 1;
    snprintf(p, sizeof p, "%s/dataset.json", argv[1]);
    FILE *js = fopen(p, "w");
    if (!js) return 1;
    fprintf(js, "{\"name\": \"synthetic\", \"modality\": {\"0\": \"MRI\"}, \"labels\": {\"0\": \"background\", "
                "\"1\": \"cube\", \"2\": \"box\"}, \"training\": [");
    static float img[S * S * S];
    static uint8_t lab[S * S * S];
    unsigned s = 7;
    for (int c = 0; c < atoi(argv[2]); c++) {
        int cx = 2 + c % 5, bx = 13 + (c * 3) % 6;
        for (int i = 0; i < S * S * S; i++) {
            s = s * 1664525u + 1013904223u;
            int x = i % S, y = (i / S) % S, z = i / (S * S);
            img[i] = 0.2f * (float)(s >> 8) / 16777216.0f;
            lab[i] = 0;
            if (x >= cx && x < cx + 7 && y >= 4 && y < 11 && z >= 5 && z < 12) { img[i] += 1.0f; lab[i] = 1; }
            if (x >= bx && x < bx + 5 && y >= 12 && y < 20 && z >= 9 && z < 14) { img[i] += 0.6f; lab[i] = 2; }
        }
        snprintf(p, sizeof p, "%s/imagesTr/case%02d.nii", argv[1], c);
        if (write_nii(p, img, 16, 32)) return 1;
        snprintf(p, sizeof p, "%s/labelsTr/case%02d.nii", argv[1], c);
        if (write_nii(p, lab, 2, 8)) return 1;
        fprintf(js, "%s{\"image\": \"./imagesTr/case%02d.nii\", \"label\": \"./labelsTr/case%02d.nii\"}", c ? ", " : "", c, c);
    }
    fprintf(js, "], \"test\": []}\n");
    return fclose(js) != 0;
}
C
fin() {  # backend, out name, extra args: segmentation fine-tuning, 3 epochs
  local b=$1 name=$2; shift 2
  timeout 120 ./bin/ssl3d finetune --kind segment --data "$OUT/ft/msd/dataset.json" --filters 4 --levels 2 \
    --patch 16 --batch 2 --seed 1 --threads 4 --out "$OUT/ft/$name.safetensors" --log "$OUT/ft/$name.jsonl" \
    --backend "$b" "$@" >>"$OUT/ft/ft.log" 2>&1
}
eva() {  # backend, model name, extra args
  local b=$1 name=$2; shift 2
  timeout 60 ./bin/ssl3d evaluate --model "$OUT/ft/$name.safetensors" --data "$OUT/ft/msd/dataset.json" --json \
    --threads 4 --backend "$b" "$@" >"$OUT/ft/eval_${name}_$b.json" 2>>"$OUT/ft/ft.log"
}
resumable() {  # backend, state file, log [bg]: 4 epochs of 40 steps, resumable; bg: exec (its pid is $!)
  local run=; [ "${4:-}" = bg ] && run=exec
  $run timeout 120 ./bin/ssl3d finetune --kind segment --data "$OUT/ft/msd/dataset.json" --filters 4 --levels 2 \
    --patch 16 --batch 2 --seed 2 --threads 4 --epochs 4 --steps-per-epoch 40 --out "${2%.safetensors}_model.safetensors" \
    --log "$3" --resume "$2" --backend "$1" >>"$OUT/ft/ft.log" 2>&1
}
cmp_losses() {  # two jsonl logs: per-epoch losses, relative difference <= 1e-3
  awk -F'"loss":' 'FNR == 1 { f++ } NF > 1 { split($2, a, /[,}]/); l[f, ++n[f]] = a[1] }
      END { bad = 0; for (i = 1; i <= n[1]; i++) { d = l[1, i] - l[2, i]; if (d < 0) d = -d;
            r = l[1, i] < 0 ? -l[1, i] : l[1, i]; printf "epoch %d: %s %s\n", i, l[1, i], l[2, i];
            if (!(d <= 1e-3 * r) || n[1] != n[2]) bad = 1 } exit bad }' "$1" "$2"
}
if cc "$OUT/ft/gen_msd.c" -o "$OUT/ft/gen_msd" 2>>"$OUT/ft/ft.log" && "$OUT/ft/gen_msd" "$OUT/ft/msd" 8 >>"$OUT/ft/ft.log" 2>&1; then
  ft="ok"
  fin cpu cpu --epochs 3 --steps-per-epoch 4 || ft="finetune cpu failed"
  fin cuda cuda --epochs 3 --steps-per-epoch 4 || ft="finetune cuda failed"
  [ "$ft" = ok ] && { cmp_losses "$OUT/ft/cpu.jsonl" "$OUT/ft/cuda.jsonl" >"$OUT/ft/losses.txt" 2>&1 || ft="finetune losses differ"; }
  cat "$OUT/ft/losses.txt" 2>/dev/null
  # evaluation on either backend of either model (and with test-time mirroring on cuda)
  for m in cpu cuda; do for b in cpu cuda; do
    [ "$ft" = ok ] && { eva $b $m || ft="evaluate --backend $b of the $m model failed"; }
  done; done
  [ "$ft" = ok ] && { eva cuda cuda --tta || ft="evaluate --backend cuda --tta failed"; }
  head -c 300 "$OUT"/ft/eval_*.json 2>/dev/null; echo
  # --resume across backends: a run stopped after its first epoch continues on the other backend
  for pair in "cpu cuda" "cuda cpu"; do
    set -- $pair
    [ "$ft" = ok ] || break
    st="$OUT/ft/state_$1_$2.safetensors"; lg="$OUT/ft/resume_$1_$2.jsonl"
    resumable "$1" "$st" "$lg" bg &
    pid=$!
    for _ in $(seq 1000); do   # until its first epoch is logged (its state is written just before)
      [ "$(cat "$lg" 2>/dev/null | wc -l)" -ge 1 ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    done_first=$(grep -c '^{"epoch"' "$lg" 2>/dev/null)
    resumable "$2" "$st" "$lg" || { ft="--resume of a $1 state on $2 failed"; break; }
    epochs=$(grep -c '^{"epoch"' "$lg")
    echo "resume $1 -> $2: $done_first epoch(s) on $1, $epochs in all" | tee -a "$OUT/ft/losses.txt"
    [ "$epochs" -eq 4 ] && [ "$done_first" -ge 1 ] && [ "$done_first" -lt 4 ] ||
      ft="--resume $1 -> $2: $done_first then $epochs epochs (expected 1-3 before the stop, then 4)"
  done
  tail -3 "$OUT/ft/ft.log"
else
  ft="data generation failed"
fi
[ "$ft" = ok ] || status=1
echo "finetune: $ft"

step "upload overlap: finetune --backend cuda, batches uploaded ahead (default) vs --no-prefetch"
# The next step's batch is copied on the copy stream while a step computes (docs/cuda.md,
# "Memory and ownership"); --no-prefetch uploads each batch when its step starts. The data
# and the kernels are the same, so the per-epoch losses must be identical; the seconds of
# both are recorded (overlap.txt).
ovl="skipped"
if [ -e "$OUT/ft/msd/dataset.json" ]; then
  ovl="ok"
  for mode in sync overlap; do
    extra=; [ $mode = sync ] && extra=--no-prefetch
    fin cuda "ovl_$mode" --epochs 2 --steps-per-epoch 30 --batch 8 --val-every 2 $extra || ovl="$mode run failed"
  done
  if [ "$ovl" = ok ]; then
    grep -o '"loss": [^,]*' "$OUT/ft/ovl_sync.jsonl" >"$OUT/ft/ovl_sync.loss"
    grep -o '"loss": [^,]*' "$OUT/ft/ovl_overlap.jsonl" >"$OUT/ft/ovl_overlap.loss"
    { echo "losses (synchronous | overlapped):"; paste "$OUT/ft/ovl_sync.loss" "$OUT/ft/ovl_overlap.loss"
      for mode in sync overlap; do
        awk -F'"seconds":' -v m=$mode 'NF > 1 { split($2, a, /[,}]/); t += a[1]; n++ }
          END { printf "%s: %d epochs, %.3f s in all (60 steps of batch 8, patch 16^3, one validation)\n", m, n, t }' \
          "$OUT/ft/ovl_$mode.jsonl"
      done; } >"$OUT/ft/overlap.txt"
    [ -s "$OUT/ft/ovl_sync.loss" ] && cmp -s "$OUT/ft/ovl_sync.loss" "$OUT/ft/ovl_overlap.loss" ||
      ovl="losses differ between overlapped and synchronous uploads"
    cat "$OUT/ft/overlap.txt"
  fi
fi
[ "$ovl" = ok ] || status=1
echo "upload overlap: $ovl"

count_in() { local c; c=$(grep -c "^$2 " "$OUT/$1" 2>/dev/null); echo "${c:-0}"; }
count() { count_in tests-all.log "$1"; }
count_cuda() { count_in tests-cuda.log "$1"; }
cuda_probe=$(grep '^cuda:' "$OUT/probe.txt" 2>/dev/null | sed 's/"/\\"/g')
cat >"$OUT/summary.json" <<JSON
{"gpu": "${gpu:-none}", "probe_ok": $probe_ok, "cuda_probe": "${cuda_probe}",
 "cuda_tests": {"pass": $(count_cuda PASS), "fail": $(count_cuda FAIL), "skip": $(count_cuda SKIP)},
 "all_tests": {"pass": $(count PASS), "fail": $(count FAIL), "skip": $(count SKIP)},
 "bench": "$bench", "cli": "$cli", "nccl": "$nccl", "finetune": "$ft", "upload_overlap": "$ovl", "seconds": $(($(date +%s) - t0)), "status": $status}
JSON
cat "$OUT/summary.json"
exit $status
