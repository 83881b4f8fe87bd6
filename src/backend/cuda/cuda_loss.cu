// Loss slots of the CUDA backend (kernel bodies in kernels_loss.h, also run on the CPU by
// tests/test_cuda_kernels.c). Value-returning slots finish their fixed-partition sums on
// the host, which waits for the device; NaN (sums) or -1 (checks) when a call failed,
// the failure itself being recorded for the next sync.
#include "cuda_launch.h"
#include "kernels_reduce.h"
#include "kernels_loss.h"

// Fold np partials (double, device) through k_final_sum, copy, add in order on the host.
static double finish_sum(cuda_state *s, const double *part, int64_t np, const char *what) {
    double *fin = s->dscratch + SSL3D_REDUCE_PARTS, r = NAN;
    SSL3D_LAUNCH(k_final_sum, 1, SSL3D_REDUCE_FINAL, s->stream, part, np, fin, (int64_t)SSL3D_REDUCE_FINAL);
    if (!cuda_check(s, cudaGetLastError(), what) &&
        !cuda_check(s, cudaMemcpyAsync(s->hscratch, fin, SSL3D_REDUCE_FINAL * sizeof(double), cudaMemcpyDeviceToHost,
                                       s->stream), "cudaMemcpyAsync (loss sum)") &&
        !cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (loss sum)")) {
        r = 0.0;
        for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) r += s->hscratch[i];
    }
    return r;
}

// Per-row values (rows <= SSL3D_REDUCE_PARTS) live at the start of the scratch.
static int rows_fit(cuda_state *s, int64_t rows, const char *what) {
    if (rows <= SSL3D_REDUCE_PARTS) return 1;
    cuda_fail(s, SSL3D_ERR_UNSUPPORTED, "%s: %lld rows exceed the %d the CUDA backend reduces", what, (long long)rows,
              SSL3D_REDUCE_PARTS);
    return 0;
}

static int64_t first_bad(const ssl3d_kctx *k, int32_t mode, const int32_t *labels, const float *x, int64_t n,
                         int64_t K, float lo, float hi) {
    cuda_state *s = state_of(k);
    int prev = cuda_enter(s);
    int64_t *part = (int64_t *)s->dscratch, *fin = (int64_t *)(s->dscratch + SSL3D_REDUCE_PARTS), r = -1;
    int64_t *host = (int64_t *)s->hscratch;
    SSL3D_LAUNCH(k_first_bad, SSL3D_REDUCE_GRID, SSL3D_BLOCK, s->stream, mode, labels, x, n, K, lo, hi, part);
    SSL3D_LAUNCH(k_final_min, 1, SSL3D_REDUCE_FINAL, s->stream, part, (int64_t)SSL3D_REDUCE_PARTS, fin,
                 (int64_t)SSL3D_REDUCE_FINAL);
    if (!cuda_check(s, cudaGetLastError(), mode ? "kernel k_first_bad (range check)" : "kernel k_first_bad (labels)") &&
        !cuda_check(s, cudaMemcpyAsync(host, fin, SSL3D_REDUCE_FINAL * sizeof(int64_t), cudaMemcpyDeviceToHost,
                                       s->stream), "cudaMemcpyAsync (check)") &&
        !cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (check)")) {
        int64_t m = n;
        for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) m = host[i] < m ? host[i] : m;
        r = m < n ? m : -1;
    }
    cuda_leave(s, prev);
    return r;
}

static int64_t label_check(const ssl3d_kctx *k, const int32_t *labels, int64_t n, int64_t K) {
    return first_bad(k, 0, labels, NULL, n, K, 0.0f, 0.0f);
}

static int64_t range_check(const ssl3d_kctx *k, const float *x, int64_t n, float lo, float hi) {
    return first_bad(k, 1, NULL, x, n, 0, lo, hi);
}

static double ce_forward(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N, int64_t K,
                         int64_t S) {
    cuda_state *s = state_of(k);
    int prev = cuda_enter(s);
    SSL3D_LAUNCH(k_ce_partial, SSL3D_REDUCE_GRID, SSL3D_BLOCK, s->stream, logits, labels, N, K, S, s->dscratch);
    double r = finish_sum(s, s->dscratch, SSL3D_REDUCE_PARTS, "kernel k_ce_partial");
    cuda_leave(s, prev);
    return r;
}

static void ce_backward(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N, int64_t K,
                        int64_t S, float scale, float *dlogits) {
    LAUNCH_N(state_of(k), k_ce_backward, N * S, logits, labels, N, K, S, scale, dlogits);
}

static double bce_forward(const ssl3d_kctx *k, const float *x, const float *t, int64_t n) {
    cuda_state *s = state_of(k);
    int prev = cuda_enter(s);
    SSL3D_LAUNCH(k_bce_partial, SSL3D_REDUCE_GRID, SSL3D_BLOCK, s->stream, x, t, n, s->dscratch);
    double r = finish_sum(s, s->dscratch, SSL3D_REDUCE_PARTS, "kernel k_bce_partial");
    cuda_leave(s, prev);
    return r;
}

static void bce_backward(const ssl3d_kctx *k, const float *x, const float *t, int64_t n, float scale, float *dx) {
    LAUNCH_N(state_of(k), k_bce_backward, n, x, t, n, scale, dx);
}

