/* The fine-tuning recipe's options: augmentation presets, optimiser (SGD with Nesterov
 * momentum or Adam), learning-rate schedule (poly, cosine or constant, with linear
 * warm-up), validation cadence, test-time mirroring, class balancing and the automatic
 * patch / batch of a CPU budget. Defaults follow nnU-Net where they fit (docs/finetune.md
 * says where they depart). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "finetune_recipe.h"

static const char *aug_keys[FT_AUG_KEYS] = {
    "mirror_prob", "rot_prob", "rot_deg", "scale_prob", "scale_lo", "scale_hi",
    "noise_prob", "noise_std", "blur_prob", "brightness_prob", "contrast_prob", "gamma_prob",
    "elastic_prob", "elastic_alpha", "elastic_sigma_lo", "elastic_sigma_hi"
};

void ft_recipe_defaults(ft_recipe *r, int32_t kind) {
    memset(r, 0, sizeof *r);
    const int seg = kind == SSL3D_FT_SEGMENT;
    r->preset = seg ? FT_AUG_NNUNET : FT_AUG_NONE;
    for (int i = 0; i < FT_AUG_KEYS; i++) r->aug_over[i] = NAN;
    /* Adam for both kinds: nnU-Net's SGD (Nesterov 0.99, lr 1e-2, with or without its
     * gradient clip at 12) left our 8-filter scratch network predicting background only
     * after 200 steps on hippocampus (val Dice 0, loss rising), where Adam 2e-3 reached val
     * Dice 0.72 (docs/results-finetune.md, section 4). SGD stays an option. */
    r->optimizer = FT_OPT_ADAM;
    r->seg = seg;
    r->schedule = FT_SCHED_POLY;
    r->momentum = 0.99;
    r->nesterov = 1;
    r->power = 0.9;
    r->grad_clip = 12;   /* nnU-Net clips the global gradient norm at 12 */
    r->lr = -1;
    r->weight_decay = -1;
    r->lr_warmup = -1;
    r->val_every = 1;
    r->tta = 0;
    r->deep_supervision = 0;
    r->balance = FT_BALANCE_NONE;
    /* Segment: two 40^3 patches (hippocampus-sized); classify: whole small images, so a
     * larger batch amortises the per-step cost (32^3 volumes: 16 per step). */
    r->voxel_budget = seg ? 2 * 40 * 40 * 40 : 1 << 19;
}

static ssl3d_status bad(ssl3d_ctx *ctx, const char *k, const char *v, const char *what) {
    return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: option %s=%s: expected %s", k, v, what);
}

