/* Private pieces of fine-tuning shared by src/finetune/finetune_*.c: the model struct, the
 * small host-side metrics (until ssl3d/metrics.h lands) and the training data cache. */
#ifndef SSL3D_FINETUNE_INTERNAL_H
#define SSL3D_FINETUNE_INTERNAL_H
#include "../core/internal.h"
#include "ssl3d/finetune.h"

struct ssl3d_ftmodel {
    ssl3d_ctx *ctx;
    int32_t kind, dims, in_channels, classes, filters, levels, norm, hidden, ordinal;
    int32_t patch, input_norm;
    int32_t tta;                 /* test-time mirroring (runtime setting, not saved) */
    ssl3d_module *encoder;
    ssl3d_module *head;          /* decoder (segment) or MLP (classify) */
    ssl3d_module *aux;           /* deep-supervision heads while training with them, else NULL
                                  * (finetune_deepsup.h; never saved in model files) */
};

/* Norm kind names "batch", "group", "instance", "none"; -1 when unknown. */
const char *ft_norm_name(int32_t norm);
int32_t ft_norm_parse(const char *s);
const char *ft_input_norm_name(int32_t n);
int32_t ft_input_norm_parse(const char *s);

/* Seeded permutation of 0..n-1 (Fisher-Yates on a Philox stream keyed by seed). */
void ft_permutation(uint64_t seed, uint64_t stream, int64_t n, int64_t *perm);

/* Copy of every tensor value of the model (to keep the best weights). */
typedef struct ft_snapshot {
    int32_t n;
    float **values;     /* float32 and int32 both stored as 4-byte words */
    int64_t *numel;
} ft_snapshot;
ssl3d_status ft_snapshot_take(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ft_snapshot *s);
ssl3d_status ft_snapshot_restore(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ft_snapshot *s);
void ft_snapshot_free(ft_snapshot *s);

/* Result construction (finetune_eval.c). */
struct ssl3d_ftresult {
    int32_t kind, classes;
    int32_t models;                 /* ensemble size (1: a single model) */
    int64_t cases;
    double *dice_mean, *dice_sd;    /* classes entries, [0] unused */
    double dice_all, dice_all_sd;
    double accuracy, auc, qwk;
    char *json;
};
ssl3d_status ft_result_finish(ssl3d_ctx *ctx, ssl3d_ftresult *r);

/* Host/device split. Fine-tuning builds its batches, augments, samples patches and computes
 * its metrics in host memory: in a "data context" dctx, which is the model's context ctx
 * itself when ctx keeps tensors in host memory (the CPU: nothing is copied), else a
 * private CPU context (ft_data_ctx). Each batch goes to ctx with ssl3d_tensor_copy_to /
 * ssl3d_tensor_from_data and logits come back with ssl3d_tensor_read; the model, loss and
 * optimiser run in ctx. The *_in functions take both contexts (tests pass two CPU
 * contexts to check that the split changes nothing, bit for bit). */
/* *dctx = ctx when it keeps host memory, else a new CPU context with ctx's threads and seed. */
ssl3d_status ft_data_ctx(ssl3d_ctx *ctx, ssl3d_ctx **dctx);
/* Release a context of ft_data_ctx (not ctx itself); an error left on it by a failed call
 * is moved to ctx when st is a failure. Returns st. */
ssl3d_status ft_data_ctx_done(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_status st);
/* x is a float32 tensor of any context (it is copied where it is needed). */
ssl3d_status ft_check_f32_any(ssl3d_ctx *ctx, const ssl3d_tensor *x, const char *fn);
/* *t (any context) replaced by its copy in ctx, unless it is in ctx already. */
ssl3d_status ft_to_ctx(ssl3d_ctx *ctx, ssl3d_tensor **t);

ssl3d_status ft_train_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, const ssl3d_manifest *man,
                         const int64_t *pool_cases, int64_t n_pool, const char *options, ssl3d_ft_epoch_fn epoch_cb,
                         void *user);
/* ssl3d_ft_evaluate_ensemble (ssl3d_ft_evaluate: n = 1) with the data in dctx. */
ssl3d_status ft_evaluate_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *const *models, int32_t n,
                            const ssl3d_manifest *man, const int64_t *cases, int64_t n_cases, int32_t window,
                            float overlap, const char *pred_dir, ssl3d_ftresult **out);

