/* The fine-tuning recipe: training-time augmentation of image + label patches
 * (finetune_augment.c), optimiser, learning-rate schedule and the other recipe options
 * of ssl3d_ft_train (finetune_schedule.c). The defaults follow nnU-Net where they fit a
 * CPU budget; docs/finetune.md lists where they depart. */
#ifndef SSL3D_FINETUNE_RECIPE_H
#define SSL3D_FINETUNE_RECIPE_H
#include "finetune_internal.h"

/* One augmentation setting. Every transform is drawn per sample with its probability;
 * ranges are uniform. The spatial part (elastic deformation, then mirror, rotation and
 * scaling) is one map applied to the image (linear interpolation) and the label map
 * (nearest neighbour) together; the intensity part touches the image only. */
typedef struct ft_aug {
    float mirror;                        /* per spatial axis */
    float rot_prob, rot_deg;             /* angle about each axis in [-rot_deg, rot_deg] */
    float scale_prob, scale_lo, scale_hi;/* >1 shows more context (zoom out) */
    float elastic_prob, elastic_alpha;   /* largest displacement ~ U(0, alpha) voxels */
    float elastic_sigma_lo, elastic_sigma_hi;   /* smoothness: Gaussian sigma in voxels */
    float noise_prob, noise_std;         /* additive N(0, s^2), s ~ U(0, noise_std) */
    float blur_prob, blur_lo, blur_hi;   /* Gaussian blur, sigma in voxels */
    float bright_prob, bright_lo, bright_hi;    /* x *= f */
    float contrast_prob, contrast_lo, contrast_hi;  /* (x - mean) * f + mean, range kept */
    float gamma_prob, gamma_lo, gamma_hi, gamma_invert; /* x^g on [min, max], stats kept */
} ft_aug;

enum { FT_AUG_NONE = 0, FT_AUG_NNUNET = 1 };
enum { FT_OPT_SGD = 0, FT_OPT_ADAM = 1 };
enum { FT_SCHED_CONSTANT = 0, FT_SCHED_POLY = 1, FT_SCHED_COSINE = 2 };
enum { FT_BALANCE_NONE = 0, FT_BALANCE_SAMPLE = 1 };

/* Number of per-transform override keys (rot_prob, ...), see ft_recipe_parse. */
#define FT_AUG_KEYS 16

typedef struct ft_recipe {
    int32_t preset;                  /* FT_AUG_* */
    ft_aug aug;                      /* filled by ft_recipe_finish */
    double aug_over[FT_AUG_KEYS];    /* NaN = not given */
    int32_t optimizer, schedule, nesterov, lr_warmup, val_every, tta, balance;
    int32_t seg;                     /* the defaults' model kind is segment */
    int32_t deep_supervision;        /* 0/1, finetune_deepsup.h (default 0) */
    double momentum, power, lr, weight_decay;   /* lr/weight_decay < 0: not given */
    double grad_clip;                /* global gradient-norm clip, 0 = off */
    int64_t voxel_budget;            /* auto patch/batch: voxels per step */
    char resume[1024];               /* resume=PATH ("" = off), finetune_resume.c */
    char class_weights[1024];        /* "auto", "W0:W1:..." or "" (off), finetune_weights.c */
} ft_recipe;

/* Defaults for a model kind (ssl3d_ft_kind). */
void ft_recipe_defaults(ft_recipe *r, int32_t kind);
/* Parse one key=value of the option string; returns 0 when the key is not a recipe key,
 * else 1 with *st the outcome (an error names the key). */
int ft_recipe_parse(ssl3d_ctx *ctx, ft_recipe *r, const char *k, const char *v, ssl3d_status *st);
/* Apply the preset and the per-transform overrides; `flip` (0/1) is the old mirror
 * switch (mirror probability 0.5 when on). */
void ft_recipe_finish(ft_recipe *r, int32_t flip);
/* Learning rate and weight decay in effect (explicit, else the optimiser's default:
 * SGD 1e-2 / 3e-5 (nnU-Net), Adam 2e-3 (segment) or 1e-3 (classify) / 0). */
double ft_recipe_lr(const ft_recipe *r);
double ft_recipe_weight_decay(const ft_recipe *r);

/* Optimiser over the encoder (group 0, frozen when `freeze`) and the head (group 1). */
ssl3d_status ft_make_optim(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ft_recipe *r, int freeze, ssl3d_optim **out);
/* Schedule over `total` steps (>= 1) with the recipe's warm-up (clamped below total). */
ssl3d_status ft_make_schedule(ssl3d_ctx *ctx, const ft_recipe *r, int64_t total, ssl3d_lr_schedule **out);

