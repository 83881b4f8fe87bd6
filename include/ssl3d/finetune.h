/*
 * ssl3d/finetune.h — fine-tuning a (pretrained) U-Net encoder for segmentation or
 * classification, inference on whole volumes or sliding windows, and evaluation.
 * docs/finetune.md describes the protocol, the model file and the training loop.
 *
 * A fine-tuning model (`ssl3d_ftmodel`) is:
 *   segment:   encoder -> U-Net decoder -> 1x1 conv, K classes; loss soft Dice + CE.
 *   classify:  encoder -> global average pool -> MLP -> K logits (cross-entropy), or,
 *              ordinal, K-1 logits trained with binary cross-entropy against the
 *              targets [y > 0, y > 1, ..., y > K-2] (diabetic-retinopathy grading).
 * A model of dims 2 segments a 3D volume slice by slice (the "2D counterpart" baseline):
 * each (C,H,W) slice is one batch item, predictions are stacked back into a volume.
 *
 * Model files are safetensors checkpoints: "encoder.<name>" (the encoder's tensors, the
 * same names as a pretraining checkpoint), "decoder.<name>" (segment) or "head.<name>"
 * (classify), and metadata (see ssl3d_ftmodel_save).
 *
 * Images fed to a model are float32 (C,D,H,W) host tensors for 3D and 2D-slice models
 * (a PNG is C,1,H,W), normalised by ssl3d_ftmodel_prepare_image.
 */
#ifndef SSL3D_FINETUNE_H
#define SSL3D_FINETUNE_H
#include "core.h"
#include "nn.h"
#include "checkpoint.h"
#include "io.h"
#include "metrics.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum ssl3d_ft_kind {
    SSL3D_FT_SEGMENT = 0,
    SSL3D_FT_CLASSIFY = 1
} ssl3d_ft_kind;

typedef enum ssl3d_ft_mode {
    SSL3D_FT_SCRATCH = 0,   /* every layer trained from the start (fresh or --init encoder) */
    SSL3D_FT_FROZEN = 1,    /* encoder never updated: only the decoder / head learns */
    SSL3D_FT_WARMUP = 2     /* encoder frozen for warmup_epochs, then all layers with a
                               fresh optimiser */
} ssl3d_ft_mode;

/* Intensity normalisation applied by ssl3d_ftmodel_prepare_image. */
typedef enum ssl3d_ft_input_norm {
    SSL3D_FT_NORM_NONE = 0,
    SSL3D_FT_NORM_ZSCORE = 1,   /* ssl3d_normalize_zscore: per channel over non-zero voxels */
    SSL3D_FT_NORM_MINMAX = 2    /* ssl3d_normalize_minmax: per channel to [0, 1] */
} ssl3d_ft_input_norm;

/* ---------------------------------------------------------------- the model */

typedef struct ssl3d_ftmodel ssl3d_ftmodel;

/* New model. kind ssl3d_ft_kind; dims 2 or 3; in_channels >= 1; classes K >= 2;
 * base_filters, levels, norm as for ssl3d_encoder_create; hidden: MLP hidden width of
 * a classifier (0 = a single linear layer; ignored for segment); ordinal (0/1, classify
 * only): K-1 sigmoid outputs. Weights are drawn from the context RNG. The input
 * normalisation defaults to z-score for segment and min-max for classify (a z-score over
 * non-zero voxels maps binary masks to zeros), the patch size to 0 (unset). */
SSL3D_API ssl3d_status ssl3d_ftmodel_create(ssl3d_ctx *ctx, int32_t kind, int32_t dims, int32_t in_channels,
                                            int32_t classes, int32_t base_filters, int32_t levels, int32_t norm,
                                            int32_t hidden, int32_t ordinal, ssl3d_ftmodel **out);
SSL3D_API void ssl3d_ftmodel_release(ssl3d_ftmodel *m);

