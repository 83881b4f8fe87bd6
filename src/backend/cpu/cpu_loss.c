/* CPU loss kernels: the dispatch table, label/range checks, softmax cross-entropy,
 * binary cross-entropy with logits and argmax. Contrastive, triplet and Dice kernels
 * live in cpu_loss_contrastive.c, cpu_loss_triplet.c and cpu_loss_dice.c. */
#include <math.h>
#include "cpu_loss_impl.h"

/* Earliest failing index over fixed chunks: each chunk finds its own first hit, the
 * smallest chunk with a hit wins (same answer for any thread count). */
static int64_t cpu_label_check(const ssl3d_kctx *k, const int32_t *labels, int64_t n, int64_t K) {
    int64_t first[SSL3D_LOSS_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) {
        first[c] = -1;
        for (int64_t i = cpu_loss_chunk_lo(n, c); i < cpu_loss_chunk_lo(n, c + 1); i++)
            if (labels[i] < 0 || labels[i] >= K) { first[c] = i; break; }
    }
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++)
        if (first[c] >= 0) return first[c];
    return -1;
}

static int64_t cpu_range_check(const ssl3d_kctx *k, const float *x, int64_t n, float lo, float hi) {
    int64_t first[SSL3D_LOSS_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) {
        first[c] = -1;
        for (int64_t i = cpu_loss_chunk_lo(n, c); i < cpu_loss_chunk_lo(n, c + 1); i++)
            if (!(x[i] >= lo && x[i] <= hi)) { first[c] = i; break; }   /* NaN fails too */
    }
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++)
        if (first[c] >= 0) return first[c];
    return -1;
}

/* log-sum-exp over the K class scores of one position, x[k*S] (strided). Float
 * math (expf is several times cheaper than exp on the dense 3D maps); subtracting the
 * max keeps every exponent <= 0, so nothing overflows. */
static inline float lse_strided(const float *x, int64_t K, int64_t S) {
    float mx = x[0];
    for (int64_t c = 1; c < K; c++) mx = x[c * S] > mx ? x[c * S] : mx;
    float s = 0.0f;
    for (int64_t c = 0; c < K; c++) s += expf(x[c * S] - mx);
    return mx + logf(s);
}

/* logits (N,K,S), labels (N,S): sum over positions of lse - logit[label]. */
static double cpu_ce_forward(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                             int64_t K, int64_t S) {
    const int64_t P = N * S;
    double part[SSL3D_LOSS_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (P * K > 16384) schedule(static)
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) {
        double acc = 0.0;
        for (int64_t i = cpu_loss_chunk_lo(P, c); i < cpu_loss_chunk_lo(P, c + 1); i++) {
            int64_t n = i / S, s = i % S;
            const float *x = logits + n * K * S + s;
            acc += (double)(lse_strided(x, K, S) - x[(int64_t)labels[i] * S]);
        }
        part[c] = acc;
    }
    double sum = 0.0;
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) sum += part[c];
    return sum;
}

/* d logit_k = scale * (softmax_k - [k == label]); each position is independent. */
static void cpu_ce_backward(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                            int64_t K, int64_t S, float scale, float *dlogits) {
    const int64_t P = N * S;
    #pragma omp parallel for num_threads(k->threads) if (P * K > 16384) schedule(static)
    for (int64_t i = 0; i < P; i++) {
        int64_t n = i / S, s = i % S;
        const float *x = logits + n * K * S + s;
        float *dx = dlogits + n * K * S + s;
        float lse = lse_strided(x, K, S);
        for (int64_t c = 0; c < K; c++) {
            float p = expf(x[c * S] - lse);
            dx[c * S] += scale * (p - (c == labels[i] ? 1.0f : 0.0f));
        }
    }
}

/* max(x,0) - x*t + log1p(exp(-|x|)): equal to -t log sigmoid(x) - (1-t) log(1-sigmoid(x))
 * without overflow for large |x|. */
static double cpu_bce_forward(const ssl3d_kctx *k, const float *x, const float *t, int64_t n) {
    double part[SSL3D_LOSS_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (n > 16384) schedule(static)
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) {
        double acc = 0.0;
        for (int64_t i = cpu_loss_chunk_lo(n, c); i < cpu_loss_chunk_lo(n, c + 1); i++) {
            double xi = x[i];
            acc += (xi > 0 ? xi : 0.0) - xi * t[i] + log1p(exp(-fabs(xi)));
        }
        part[c] = acc;
    }
    double sum = 0.0;
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) sum += part[c];
    return sum;
}

static void cpu_bce_backward(const ssl3d_kctx *k, const float *x, const float *t, int64_t n, float scale,
                             float *dx) {
    #pragma omp parallel for num_threads(k->threads) if (n > 16384) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        /* sigmoid written to avoid exp overflow on either side */
        double e = exp(-fabs((double)x[i]));
        double sig = x[i] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        dx[i] += scale * (float)(sig - t[i]);
    }
}

static void cpu_argmax(const ssl3d_kctx *k, const float *logits, int64_t N, int64_t K, int64_t S, int32_t *out) {
    const int64_t P = N * S;
    #pragma omp parallel for num_threads(k->threads) if (P * K > 65536) schedule(static)
    for (int64_t i = 0; i < P; i++) {
        int64_t n = i / S, s = i % S;
        const float *x = logits + n * K * S + s;
        int64_t best = 0;
        float bv = x[0];
        for (int64_t c = 1; c < K; c++)
            if (x[c * S] > bv || (bv != bv && x[c * S] == x[c * S])) { bv = x[c * S]; best = c; }
        out[i] = (int32_t)best;
    }
}

const struct ssl3d_loss_kernels ssl3d_cpu_loss_kernels = {
    .label_check = cpu_label_check,
    .range_check = cpu_range_check,
    .ce_forward = cpu_ce_forward,
    .ce_backward = cpu_ce_backward,
    .bce_forward = cpu_bce_forward,
    .bce_backward = cpu_bce_backward,
    .simce_forward = cpu_loss_simce_forward,
    .simce_backward = cpu_loss_simce_backward,
    .triplet_forward = cpu_loss_triplet_forward,
    .triplet_backward = cpu_loss_triplet_backward,
    .triplet_hard_forward = cpu_loss_triplet_hard_forward,
    .triplet_hard_backward = cpu_loss_triplet_hard_backward,
    .dice_stats = cpu_loss_dice_stats,
    .dice_backward = cpu_loss_dice_backward,
    .argmax = cpu_argmax,
};
