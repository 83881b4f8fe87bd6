/*
 * ssl3d/loss.h — losses of the proxy tasks and of fine-tuning. Included by <ssl3d.h>.
 *
 * Every loss is a differentiable op: it returns a new one-element float32 tensor
 * (*out, owned by the caller) and, when an input requires a gradient and recording is
 * on, records itself on the tape so that ssl3d_backward(ctx, *out) reaches the inputs.
 * Labels and indices are int32 tensors and are never differentiated. All reductions
 * are deterministic: the same inputs give the same value bitwise for any thread count
 * (up to the GEMM of the contrastive losses, which is deterministic per thread count).
 *
 * Errors: SSL3D_ERR_INVALID_ARG (NULL, a label / index out of range, a bad setting;
 * the message names the function, the argument and the offending position),
 * SSL3D_ERR_SHAPE, SSL3D_ERR_DTYPE (float where int32 is required or vice versa).
 */
#ifndef SSL3D_LOSS_H
#define SSL3D_LOSS_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- classification */

/* Softmax cross-entropy, mean over all positions.
 *   logits (N,K)        labels (N)          classification
 *   logits (N,K,H,W)    labels (N,H,W)      2D segmentation
 *   logits (N,K,D,H,W)  labels (N,D,H,W)    3D segmentation
 * (any logits (N,K,s1..sm) with labels (N,s1..sm) is accepted). labels int32 in [0,K).
 * out = mean over n and spatial positions of -log softmax_k(logits)[label]. */
SSL3D_API ssl3d_status ssl3d_cross_entropy(ssl3d_ctx *ctx, ssl3d_tensor *logits,
                                           const ssl3d_tensor *labels, ssl3d_tensor **out);

/* Binary cross-entropy with logits, mean over all elements: logits and targets have
 * the same shape, e.g. (N,M) for ordinal grading with M = K-1 sigmoids (target[n,j] =
 * 1 if grade(n) > j). targets float32 in [0,1]. Numerically stable for any logit:
 * out = mean( max(x,0) - x*t + log(1 + exp(-|x|)) ). Differentiable in logits only. */
SSL3D_API ssl3d_status ssl3d_bce_with_logits(ssl3d_ctx *ctx, ssl3d_tensor *logits,
                                             const ssl3d_tensor *targets, ssl3d_tensor **out);

/* ---------------------------------------------------------------- contrastive */

/* InfoNCE. queries (N,D), keys (M,D), positives int32 (N) with values in [0,M): the
 * index of the key that is query n's positive; every other key is a negative.
 * logits = queries keys^T / temperature (N,M); out = mean_n cross-entropy(logits_n,
 * positives_n). temperature > 0. Differentiable in queries and keys (queries and keys
 * may be the same tensor). Pass L2-normalised rows for cosine similarity. */
SSL3D_API ssl3d_status ssl3d_infonce(ssl3d_ctx *ctx, ssl3d_tensor *queries, ssl3d_tensor *keys,
                                     const ssl3d_tensor *positives, float temperature,
                                     ssl3d_tensor **out);

/* NT-Xent (SimCLR) over z (2B,D): rows i and i+B are the two views of sample i.
 * For each of the 2B rows, logits = z_i z_j^T / temperature over j != i (its own
 * similarity is excluded), the positive is (i+B) mod 2B and the other 2B-2 rows are
 * negatives; out = mean over the 2B rows of the cross-entropy. B >= 1, temperature > 0.
 * Uses dot products: L2-normalise z first for the usual cosine form. */
SSL3D_API ssl3d_status ssl3d_ntxent(ssl3d_ctx *ctx, ssl3d_tensor *z, float temperature,
                                    ssl3d_tensor **out);

/* ---------------------------------------------------------------- triplet */

/* Triplet loss with squared L2 distance: anchor, positive, negative (N,D);
 * out = mean_n max(0, |a_n - p_n|^2 - |a_n - n_n|^2 + margin). margin >= 0 (the paper
 * uses 1). At the hinge (exactly 0) the gradient is 0. Differentiable in all three. */
SSL3D_API ssl3d_status ssl3d_triplet(ssl3d_ctx *ctx, ssl3d_tensor *anchor, ssl3d_tensor *positive,
                                     ssl3d_tensor *negative, float margin, ssl3d_tensor **out);

/* Batch-hard triplet over embeddings z (N,D), N even and >= 4, B = N/2: rows i and
 * i+B are a positive pair. Every row i is an anchor with positive (i+B) mod N; its
 * negative is the CLOSEST row j (smallest |z_i - z_j|^2, lowest j on ties) among the
 * N-2 rows other than i and its positive. out = mean over the N anchors of
 * max(0, d(i,pos) - d(i,neg) + margin). The mined negatives are treated as constants
 * of the step (the gradient flows through the chosen rows). */
SSL3D_API ssl3d_status ssl3d_triplet_batch_hard(ssl3d_ctx *ctx, ssl3d_tensor *z, float margin,
                                                ssl3d_tensor **out);

/* ---------------------------------------------------------------- segmentation */

/* Epsilon of the soft Dice (numerator and denominator), as in the benchmark reference. */
#define SSL3D_DICE_EPS 1e-5f