/* Accessors (-1 / 0 / NULL for a NULL model). */
SSL3D_API int32_t ssl3d_ftmodel_kind(const ssl3d_ftmodel *m);
SSL3D_API int32_t ssl3d_ftmodel_dims(const ssl3d_ftmodel *m);
SSL3D_API int32_t ssl3d_ftmodel_in_channels(const ssl3d_ftmodel *m);
SSL3D_API int32_t ssl3d_ftmodel_classes(const ssl3d_ftmodel *m);
SSL3D_API int32_t ssl3d_ftmodel_levels(const ssl3d_ftmodel *m);
SSL3D_API int32_t ssl3d_ftmodel_filters(const ssl3d_ftmodel *m);
SSL3D_API int32_t ssl3d_ftmodel_norm(const ssl3d_ftmodel *m);
SSL3D_API int32_t ssl3d_ftmodel_ordinal(const ssl3d_ftmodel *m);
/* Number of logits per position / sample: K, or K-1 for an ordinal classifier. */
SSL3D_API int32_t ssl3d_ftmodel_outputs(const ssl3d_ftmodel *m);
/* The encoder and the decoder (segment) or MLP head (classify); borrowed. */
SSL3D_API ssl3d_module *ssl3d_ftmodel_encoder(const ssl3d_ftmodel *m);
SSL3D_API ssl3d_module *ssl3d_ftmodel_head(const ssl3d_ftmodel *m);

/* Preprocessing settings stored with the model: input normalisation
 * (ssl3d_ft_input_norm) and patch / input size (0 = unset; segment: the training crop
 * and sliding-window size; classify: every image is centre padded/cropped to this size
 * along each spatial axis before being padded to a multiple of 2^levels). */
SSL3D_API ssl3d_status ssl3d_ftmodel_set_input_norm(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t input_norm);
SSL3D_API int32_t ssl3d_ftmodel_input_norm(const ssl3d_ftmodel *m);
SSL3D_API ssl3d_status ssl3d_ftmodel_set_patch(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t patch);
SSL3D_API int32_t ssl3d_ftmodel_patch(const ssl3d_ftmodel *m);

/* Copy the encoder weights (and norm buffers) from a checkpoint: for every encoder
 * tensor N, the stored tensor "<prefix>N" (prefix NULL means "encoder.", the name used by
 * pretraining checkpoints and model files). A missing tensor is SSL3D_ERR_NOT_FOUND and
 * a different shape SSL3D_ERR_SHAPE, both naming the tensor (the encoder architecture
 * must match: see ssl3d_ftmodel_encoder_spec). Nothing else is touched. */
SSL3D_API ssl3d_status ssl3d_ftmodel_load_encoder(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_checkpoint *ck,
                                                  const char *prefix);
/* Architecture of the encoder stored in a checkpoint under "encoder.": input channels,
 * dims, base filters, levels and norm kind, read from the tensor shapes (norm: batch
 * when running statistics are present; otherwise the "options" metadata decides between
 * group and instance, default group; none when there are no norm tensors). Any output
 * pointer may be NULL. SSL3D_ERR_NOT_FOUND when it holds no encoder. */
SSL3D_API ssl3d_status ssl3d_ftmodel_encoder_spec(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, int32_t *dims,
                                                  int32_t *in_channels, int32_t *base_filters, int32_t *levels,
                                                  int32_t *norm);

/* Forward pass. x (N,C,D,H,W) for dims 3, (N,C,H,W) for dims 2; for segment, spatial
 * sizes must be multiples of 2^levels. training selects batch statistics for the
 * decoder / head (and the encoder when encoder_training is also 1; encoder_training 0
 * runs the encoder's norms in evaluation mode, as for a frozen feature extractor).
 * logits: segment (N,K,spatial...), classify (N,K) or (N,K-1) when ordinal. */
SSL3D_API ssl3d_status ssl3d_ftmodel_forward(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_tensor *x,
                                             int32_t training, int32_t encoder_training,
                                             ssl3d_tensor **logits);
/* Training loss of the logits of ssl3d_ftmodel_forward: segment ssl3d_dice_ce with
 * labels int32 (N,spatial...) in [0,K); classify ssl3d_cross_entropy with labels int32
 * (N) in [0,K), or for ordinal ssl3d_bce_with_logits with targets t[n,j] = labels[n] > j. */
SSL3D_API ssl3d_status ssl3d_ftmodel_loss(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ssl3d_tensor *logits,
                                          const ssl3d_tensor *labels, ssl3d_tensor **loss);

/* ---------------------------------------------------------------- inference */

