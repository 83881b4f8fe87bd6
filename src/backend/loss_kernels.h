/* Loss kernel family of the backend dispatch table (see backend.h).
 *
 * Layout conventions. Class scores are (N,K,S): N samples, K classes, S = product of
 * the spatial dims (S = 1 for plain (N,K) logits), so logits[(n*K + k)*S + s]; label
 * maps are (N,S). Embeddings are (N,D) row-major.
 *
 * Determinism: every reduction over many positions is cut into SSL3D_LOSS_CHUNKS
 * contiguous chunks whose partial sums (double) are added in chunk order. The chunk
 * boundaries do not depend on the thread count, so a loss value is the same bitwise
 * with 1 or 16 threads. Kernels that produce gradients ACCUMULATE (+=) into them. */
#ifndef SSL3D_LOSS_KERNELS_H
#define SSL3D_LOSS_KERNELS_H
#include "backend.h"

/* Fixed partition of long reductions (see above). */
#define SSL3D_LOSS_CHUNKS 64

struct ssl3d_loss_kernels {
    /* First flat index i with labels[i] outside [0,K), or -1 when all are valid. */
    int64_t (*label_check)(const ssl3d_kctx *k, const int32_t *labels, int64_t n, int64_t K);
    /* First flat index i with x[i] outside [lo,hi] or not finite, or -1. */
    int64_t (*range_check)(const ssl3d_kctx *k, const float *x, int64_t n, float lo, float hi);

    /* Softmax cross-entropy. logits (N,K,S), labels (N,S). Returns the SUM over the
     * N*S positions of -log softmax(logits)[label]. */
    double (*ce_forward)(const ssl3d_kctx *k, const float *logits, const int32_t *labels,
                         int64_t N, int64_t K, int64_t S);
    /* dlogits (N,K,S) += scale * (softmax(logits) - onehot(labels)); softmax recomputed. */
    void (*ce_backward)(const ssl3d_kctx *k, const float *logits, const int32_t *labels,
                        int64_t N, int64_t K, int64_t S, float scale, float *dlogits);

    /* Binary cross-entropy with logits x and targets t (n): returns the SUM of
     * max(x,0) - x*t + log1p(exp(-|x|)) (stable for any x). */
    double (*bce_forward)(const ssl3d_kctx *k, const float *x, const float *t, int64_t n);
    /* dx += scale * (sigmoid(x) - t). */
    void (*bce_backward)(const ssl3d_kctx *k, const float *x, const float *t, int64_t n,
                         float scale, float *dx);

    /* Similarity cross-entropy (InfoNCE / NT-Xent). q (N,D), keys (M,D),
     * logits = inv_temp * q keys^T (N,M); with mask_diag (requires N == M) logit (i,i) is
     * excluded (-inf). pos (N) is the positive key of each query. Writes the softmax of
     * the logits to probs (N,M) and returns the SUM over rows of -log probs[i,pos[i]]. */
    double (*simce_forward)(const ssl3d_kctx *k, const float *q, int64_t N, const float *keys,
                            int64_t M, int64_t D, float inv_temp, const int32_t *pos,
                            int32_t mask_diag, float *probs);
    /* With G = scale * (probs - onehot(pos)) (probs is OVERWRITTEN with G):
     * dq (N,D) += inv_temp * G keys, dkeys (M,D) += inv_temp * G^T q. dq or dkeys may be
     * NULL (no gradient wanted); they may be the same buffer (q and keys one tensor). */
    void (*simce_backward)(const ssl3d_kctx *k, float *probs, const int32_t *pos, int64_t N,
                           int64_t M, int64_t D, float inv_temp, float scale, const float *q,
                           const float *keys, float *dq, float *dkeys);

    /* Triplet with squared L2 distances: rows a, p, n (N,D); returns the SUM over rows of
     * max(0, |a-p|^2 - |a-n|^2 + margin). */
    double (*triplet_forward)(const ssl3d_kctx *k, const float *a, const float *p, const float *n,
                              int64_t N, int64_t D, float margin);
    /* For rows whose hinge is > 0: da += scale*2(n-p), dp += scale*2(p-a),
     * dn += scale*2(a-n). Any of da/dp/dn may be NULL; they may alias each other. */
    void (*triplet_backward)(const ssl3d_kctx *k, const float *a, const float *p, const float *n,
                             int64_t N, int64_t D, float margin, float scale, float *da, float *dp,
                             float *dn);
    /* Batch-hard triplet over z (N,D), N even, B = N/2: the positive of row i is
     * (i+B) mod N, its negative neg[i] the row j not in {i, pos(i)} with the smallest
     * |z_i - z_j|^2 (lowest j on ties). Writes neg (N) and returns the SUM over the N
     * anchors of max(0, d(i,pos) - d(i,neg) + margin). */
    double (*triplet_hard_forward)(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D,
                                   float margin, int32_t *neg);
    /* dz += the gradient of scale * that sum, with the negatives fixed to neg. */
    void (*triplet_hard_backward)(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D,
                                  float margin, const int32_t *neg, float scale, float *dz);

    /* Soft Dice statistics of softmax(logits) (N,K,S) against labels (N,S):
     * stats (N,K,3) = { sum_s p*onehot, sum_s p, sum_s onehot }. work holds
     * N*SSL3D_LOSS_CHUNKS*K*3 doubles of scratch. */
    void (*dice_stats)(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                       int64_t K, int64_t S, double *work, double *stats);
    /* dlogits += gradient of scale * sum_{n,k} (2*inter + eps) / (psum + osum + eps)
     * through the softmax, with stats from dice_stats. (The loss 1 - mean dice uses
     * scale = -g / (N*K).) */
    void (*dice_backward)(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                          int64_t K, int64_t S, const double *stats, float eps, float scale,
                          float *dlogits);

    /* out (N,S) = argmax over k of logits (N,K,S) (lowest k on ties, NaN never wins). */
    void (*argmax)(const ssl3d_kctx *k, const float *logits, int64_t N, int64_t K, int64_t S,
                   int32_t *out);
};

extern const struct ssl3d_loss_kernels ssl3d_cpu_loss_kernels;
#endif
