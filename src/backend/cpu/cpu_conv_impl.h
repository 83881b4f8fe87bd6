/* Private helpers shared by the CPU conv-family files (cpu_conv.c, cpu_conv_transpose.c,
 * cpu_pool.c): chunking of output positions into per-thread GEMM tiles, per-thread
 * partial-gradient reduction, and the kernel entry points that cpu_conv.c puts into
 * the dispatch table. */
#ifndef SSL3D_CPU_CONV_IMPL_H
#define SSL3D_CPU_CONV_IMPL_H
#include <stdint.h>
#include "../conv_kernels.h"

/* Floats in one thread's column (im2col) buffer: 2 MiB, so a tile plus the packed
 * GEMM panels stay within L2/L3 and the per-call scratch is bounded (threads x 2 MiB)
 * whatever the volume size. */
#define CPU_CONV_COL_BUDGET ((int64_t)1 << 19)
/* Fewest output positions in one tile: below this GEMM efficiency collapses, so the
 * budget may be exceeded for very deep kernels (Cin*kvol > budget/64). */
#define CPU_CONV_MIN_TILE 64

/* A run of consecutive output positions along W: plane od, row oh, columns ow..ow+len-1. */
typedef struct cpu_conv_seg {
    int64_t od, oh, ow, len;
} cpu_conv_seg;

/* Split the flattened positions [q0, q0+m) of a (Do,Ho,Wo) grid into row runs;
 * `s` needs room for m/Wo + 2 entries. Returns the number of runs. */
int64_t cpu_conv_segments(int64_t ho, int64_t wo, int64_t q0, int64_t m, cpu_conv_seg *s);

/* Tiling of P positions per sample for `rows` column-matrix rows: *m positions per
 * tile, *nch tiles per sample, with at least `threads` tiles overall when possible. */
void cpu_conv_plan(int64_t rows, int64_t p, int64_t n, int32_t threads, int64_t *m, int64_t *nch);

/* dst[i] += sum_t part[t*len + i] for t = 0..threads-1 in that fixed order
 * (deterministic for a given thread count), parallel over i. */
void cpu_conv_reduce_partials(const ssl3d_kctx *k, const float *part, int32_t threads, int64_t len,
                              float *dst);

/* Sum of x[0..n) in 8 interleaved lanes (vectorisable without reassociation, so the
 * result is the same on every run), lanes then added in a fixed order. */
static inline float cpu_conv_sum(const float *x, int64_t n) {
    float lane[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) lane[l] += x[j + l];
    for (; j < n; j++) lane[j & 7] += x[j];
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* Kernels implemented in cpu_conv_transpose.c and cpu_pool.c. */
ssl3d_status cpu_conv_transpose_forward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin,
                                        int64_t cout, const int64_t in[3], const float *x,
                                        const float *w, const float *b, float *y);
ssl3d_status cpu_conv_transpose_backward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin,
                                         int64_t cout, const int64_t in[3], const float *x,
                                         const float *w, const float *dy, float *dx, float *dw,
                                         float *db);
void cpu_maxpool2_forward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3],
                          const float *x, float *y, int32_t *argmax);
void cpu_maxpool2_backward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3],
                           const float *dy, const int32_t *argmax, float *dx);
void cpu_global_avgpool_forward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *x, float *y);
void cpu_global_avgpool_backward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *dy, float *dx);
#endif