/* Image -> model input, a new float32 tensor (C,D,H,W): the model's normalisation; for
 * classify also the centre pad/crop to the patch size (when set) and a centred pad to a
 * multiple of 2^levels (2D: of H and W only). The image's channels must equal the
 * model's in_channels (SSL3D_ERR_SHAPE naming the file). */
SSL3D_API ssl3d_status ssl3d_ftmodel_prepare_image(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ssl3d_image *img,
                                                   ssl3d_tensor **out);

/* Segment a prepared volume x (C,D,H,W). window 0: the whole volume at once, centred
 * padded to a multiple of 2^levels and cropped back; window > 0 (a multiple of
 * 2^levels): sliding windows of that size along each axis (clamped to the padded
 * volume) with the given overlap in [0, 1), softmax probabilities averaged where
 * windows overlap. A 2D model runs slice by slice (window applies to H and W).
 * probs (may be NULL): new float32 (K,D,H,W) softmax probabilities; labels (may be
 * NULL): new int32 (D,H,W) argmax (lowest class on ties). Runs without recording.
 * x may belong to any context; probs and labels are made in ctx. On a device context the
 * windows run on the device and the softmax averaging, mirroring and argmax on the host. */
SSL3D_API ssl3d_status ssl3d_ftmodel_segment(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_tensor *x,
                                             int32_t window, float overlap, ssl3d_tensor **probs,
                                             ssl3d_tensor **labels);
/* Test-time mirroring for ssl3d_ftmodel_segment (and so ssl3d_ft_evaluate): mirror 1
 * averages the softmax probabilities of the volume and its mirror images along every
 * combination of spatial axes, each mirrored back (8 passes in 3D; 4 for a 2D model,
 * which mirrors H and W only), as nnU-Net's inference. A runtime setting (default 0),
 * not stored in model files. */
SSL3D_API ssl3d_status ssl3d_ftmodel_set_tta(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t mirror);
SSL3D_API int32_t ssl3d_ftmodel_tta(const ssl3d_ftmodel *m);

/* Segment x with an ensemble of n >= 1 segmentation models, as nnU-Net predicts its test
 * sets with its cross-validation models: each model's softmax probabilities (its own
 * sliding windows and, when its test-time mirroring is on, the average over its mirror
 * images, as ssl3d_ftmodel_segment) are averaged over the models with equal weight, then
 * the argmax (lowest class on ties) gives the labels. window: as ssl3d_ftmodel_segment,
 * applied to every model (a positive window must be a multiple of each model's
 * 2^levels), or < 0 to let each model choose as ssl3d_ft_evaluate does (its own patch
 * size and levels). The models must agree on kind (segment), dims, in_channels, classes
 * and input normalisation (SSL3D_ERR_INVALID_ARG naming the model index and the field);
 * levels, filters, norm kind and patch may differ. n = 1 gives the results of
 * ssl3d_ftmodel_segment bit for bit. probs / labels and contexts as ssl3d_ftmodel_segment;
 * nothing is changed on failure. */
SSL3D_API ssl3d_status ssl3d_ft_segment_ensemble(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n,
                                                 const ssl3d_tensor *x, int32_t window, float overlap,
                                                 ssl3d_tensor **probs, ssl3d_tensor **labels);

/* Classify a batch x (N,C,D,H,W) / (N,C,H,W) of prepared images: probs (may be NULL),
 * new float32 (N,K) class scores: softmax probabilities, or for ordinal models the class
 * scores of ssl3d_ordinal_class_scores from the sigmoids s_j = P(y > j): 1 - s_0,
 * max(0, s_{k-1} - s_k), s_{K-2} (probabilities summing to 1 when the s_j decrease);
 * pred (may be NULL): new int32 (N) predicted classes (argmax, lowest on ties; ordinal:
 * ssl3d_ordinal_decode, the number of s_j > 0.5). Runs without recording. x may belong to
 * any context (it is copied to ctx when elsewhere); probs and pred are made in ctx. */
SSL3D_API ssl3d_status ssl3d_ftmodel_classify(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_tensor *x,
                                              ssl3d_tensor **probs, ssl3d_tensor **pred);

/* ---------------------------------------------------------------- model files */