static int num(const char *v, double lo, double hi, double *out) {
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int whole(const char *v, long lo, long hi, long *out) {
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

int ft_recipe_parse(ssl3d_ctx *ctx, ft_recipe *r, const char *k, const char *v, ssl3d_status *st) {
    double d;
    long l;
    *st = SSL3D_OK;
    if (!strcmp(k, "augment")) {
        if (!strcmp(v, "none")) r->preset = FT_AUG_NONE;
        else if (!strcmp(v, "nnunet")) r->preset = FT_AUG_NNUNET;
        else *st = bad(ctx, k, v, "none or nnunet");
    } else if (!strcmp(k, "optimizer") || !strcmp(k, "optimiser")) {
        if (!strcmp(v, "sgd")) r->optimizer = FT_OPT_SGD;
        else if (!strcmp(v, "adam")) r->optimizer = FT_OPT_ADAM;
        else *st = bad(ctx, k, v, "sgd or adam");
    } else if (!strcmp(k, "schedule")) {
        if (!strcmp(v, "poly")) r->schedule = FT_SCHED_POLY;
        else if (!strcmp(v, "cosine")) r->schedule = FT_SCHED_COSINE;
        else if (!strcmp(v, "constant")) r->schedule = FT_SCHED_CONSTANT;
        else *st = bad(ctx, k, v, "poly, cosine or constant");
    } else if (!strcmp(k, "balance")) {
        if (!strcmp(v, "none")) r->balance = FT_BALANCE_NONE;
        else if (!strcmp(v, "sample")) r->balance = FT_BALANCE_SAMPLE;
        else *st = bad(ctx, k, v, "none or sample");
    } else if (!strcmp(k, "lr")) {
        if (num(v, 0, 1e3, &d) && d > 0) r->lr = d; else *st = bad(ctx, k, v, "a number in (0, 1000]");
    } else if (!strcmp(k, "weight_decay")) {
        if (num(v, 0, 1e3, &d)) r->weight_decay = d; else *st = bad(ctx, k, v, "a number in [0, 1000]");
    } else if (!strcmp(k, "momentum")) {
        if (num(v, 0, 0.999999, &d)) r->momentum = d; else *st = bad(ctx, k, v, "a number in [0, 1)");
    } else if (!strcmp(k, "nesterov")) {
        if (whole(v, 0, 1, &l)) r->nesterov = (int32_t)l; else *st = bad(ctx, k, v, "0 or 1");
    } else if (!strcmp(k, "grad_clip")) {
        if (num(v, 0, 1e9, &d)) r->grad_clip = d; else *st = bad(ctx, k, v, "a number >= 0 (0: off)");
    } else if (!strcmp(k, "poly_power")) {
        if (num(v, 1e-6, 100, &d)) r->power = d; else *st = bad(ctx, k, v, "a number in (0, 100]");
    } else if (!strcmp(k, "lr_warmup")) {
        if (whole(v, -1, 100000000L, &l)) r->lr_warmup = (int32_t)l; else *st = bad(ctx, k, v, "a step count >= 0 (-1: auto)");
    } else if (!strcmp(k, "val_every")) {
        if (whole(v, 1, 1000000L, &l)) r->val_every = (int32_t)l; else *st = bad(ctx, k, v, "an integer >= 1");
    } else if (!strcmp(k, "tta")) {
        if (whole(v, 0, 1, &l)) r->tta = (int32_t)l; else *st = bad(ctx, k, v, "0 or 1");
    } else if (!strcmp(k, "deep_supervision")) {
        if (whole(v, 0, 1, &l)) r->deep_supervision = (int32_t)l; else *st = bad(ctx, k, v, "0 or 1");
    } else if (!strcmp(k, "resume")) {
        if (strlen(v) < sizeof r->resume) snprintf(r->resume, sizeof r->resume, "%s", v);
        else *st = bad(ctx, k, "...", "a path shorter than 1024 bytes");
    } else if (!strcmp(k, "class_weights")) {
        /* the count is checked against the model's classes by ssl3d_ft_train */
        if (strlen(v) < sizeof r->class_weights && (!strcmp(v, "auto") || ft_class_weights_parse(v, 4096, NULL) > 0))
            snprintf(r->class_weights, sizeof r->class_weights, "%s", v);
        else *st = bad(ctx, k, v, "auto or one weight >= 0 per class, separated by ':' (not all 0)");
    } else if (!strcmp(k, "voxel_budget")) {
        if (whole(v, 512, 1L << 30, &l)) r->voxel_budget = l; else *st = bad(ctx, k, v, "an integer in [512, 2^30]");
    } else {
        int i = 0;
        while (i < FT_AUG_KEYS && strcmp(k, aug_keys[i])) i++;
        if (i == FT_AUG_KEYS) return 0;
        int is_prob = strstr(k, "prob") != NULL, is_sigma = !strncmp(k, "elastic_sigma", 13);
        int zero_ok = !strcmp(k, "rot_deg") || !strcmp(k, "noise_std") || !strcmp(k, "elastic_alpha");
        double lo = is_sigma ? 1 : 0, hi = is_prob ? 1 : !strcmp(k, "rot_deg") ? 180 : 100;
        if (num(v, lo, hi, &d) && (is_prob || d > 0 || zero_ok)) r->aug_over[i] = d;
        /* sigma below one voxel would make the "smooth" field voxel noise */
        else *st = bad(ctx, k, v, is_prob ? "a probability in [0, 1]" : is_sigma ? "a number of voxels in [1, 100]"
                                  : zero_ok ? "a number in [0, 100]" : "a positive number");
    }
    return 1;
}

void ft_recipe_finish(ft_recipe *r, int32_t flip) {
    ft_aug *a = &r->aug;
    memset(a, 0, sizeof *a);
    /* Ranges stay set even when a transform is off, so overriding only its
     * probability switches it on with nnU-Net's range. */
    a->rot_deg = 30; a->scale_lo = 0.7f; a->scale_hi = 1.4f;
    a->noise_std = 0.1f; a->blur_lo = 0.5f; a->blur_hi = 1.0f;
    a->bright_lo = 0.75f; a->bright_hi = 1.25f; a->contrast_lo = 0.75f; a->contrast_hi = 1.25f;
    a->gamma_lo = 0.7f; a->gamma_hi = 1.5f; a->gamma_invert = 0.25f;
    /* Elastic deformation is off in every preset, as in nnU-Net's default plans
     * (do_elastic False). Range when switched on: nnU-Net's sigma 9-13 voxels; alpha 5
     * voxels is the mean largest displacement of batchgenerators' alpha 900 at those sigmas
     * on a 40^3 patch (docs/finetune.md). */
    a->elastic_alpha = 5; a->elastic_sigma_lo = 9; a->elastic_sigma_hi = 13;
    if (r->preset == FT_AUG_NNUNET) {
        a->rot_prob = 0.2f; a->scale_prob = 0.2f; a->noise_prob = 0.1f; a->blur_prob = 0.2f;
        a->bright_prob = 0.15f; a->contrast_prob = 0.15f; a->gamma_prob = 0.4f;
    }
    a->mirror = flip ? 0.5f : 0.0f;   /* mirroring is the flip option, in every preset */
    float *dst[FT_AUG_KEYS] = { &a->mirror, &a->rot_prob, &a->rot_deg, &a->scale_prob, &a->scale_lo, &a->scale_hi,
                                &a->noise_prob, &a->noise_std, &a->blur_prob, &a->bright_prob, &a->contrast_prob,
                                &a->gamma_prob, &a->elastic_prob, &a->elastic_alpha, &a->elastic_sigma_lo,
                                &a->elastic_sigma_hi };
    for (int i = 0; i < FT_AUG_KEYS; i++)
        if (!isnan(r->aug_over[i])) *dst[i] = (float)r->aug_over[i];
    if (a->scale_lo > a->scale_hi) { float t = a->scale_lo; a->scale_lo = a->scale_hi; a->scale_hi = t; }
    if (a->elastic_sigma_lo > a->elastic_sigma_hi) {
        float t = a->elastic_sigma_lo; a->elastic_sigma_lo = a->elastic_sigma_hi; a->elastic_sigma_hi = t;
    }
}

double ft_recipe_lr(const ft_recipe *r) {
    return r->lr > 0 ? r->lr : r->optimizer == FT_OPT_SGD ? 1e-2 : r->seg ? 2e-3 : 1e-3;
}

double ft_recipe_weight_decay(const ft_recipe *r) {
    return r->weight_decay >= 0 ? r->weight_decay : r->optimizer == FT_OPT_SGD ? 3e-5 : 0.0;
}

ssl3d_status ft_make_optim(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ft_recipe *r, int freeze, ssl3d_optim **out) {
    ssl3d_optim *opt = NULL;
    const float lr = (float)ft_recipe_lr(r), wd = (float)ft_recipe_weight_decay(r);
    if (r->optimizer == FT_OPT_SGD)
        SSL3D_CHECK(ssl3d_optim_create_sgd(ctx, lr, (float)r->momentum, wd, r->nesterov && r->momentum > 0, &opt));
    else SSL3D_CHECK(ssl3d_optim_create_adam(ctx, lr, 0.9f, 0.999f, 1e-8f, wd, &opt));
    /* Deep-supervision heads (training-only) join the decoder's group 1. */
    ssl3d_module *mods[3] = { m->encoder, m->head, m->aux };
    ssl3d_status st = SSL3D_OK;
    for (int g = 0; g < (m->aux ? 3 : 2) && st == SSL3D_OK; g++) {
        int32_t cnt = 0;
        st = ssl3d_module_params(ctx, mods[g], NULL, 0, &cnt);
        ssl3d_tensor **ps = st == SSL3D_OK ? calloc((size_t)cnt + 1, sizeof *ps) : NULL;
        if (st == SSL3D_OK && !ps) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
        if (st == SSL3D_OK) st = ssl3d_module_params(ctx, mods[g], ps, cnt, &cnt);
        if (st == SSL3D_OK) st = ssl3d_optim_add_params(ctx, opt, ps, cnt, g < 1 ? g : 1);
        free(ps);
    }
    if (st == SSL3D_OK) st = ssl3d_optim_set_group_frozen(ctx, opt, 0, freeze);
    if (st != SSL3D_OK) { ssl3d_optim_release(opt); return st; }
    *out = opt;
    return SSL3D_OK;
}

ssl3d_status ft_make_schedule(ssl3d_ctx *ctx, const ft_recipe *r, int64_t total, ssl3d_lr_schedule **out) {
    const float lr = (float)ft_recipe_lr(r);
    /* Auto warm-up: 2% of the run (a short ramp protects batch-norm statistics and the
     * 0.99 momentum buffer in the first steps from scratch; nnU-Net has none). */
    int64_t w = r->lr_warmup >= 0 ? r->lr_warmup : total / 50;
    if (w >= total) w = total - 1;
    if (w < 0) w = 0;
    if (r->schedule == FT_SCHED_CONSTANT || total < 2) return ssl3d_lr_schedule_create_constant(ctx, lr, w, out);
    if (r->schedule == FT_SCHED_COSINE) return ssl3d_lr_schedule_create_cosine(ctx, lr, w, total, 0.0f, out);
    return ssl3d_lr_schedule_create_poly(ctx, lr, w, total, (float)r->power, out);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void ft_auto_patch_batch(const int64_t *shapes, int64_t n, int32_t multiple, int64_t voxel_budget, int32_t dims,
                         int32_t *patch, int32_t *batch) {
    int64_t med[3] = { 1, 1, 1 };
    int64_t *v = malloc((size_t)(n + 1) * sizeof *v);
    for (int ax = 0; ax < 3 && v && n > 0; ax++) {
        for (int64_t i = 0; i < n; i++) v[i] = shapes[3 * i + ax];
        qsort(v, (size_t)n, sizeof *v, cmp_i64);
        med[ax] = v[n / 2];
    }
    free(v);
    const int d = dims == 2 ? 2 : 3;
    double g = d == 3 ? cbrt((double)med[0] * (double)med[1] * (double)med[2]) : sqrt((double)med[1] * (double)med[2]);
    int64_t side = ((int64_t)ceil(g - 1e-9) + multiple - 1) / multiple * multiple;
    double capd = d == 3 ? cbrt((double)voxel_budget / 2.0) : sqrt((double)voxel_budget / 2.0);
    int64_t cap = (int64_t)floor(capd + 1e-9) / multiple * multiple;
    if (cap < multiple) cap = multiple;
    if (side > cap) side = cap;
    if (side < multiple) side = multiple;
    int64_t vox = d == 3 ? side * side * side : side * side, b = voxel_budget / vox;
    const int64_t bmax = d == 3 ? 16 : 64;
    *patch = (int32_t)side;
    *batch = (int32_t)(b < 2 ? 2 : b > bmax ? bmax : b);
}

/* Balanced sampling: position i draws a class uniformly among the classes present, then
 * a case of that class uniformly (with replacement), so every class is seen equally
 * often whatever its prevalence. */
void ft_balanced_order(uint64_t seed, uint64_t stream, const int32_t *cls, int64_t n, int32_t K, int64_t *order) {
    int64_t *count = calloc((size_t)K + 1, sizeof *count);
    int32_t *present = malloc(((size_t)K + 1) * sizeof *present);
    if (!count || !present || n < 1) {   /* cannot balance: plain permutation */
        free(count); free(present);
        ft_permutation(seed, stream, n, order);
        return;
    }
    int32_t np = 0;
    for (int64_t i = 0; i < n; i++) if (cls[i] >= 0 && cls[i] < K) count[cls[i]]++;
    for (int32_t k = 0; k < K; k++) if (count[k]) present[np++] = k;
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, stream ^ 0xba1a0ce000000000ull);
    for (int64_t i = 0; i < n; i++) {
        int32_t k = np ? present[ssl3d_rng_below(&r, (uint32_t)np)] : 0;
        int64_t j = (int64_t)ssl3d_rng_below(&r, (uint32_t)(count[k] ? count[k] : 1)), pick = 0;
        for (int64_t c = 0; c < n; c++)
            if (cls[c] == k && j-- == 0) { pick = c; break; }
        order[i] = pick;
    }
    free(count); free(present);
}