/* ssl3d_ftmodel_segment with x (C,D,H,W) in host memory (dctx) and probs / labels made in
 * dctx; the windows run on the model in ctx. ft_segment_plain: without test-time mirroring
 * (finetune_infer.c); ft_segment_in adds the mirrored passes (finetune_tta.c). */
ssl3d_status ft_segment_plain(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, const ssl3d_tensor *x,
                              int32_t window, float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels);
ssl3d_status ft_segment_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, const ssl3d_tensor *x, int32_t window,
                           float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels);

/* Ensembles (finetune_ensemble.c). ft_ensemble_check: models[0..n) non-NULL and agreeing on
 * kind, dims, in_channels, classes and input normalisation (errors name fn, the model index
 * and the field); kind >= 0 requires that kind; a positive window must be a multiple of
 * every segmenter's 2^levels; n > 1 ordinal classifiers are unsupported. */
ssl3d_status ft_ensemble_check(ssl3d_ctx *ctx, const char *fn, ssl3d_ftmodel *const *models, int32_t n, int32_t kind,
                               int32_t window);
/* *out = malloc'd window per model: ft_auto_window(models[i], x, window). */
ssl3d_status ft_ensemble_windows(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n, const ssl3d_tensor *x,
                                 int32_t window, int32_t **out);
/* Probabilities of models[0..n) averaged (n = 1: ft_segment_in itself), model i with
 * windows[i]; x and the results in dctx as ft_segment_in. */
ssl3d_status ft_segment_ensemble_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *const *models, int32_t n,
                                    const ssl3d_tensor *x, const int32_t *windows, float overlap, ssl3d_tensor **probs,
                                    ssl3d_tensor **labels);
/* ft_segment_ensemble_in for x of any context and results in ctx (a host context's own
 * tensors go straight through; otherwise through a data context). fn names the caller. */
ssl3d_status ft_segment_route(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n, const ssl3d_tensor *x,
                              const int32_t *windows, float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels,
                              const char *fn);
/* labels: new int32 (D,H,W) in dctx, the argmax over classes of probs (K,D,H,W), host
 * memory (lowest class on ties). */
ssl3d_status ft_probs_argmax(ssl3d_ctx *dctx, const ssl3d_tensor *probs, ssl3d_tensor **labels);
/* ssl3d_ftmodel_classify with x (any context; copied to ctx when elsewhere) and probs /
 * pred made in octx (host or device). */
ssl3d_status ft_classify_in(ssl3d_ctx *ctx, ssl3d_ctx *octx, ssl3d_ftmodel *m, const ssl3d_tensor *x,
                            ssl3d_tensor **probs, ssl3d_tensor **pred);

/* finetune_eval.c helpers shared with training. */
int32_t ft_auto_window(const ssl3d_ftmodel *m, const ssl3d_tensor *x, int32_t window);
/* Read and prepare case i in dctx (host memory): image (optional out), x (C,D,H,W), and the
 * label map (segment, int32 (D,H,W)) or the class label (classify). */
ssl3d_status ft_load_case(ssl3d_ctx *dctx, const ssl3d_ftmodel *m, const ssl3d_manifest *man, int64_t i,
                          ssl3d_image **img_out, ssl3d_tensor **x, ssl3d_tensor **label_map, int32_t *label);
/* Segment a prepared volume (in dctx) with the ensemble models[0..n) (window < 0: each
 * model's ft_auto_window) and write Dice per foreground class into dice[1..K). */
ssl3d_status ft_segment_case(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *const *models, int32_t n,
                             const ssl3d_tensor *x, const ssl3d_tensor *truth, int32_t window, float overlap,
                             double *dice, ssl3d_tensor **pred_out);
ssl3d_status ft_class_metrics(ssl3d_ctx *ctx, const float *probs, const int32_t *pred, const int32_t *truth, int64_t n,
                              int32_t K, double *acc, double *auc, double *qwk);
/* Classify prepared images xs[0..n) (in dctx) in batches: probs (n,K) and pred (n). */
ssl3d_status ft_classify_many(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, ssl3d_tensor *const *xs, int64_t n,
                              float *probs, int32_t *pred);
#endif