/* Add the model to a checkpoint: tensors "encoder.*" and "decoder.*" / "head.*", and
 * metadata "format" = "ssl3d-finetune", "kind" ("segment"/"classify"), "dims",
 * "in_channels", "classes", "levels", "filters", "norm" ("batch", "group", "instance",
 * "none"), "hidden", "ordinal" ("0"/"1"), "patch", "normalisation" ("none", "zscore",
 * "minmax"), "library_version". */
SSL3D_API ssl3d_status ssl3d_ftmodel_save(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ssl3d_checkpoint *ck);
/* Rebuild a model from a checkpoint written by ssl3d_ftmodel_save (SSL3D_ERR_FORMAT
 * naming the key when metadata is missing or bad; tensor mismatches name the tensor). */
SSL3D_API ssl3d_status ssl3d_ftmodel_create_from_checkpoint(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck,
                                                            ssl3d_ftmodel **out);

/* ---------------------------------------------------------------- case selection */

/* Cases of a manifest, in manifest order, written to idx[0..cap) (*count = how many; call
 * with cap 0 to size the array). cases_file NULL: split SSL3D_SPLIT_* of a CSV (labelled
 * cases only), or, for an MSD manifest, every case with a label map when split is
 * SSL3D_SPLIT_TEST or -1 (MSD "test" cases have no labels), else that split's labelled
 * cases. cases_file: a text file listing cases one per line (blank lines and lines
 * starting with '#' ignored): a case index, or an image path (as in the manifest, or
 * the resolved path, or its file name); unknown entries are SSL3D_ERR_INVALID_ARG naming
 * the file, the line and the entry. Only labelled cases are returned. */
SSL3D_API ssl3d_status ssl3d_ft_select_cases(ssl3d_ctx *ctx, const ssl3d_manifest *man, int32_t split,
                                             const char *cases_file, int64_t *idx, int64_t cap, int64_t *count);

/* ---------------------------------------------------------------- evaluation */

typedef struct ssl3d_ftresult ssl3d_ftresult;

/* Evaluate on cases[0..n_cases) of a manifest (indices, e.g. from ssl3d_ft_select_cases).
 * segment: each case's image is prepared and segmented (ssl3d_ftmodel_segment with
 * window and overlap; window < 0 chooses: the whole volume, unless the model has a patch
 * size and the padded volume is more than 8 patches (3D) / 16 patches per slice (2D)
 * big, then sliding windows of the patch size), Dice per foreground class per volume
 * against its label map; when pred_dir is not NULL (an existing directory) each
 * prediction is written there as "<image file name>" (NIfTI uint8, int16 above 255
 * classes, in the geometry of the source image: ssl3d_nifti_write with the image as
 * reference). classify: accuracy, ROC AUC (binary; one-vs-rest macro for K > 2),
 * quadratic weighted kappa. Labels must be within the model's classes. Result keys: see
 * ssl3d_ftresult_json. */
SSL3D_API ssl3d_status ssl3d_ft_evaluate(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_manifest *man,
                                         const int64_t *cases, int64_t n_cases, int32_t window, float overlap,
                                         const char *pred_dir, ssl3d_ftresult **out);
/* ssl3d_ft_evaluate with an ensemble of n >= 1 models (ssl3d_ft_evaluate is the case
 * n = 1, bit for bit). segment: each case is predicted by ssl3d_ft_segment_ensemble
 * (probabilities averaged over the models and, per model with test-time mirroring on, over
 * its mirror images; window < 0: each model's own choice). classify: the class
 * probabilities (softmax) averaged over the models, argmax the prediction; each model
 * prepares the images for itself (patch, levels); ensembles (n > 1) of ordinal
 * classifiers are SSL3D_ERR_UNSUPPORTED. The models must agree on kind, dims,
 * in_channels, classes and input normalisation (SSL3D_ERR_INVALID_ARG naming the model
 * index and the field). The result reports "models" (ssl3d_ftresult_get; in the JSON
 * when n > 1). */
SSL3D_API ssl3d_status ssl3d_ft_evaluate_ensemble(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n,
                                                  const ssl3d_manifest *man, const int64_t *cases, int64_t n_cases,
                                                  int32_t window, float overlap, const char *pred_dir,
                                                  ssl3d_ftresult **out);
