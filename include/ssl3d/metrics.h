/*
 * ssl3d/metrics.h — evaluation metrics and the data-efficiency protocol's subsets.
 * Included by <ssl3d.h>.
 *
 * Metrics run on the host, on plain arrays with explicit lengths (FFI-friendly:
 * const int32_t *labels, const float *scores, int64_t n, double *out), with a few
 * tensor-taking wrappers. They are exact and deterministic (sums in 64-bit integers or
 * doubles, in a fixed order). No function ever returns NaN: every degenerate case has
 * a documented value or an error status.
 *
 * Errors: SSL3D_ERR_INVALID_ARG (NULL pointer, n < 1, a label outside [0,K), a bad
 * setting, a metric that is undefined for the input, e.g. ROC AUC with one class only;
 * the message names the function, the argument and the offending position),
 * SSL3D_ERR_NUMERIC (a NaN or infinite score), SSL3D_ERR_SHAPE / SSL3D_ERR_DTYPE
 * (tensor wrappers). Out-parameters are written only on SSL3D_OK.
 */
#ifndef SSL3D_METRICS_H
#define SSL3D_METRICS_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- segmentation */

/* Dice per foreground class of one volume. pred and ref are label maps of n voxels
 * (any shape, flattened), int32 in [0, num_classes); num_classes K >= 2 counts the
 * background 0. Writes dice[k-1] for k = 1..K-1 (K-1 values):
 *     dice_k = 2 |P_k ∩ R_k| / (|P_k| + |R_k|)
 * Empty-empty convention: when class k is absent from both maps, dice_k = 1 (the
 * prediction is right about its absence). Absent from one map only gives 0. */
SSL3D_API ssl3d_status ssl3d_dice_per_class(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref,
                                            int64_t n, int32_t num_classes, double *dice);

/* Dice of one region, a set of labels (e.g. whole tumour = {1,2,4}): a voxel belongs
 * to the region when its label is one of labels[0..n_labels). Label maps must be >= 0;
 * labels not listed are outside the region. Same empty-empty convention (1). */
SSL3D_API ssl3d_status ssl3d_region_dice(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref,
                                         int64_t n, const int32_t *labels, int32_t n_labels,
                                         double *dice);

/* BraTS label conventions for region Dice. Regions are, in this order,
 * WT (whole tumour), TC (tumour core), ET (enhancing tumour). */
typedef enum ssl3d_brats_preset {
    SSL3D_BRATS_2018 = 0,   /* labels 1 NCR/NET, 2 ED, 4 ET: WT={1,2,4} TC={1,4} ET={4}       */
    SSL3D_BRATS_2013 = 1    /* 2013-2015, 3 = non-enhancing core: WT={1,2,3,4} TC={1,3,4} ET={4} */
} ssl3d_brats_preset;
typedef enum ssl3d_brats_region {
    SSL3D_BRATS_WT = 0, SSL3D_BRATS_TC = 1, SSL3D_BRATS_ET = 2
} ssl3d_brats_region;

/* Labels of one region of a preset: writes *n_labels values into labels (capacity cap
 * >= *n_labels; 4 always suffices). */
SSL3D_API ssl3d_status ssl3d_brats_region_labels(ssl3d_ctx *ctx, int32_t preset, int32_t region,
                                                 int32_t *labels, int32_t cap, int32_t *n_labels);
/* Region Dice of the three BraTS regions: dice[0] = WT, dice[1] = TC, dice[2] = ET. */
SSL3D_API ssl3d_status ssl3d_brats_dice(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref,
                                        int64_t n, int32_t preset, double *dice);

/* Tensor wrapper of ssl3d_dice_per_class: pred and ref are int32 tensors of the same
 * shape, taken as ONE volume (e.g. (D,H,W) or (1,D,H,W)). dice has K-1 values. */
SSL3D_API ssl3d_status ssl3d_dice_per_class_tensor(ssl3d_ctx *ctx, const ssl3d_tensor *pred,
                                                   const ssl3d_tensor *ref, int32_t num_classes,
                                                   double *dice);

/* ---------------------------------------------------------------- mean +- sd over volumes */

