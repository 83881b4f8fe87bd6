#!/usr/bin/env bash
# Link hygiene of the CUDA backend plugin (docs/cuda.md), used by .ci/run, by the test
# suite (test_backend_plugin.c) and by tools/gpu-check.sh:
#   - lib/libssl3d-cuda.so.0 links libcudnn, libcublas and libcudart;
#   - it exports exactly one symbol, its entry point ssl3d_backend_plugin_entry;
#   - lib/libssl3d.so.0 itself needs no CUDA library (the plugin is loaded at run time);
#   - libnccl is never linked (the NCCL communicator dlopen()s it); with EXPECT_NCCL=1 the
#     NCCL part must be compiled in (the name it dlopen()s and the entry points it resolves).
# Usage: [EXPECT_NCCL=1] tools/check-cuda-plugin.sh [LIBDIR]   (default: lib next to this script's repo)
set -euo pipefail
libdir=${1:-"$(dirname "$0")/../lib"}
plugin="$libdir/libssl3d-cuda.so.0"
main="$libdir/libssl3d.so.0"
fail() { echo "check-cuda-plugin: $*" >&2; exit 1; }
[ -e "$plugin" ] || fail "$plugin not found (build with make CUDA=1)"
[ -e "$main" ] || fail "$main not found (run make first)"
needed=$(objdump -p "$plugin" | awk '$1 == "NEEDED" {print $2}')
for lib in libcudnn.so libcublas.so libcudart.so; do
  grep -q "^$lib" <<<"$needed" || fail "$plugin does not link $lib (NEEDED: $(echo $needed))"
done
if grep -q '^libnccl' <<<"$needed"; then
  fail "$plugin links libnccl (NEEDED); it must dlopen() it so that single-GPU use needs no NCCL"
fi
nccl="without NCCL"
if grep -aq 'libnccl.so.2' "$plugin" && grep -aq 'ncclCommInitRank' "$plugin"; then
  nccl="with NCCL (dlopen()ed, not linked)"
elif [ "${EXPECT_NCCL:-0}" = 1 ]; then
  fail "$plugin was built without NCCL (EXPECT_NCCL=1: nccl.h was found; see NCCL= in the Makefile)"
fi
exports=$(nm -D --defined-only "$plugin" | awk '{print $3}' | sort -u)
[ "$exports" = "ssl3d_backend_plugin_entry" ] || fail "$plugin must export only ssl3d_backend_plugin_entry, exports: $(echo $exports)"
if objdump -p "$main" | awk '$1 == "NEEDED" {print $2}' | grep -Eq '^lib(cuda|cudart|cudnn|cublas)'; then
  fail "$main depends on a CUDA library; it must load the plugin at run time instead"
fi
echo "check-cuda-plugin: OK ($plugin links cuDNN, cuBLAS, cudart, $nccl, and exports only its entry point; libssl3d.so.0 has no CUDA dependency)"