SSL3D_API void ssl3d_ftresult_release(ssl3d_ftresult *r);
/* The result as one JSON object (borrowed, valid while r lives):
 *   segment:  {"dice": {"1": m, "2": m, ...}, "dice_sd": {"1": s, ...}, "dice_mean": m,
 *              "dice_mean_sd": s, "cases": n}
 *   classify: {"accuracy": a, "auc": a, "qwk": k, "cases": n}
 * followed by "models": n for an ensemble of n > 1 models (absent for one model, so that
 * the object of ssl3d_ft_evaluate is unchanged).
 * Dice from ssl3d_dice_per_class; means and sample (n-1) standard deviations over
 * volumes; a class absent from both the label map and the prediction of a
 * volume counts as Dice 1 for that volume. */
SSL3D_API const char *ssl3d_ftresult_json(const ssl3d_ftresult *r);
/* One number of the result by key: "cases", "models", "dice_mean", "dice_mean_sd",
 * "dice.<k>", "dice_sd.<k>", "accuracy", "auc", "qwk". SSL3D_ERR_NOT_FOUND for other keys. */
SSL3D_API ssl3d_status ssl3d_ftresult_get(ssl3d_ctx *ctx, const ssl3d_ftresult *r, const char *key,
                                          double *value);

/* ---------------------------------------------------------------- training */

/* Called after every epoch with one JSON object (no newline), e.g.
 *   {"epoch": 3, "loss": 0.41, "val_dice": 0.72, "best": true, "phase": "frozen",
 *    "steps": 12, "train_cases": 8, "val_cases": 4, "lr": 0.001, "best_epoch": 3,
 *    "best_val": 0.72, "seconds": 1.9}
 * (classify: "val_acc", "val_auc", "val_qwk" instead of "val_dice"). Return 0 to go on,
 * non-zero to stop training early (ssl3d_ft_train then returns SSL3D_OK). */
typedef int32_t (*ssl3d_ft_epoch_fn)(void *user, const char *json);

