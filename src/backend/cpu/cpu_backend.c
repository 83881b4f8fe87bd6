/* The CPU backend: host memory, OpenMP loops, OpenBLAS GEMM. This file holds the
 * table and the basic kernels; each kernel family lives in its own cpu_*.c. */
#include <stdlib.h>
#include <string.h>
#include "../backend.h"
#include "../conv_kernels.h"
#include "../layer_kernels.h"
#include "../loss_kernels.h"
#include "../optim_kernels.h"
#include "../rows_kernels.h"
#include "cpu_memory.h"

static void cpu_memset0(void *state, void *p, size_t n) { (void)state; memset(p, 0, n); }
static void cpu_copy(void *state, void *dst, const void *src, size_t n) { (void)state; memmove(dst, src, n); }

static void cpu_fill(const ssl3d_kctx *k, float *x, int64_t n, float v) {
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] = v;
}

static void cpu_axpy(const ssl3d_kctx *k, float a, const float *x, float *y, int64_t n) {
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_add_scalar(const ssl3d_kctx *k, float a, float *y, int64_t n) {
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] += a;
}

static void cpu_scale_add(const ssl3d_kctx *k, float a, const float *x, float b, const float *y, float *out,
                          int64_t n) {
    if (b == 0.0f) {   /* y is not read: out = a*x even where y holds inf or NaN (backend.h) */
        #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = a * x[i];
        return;
    }
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = a * x[i] + b * y[i];
}

/* Fixed blocks, each summed in double, block sums added in block order: the same sum for
 * any thread count, and parallel. */
#define DOT_BLOCK 16384
static double cpu_dot(const ssl3d_kctx *k, const float *x, const float *w, int64_t n) {
    const int64_t nb = (n + DOT_BLOCK - 1) / DOT_BLOCK;
    double stack[64], *part = nb <= 64 ? stack : malloc((size_t)nb * sizeof *part);
    if (!part) {   /* no scratch: sequential, still deterministic */
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * (w ? w[i] : 1.0f);
        return s;
    }
    #pragma omp parallel for num_threads(k->threads) if (nb > 1) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        const int64_t lo = b * DOT_BLOCK, hi = lo + DOT_BLOCK < n ? lo + DOT_BLOCK : n;
        /* 8 interleaved double lanes, added in a fixed order at the end: one chain of
         * dependent adds ran at 4 cycles per element, and this dot of 2 x 18.9 MB (the W1
         * benchmarks' loss) took longer than the forward convolution it follows */
        double lane[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
        int64_t i = lo;
        if (w) {
            for (; i + 8 <= hi; i += 8)
                for (int l = 0; l < 8; l++) lane[l] += (double)x[i + l] * w[i + l];
            for (; i < hi; i++) lane[i & 7] += (double)x[i] * w[i];
        } else {
            for (; i + 8 <= hi; i += 8)
                for (int l = 0; l < 8; l++) lane[l] += x[i + l];
            for (; i < hi; i++) lane[i & 7] += x[i];
        }
        part[b] = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    }
    double s = 0.0;
    for (int64_t b = 0; b < nb; b++) s += part[b];
    if (part != stack) free(part);
    return s;
}

static int cpu_supports_op(int32_t op) { return op >= 0 && op < SSL3D_OP_COUNT; }

const ssl3d_backend ssl3d_cpu_backend = {
    .abi_version = SSL3D_BACKEND_ABI_VERSION,
    .name = "cpu",
    .kind = SSL3D_BACKEND_CPU,
    .host_memory = 1,
    .supports_op = cpu_supports_op,
    .init = cpu_state_init,
    .shutdown = cpu_state_shutdown,
    .alloc = cpu_alloc_zeroed,
    .alloc_uninit = cpu_alloc_uninit,
    .free = cpu_free,
    .memset0 = cpu_memset0,
    .to_host = cpu_copy,
    .from_host = cpu_copy,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .axpy = cpu_axpy,
    .add_scalar = cpu_add_scalar,
    .scale_add = cpu_scale_add,
    .dot = cpu_dot,
    .conv = &ssl3d_cpu_conv_kernels,
    .layer = &ssl3d_cpu_layer_kernels,
    .loss = &ssl3d_cpu_loss_kernels,
    .optim = &ssl3d_cpu_optim_kernels,
    .rows = &ssl3d_cpu_rows_kernels,
};
