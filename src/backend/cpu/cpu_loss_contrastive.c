/* CPU similarity cross-entropy (InfoNCE, NT-Xent): a GEMM for the (N,M) logits, a
 * row softmax, and two GEMMs for the gradients. */
#include <math.h>
#include "cpu_blas.h"
#include "cpu_loss_impl.h"

/* q (N,D), keys (M,D) -> probs (N,M) = softmax_rows(inv_temp * q keys^T), diagonal
 * masked when asked; returns sum_i -log probs[i,pos[i]]. */
double cpu_loss_simce_forward(const ssl3d_kctx *k, const float *q, int64_t N, const float *keys, int64_t M,
                              int64_t D, float inv_temp, const int32_t *pos, int32_t mask_diag, float *probs) {
    cpu_sgemm(k, CblasNoTrans, CblasTrans, N, M, D, inv_temp, q, D, keys, D, 0.0f, probs, M);
    double part[SSL3D_LOSS_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (N * M > 16384) schedule(static)
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) {
        double acc = 0.0;
        for (int64_t i = cpu_loss_chunk_lo(N, c); i < cpu_loss_chunk_lo(N, c + 1); i++) {
            float *row = probs + i * M;
            if (mask_diag) row[i] = -INFINITY;    /* a view is not its own negative */
            float mx = -INFINITY;
            for (int64_t j = 0; j < M; j++) mx = row[j] > mx ? row[j] : mx;
            double s = 0.0;
            for (int64_t j = 0; j < M; j++) s += exp((double)row[j] - mx);
            double lse = mx + log(s);
            acc += lse - row[pos[i]];
            for (int64_t j = 0; j < M; j++) row[j] = (float)exp((double)row[j] - lse);
        }
        part[c] = acc;
    }
    double sum = 0.0;
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) sum += part[c];
    return sum;
}

/* d logits = scale * (probs - onehot); the logits were inv_temp * q keys^T, so
 * dq += inv_temp * G keys and dkeys += inv_temp * G^T q. Two GEMMs with beta = 1
 * accumulate, which is also right when dq and dkeys are the same buffer. */
void cpu_loss_simce_backward(const ssl3d_kctx *k, float *probs, const int32_t *pos, int64_t N, int64_t M,
                             int64_t D, float inv_temp, float scale, const float *q, const float *keys,
                             float *dq, float *dkeys) {
    #pragma omp parallel for num_threads(k->threads) if (N * M > 16384) schedule(static)
    for (int64_t i = 0; i < N; i++) {
        float *row = probs + i * M;
        row[pos[i]] -= 1.0f;
        for (int64_t j = 0; j < M; j++) row[j] *= scale;
    }
    if (dq) cpu_sgemm(k, CblasNoTrans, CblasNoTrans, N, D, M, inv_temp, probs, M, keys, D, 1.0f, dq, D);
    if (dkeys) cpu_sgemm(k, CblasTrans, CblasNoTrans, M, D, N, inv_temp, probs, M, q, D, 1.0f, dkeys, D);
}