/* Fine-tune `m` on a manifest. `options` is NULL or a comma-separated key=value list
 * (defaults in brackets; docs/finetune.md, "The training recipe"):
 *   mode=scratch|frozen|warmup [scratch]  warmup_epochs=N [5]  epochs=N [20]  seed=S [0]
 *   batch=B [0 = auto: segment voxel_budget / patch voxels in [2, 16] (2D: [2, 64]);
 *     classify voxel_budget / image voxels in [2, 64]]
 *   patch=N [model's patch, else 0 = auto for segment: the cube (2D: square) of the median
 *     training shape rounded up to a multiple of 2^levels, at most the side whose
 *     cube is voxel_budget / 2]  voxel_budget=N [128000 segment, 524288 classify]
 *   optimizer=adam|sgd [adam]  lr=X [adam: 2e-3 segment, 1e-3 classify; sgd: 1e-2]
 *     weight_decay=X [adam 0, sgd 3e-5]  momentum=X [0.99]  nesterov=0|1 [1] (sgd only:
 *     nnU-Net's setting)  grad_clip=X [12; 0 = off] (global gradient norm)
 *   schedule=poly|cosine|constant [poly: lr (1 - t/T)^poly_power over all epochs x steps]
 *     poly_power=X [0.9]  lr_warmup=N [-1 = 2% of the steps] (linear warm-up)
 *   augment=nnunet|none [nnunet for segment, none for classify]: mirroring (flip),
 *     rotation, scaling, Gaussian noise, blur, brightness, contrast, gamma, applied to
 *     image and label patch together (labels nearest-neighbour); overrides, in any order:
 *     mirror_prob, rot_prob, rot_deg, scale_prob, scale_lo, scale_hi, noise_prob,
 *     noise_std, blur_prob, brightness_prob, contrast_prob, gamma_prob
 *   elastic_prob=P [0: off in every preset, as in nnU-Net's default plans]
 *     elastic_alpha=A [5] elastic_sigma_lo=S [9] elastic_sigma_hi=S [13]: elastic
 *     deformation, a smooth random displacement field (uniform noise smoothed by a
 *     Gaussian of sigma ~ U(lo, hi) voxels, sigma in [1, 100]) whose largest component is
 *     ~ U(0, A) voxels (A in [0, 100]), composed with rotation / scaling into one
 *     resampling of image and label (2D: in-plane)
 *   flip=0|1 [1 for segment, 0 for classify] (mirroring, each spatial axis with p 0.5;
 *     off for classifiers because a flip can change the class, e.g. laterality)
 *   fraction=F [1] (nested subset of the training pool after the validation part is
 *     removed: ssl3d_subset_indices of ssl3d/metrics.h with seed)
 *   val_fraction=V [0.2] (MSD or CSV without a val split: seeded share of the pool held
 *     out for model selection, ssl3d_split_train_val with seed, drawn before the fraction
 *     subset so that it is the same for every fraction)
 *   fg_prob=P [0.33] (segment: share of crops centred on a random foreground voxel)
 *   steps_per_epoch=N [0 = ceil(training cases / batch)]
 *   balance=none|sample [none] (classify: sample: every class equally often)
 *   class_weights=auto|W0:W1:... [off] (classify: loss (1/N) sum_n w[y_n] L_n over a
 *     batch; auto: w_k = n / (classes present x n_k) over the training subset's labels,
 *     0 for an absent class; else one weight >= 0 per class, not all 0)
 *   frozen_norm=eval|train [eval] (encoder norms while the encoder is frozen: eval uses
 *     the running statistics and changes no encoder tensor; train uses batch statistics
 *     and updates the running ones)
 *   val_every=N [1] (validation every N epochs and after the last)
 *   prefetch=0|1 [1] (a device `ctx`: build the next step's batch and begin its upload while
 *     a step computes; 0 uploads each batch when its step starts; the same results either
 *     way, and no effect on a CPU `ctx`)
 *   window=N [-1 = auto] overlap=X [0.5] (validation inference, as ssl3d_ftmodel_segment)
 *   tta=0|1 [0] (validation with test-time mirroring, ssl3d_ftmodel_set_tta)
 *   deep_supervision=0|1 [0] (segment, levels >= 3: nnU-Net's deep supervision, 1x1 conv
 *     heads on the decoder outputs at 1/2 .. 1/2^(levels-2) resolution, loss
 *     sum_l w_l (Dice + CE) against the label map subsampled by 2^l, w_l ~ 1/2^l summing
 *     to 1; the heads are created for the call and released at its end, never part of
 *     `m` or its model file; docs/finetune.md)
 *   select=dice|acc|auc|qwk [dice segment; auc classify (accuracy breaks ties); qwk ordinal]
 *   normalisation=zscore|minmax|none [the model's]
 *   resume=PATH [none] (after every epoch the training state is written atomically to
 *     PATH; when PATH exists, written by a run with the same options, training continues
 *     after its last finished epoch, bitwise as uninterrupted for one thread count)
 * Training cases: the pool is the manifest's train split (CSV) or every labelled case
 * (MSD), restricted to `pool_cases`[0..n_pool) when pool_cases is not NULL. Validation:
 * the CSV val split when present, else a seeded val_fraction of the pool. The test split
 * is never used. The weights with the best validation metric are restored into `m` at
 * the end. `epoch_cb` may be NULL; at an epoch with "best": true the model holds the
 * selected weights. The model's patch and normalisation are set from the options.
 * Data-parallel (a communicator on ctx, ssl3d/comm.h): every rank must make the same call;
 * batch= is the global batch (a multiple of the rank count), each rank trains on its share
 * of every batch (the patches one process would draw), the weights start from rank 0's and
 * gradients are averaged before each step; logged losses are the global batch's.
 * Validation is split by cases: each rank loads and evaluates its share of the validation
 * cases and the per-case results are gathered, so every rank logs the metrics of all of
 * them and keeps the same best weights; resume= is written by rank 0 and read by every
 * rank; the caller writes its own files on one rank.
 * Backends: ctx may be a device context (CUDA). The cases, crops, augmentation and
 * validation metrics stay in host memory (a private CPU context with ctx's thread count);
 * each batch is copied to ctx, where the model, loss and optimiser run. On a CPU context
 * nothing is copied. ssl3d_ft_evaluate works the same way. */
SSL3D_API ssl3d_status ssl3d_ft_train(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_manifest *man,
                                      const int64_t *pool_cases, int64_t n_pool, const char *options,
                                      ssl3d_ft_epoch_fn epoch_cb, void *user);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_FINETUNE_H */