/* Accumulates observations of `n_slots` metrics (e.g. one Dice per class) over
 * volumes, runs or seeds, and reports per slot the mean and the SAMPLE standard
 * deviation (divisor count-1; 0 when count is 1). Welford's update in double, so the
 * result depends only on the order of the observations. */
typedef struct ssl3d_metric_accum ssl3d_metric_accum;

SSL3D_API ssl3d_status ssl3d_metric_accum_create(ssl3d_ctx *ctx, int32_t n_slots,
                                                 ssl3d_metric_accum **out);
/* Add one observation: values[0..n) with n == n_slots, all finite. */
SSL3D_API ssl3d_status ssl3d_metric_accum_add(ssl3d_ctx *ctx, ssl3d_metric_accum *acc,
                                              const double *values, int32_t n);
/* Add the per-class Dice of every volume of a batch of label maps: pred and ref int32
 * tensors of the same shape (N, ...) — dim 0 indexes volumes, each added as one
 * observation; num_classes = n_slots + 1. */
SSL3D_API ssl3d_status ssl3d_metric_accum_add_dice(ssl3d_ctx *ctx, ssl3d_metric_accum *acc,
                                                   const ssl3d_tensor *pred, const ssl3d_tensor *ref);
/* Per-slot mean / sample sd into out[0..n), n == n_slots. Needs count >= 1. */
SSL3D_API ssl3d_status ssl3d_metric_accum_mean(ssl3d_ctx *ctx, const ssl3d_metric_accum *acc,
                                               double *out, int32_t n);
SSL3D_API ssl3d_status ssl3d_metric_accum_sd(ssl3d_ctx *ctx, const ssl3d_metric_accum *acc,
                                             double *out, int32_t n);
/* Number of observations added; 0 for NULL. */
SSL3D_API int64_t ssl3d_metric_accum_count(const ssl3d_metric_accum *acc);
SSL3D_API int32_t ssl3d_metric_accum_slots(const ssl3d_metric_accum *acc);
/* NULL is accepted. */
SSL3D_API void ssl3d_metric_accum_release(ssl3d_metric_accum *acc);

/* ---------------------------------------------------------------- classification */

/* Fraction of i with pred[i] == ref[i] (any int32 values). */
SSL3D_API ssl3d_status ssl3d_accuracy(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref,
                                      int64_t n, double *accuracy);

/* Quadratic weighted Cohen's kappa of K ordered classes (labels in [0,K), K >= 2):
 *     kappa = 1 - sum_ij w_ij O_ij / sum_ij w_ij E_ij,   w_ij = (i-j)^2 / (K-1)^2,
 * O the confusion matrix (rows ref, columns pred), E = outer(row sums, column sums)/n.
 * Degenerate case: the denominator is 0 only when ref and pred are the same single
 * class throughout; then kappa = 1 (perfect agreement). */
SSL3D_API ssl3d_status ssl3d_quadratic_kappa(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref,
                                             int64_t n, int32_t num_classes, double *kappa);

/* Binary ROC AUC: labels 0/1, scores finite (higher = more likely 1). Computed as the
 * Mann-Whitney statistic with tied scores given their average rank, i.e. the
 * probability that a random positive scores above a random negative, ties counting 1/2.
 * Needs at least one positive and one negative (else SSL3D_ERR_INVALID_ARG). */
SSL3D_API ssl3d_status ssl3d_roc_auc(ssl3d_ctx *ctx, const float *scores, const int32_t *labels,
                                     int64_t n, double *auc);

/* One-vs-rest macro ROC AUC of K classes: scores (n,K) row-major (probabilities or any
 * monotone score per class), labels in [0,K). For each class k, the binary AUC of
 * column k with positives = (label == k). Classes that have no positive or no negative
 * in `labels` are SKIPPED (their AUC is undefined): the macro mean runs over the
 * others, and per_class[k] (optional, K values, may be NULL) is -1 for them.
 * *n_used (optional) receives how many classes were averaged. Needs >= 1 usable class,
 * i.e. at least two distinct labels. */
