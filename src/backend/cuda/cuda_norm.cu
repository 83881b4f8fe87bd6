// Batch norm, group norm and L2 normalisation slots of the CUDA backend (kernel bodies
// in kernels_norm.h, also run on the CPU by tests/test_cuda_kernels.c). Per-set sums go
// through the reduction scratch (partials) and a small temporary block from the
// context's allocator (the folded sums), freed in stream order.
#include "cuda_launch.h"
#include "kernels_norm.h"

// Temporary device doubles; NULL (recorded) when out of memory.
static double *temp_doubles(cuda_state *s, int64_t n, const char *what) {
    double *p = (double *)cuda_alloc_uninit(s, (size_t)n * sizeof(double));
    if (!p) cuda_fail(s, SSL3D_ERR_NOMEM, "%s: out of device memory for %lld sums", what, (long long)n);
    return p;
}

static int sets_fit(cuda_state *s, int64_t sets, const char *what) {
    if (2 * sets <= SSL3D_REDUCE_PARTS) return 1;
    cuda_fail(s, SSL3D_ERR_UNSUPPORTED, "%s: %lld channels or groups exceed the %d the CUDA backend reduces", what,
              (long long)sets, SSL3D_REDUCE_PARTS / 2);
    return 0;
}

// out (2*sets doubles) = per-set pairs, from partials already in s->dscratch.
#define FOLD(s, sets, chunks, out) \
    LAUNCH_N(s, k_pairs_final, sets, (const double *)(s)->dscratch, (int64_t)(sets), (int64_t)(chunks), (out), (out) + (sets))

extern "C" {

void cuda_batchnorm_stats(const ssl3d_kctx *k, const float *x, int64_t N, int64_t C, int64_t S, float *mean,
                          float *var) {
    cuda_state *s = state_of(k);
    if (!sets_fit(s, C, "batch norm")) return;
    double *sum = temp_doubles(s, 2 * C, "batch norm statistics");
    if (!sum) return;
    const int64_t chunks = ssl3d_pair_chunks(C, N * S);
    LAUNCH_N(s, k_chan_pairs, C * chunks, 0, x, (const float *)NULL, (const float *)NULL, (const float *)NULL, N, C, S,
             (int64_t)1, chunks, s->dscratch);
    FOLD(s, C, chunks, sum);
    LAUNCH_N(s, k_bn_stats_finish, C, (const double *)sum, (const double *)(sum + C), x, C, S, (double)N * (double)S,
             mean, var);
    cuda_free(s, sum);
}

void cuda_batchnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C, int64_t S,
                            const float *mean, const float *invstd, const float *gamma, const float *beta) {
    const int64_t n = N * C * S;
    LAUNCH_N(state_of(k), k_bn_forward, n, x, y, n, C, S, mean, invstd, gamma, beta);
}

void cuda_batchnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N, int64_t C, int64_t S,
                             const float *mean, const float *invstd, const float *gamma, int32_t training, float *dx,
                             float *dgamma, float *dbeta) {
    cuda_state *s = state_of(k);
    const int need_sums = dgamma || dbeta || (dx && training);
    const int64_t n = N * C * S;
    const double M = (double)N * (double)S;
    double *sum = NULL;
    if (need_sums) {
        if (!sets_fit(s, C, "batch norm")) return;
        if (!(sum = temp_doubles(s, 2 * C, "batch norm backward"))) return;
        const int64_t chunks = ssl3d_pair_chunks(C, N * S);
        LAUNCH_N(s, k_chan_pairs, C * chunks, 1, x, dy, mean, (const float *)NULL, N, C, S, (int64_t)1, chunks,
                 s->dscratch);
        FOLD(s, C, chunks, sum);
        if (dgamma || dbeta)
            LAUNCH_N(s, k_bn_param_grads, C, (const double *)sum, (const double *)(sum + C), invstd, C, dgamma, dbeta);
    }
    if (dx)
        LAUNCH_N(s, k_bn_dx, n, x, dy, dx, n, C, S, mean, invstd, gamma, (const double *)sum,
                 (const double *)(sum ? sum + C : NULL), M, training);
    if (sum) cuda_free(s, sum);
}

void cuda_groupnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C, int64_t S, int64_t G,
                            float eps, const float *gamma, const float *beta, float *mean, float *invstd) {
    cuda_state *s = state_of(k);
    const int64_t rows = N * G, M = (C / G) * S, n = N * C * S;
    if (!sets_fit(s, rows, "group norm")) return;
    double *sum = temp_doubles(s, 2 * rows, "group norm statistics");
    if (!sum) return;
    const int64_t chunks = ssl3d_pair_chunks(rows, M);
    LAUNCH_N(s, k_row_pairs, rows * chunks, 0, x, (const float *)NULL, (const float *)NULL, (const float *)NULL, rows, M,
             S, C, G, chunks, s->dscratch);
    FOLD(s, rows, chunks, sum);
    LAUNCH_N(s, k_gn_stats_finish, rows, (const double *)sum, (const double *)(sum + rows), x, rows, M, eps, mean,
             invstd);
    LAUNCH_N(s, k_gn_forward, n, x, y, n, C, S, G, (const float *)mean, (const float *)invstd, gamma, beta);
    cuda_free(s, sum);
}

void cuda_groupnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N, int64_t C, int64_t S,
                             int64_t G, const float *mean, const float *invstd, const float *gamma, float *dx,
                             float *dgamma, float *dbeta) {
    cuda_state *s = state_of(k);
    const int64_t rows = N * G, M = (C / G) * S, n = N * C * S;
    if (dx) {
        if (!sets_fit(s, rows, "group norm")) return;
        double *sum = temp_doubles(s, 2 * rows, "group norm backward");
        if (!sum) return;
        const int64_t chunks = ssl3d_pair_chunks(rows, M);
        LAUNCH_N(s, k_row_pairs, rows * chunks, 1, x, dy, gamma, mean, rows, M, S, C, G, chunks, s->dscratch);
        FOLD(s, rows, chunks, sum);
        LAUNCH_N(s, k_gn_dx, n, x, dy, dx, n, C, S, G, mean, invstd, gamma, (const double *)sum,
                 (const double *)(sum + rows));
        cuda_free(s, sum);
    }
    if (dgamma || dbeta) {
        if (!sets_fit(s, C, "group norm")) return;
        double *sum = temp_doubles(s, 2 * C, "group norm parameter gradients");
        if (!sum) return;
        const int64_t chunks = ssl3d_pair_chunks(C, N * S);
        LAUNCH_N(s, k_chan_pairs, C * chunks, 2, x, dy, mean, invstd, N, C, S, G, chunks, s->dscratch);
        FOLD(s, C, chunks, sum);
        LAUNCH_N(s, k_gn_param_grads, C, (const double *)sum, (const double *)(sum + C), C, dgamma, dbeta);
        cuda_free(s, sum);
    }
}

void cuda_l2norm_forward(const ssl3d_kctx *k, const float *x, float *y, float *norm, int64_t M, int64_t D, float eps) {
    LAUNCH_N(state_of(k), k_l2norm_forward, M, x, y, norm, M, D, eps);
}

void cuda_l2norm_backward(const ssl3d_kctx *k, const float *y, const float *norm, const float *dy, float *dx,
                          int64_t M, int64_t D, float eps) {
    LAUNCH_N(state_of(k), k_l2norm_backward, M, y, norm, dy, dx, M, D, eps);
}

}  // extern "C"
