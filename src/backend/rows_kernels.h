/* Row-table kernels of the backend dispatch table (backend.h): gathering rows of a
 * matrix by an index list, and the CPC candidate scores (dot products of query rows with
 * candidate rows). The contrastive tasks use them through src/ops/rows.c, so that no task
 * touches tensor memory itself.
 *
 * Index arrays are int32 in backend memory. Scatter-adds, where several outputs feed the
 * same row, come with the INVERSE map of the index list in CSR form — for destination row
 * m, the sources src[off[m] .. off[m+1]) in increasing order — so that every backend adds
 * in the same order without atomics (deterministic, and the same sums on every backend).
 * Gradients ACCUMULATE (+=). */
#ifndef SSL3D_ROWS_KERNELS_H
#define SSL3D_ROWS_KERNELS_H
#include "backend.h"

struct ssl3d_rows_kernels {
    /* y (R,D): y[r,:] = x[idx[r],:], x (M,D). */
    void (*gather_forward)(const ssl3d_kctx *k, const float *x, const int32_t *idx, int64_t R, int64_t D,
                           float *y);
    /* dx (M,D): dx[m,:] += sum over j in [off[m], off[m+1]) of dy[src[j],:], j in order,
     * where src lists the r with idx[r] == m (the inverse of gather_forward's idx). */
    void (*gather_backward)(const ssl3d_kctx *k, const float *dy, const int32_t *off, const int32_t *src,
                            int64_t M, int64_t D, float *dx);
    /* s (R,C): s[r,c] = (sum_d p[q[r],d] * z[cand[r*C+c],d]) * inv_t, a float sum over d
     * in order. p (P,D), z (M,D). */
    void (*scores_forward)(const ssl3d_kctx *k, const float *p, const float *z, const int32_t *q,
                           const int32_t *cand, int64_t R, int64_t C, int64_t D, float inv_t, float *s);
    /* dp[q[r],:] += sum_c (ds[r,c] * inv_t) * z[cand[r*C+c],:], c in order; the q[r] are
     * distinct. Skipped when dp is NULL. */
    void (*scores_backward_p)(const ssl3d_kctx *k, const float *z, const int32_t *q, const int32_t *cand,
                              const float *ds, int64_t R, int64_t C, int64_t D, float inv_t, float *dp);
    /* dz (M,D): dz[m,:] += sum over j in [off[m], off[m+1]) of (ds[e] * inv_t) * p[q[e / C],:]
     * with e = src[j], the flat (r*C + c) positions whose cand is m, in increasing order. */
    void (*scores_backward_z)(const ssl3d_kctx *k, const float *p, const int32_t *q, const float *ds,
                              const int32_t *off, const int32_t *src, int64_t M, int64_t C, int64_t D,
                              float inv_t, float *dz);
};

extern const struct ssl3d_rows_kernels ssl3d_cpu_rows_kernels;
#endif