SSL3D_API ssl3d_status ssl3d_roc_auc_ovr(ssl3d_ctx *ctx, const float *scores, const int32_t *labels,
                                         int64_t n, int32_t num_classes, double *macro_auc,
                                         double *per_class, int32_t *n_used);

/* ---------------------------------------------------------------- ordinal grading */

/* Decode K-1 sigmoid outputs per sample (ordinal grading, output j estimates
 * P(grade > j)) into grades: out (n,K-1) row-major; `are_logits` nonzero means the
 * values are logits and a sigmoid is applied first (logit > 0 <=> p > 0.5).
 *   grades[i]   = number of j with p_ij > 0.5 (in [0, K-1]; counting, not "first
 *                 below 0.5", so that a non-monotone output still gives one grade)
 *   expected[i] = sum_j p_ij, the expected grade in [0, K-1] — a continuous score for
 *                 ROC AUC (e.g. grade >= t vs below).
 * grades and expected may each be NULL (not both). */
SSL3D_API ssl3d_status ssl3d_ordinal_decode(ssl3d_ctx *ctx, const float *out, int64_t n,
                                            int32_t num_classes, int32_t are_logits,
                                            int32_t *grades, double *expected);
/* Per-class scores (n,K) from the same K-1 outputs, for one-vs-rest AUC:
 *   s_0 = 1 - p_0,  s_k = p_(k-1) - p_k (0 < k < K-1),  s_(K-1) = p_(K-2),
 * each clamped at 0 (a non-monotone output would make a difference negative). */
SSL3D_API ssl3d_status ssl3d_ordinal_class_scores(ssl3d_ctx *ctx, const float *out, int64_t n,
                                                  int32_t num_classes, int32_t are_logits,
                                                  float *scores);

/* ---------------------------------------------------------------- data-efficiency subsets */

/* Nested random subsets of n labelled training cases (indices 0..n-1). One permutation
 * perm of 0..n-1 is drawn from `seed` alone (Philox; Fisher-Yates), and the subset of
 * fraction f (0 < f <= 1) is its prefix perm[0 .. size_f) with
 *     size_f = max(1, round(f * n))     (round half away from zero)
 * so a smaller fraction's subset is always inside a larger one's, for any order of
 * `fractions`. perm receives n indices (may be NULL); sizes receives n_fractions sizes
 * (may be NULL). The same (n, seed) always gives the same permutation; other seeds
 * give other permutations. */
SSL3D_API ssl3d_status ssl3d_subset_nested(ssl3d_ctx *ctx, int64_t n, uint64_t seed,
                                           const double *fractions, int32_t n_fractions,
                                           int64_t *perm, int64_t *sizes);
/* The subset of one fraction, same permutation as ssl3d_subset_nested, indices sorted
 * ascending: writes *count = size_f indices into idx (capacity cap >= size_f; n always
 * suffices). This is what `ssl3d finetune --fraction F --seed S` trains on. */
SSL3D_API ssl3d_status ssl3d_subset_indices(ssl3d_ctx *ctx, int64_t n, uint64_t seed, double fraction,
                                            int64_t *idx, int64_t cap, int64_t *count);
/* Size of the subset of fraction f of n cases: max(1, round(f*n)); 0 on bad input. */
SSL3D_API int64_t ssl3d_subset_size(int64_t n, double fraction);

/* Seeded split of a pool of case indices (distinct, >= 0) into a training part and a
 * validation part for model selection. n_val = round(val_fraction * n_pool), then
 * clamped to [1, n_pool-1] when val_fraction > 0 and n_pool >= 2 (both parts
 * non-empty); n_val = 0 when val_fraction == 0 or n_pool == 1. val_fraction in [0, 1).
 * The draw depends only on (pool contents as a set, seed): the pool is sorted, permuted
 * with the seed, and its first n_val entries are the validation part. Both parts are
 * written sorted ascending; train and val need capacity n_pool each (val may be NULL
 * when val_fraction == 0). */
SSL3D_API ssl3d_status ssl3d_split_train_val(ssl3d_ctx *ctx, const int64_t *pool, int64_t n_pool,
                                             double val_fraction, uint64_t seed,
                                             int64_t *train, int64_t *n_train,
                                             int64_t *val, int64_t *n_val);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_METRICS_H */
