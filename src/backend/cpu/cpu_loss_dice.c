/* CPU soft Dice: per-(n,k) statistics of the softmax against the one-hot labels, and
 * the gradient back through the softmax. */
#include <math.h>
#include "cpu_loss_impl.h"

/* Softmax of one position's K strided scores: returns max and 1/sum(exp(x-max)).
 * Float math (expf) for speed on dense maps; sums over positions stay in double. */
static inline void softmax_norm(const float *x, int64_t K, int64_t S, float *mx_out, float *inv_out) {
    float mx = x[0];
    for (int64_t c = 1; c < K; c++) mx = x[c * S] > mx ? x[c * S] : mx;
    float s = 0.0f;
    for (int64_t c = 0; c < K; c++) s += expf(x[c * S] - mx);
    *mx_out = mx;
    *inv_out = 1.0f / s;
}

/* Work item (n, c) sums over chunk c of sample n's S positions; chunks are then added
 * in order, so the statistics do not depend on the thread count. */
void cpu_loss_dice_stats(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                         int64_t K, int64_t S, double *work, double *stats) {
    const int64_t items = N * SSL3D_LOSS_CHUNKS;
    #pragma omp parallel for num_threads(k->threads) if (N * K * S > 16384) schedule(static)
    for (int64_t it = 0; it < items; it++) {
        int64_t n = it / SSL3D_LOSS_CHUNKS;
        int c = (int)(it % SSL3D_LOSS_CHUNKS);
        double *w = work + it * K * 3;
        for (int64_t j = 0; j < K * 3; j++) w[j] = 0.0;
        for (int64_t s = cpu_loss_chunk_lo(S, c); s < cpu_loss_chunk_lo(S, c + 1); s++) {
            const float *x = logits + n * K * S + s;
            int32_t y = labels[n * S + s];
            float mx, inv;
            softmax_norm(x, K, S, &mx, &inv);
            for (int64_t kk = 0; kk < K; kk++) {
                double p = expf(x[kk * S] - mx) * inv;
                w[kk * 3 + 1] += p;
                if (kk == y) { w[kk * 3 + 0] += p; w[kk * 3 + 2] += 1.0; }
            }
        }
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < K * 3; j++) {
            double s = 0.0;
            for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) s += work[(n * SSL3D_LOSS_CHUNKS + c) * K * 3 + j];
            stats[n * K * 3 + j] = s;
        }
}

/* d dice / d p at one position for a class with statistics st = {I, P, O}. */
static inline float dice_grad(const double *st, float eps, int is_label) {
    double den = st[1] + st[2] + eps, num = 2.0 * st[0] + eps;
    return (float)((is_label ? 2.0 / den : 0.0) - num / (den * den));
}

/* dice_nk = num/den with num = 2*I + eps, den = P + O + eps. d dice_nk / d p_k(s) =
 * (2*onehot*den - num) / den^2 = onehot*A - Bk with A = 2/den, Bk = num/den^2. Then
 * back through the softmax of each position: dx_k = p_k (G_k - sum_j p_j G_j). */
void cpu_loss_dice_backward(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                            int64_t K, int64_t S, const double *stats, float eps, float scale,
                            float *dlogits) {
    const int64_t P = N * S;
    #pragma omp parallel for num_threads(k->threads) if (N * K * S > 16384) schedule(static)
    for (int64_t i = 0; i < P; i++) {
        int64_t n = i / S, s = i % S;
        const float *x = logits + n * K * S + s;
        float *dx = dlogits + n * K * S + s;
        const double *st = stats + n * K * 3;
        int32_t y = labels[i];
        float mx, inv;
        softmax_norm(x, K, S, &mx, &inv);
        float pg = 0.0f;   /* sum_j p_j G_j */
        for (int64_t kk = 0; kk < K; kk++) {
            float g = dice_grad(st + kk * 3, eps, kk == y);
            pg += expf(x[kk * S] - mx) * inv * g;
        }
        for (int64_t kk = 0; kk < K; kk++) {
            float g = dice_grad(st + kk * 3, eps, kk == y);
            float p = expf(x[kk * S] - mx) * inv;
            dx[kk * S] += scale * (p * (g - pg));
        }
    }
}