// logits = inv_temp * q keys^T into probs (N,M), row-major: column-major C (M x N) =
// op_T(keys, stored D x M) * op_N(q, stored D x N).
static double simce_forward(const ssl3d_kctx *k, const float *q, int64_t N, const float *keys, int64_t M, int64_t D,
                            float inv_temp, const int32_t *pos, int32_t mask_diag, float *probs) {
    cuda_state *s = state_of(k);
    if (!rows_fit(s, N, "similarity cross-entropy")) return NAN;
    int prev = cuda_enter(s);
    const float zero = 0.0f;
    double r = NAN;
    if (!cublas_check(s, cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)M, (int)N, (int)D, &inv_temp, keys,
                                     (int)D, q, (int)D, &zero, probs, (int)M), "cublasSgemm (similarity logits)")) {
        SSL3D_LAUNCH(k_simce_rows, ssl3d_grid_for(N, SSL3D_BLOCK), SSL3D_BLOCK, s->stream, probs, N, M, pos, mask_diag,
                     s->dscratch);
        r = finish_sum(s, s->dscratch, N, "kernel k_simce_rows");
    }
    cuda_leave(s, prev);
    return r;
}

// dq (N,D) += inv_temp * G keys:    C(D x N) += op_N(keys, D x M) * op_N(G, stored M x N)
// dkeys (M,D) += inv_temp * G^T q:  C(D x M) += op_N(q, D x N) * op_T(G, stored M x N)
static void simce_backward(const ssl3d_kctx *k, float *probs, const int32_t *pos, int64_t N, int64_t M, int64_t D,
                           float inv_temp, float scale, const float *q, const float *keys, float *dq, float *dkeys) {
    cuda_state *s = state_of(k);
    LAUNCH_N(s, k_simce_grad, N, probs, pos, N, M, scale);
    const float one = 1.0f;
    int prev = cuda_enter(s);
    if (dq)
        cublas_check(s, cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)D, (int)N, (int)M, &inv_temp, keys, (int)D,
                                    probs, (int)M, &one, dq, (int)D), "cublasSgemm (similarity, dq)");
    if (dkeys)
        cublas_check(s, cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)D, (int)M, (int)N, &inv_temp, q, (int)D,
                                    probs, (int)M, &one, dkeys, (int)D), "cublasSgemm (similarity, dkeys)");
    cuda_leave(s, prev);
}

static double triplet_forward(const ssl3d_kctx *k, const float *a, const float *p, const float *n, int64_t N,
                              int64_t D, float margin) {
    cuda_state *s = state_of(k);
    if (!rows_fit(s, N, "triplet")) return NAN;
    int prev = cuda_enter(s);
    SSL3D_LAUNCH(k_triplet_rows, ssl3d_grid_for(N, SSL3D_BLOCK), SSL3D_BLOCK, s->stream, a, p, n, N, D, margin,
                 s->dscratch);
    double r = finish_sum(s, s->dscratch, N, "kernel k_triplet_rows");
    cuda_leave(s, prev);
    return r;
}

static void triplet_backward(const ssl3d_kctx *k, const float *a, const float *p, const float *n, int64_t N, int64_t D,
                             float margin, float scale, float *da, float *dp, float *dn) {
    LAUNCH_N(state_of(k), k_triplet_backward, N, a, p, n, N, D, margin, scale, da, dp, dn);
}

static double triplet_hard_forward(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D, float margin,
                                   int32_t *neg) {
    cuda_state *s = state_of(k);
    if (!rows_fit(s, N, "batch-hard triplet")) return NAN;
    int prev = cuda_enter(s);
    SSL3D_LAUNCH(k_hard_rows, ssl3d_grid_for(N, SSL3D_BLOCK), SSL3D_BLOCK, s->stream, z, N, D, margin, neg,
                 s->dscratch);
    double r = finish_sum(s, s->dscratch, N, "kernel k_hard_rows");
    cuda_leave(s, prev);
    return r;
}

static void triplet_hard_backward(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D, float margin,
                                  const int32_t *neg, float scale, float *dz) {
    cuda_state *s = state_of(k);
    if (!rows_fit(s, N, "batch-hard triplet")) return;
    int32_t *active = (int32_t *)s->dscratch;
    LAUNCH_N(s, k_hard_active, N, z, N, D, margin, neg, active);
    LAUNCH_N(s, k_hard_backward, N, z, N, D, neg, (const int32_t *)active, scale, dz);
}

static void dice_stats(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N, int64_t K,
                       int64_t S, double *work, double *stats) {
    cuda_state *s = state_of(k);
    LAUNCH_N(s, k_dice_work, N * SSL3D_LOSS_CHUNKS, logits, labels, N, K, S, work);
    LAUNCH_N(s, k_dice_fold, N * K * 3, (const double *)work, N, K, stats);
}

static void dice_backward(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N, int64_t K,
                          int64_t S, const double *stats, float eps, float scale, float *dlogits) {
    LAUNCH_N(state_of(k), k_dice_backward, N * S, logits, labels, N, K, S, stats, eps, scale, dlogits);
}

static void argmax(const ssl3d_kctx *k, const float *logits, int64_t N, int64_t K, int64_t S, int32_t *out) {
    LAUNCH_N(state_of(k), k_argmax, N * S, logits, N, K, S, out);
}

extern "C" {
const struct ssl3d_loss_kernels cuda_loss_kernels = {
    label_check, range_check, ce_forward, ce_backward, bce_forward, bce_backward, simce_forward, simce_backward,
    triplet_forward, triplet_backward, triplet_hard_forward, triplet_hard_backward, dice_stats, dice_backward, argmax,
};
}
