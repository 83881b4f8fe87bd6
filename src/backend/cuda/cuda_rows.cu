// The CUDA backend's rows kernels (rows_kernels.h): launches of the kernels in
// kernels_rows.h, which the tests also run on the CPU.
#include "cuda_launch.h"
#include "kernels_rows.h"
#include "../rows_kernels.h"

extern "C" {

static void gather_forward(const ssl3d_kctx *k, const float *x, const int32_t *idx, int64_t R, int64_t D, float *y) {
    LAUNCH_N(state_of(k), k_gather_rows, R * D, x, idx, R, D, y);
}

static void gather_backward(const ssl3d_kctx *k, const float *dy, const int32_t *off, const int32_t *src, int64_t M,
                            int64_t D, float *dx) {
    LAUNCH_N(state_of(k), k_gather_rows_backward, M * D, dy, off, src, M, D, dx);
}

static void scores_forward(const ssl3d_kctx *k, const float *p, const float *z, const int32_t *q, const int32_t *cand,
                           int64_t R, int64_t C, int64_t D, float inv_t, float *s) {
    LAUNCH_N(state_of(k), k_row_scores, R * C, p, z, q, cand, R, C, D, inv_t, s);
}

static void scores_backward_p(const ssl3d_kctx *k, const float *z, const int32_t *q, const int32_t *cand,
                              const float *ds, int64_t R, int64_t C, int64_t D, float inv_t, float *dp) {
    LAUNCH_N(state_of(k), k_row_scores_backward_p, R * D, z, q, cand, ds, R, C, D, inv_t, dp);
}

static void scores_backward_z(const ssl3d_kctx *k, const float *p, const int32_t *q, const float *ds,
                              const int32_t *off, const int32_t *src, int64_t M, int64_t C, int64_t D, float inv_t,
                              float *dz) {
    LAUNCH_N(state_of(k), k_row_scores_backward_z, M * D, p, q, ds, off, src, M, C, D, inv_t, dz);
}

const struct ssl3d_rows_kernels cuda_rows_kernels = {
    gather_forward, gather_backward, scores_forward, scores_backward_p, scores_backward_z,
};

}  // extern "C"
