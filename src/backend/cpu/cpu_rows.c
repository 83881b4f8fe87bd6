/* CPU row-table kernels (rows_kernels.h): row gathers and the CPC candidate scores.
 * The arithmetic of each output element is the one the tasks used before these loops
 * moved behind the dispatch table (a float sum over d in order; weights g * inv_t), and
 * every scatter-add follows the inverse map in order, so losses are bitwise unchanged and
 * do not depend on the thread count. */
#include <string.h>
#include "../rows_kernels.h"

static void gather_forward(const ssl3d_kctx *k, const float *x, const int32_t *idx, int64_t R, int64_t D, float *y) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t r = 0; r < R; r++) memcpy(y + r * D, x + (int64_t)idx[r] * D, (size_t)D * sizeof(float));
}

/* One destination row per iteration: its sources in increasing r, as a serial loop
 * over r would add them. */
static void gather_backward(const ssl3d_kctx *k, const float *dy, const int32_t *off, const int32_t *src, int64_t M,
                            int64_t D, float *dx) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t m = 0; m < M; m++) {
        float *dst = dx + m * D;
        for (int32_t j = off[m]; j < off[m + 1]; j++) {
            const float *s = dy + (int64_t)src[j] * D;
            for (int64_t d = 0; d < D; d++) dst[d] += s[d];
        }
    }
}

static void scores_forward(const ssl3d_kctx *k, const float *p, const float *z, const int32_t *q, const int32_t *cand,
                           int64_t R, int64_t C, int64_t D, float inv_t, float *s) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *qr = p + (int64_t)q[r] * D;
        for (int64_t c = 0; c < C; c++) {
            const float *zr = z + (int64_t)cand[r * C + c] * D;
            float acc = 0.0f;
            for (int64_t d = 0; d < D; d++) acc += qr[d] * zr[d];
            s[r * C + c] = acc * inv_t;
        }
    }
}

/* The q[r] are distinct: rows in parallel. */
static void scores_backward_p(const ssl3d_kctx *k, const float *z, const int32_t *q, const int32_t *cand,
                              const float *ds, int64_t R, int64_t C, int64_t D, float inv_t, float *dp) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t r = 0; r < R; r++) {
        float *dq = dp + (int64_t)q[r] * D;
        for (int64_t c = 0; c < C; c++) {
            const float w = ds[r * C + c] * inv_t;
            const float *zr = z + (int64_t)cand[r * C + c] * D;
            for (int64_t d = 0; d < D; d++) dq[d] += w * zr[d];
        }
    }
}

static void scores_backward_z(const ssl3d_kctx *k, const float *p, const int32_t *q, const float *ds,
                              const int32_t *off, const int32_t *src, int64_t M, int64_t C, int64_t D, float inv_t,
                              float *dz) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t m = 0; m < M; m++) {
        float *dst = dz + m * D;
        for (int32_t j = off[m]; j < off[m + 1]; j++) {
            const int64_t e = src[j];
            const float w = ds[e] * inv_t;
            const float *qr = p + (int64_t)q[e / C] * D;
            for (int64_t d = 0; d < D; d++) dst[d] += w * qr[d];
        }
    }
}

const struct ssl3d_rows_kernels ssl3d_cpu_rows_kernels = {
    .gather_forward = gather_forward,
    .gather_backward = gather_backward,
    .scores_forward = scores_forward,
    .scores_backward_p = scores_backward_p,
    .scores_backward_z = scores_backward_z,
};