/* Auto patch and batch (segment, when not given): the side of a cube (dims 3) or square
 * (dims 2: the in-plane median, axis 0 ignored) of the geometric mean of the median
 * shape, rounded up to a multiple of `multiple`, at most the side whose cube/square is
 * voxel_budget / 2 (so at least two patches fit); batch = voxel_budget / patch voxels,
 * in [2, 16] (3D) or [2, 64] (2D). shapes: n x 3 (D, H, W). */
void ft_auto_patch_batch(const int64_t *shapes, int64_t n, int32_t multiple, int64_t voxel_budget, int32_t dims,
                         int32_t *patch, int32_t *batch);
/* Epoch order with balanced classes (classify, balance=sample): n draws, each a class
 * uniform among those present, then a case of it uniform, with replacement. */
void ft_balanced_order(uint64_t seed, uint64_t stream, const int32_t *cls, int64_t n, int32_t K, int64_t *order);

/* Write one augmented training patch. src: image (C, S0, S1, S2) float32; lab: label map
 * (S0, S1, S2) int32 or NULL; off: integer offset of the unaugmented window (the patch
 * centre maps to off + (p - 1) / 2; mirror, rotation and scaling act about it);
 * p: patch size (p[0] = 1 and twod = 1 for a slice of a 2D model: rotation and elastic
 * deformation in the (1, 2) plane only). dst (C, p0, p1, p2), ldst (p0, p1, p2).
 * Outside the source: 0. scratch: 4 * p0*p1*p2 floats (blur, elastic field). Draws a
 * fixed number of values from r before the noise, whatever the probabilities; the
 * elastic field has its own stream (ft_elastic_field). */
void ft_aug_patch(const ft_aug *a, int twod, ssl3d_rng *r, const float *src, const int32_t *lab, int64_t C,
                  const int64_t S[3], const int64_t off[3], const int64_t p[3], float *dst, int32_t *ldst,
                  float *scratch, int threads);

/* Class-weighted classification loss (finetune_weights.c). Parse "W0:W1:..." into w
 * (may be NULL): the count when it holds 1..max finite weights in [0, 1e6], not all 0;
 * else -1. */
int ft_class_weights_parse(const char *v, int32_t max, double *w);
/* Automatic weights: w[k] = n / (classes present x count of k) over the training labels
 * cls (mean weight over the samples 1); 0 for a class absent from cls. */
void ft_class_weights_auto(const int32_t *cls, int64_t n, int32_t K, double *w);
/* (1/N) sum_n w[labels[n]] L_n, L_n sample n's ssl3d_ftmodel_loss (cross-entropy, or the
 * ordinal BCE of its row); logits (N, K or K-1), labels int32 (N). Differentiable. */
ssl3d_status ft_weighted_loss(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ssl3d_tensor *logits, const ssl3d_tensor *labels,
                              const double *w, ssl3d_tensor **loss);

/* Elastic displacement field of one patch (finetune_elastic.c): with probability
 * elastic_prob, field (3, p0, p1, p2) = uniform noise in [-1, 1] smoothed by a Gaussian of
 * sigma ~ U(elastic_sigma_lo, elastic_sigma_hi) voxels, scaled so that its largest
 * |component| is ~ U(0, elastic_alpha) voxels; component c is along axis c, in output
 * voxels (2D: component 0 is 0). Draws from a stream derived from r's seed, stream and
 * counter without advancing r. tmp: p0*p1*p2 floats. Returns 1 when field was written, 0
 * for no deformation (off, or zero magnitude). */
int ft_elastic_field(const ft_aug *a, int twod, const ssl3d_rng *r, const int64_t p[3], float *field, float *tmp,
                     int threads);

/* Resumable training (finetune_resume.c): the loop's counters after a finished epoch. */
typedef struct ft_progress {
    int32_t epoch;          /* epochs done */
    int64_t step;           /* steps done */
    int32_t have_best, frozen, best_epoch;
    double best_metric, best_tie;
} ft_progress;
int ft_resume_exists(const char *path);
/* The option string without its resume= entry (what a resume file must match). */
void ft_resume_options_key(const char *options, char *out, size_t cap);
/* Write model, optimiser state, best weights and counters atomically to path.
 * options_key: the run's option string without resume= (checked on reading). */
ssl3d_status ft_resume_save(ssl3d_ctx *ctx, const char *path, const char *options_key, const ssl3d_ftmodel *m,
                            const ssl3d_optim *opt, const ft_snapshot *best, const ft_progress *pr);
/* Read the file and its counters (options must match options_key). */
ssl3d_status ft_resume_read(ssl3d_ctx *ctx, const char *path, const char *options_key, ssl3d_checkpoint **ck,
                            ft_progress *pr);
/* Copy the model tensors, the optimiser state (opt set up as at that epoch) and the
 * best weights from the file into the run. */
ssl3d_status ft_resume_apply(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, ssl3d_ftmodel *m, ssl3d_optim *opt,
                             ft_snapshot *best, const ft_progress *pr);
#endif