/* Soft Dice. logits (N,K,H,W) with labels (N,H,W), or (N,K,D,H,W) with (N,D,H,W);
 * p = softmax over K. For each sample n and class k: inter = sum_s p*onehot,
 * denom = sum_s p + sum_s onehot; out = 1 - mean_{n,k} (2*inter + eps)/(denom + eps),
 * eps = SSL3D_DICE_EPS. Classes absent from a sample and predicted absent count as 1. */
SSL3D_API ssl3d_status ssl3d_soft_dice(ssl3d_ctx *ctx, ssl3d_tensor *logits,
                                       const ssl3d_tensor *labels, ssl3d_tensor **out);

/* out = ssl3d_soft_dice + ssl3d_cross_entropy (weights 1 and 1), the segmentation
 * fine-tuning loss. */
SSL3D_API ssl3d_status ssl3d_dice_ce(ssl3d_ctx *ctx, ssl3d_tensor *logits,
                                     const ssl3d_tensor *labels, ssl3d_tensor **out);

/* ---------------------------------------------------------------- predictions */

/* Predicted classes (not differentiable): logits (N,K) -> out int32 (N), or dense
 * logits (N,K,s1..sm) -> out int32 (N,s1..sm); argmax over dim 1, lowest class on
 * ties, NaN never chosen over a number. */
SSL3D_API ssl3d_status ssl3d_argmax_rows(ssl3d_ctx *ctx, const ssl3d_tensor *logits,
                                         ssl3d_tensor **out);
/* Number of positions where argmax_rows(logits) equals labels (shapes as for
 * ssl3d_cross_entropy). Labels out of range simply never match. */
SSL3D_API ssl3d_status ssl3d_count_correct(ssl3d_ctx *ctx, const ssl3d_tensor *logits,
                                           const ssl3d_tensor *labels, int64_t *correct);

/* ---------------------------------------------------------------- loss handles */

/* A configured loss, for FFI users that set a loss up once and call it every step. */
typedef struct ssl3d_loss ssl3d_loss;

/* Loss kinds and the inputs ssl3d_loss_forward expects, in order. */
typedef enum ssl3d_loss_kind {
    SSL3D_LOSS_CROSS_ENTROPY = 0,      /* logits, labels (int32)                 */
    SSL3D_LOSS_BCE_WITH_LOGITS = 1,    /* logits, targets (float32)              */
    SSL3D_LOSS_INFONCE = 2,            /* queries, keys, positives (int32)       */
    SSL3D_LOSS_NTXENT = 3,             /* z                                      */
    SSL3D_LOSS_TRIPLET = 4,            /* anchor, positive, negative             */
    SSL3D_LOSS_TRIPLET_BATCH_HARD = 5, /* z                                      */
    SSL3D_LOSS_SOFT_DICE = 6,          /* logits, labels (int32)                 */
    SSL3D_LOSS_DICE_CE = 7             /* logits, labels (int32)                 */
} ssl3d_loss_kind;

/* Settings of a loss handle (ssl3d_loss_set_param). Defaults in brackets. */
typedef enum ssl3d_loss_param {
    SSL3D_LOSS_PARAM_TEMPERATURE = 0,  /* InfoNCE, NT-Xent; > 0                   [0.1] */
    SSL3D_LOSS_PARAM_MARGIN = 1,       /* triplet kinds; >= 0                     [1.0] */
    SSL3D_LOSS_PARAM_NUM_CLASSES = 2,  /* CE, Dice, Dice+CE: required K of the
                                          logits' dim 1, 0 = any                  [0]   */
    SSL3D_LOSS_PARAM_DICE_WEIGHT = 3,  /* Dice+CE: weight of the Dice term        [1.0] */
    SSL3D_LOSS_PARAM_CE_WEIGHT = 4     /* Dice+CE: weight of the CE term          [1.0] */
} ssl3d_loss_param;

/* New loss of `kind` (ssl3d_loss_kind) with default settings. */
SSL3D_API ssl3d_status ssl3d_loss_create(ssl3d_ctx *ctx, int32_t kind, ssl3d_loss **out);
/* Release a loss handle; NULL is accepted. */
SSL3D_API void ssl3d_loss_release(ssl3d_loss *loss);
/* Change one setting. A parameter that the kind does not use is SSL3D_ERR_INVALID_ARG. */
SSL3D_API ssl3d_status ssl3d_loss_set_param(ssl3d_ctx *ctx, ssl3d_loss *loss, int32_t param,
                                            float value);
/* Current value of a setting (NaN for NULL or an unknown parameter). */
SSL3D_API float ssl3d_loss_param_value(const ssl3d_loss *loss, int32_t param);
/* Kind of the handle, or -1 for NULL. */
SSL3D_API int32_t ssl3d_loss_kind_of(const ssl3d_loss *loss);
/* Number of input tensors ssl3d_loss_forward expects (1..3), or 0 for NULL. */
SSL3D_API int32_t ssl3d_loss_num_inputs(const ssl3d_loss *loss);
/* Evaluate the loss on inputs[0..n_inputs) (see ssl3d_loss_kind for the order);
 * *out is a new one-element tensor, recorded on the tape like the functional ops. */
SSL3D_API ssl3d_status ssl3d_loss_forward(ssl3d_ctx *ctx, const ssl3d_loss *loss,
                                          ssl3d_tensor *const *inputs, int32_t n_inputs,
                                          ssl3d_tensor **out);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_LOSS_H */
