/* Row-table kernels of the CUDA backend (rows_kernels.h): row gathers and the CPC
 * candidate scores, with the same per-element arithmetic and order as the CPU kernels
 * (src/backend/cpu/cpu_rows.c). Scatter-adds follow the inverse map (CSR) that the op
 * uploads: one thread per destination element walks its sources in order, so no atomics
 * are needed and the sums are deterministic. Written in the common C/CUDA subset of
 * kernel_defs.h so tests run them on the CPU. */
#ifndef SSL3D_CUDA_KERNELS_ROWS_H
#define SSL3D_CUDA_KERNELS_ROWS_H
#include "kernel_defs.h"

/* y (R,D) = x[idx[r],:]: one thread per output element. */
SSL3D_KERNEL k_gather_rows(const float *x, const int32_t *idx, int64_t R, int64_t D, float *y) {
    for (int64_t i = SSL3D_TID; i < R * D; i += SSL3D_NTHREADS) y[i] = x[(int64_t)idx[i / D] * D + i % D];
}

/* dx[m,d] += dy[src[j],d] for j in [off[m], off[m+1]): one thread per (m, d). */
SSL3D_KERNEL k_gather_rows_backward(const float *dy, const int32_t *off, const int32_t *src, int64_t M, int64_t D,
                                    float *dx) {
    for (int64_t i = SSL3D_TID; i < M * D; i += SSL3D_NTHREADS) {
        const int64_t m = i / D, d = i % D;
        float acc = dx[i];
        for (int32_t j = off[m]; j < off[m + 1]; j++) acc += dy[(int64_t)src[j] * D + d];
        dx[i] = acc;
    }
}

/* s[r,c] = (sum_d p[q[r],d] z[cand[r*C+c],d]) * inv_t: one thread per score. */
SSL3D_KERNEL k_row_scores(const float *p, const float *z, const int32_t *q, const int32_t *cand, int64_t R, int64_t C,
                          int64_t D, float inv_t, float *s) {
    for (int64_t i = SSL3D_TID; i < R * C; i += SSL3D_NTHREADS) {
        const float *qr = p + (int64_t)q[i / C] * D, *zr = z + (int64_t)cand[i] * D;
        float acc = 0.0f;
        for (int64_t d = 0; d < D; d++) acc += qr[d] * zr[d];
        s[i] = acc * inv_t;
    }
}

/* dp[q[r],d] += sum_c (ds[r,c] inv_t) z[cand[r*C+c],d]: one thread per (r, d); q distinct. */
SSL3D_KERNEL k_row_scores_backward_p(const float *z, const int32_t *q, const int32_t *cand, const float *ds, int64_t R,
                                     int64_t C, int64_t D, float inv_t, float *dp) {
    for (int64_t i = SSL3D_TID; i < R * D; i += SSL3D_NTHREADS) {
        const int64_t r = i / D, d = i % D;
        float *dst = dp + (int64_t)q[r] * D + d;
        float acc = *dst;
        for (int64_t c = 0; c < C; c++) {
            const float w = ds[r * C + c] * inv_t;
            acc += w * z[(int64_t)cand[r * C + c] * D + d];
        }
        *dst = acc;
    }
}

/* dz[m,d] += (ds[e] inv_t) p[q[e / C],d] for e = src[j], j in [off[m], off[m+1]): one
 * thread per (m, d). */
SSL3D_KERNEL k_row_scores_backward_z(const float *p, const int32_t *q, const float *ds, const int32_t *off,
                                     const int32_t *src, int64_t M, int64_t C, int64_t D, float inv_t, float *dz) {
    for (int64_t i = SSL3D_TID; i < M * D; i += SSL3D_NTHREADS) {
        const int64_t m = i / D, d = i % D;
        float acc = dz[i];
        for (int32_t j = off[m]; j < off[m + 1]; j++) {
            const int64_t e = src[j];
            const float w = ds[e] * inv_t;
            acc += w * p[(int64_t)q[e / C] * D + d];
        }
        dz[i] = acc;
    }
}
#endif
