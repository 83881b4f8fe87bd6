/* The fine-tuning loop: training / validation case split, nested label fractions, random
 * augmented crops, scratch / frozen / warm-up modes, validation every val_every epochs and
 * best-checkpoint selection. The recipe (augmentation, optimiser, schedule, auto patch)
 * lives in finetune_augment.c and finetune_schedule.c. docs/finetune.md describes the
 * protocol. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "finetune_internal.h"
#include "finetune_dist.h"
#include "finetune_recipe.h"
#include "finetune_deepsup.h"

/* RNG streams of the loop (fixed so that runs are reproducible from the seed). */
#define FT_EPOCH_STREAM 0xe90c0000ull
#define FT_CROP_STREAM 0xc0000000ull

enum { SELECT_DICE = 0, SELECT_ACC = 1, SELECT_AUC = 2, SELECT_QWK = 3 };

typedef struct ft_opts {
    int32_t mode, warmup_epochs, epochs, batch, patch, flip, steps_per_epoch, frozen_norm_train, window;
    int32_t input_norm, select;
    int32_t prefetch;        /* on a device: upload the next step's batch during this one (default 1) */
    double fraction, val_fraction, fg_prob, overlap;
    uint64_t seed;
    ft_recipe rc;
} ft_opts;

static ssl3d_status parse_int(ssl3d_ctx *ctx, const char *k, const char *v, int32_t lo, int32_t hi, int32_t *out) {
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: option %s=%s must be an integer in [%d,%d]",
                               k, v, (int)lo, (int)hi);
    *out = (int32_t)x;
    return SSL3D_OK;
}

static ssl3d_status parse_num(ssl3d_ctx *ctx, const char *k, const char *v, double lo, double hi, int lo_open,
                              double *out) {
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < lo || (lo_open && x == lo) || x > hi)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: option %s=%s must be a number in %c%g, %g]",
                               k, v, lo_open ? '(' : '[', lo, hi);
    *out = x;
    return SSL3D_OK;
}

static ssl3d_status parse_opts(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const char *options, ft_opts *o) {
    memset(o, 0, sizeof *o);
    o->mode = SSL3D_FT_SCRATCH; o->warmup_epochs = 5; o->epochs = 20; o->batch = 0;
    o->fraction = 1; o->val_fraction = 0.2; o->patch = m->patch; o->flip = m->kind == SSL3D_FT_SEGMENT; o->fg_prob = 0.33;
    o->overlap = 0.5; o->window = -1; o->input_norm = m->input_norm; o->prefetch = 1;
    o->select = m->kind == SSL3D_FT_SEGMENT ? SELECT_DICE : m->ordinal ? SELECT_QWK : SELECT_AUC;
    ft_recipe_defaults(&o->rc, m->kind);
    if (!options) options = "";
    size_t len = strlen(options);
    char *buf = malloc(len + 1);
    if (!buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    memcpy(buf, options, len + 1);
    ssl3d_status st = SSL3D_OK;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && st == SSL3D_OK; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        char *eq = strchr(tok, '=');
        if (!eq) { st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: option '%s' is not key=value", tok); break; }
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        int32_t iv;
        double dv;
        if (!strcmp(k, "mode")) {
            if (!strcmp(v, "scratch")) o->mode = SSL3D_FT_SCRATCH;
            else if (!strcmp(v, "frozen")) o->mode = SSL3D_FT_FROZEN;
            else if (!strcmp(v, "warmup")) o->mode = SSL3D_FT_WARMUP;
            else st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: mode=%s: expected scratch, frozen or warmup", v);
        } else if (!strcmp(k, "warmup_epochs")) st = parse_int(ctx, k, v, 0, 1000000, &o->warmup_epochs);
        else if (!strcmp(k, "epochs")) st = parse_int(ctx, k, v, 1, 1000000, &o->epochs);
        else if (!strcmp(k, "batch")) st = parse_int(ctx, k, v, 0, 65536, &o->batch);
        else if (!strcmp(k, "patch")) st = parse_int(ctx, k, v, 0, 65536, &o->patch);
        else if (!strcmp(k, "flip")) st = parse_int(ctx, k, v, 0, 1, &o->flip);
        else if (!strcmp(k, "prefetch")) st = parse_int(ctx, k, v, 0, 1, &o->prefetch);
        else if (!strcmp(k, "steps_per_epoch")) st = parse_int(ctx, k, v, 0, 100000000, &o->steps_per_epoch);
        else if (!strcmp(k, "window")) st = parse_int(ctx, k, v, -1, 65536, &o->window);
        else if (!strcmp(k, "fraction")) st = parse_num(ctx, k, v, 0, 1, 1, &o->fraction);
        else if (!strcmp(k, "val_fraction")) st = parse_num(ctx, k, v, 0, 0.9, 0, &o->val_fraction);
        else if (!strcmp(k, "fg_prob")) st = parse_num(ctx, k, v, 0, 1, 0, &o->fg_prob);
        else if (!strcmp(k, "overlap")) st = parse_num(ctx, k, v, 0, 0.99, 0, &o->overlap);
        else if (!strcmp(k, "seed")) {
            char *end = NULL;
            unsigned long long s = strtoull(v, &end, 10);
            if (end == v || *end || *v == '-') st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: seed=%s is not a non-negative integer", v);
            o->seed = s;
        } else if (!strcmp(k, "frozen_norm")) {
            if (!strcmp(v, "eval")) o->frozen_norm_train = 0;
            else if (!strcmp(v, "train")) o->frozen_norm_train = 1;
            else st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: frozen_norm=%s: expected eval or train", v);
        } else if (!strcmp(k, "normalisation") || !strcmp(k, "normalization")) {
            o->input_norm = ft_input_norm_parse(v);
            if (o->input_norm < 0) st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: %s=%s: expected zscore, minmax or none", k, v);
        } else if (!strcmp(k, "select")) {
            static const char *names[] = { "dice", "acc", "auc", "qwk" };
            o->select = -1;
            for (int i = 0; i < 4; i++) if (!strcmp(v, names[i])) o->select = i;
            if (o->select < 0 || (o->select == SELECT_DICE) != (m->kind == SSL3D_FT_SEGMENT))
                st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: select=%s: expected %s", v,
                                     m->kind == SSL3D_FT_SEGMENT ? "dice" : "acc, auc or qwk");
        } else if (!ft_recipe_parse(ctx, &o->rc, k, v, &st))
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: unknown option '%s'", k);
        (void)iv; (void)dv;
    }
    free(buf);
    if (st != SSL3D_OK) return st;
    ft_recipe_finish(&o->rc, o->flip);
    if (o->rc.class_weights[0]) {
        if (m->kind != SSL3D_FT_CLASSIFY)
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: class_weights=%s is for classification "
                                   "models only", o->rc.class_weights);
        if (strcmp(o->rc.class_weights, "auto") && ft_class_weights_parse(o->rc.class_weights, 4096, NULL) != m->classes)
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: class_weights=%s: expected %d weights "
                                   "(one per class), separated by ':'", o->rc.class_weights, (int)m->classes);
    }
    if (m->kind == SSL3D_FT_SEGMENT) {
        int32_t M = 1 << m->levels;
        if (o->patch % M)
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: patch=%d is not a multiple of 2^levels = %d",
                                   (int)o->patch, (int)M);
        if (o->window > 0 && o->window % M)
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: window=%d is not a multiple of 2^levels = %d",
                                   (int)o->window, (int)M);
    }
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- cases in memory */

typedef struct ft_set {
    int64_t n;
    int64_t *cases;          /* manifest indices */
    ssl3d_tensor **x;        /* prepared images (C,D,H,W) */
    ssl3d_tensor **y;        /* segment: label maps (D,H,W) */
    int32_t *cls;            /* classify: labels */
    int64_t **fg;            /* segment: linear indices of foreground voxels */
    int64_t *nfg;
} ft_set;

static void set_free(ft_set *s) {
    for (int64_t i = 0; i < s->n; i++) {
        if (s->x) ssl3d_tensor_release(s->x[i]);
        if (s->y) ssl3d_tensor_release(s->y[i]);
        if (s->fg) free(s->fg[i]);
    }
    free(s->cases); free(s->x); free(s->y); free(s->cls); free(s->fg); free(s->nfg);
    memset(s, 0, sizeof *s);
}

/* Load cases [lo, hi) of s (the others stay NULL: another rank's validation share). */
static ssl3d_status set_load(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ssl3d_manifest *man, ft_set *s, int64_t lo,
                             int64_t hi) {
    s->x = calloc((size_t)s->n + 1, sizeof *s->x);
    s->y = calloc((size_t)s->n + 1, sizeof *s->y);
    s->cls = calloc((size_t)s->n + 1, sizeof *s->cls);
    s->fg = calloc((size_t)s->n + 1, sizeof *s->fg);
    s->nfg = calloc((size_t)s->n + 1, sizeof *s->nfg);
    if (!s->x || !s->y || !s->cls || !s->fg || !s->nfg) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    /* Classes of every case (the metrics need all of them; ft_load_case checks its range). */
    for (int64_t i = 0; i < s->n && m->kind != SSL3D_FT_SEGMENT; i++) s->cls[i] = ssl3d_manifest_case_label(man, s->cases[i]);
    for (int64_t i = lo; i < hi; i++) {
        SSL3D_CHECK(ft_load_case(ctx, m, man, s->cases[i], NULL, &s->x[i], m->kind == SSL3D_FT_SEGMENT ? &s->y[i] : NULL,
                                 &s->cls[i]));
        if (m->kind != SSL3D_FT_SEGMENT) continue;
        const int32_t *lv = ssl3d_tensor_host_data(s->y[i]);
        int64_t nv = s->y[i]->numel, k = 0;
        for (int64_t v = 0; v < nv; v++) {
            if (lv[v] < 0 || lv[v] >= m->classes)
                return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: label value %d outside the model's %d classes",
                                       ssl3d_manifest_case_label_path(man, s->cases[i]), (int)lv[v], (int)m->classes);
            k += lv[v] > 0;
        }
        s->nfg[i] = k;
        if (k) {
            s->fg[i] = malloc((size_t)k * sizeof(int64_t));
            if (!s->fg[i]) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
            k = 0;
            for (int64_t v = 0; v < nv; v++) if (lv[v] > 0) s->fg[i][k++] = v;
        }
    }
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- batches */

/* Random offset along an axis of size n for a window of size p (centred on `centre` when
 * centre >= 0), kept within [min(0, n-p), max(0, n-p)]. */
static int64_t crop_offset(ssl3d_rng *r, int64_t n, int64_t p, int64_t centre) {
    int64_t lo = n - p < 0 ? n - p : 0, hi = n - p > 0 ? n - p : 0;
    int64_t o = centre >= 0 ? centre - p / 2 : lo + (int64_t)ssl3d_rng_below(r, (uint32_t)(hi - lo + 1));
    return o < lo ? lo : o > hi ? hi : o;
}

/* Segmentation batch: x (B,C,p,p,p) / (B,C,p,p) and labels (B,p,p,p) / (B,p,p). */
static ssl3d_status seg_batch(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ft_set *s, const ft_opts *o,
                              const int64_t *order, int64_t first, int64_t step_id, ssl3d_tensor **xb,
                              ssl3d_tensor **yb) {
    const int64_t B = o->batch, C = m->in_channels, p = o->patch;
    const int is2d = m->dims == 2;
    int64_t xs[5] = { B, C, p, p, p }, ys[4] = { B, p, p, p };
    if (is2d) { xs[4] = 0; ys[3] = 0; }
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, is2d ? 4 : 5, xs, xb));
    ssl3d_status st = ssl3d_tensor_new(ctx, SSL3D_I32, is2d ? 3 : 4, ys, yb);
    if (st != SSL3D_OK) { ssl3d_tensor_release(*xb); return st; }
    uint32_t *xv = ssl3d_tensor_host_data(*xb), *yv = ssl3d_tensor_host_data(*yb);
    const int64_t pw[3] = { is2d ? 1 : p, p, p }, pv = pw[0] * pw[1] * pw[2];
    float *scratch = malloc(4 * (size_t)pv * sizeof *scratch);   /* blur, elastic field */
    if (!scratch) {
        ssl3d_tensor_release(*xb); ssl3d_tensor_release(*yb);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    }
    for (int64_t j = 0; j < B; j++) {
        ssl3d_rng r;
        ssl3d_rng_init(&r, o->seed, FT_CROP_STREAM + (uint64_t)step_id * 4096u + (uint64_t)j);
        int64_t i = order[(first + j) % s->n];
        const ssl3d_tensor *x = s->x[i];
        const int64_t D = x->shape[1], H = x->shape[2], W = x->shape[3];
        int64_t centre[3] = { -1, -1, -1 };
        if (s->nfg[i] > 0 && ssl3d_rng_uniform(&r) < o->fg_prob) {
            int64_t v = s->fg[i][ssl3d_rng_below(&r, (uint32_t)s->nfg[i])];
            centre[0] = v / (H * W); centre[1] = (v / W) % H; centre[2] = v % W;
        }
        int64_t off[3], S[3] = { D, H, W };
        const uint32_t *src = ssl3d_tensor_host_data(s->x[i]), *lsrc = ssl3d_tensor_host_data(s->y[i]);
        if (is2d) {
            /* One slice: the foreground voxel's, else a uniform one. */
            int64_t d = centre[0] >= 0 ? centre[0] : (int64_t)ssl3d_rng_below(&r, (uint32_t)D);
            off[0] = d;
        } else off[0] = crop_offset(&r, D, p, centre[0]);
        off[1] = crop_offset(&r, H, p, centre[1]);
        off[2] = crop_offset(&r, W, p, centre[2]);
        ft_aug_patch(&o->rc.aug, is2d, &r, (const float *)src, (const int32_t *)lsrc, C, S, off, pw,
                     (float *)xv + j * C * pv, (int32_t *)yv + j * pv, scratch, ctx->threads);
    }
    free(scratch);
    return SSL3D_OK;
}

/* Classification batch: whole prepared images, random flips. */
static ssl3d_status cls_batch(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ft_set *s, const ft_opts *o,
                              const int64_t *order, int64_t first, int64_t step_id, ssl3d_tensor **xb,
                              ssl3d_tensor **yb) {
    const int64_t B = o->batch, C = m->in_channels;
    const ssl3d_tensor *x0 = s->x[order[first % s->n]];
    const int64_t S[3] = { x0->shape[1], x0->shape[2], x0->shape[3] }, sv = S[0] * S[1] * S[2];
    int64_t xs[5] = { B, C, S[0], S[1], S[2] }, ys[1] = { B };
    if (m->dims == 2) { xs[2] = S[1]; xs[3] = S[2]; }
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, m->dims == 2 ? 4 : 5, xs, xb));
    ssl3d_status st = ssl3d_tensor_new(ctx, SSL3D_I32, 1, ys, yb);
    if (st != SSL3D_OK) { ssl3d_tensor_release(*xb); return st; }
    uint32_t *xv = ssl3d_tensor_host_data(*xb);
    int32_t *yv = ssl3d_tensor_host_data(*yb);
    const int64_t zero[3] = { 0, 0, 0 };
    float *scratch = malloc(4 * (size_t)sv * sizeof *scratch);   /* blur, elastic field */
    if (!scratch) {
        ssl3d_tensor_release(*xb); ssl3d_tensor_release(*yb);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    }
    for (int64_t j = 0; j < B; j++) {
        int64_t i = order[(first + j) % s->n];
        if (s->x[i]->numel != x0->numel) {
            ssl3d_tensor_release(*xb); ssl3d_tensor_release(*yb); free(scratch);
            return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "ssl3d_ft_train: %s differs in size from the other images "
                                   "(set patch= to pad/crop every image to one size)",
                                   "a training image");
        }
        ssl3d_rng r;
        ssl3d_rng_init(&r, o->seed, FT_CROP_STREAM + (uint64_t)step_id * 4096u + (uint64_t)j);
        ft_aug_patch(&o->rc.aug, m->dims == 2, &r, ssl3d_tensor_host_data(s->x[i]), NULL, C, S, zero, S,
                     (float *)xv + j * C * sv, NULL, scratch, ctx->threads);
        yv[j] = s->cls[i];
    }
    free(scratch);
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- batches to the model

 * Each step's batch (inputs, labels, deep supervision's label maps) is made in the data
 * context and goes to the model's context once. On a device (data context != model
 * context) the batch of step s + 1 is made and its upload begun while step s computes
 * (after its forward is queued): on CUDA it is copied on the copy stream from pinned
 * memory, and step s + 1's kernels wait for it on the device, the host does not. The
 * batches are pure functions of (seed, step, order), so making one early changes no
 * value. With one host context nothing is copied and the order of work is unchanged. */

#define FT_MAX_DS 16

typedef struct ft_upload {
    ssl3d_upload *x, *y, *ds[FT_MAX_DS];   /* ds[0] unused */
} ft_upload;

static void upload_drop(ssl3d_ctx *ctx, ft_upload *u) {
    ssl3d_upload_drop(ctx, u->x);
    ssl3d_upload_drop(ctx, u->y);
    for (int i = 0; i < FT_MAX_DS; i++) ssl3d_upload_drop(ctx, u->ds[i]);
    memset(u, 0, sizeof *u);
}

/* Make step `step_id`'s batch (its samples from position `first` of order) in dctx and
 * begin its upload to ctx; the host tensors are released. On failure nothing is left. */
static ssl3d_status batch_begin(ssl3d_ctx *ctx, ssl3d_ctx *dctx, const ssl3d_ftmodel *m, const ft_set *s,
                                const ft_opts *o, const int64_t *order, int64_t first, int64_t step_id, int32_t ds_n,
                                ft_upload *u) {
    ssl3d_tensor *xb = NULL, *yb = NULL, *ds[FT_MAX_DS] = { 0 };
    memset(u, 0, sizeof *u);
    ssl3d_status st = m->kind == SSL3D_FT_SEGMENT ? seg_batch(dctx, m, s, o, order, first, step_id, &xb, &yb)
                                                  : cls_batch(dctx, m, s, o, order, first, step_id, &xb, &yb);
    /* Label maps of the lower outputs: every 2^l-th voxel, made in host memory. */
    for (int32_t l = 1; l < ds_n && st == SSL3D_OK; l++) st = ft_ds_labels(dctx, yb, 1 << l, &ds[l]);
    if (st != SSL3D_OK && dctx != ctx) ssl3d_set_error(ctx, st, "%s", ssl3d_ctx_last_error(dctx));
    if (st == SSL3D_OK) st = ssl3d_upload_begin(ctx, xb, &u->x);
    if (st == SSL3D_OK) st = ssl3d_upload_begin(ctx, yb, &u->y);
    for (int32_t l = 1; l < ds_n && st == SSL3D_OK; l++) st = ssl3d_upload_begin(ctx, ds[l], &u->ds[l]);
    ssl3d_tensor_release(xb);
    ssl3d_tensor_release(yb);
    for (int32_t l = 0; l < FT_MAX_DS; l++) ssl3d_tensor_release(ds[l]);
    if (st != SSL3D_OK) upload_drop(ctx, u);
    return st;
}

/* The batch in ctx, for the work queued from now on. */
static void batch_take(ssl3d_ctx *ctx, ft_upload *u, ssl3d_tensor **xb, ssl3d_tensor **yb, ssl3d_tensor **ds) {
    *xb = ssl3d_upload_take(ctx, u->x);
    *yb = ssl3d_upload_take(ctx, u->y);
    for (int i = 1; i < FT_MAX_DS; i++) ds[i] = ssl3d_upload_take(ctx, u->ds[i]);
    memset(u, 0, sizeof *u);
}

/* ---------------------------------------------------------------- validation */

/* Validation metrics: [0] dice / acc, [1] auc, [2] qwk. Each rank evaluates its share
 * [first, first + count) of the cases (the ones it loaded); the per-case results (mean
 * foreground Dice; class probabilities and predictions) are gathered on every rank, which
 * then computes the metrics from all of them, in case order, as one process does. */
static ssl3d_status validate(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, const ft_set *v, const ft_opts *o,
                             int64_t first, int64_t count, double *met) {
    met[0] = met[1] = met[2] = NAN;
    if (v->n == 0) return SSL3D_OK;
    const int32_t K = m->classes;
    ssl3d_status st = SSL3D_OK;
    if (m->kind == SSL3D_FT_SEGMENT) {
        double *dice = calloc((size_t)K, sizeof *dice), *per_case = calloc((size_t)v->n, sizeof *per_case);
        if (!dice || !per_case) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
        for (int64_t i = first; i < first + count && st == SSL3D_OK; i++) {
            st = ft_segment_case(ctx, dctx, &m, 1, v->x[i], v->y[i], o->window, (float)o->overlap, dice, NULL);
            double s = 0;
            for (int32_t k = 1; k < K; k++) s += dice[k];
            per_case[i] = s / (K - 1);
        }
        if (st == SSL3D_OK) st = ft_dist_gather(ctx, per_case, v->n, sizeof *per_case);
        if (st == SSL3D_OK) {
            double sum = 0;
            for (int64_t i = 0; i < v->n; i++) sum += per_case[i];
            met[0] = sum / (double)v->n;
        }
        free(dice); free(per_case);
        return st;
    }
    float *probs = malloc((size_t)(v->n * K) * sizeof *probs);
    int32_t *pred = malloc((size_t)v->n * sizeof *pred);
    if (!probs || !pred) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    if (st == SSL3D_OK && count > 0) st = ft_classify_many(ctx, dctx, m, v->x + first, count, probs + first * K, pred + first);
    if (st == SSL3D_OK) st = ft_dist_gather(ctx, probs, v->n, (size_t)K * sizeof *probs);
    if (st == SSL3D_OK) st = ft_dist_gather(ctx, pred, v->n, sizeof *pred);
    if (st == SSL3D_OK) st = ft_class_metrics(ctx, probs, pred, v->cls, v->n, K, &met[0], &met[1], &met[2]);
    free(probs); free(pred);
    return st;
}

/* ---------------------------------------------------------------- the loop */

static int contains(const int64_t *v, int64_t n, int64_t x) {
    for (int64_t i = 0; i < n; i++) if (v[i] == x) return 1;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Training and validation cases (manifest indices). */
static ssl3d_status split_cases(ssl3d_ctx *ctx, const ssl3d_manifest *man, const int64_t *pool_cases, int64_t n_pool,
                                const ft_opts *o, ft_set *train, ft_set *val) {
    int64_t n = ssl3d_manifest_count(man), np = 0, nv = 0;
    int is_csv = ssl3d_manifest_kind(man) == SSL3D_MANIFEST_CSV;
    int64_t *pool = malloc((size_t)(n + 1) * sizeof *pool), *vals = malloc((size_t)(n + 1) * sizeof *vals);
    ssl3d_status st = (pool && vals) ? SSL3D_OK : ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    if (st == SSL3D_OK) {
        if (pool_cases) {
            for (int64_t i = 0; i < n_pool && st == SSL3D_OK; i++) {
                if (pool_cases[i] < 0 || pool_cases[i] >= n)
                    st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: pool case %lld out of range",
                                         (long long)pool_cases[i]);
                else if (ssl3d_manifest_case_split(man, pool_cases[i]) == SSL3D_SPLIT_TEST)
                    st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: case %s belongs to the test split "
                                         "and cannot be used for training",
                                         ssl3d_manifest_case_image(man, pool_cases[i], 0));
                else if (!contains(pool, np, pool_cases[i])) pool[np++] = pool_cases[i];
            }
            if (st == SSL3D_OK) qsort(pool, (size_t)np, sizeof *pool, cmp_i64);
        } else st = ssl3d_ft_select_cases(ctx, man, is_csv ? SSL3D_SPLIT_TRAIN : -1, NULL, pool, n, &np);
    }
    if (st == SSL3D_OK) st = ssl3d_ft_select_cases(ctx, man, SSL3D_SPLIT_VAL, NULL, vals, n, &nv);
    if (st == SSL3D_OK && is_csv == 0) {
        /* MSD: only an explicit "validation" list counts as a val split. */
        int64_t k = 0;
        for (int64_t i = 0; i < nv; i++)
            if (ssl3d_manifest_case_split(man, vals[i]) == SSL3D_SPLIT_VAL) vals[k++] = vals[i];
        nv = k;
    }
    if (st == SSL3D_OK) {
        if (nv > 0) {
            int64_t k = 0;   /* the val split is never trained on */
            for (int64_t i = 0; i < np; i++) if (!contains(vals, nv, pool[i])) pool[k++] = pool[i];
            np = k;
        } else if (o->val_fraction > 0 && np >= 2) {
            int64_t *tr = malloc((size_t)np * sizeof *tr), ntr = 0;
            if (!tr) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
            if (st == SSL3D_OK) st = ssl3d_split_train_val(ctx, pool, np, o->val_fraction, o->seed, tr, &ntr, vals, &nv);
            if (st == SSL3D_OK) { memcpy(pool, tr, (size_t)ntr * sizeof *tr); np = ntr; }
            free(tr);
        }
    }
    if (st == SSL3D_OK && np < 1)
        st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: no labelled training cases in the manifest%s",
                             pool_cases ? " selection" : "");
    if (st == SSL3D_OK) {
        int64_t k = 0;
        int64_t *sub = malloc((size_t)np * sizeof *sub);
        if (!sub) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
        if (st == SSL3D_OK) st = ssl3d_subset_indices(ctx, np, o->seed, o->fraction, sub, np, &k);
        if (st == SSL3D_OK) {
            train->n = k;
            train->cases = malloc((size_t)k * sizeof(int64_t));
            val->n = nv;
            val->cases = malloc((size_t)(nv + 1) * sizeof(int64_t));
            if (!train->cases || !val->cases) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
            for (int64_t i = 0; st == SSL3D_OK && i < k; i++) train->cases[i] = pool[sub[i]];
            for (int64_t i = 0; st == SSL3D_OK && i < nv; i++) val->cases[i] = vals[i];
        }
        free(sub);
    }
    free(pool); free(vals);
    return st;
}

/* Patch and batch not given: segment, the cube of the median training shape within the
 * voxel budget (ft_auto_patch_batch); classify, batch = budget / image voxels in [2, 64]
 * (default budget 2^19: 16 volumes of 32^3). */
static ssl3d_status resolve_sizes(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ft_set *train, ft_opts *o) {
    if (m->kind == SSL3D_FT_CLASSIFY) {
        if (o->batch == 0) {
            int64_t vox = train->n ? train->x[0]->numel / m->in_channels : 1;
            int64_t b = o->rc.voxel_budget / (vox > 0 ? vox : 1);
            o->batch = (int32_t)(b < 2 ? 2 : b > 64 ? 64 : b);
        }
        return SSL3D_OK;
    }
    if (o->patch == 0 || o->batch == 0) {
        int64_t *shapes = malloc((size_t)(3 * train->n + 3) * sizeof *shapes);
        if (!shapes) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
        for (int64_t i = 0; i < train->n; i++)
            for (int a = 0; a < 3; a++) shapes[3 * i + a] = train->x[i]->shape[1 + a];
        if (m->dims == 2)   /* a 2D model's patch is a slice: the median in-plane shape */
            for (int64_t i = 0; i < train->n; i++) shapes[3 * i] = 1;
        int32_t patch = 0, batch = 0;
        ft_auto_patch_batch(shapes, train->n, 1 << m->levels, o->rc.voxel_budget, m->dims, &patch, &batch);
        free(shapes);
        if (o->patch == 0) o->patch = patch;
        if (o->batch == 0) o->batch = batch;
    }
    return ssl3d_ftmodel_set_patch(ctx, m, o->patch);
}

static ssl3d_status set_encoder_grad(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t on) {
    for (int32_t i = 0; i < ssl3d_module_tensor_count(m->encoder); i++)
        if (ssl3d_module_tensor_trainable(m->encoder, i))
            SSL3D_CHECK(ssl3d_tensor_set_requires_grad(ctx, ssl3d_module_tensor(m->encoder, i), on));
    return SSL3D_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void json_num(char *buf, size_t cap, const char *key, double v) {
    size_t l = strlen(buf);
    if (isfinite(v)) snprintf(buf + l, cap - l, ", \"%s\": %.6g", key, v);
    else snprintf(buf + l, cap - l, ", \"%s\": null", key);
}

ssl3d_status ssl3d_ft_train(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_manifest *man, const int64_t *pool_cases,
                            int64_t n_pool, const char *options, ssl3d_ft_epoch_fn epoch_cb, void *user) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_ctx *dctx = NULL;
    SSL3D_CHECK(ft_data_ctx(ctx, &dctx));
    ssl3d_status st = ft_train_in(ctx, dctx, m, man, pool_cases, n_pool, options, epoch_cb, user);
    return ft_data_ctx_done(ctx, dctx, st);
}

/* The cases, their batches (crops, augmentation) and the validation metrics live in dctx
 * (host memory); each batch is copied to ctx, where the model, loss and optimiser run. */
ssl3d_status ft_train_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, const ssl3d_manifest *man,
                         const int64_t *pool_cases, int64_t n_pool, const char *options, ssl3d_ft_epoch_fn epoch_cb,
                         void *user) {
    SSL3D_CHECK_ARG(ctx, m && man, "ssl3d_ft_train: %s is NULL", m ? "manifest" : "model");
    SSL3D_CHECK_ARG(ctx, !pool_cases || n_pool >= 1, "ssl3d_ft_train: n_pool must be >= 1 with pool_cases");
    ft_opts o;
    SSL3D_CHECK(parse_opts(ctx, m, options, &o));
    if (m->kind == SSL3D_FT_SEGMENT && ssl3d_manifest_kind(man) != SSL3D_MANIFEST_MSD)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: segmentation needs an MSD dataset.json "
                                                           "manifest (label maps), got a CSV");
    if (m->kind == SSL3D_FT_CLASSIFY && ssl3d_manifest_kind(man) != SSL3D_MANIFEST_CSV)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: classification needs a CSV manifest "
                                                           "(file,label,split)");
    SSL3D_CHECK(ssl3d_ftmodel_set_input_norm(ctx, m, o.input_norm));
    if (m->kind == SSL3D_FT_CLASSIFY) SSL3D_CHECK(ssl3d_ftmodel_set_patch(ctx, m, o.patch));
    const int32_t prev_tta = m->tta;
    ssl3d_lr_schedule *sched = NULL;
    ft_set train = { 0 }, val = { 0 };
    ft_snapshot best = { 0 };
    ssl3d_optim *opt = NULL;
    int64_t *order = NULL;
    ssl3d_status st = split_cases(ctx, man, pool_cases, n_pool, &o, &train, &val);
    int64_t val_first = 0, val_count = 0;   /* this rank's validation share */
    ft_dist_share(ctx, val.n, &val_first, &val_count);
    if (st == SSL3D_OK) st = set_load(dctx, m, man, &train, 0, train.n);
    if (st == SSL3D_OK) st = set_load(dctx, m, man, &val, val_first, val_first + val_count);
    if (st == SSL3D_OK) st = resolve_sizes(ctx, m, &train, &o);
    order = malloc((size_t)(train.n + 1) * sizeof *order);
    if (st == SSL3D_OK && !order) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    /* Class weights of the loss: given, or from the training subset's labels. */
    double *cw = o.rc.class_weights[0] ? malloc((size_t)m->classes * sizeof *cw) : NULL;
    if (st == SSL3D_OK && o.rc.class_weights[0] && !cw) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_train: out of memory");
    if (st == SSL3D_OK && cw) {
        if (!strcmp(o.rc.class_weights, "auto")) ft_class_weights_auto(train.cls, train.n, m->classes, cw);
        else ft_class_weights_parse(o.rc.class_weights, m->classes, cw);
    }
    /* Deep supervision: fresh heads for this run (training-only, released at the end). */
    const int32_t ds_n = o.rc.deep_supervision ? ft_ds_outputs(m->levels) : 0;
    double ds_w[16] = { 0 };
    if (st == SSL3D_OK && o.rc.deep_supervision) st = ft_ds_create(ctx, m);
    if (ds_n) ft_ds_weights(ds_n, ds_w);
    const int frozen_start = o.mode == SSL3D_FT_FROZEN || (o.mode == SSL3D_FT_WARMUP && o.warmup_epochs > 0);
    int frozen = frozen_start;
    if (st == SSL3D_OK) st = set_encoder_grad(ctx, m, !frozen);
    if (st == SSL3D_OK) st = ft_make_optim(ctx, m, &o.rc, frozen, &opt);
    if (o.batch < 1) o.batch = 1;   /* only when loading failed before the auto batch was set */
    if (st == SSL3D_OK) st = ft_dist_begin(ctx, m, o.batch);
    const int64_t steps = o.steps_per_epoch > 0 ? o.steps_per_epoch : (train.n + o.batch - 1) / o.batch;
    if (st == SSL3D_OK) st = ft_make_schedule(ctx, &o.rc, (int64_t)o.epochs * steps, &sched);
    m->tta = o.rc.tta;
    double lr_now = ft_recipe_lr(&o.rc);
    double best_metric = -INFINITY, best_tie = -INFINITY;
    int have_best = 0;
    int32_t best_epoch = 0, start_epoch = 0;
    int64_t step_id = 0;
    char okey[2048];
    ft_resume_options_key(options, okey, sizeof okey);
    if (st == SSL3D_OK && o.rc.resume[0] && ft_resume_exists(o.rc.resume)) {
        /* Continue an interrupted run after its last finished epoch. */
        ssl3d_checkpoint *rck = NULL;
        ft_progress pr;
        st = ft_resume_read(ctx, o.rc.resume, okey, &rck, &pr);
        if (st == SSL3D_OK && frozen && !pr.frozen) {   /* its warm-up was over */
            frozen = 0;
            ssl3d_optim_release(opt);
            opt = NULL;
            st = set_encoder_grad(ctx, m, 1);
            if (st == SSL3D_OK) st = ft_make_optim(ctx, m, &o.rc, 0, &opt);
        }
        if (st == SSL3D_OK) st = ft_resume_apply(ctx, rck, m, opt, &best, &pr);
        ssl3d_checkpoint_release(rck);
        if (st == SSL3D_OK) {
            start_epoch = pr.epoch; step_id = pr.step; have_best = pr.have_best; best_epoch = pr.best_epoch;
            best_metric = pr.best_metric; best_tie = pr.best_tie;
        }
    }
    int32_t prev_grad = ssl3d_set_grad_enabled(ctx, 1);
    /* On a device the next step's batch is uploaded while this one computes (above). */
    const int prefetch = dctx != ctx && o.prefetch;
    ft_upload next;
    int have_next = 0;
    memset(&next, 0, sizeof next);
    for (int32_t epoch = start_epoch; epoch < o.epochs && st == SSL3D_OK; epoch++) {
        if (o.mode == SSL3D_FT_WARMUP && frozen && epoch >= o.warmup_epochs) {
            /* End of warm-up: all layers trained, with a fresh optimiser. */
            frozen = 0;
            ssl3d_optim_release(opt);
            opt = NULL;
            st = set_encoder_grad(ctx, m, 1);
            if (st == SSL3D_OK) st = ft_make_optim(ctx, m, &o.rc, 0, &opt);
            if (st != SSL3D_OK) break;
        }
        const int enc_train = !frozen || o.frozen_norm_train;
        double t0 = now_s(), loss_sum = 0;
        if (o.rc.balance == FT_BALANCE_SAMPLE && m->kind == SSL3D_FT_CLASSIFY)
            ft_balanced_order(o.seed, FT_EPOCH_STREAM + (uint64_t)epoch, train.cls, train.n, m->classes, order);
        else ft_permutation(o.seed, FT_EPOCH_STREAM + (uint64_t)epoch, train.n, order);
        for (int64_t s = 0; s < steps && st == SSL3D_OK; s++, step_id++) {
            ssl3d_tensor *xb = NULL, *yb = NULL, *lg = NULL, *loss = NULL;
            ssl3d_tensor *ds_out[FT_MAX_DS] = { 0 }, *ds_lab[FT_MAX_DS] = { 0 };   /* deep supervision: [0] unused */
            int64_t first = s * o.batch;
            /* The batch goes to the model once per step: begun during the previous step, or now. */
            if (!have_next) st = batch_begin(ctx, dctx, m, &train, &o, order, first, step_id, ds_n, &next);
            if (st == SSL3D_OK) batch_take(ctx, &next, &xb, &yb, ds_lab);
            have_next = 0;
            if (st == SSL3D_OK) st = ft_dist_shard(ctx, &xb, &yb);
            for (int32_t l = 1; l < ds_n && st == SSL3D_OK; l++) st = ft_dist_shard_one(ctx, &ds_lab[l]);
            lr_now = ssl3d_lr_at(sched, step_id);
            if (st == SSL3D_OK) st = ssl3d_optim_set_lr(ctx, opt, (float)lr_now);
            if (st == SSL3D_OK) st = ssl3d_optim_zero_grad(ctx, opt);
            if (ds_n) {
                if (st == SSL3D_OK) st = ft_ds_forward(ctx, m, xb, 1, enc_train, ds_out);
                ds_lab[0] = yb;
                if (st == SSL3D_OK) st = ft_ds_loss(ctx, ds_n, ds_out, ds_lab, ds_w, &loss);
                ds_lab[0] = NULL;
            } else if (st == SSL3D_OK) st = ssl3d_ftmodel_forward(ctx, m, xb, 1, enc_train, &lg);
            if (st == SSL3D_OK && !ds_n)
                st = cw ? ft_weighted_loss(ctx, m, lg, yb, cw, &loss) : ssl3d_ftmodel_loss(ctx, m, lg, yb, &loss);
            /* The forward is queued: make the next batch and begin its upload, so that it is
             * copied while this step's backward and optimiser step run. */
            if (st == SSL3D_OK && prefetch && s + 1 < steps) {
                st = batch_begin(ctx, dctx, m, &train, &o, order, first + o.batch, step_id + 1, ds_n, &next);
                have_next = st == SSL3D_OK;
            }
            if (st == SSL3D_OK) {
                float lv = 0;
                st = ssl3d_tensor_read(ctx, loss, &lv, 4);
                loss_sum += lv;
            }
            if (st == SSL3D_OK) st = ssl3d_backward(ctx, loss);
            if (st == SSL3D_OK) st = ft_dist_average_grads(ctx, m);
            if (st == SSL3D_OK && o.rc.grad_clip > 0) st = ssl3d_optim_clip_grad_norm(ctx, opt, (float)o.rc.grad_clip, NULL);
            if (st == SSL3D_OK) st = ssl3d_optim_step(ctx, opt);
            ssl3d_tape_reset(ctx);
            ssl3d_tensor_release(xb); ssl3d_tensor_release(yb); ssl3d_tensor_release(lg); ssl3d_tensor_release(loss);
            for (int32_t l = 0; l < FT_MAX_DS; l++) { ssl3d_tensor_release(ds_out[l]); ssl3d_tensor_release(ds_lab[l]); }
        }
        if (have_next) { upload_drop(ctx, &next); have_next = 0; }   /* a step failed after beginning it */
        loss_sum = ft_dist_mean(ctx, loss_sum, &st);
        if (st != SSL3D_OK) break;
        /* Validation every val_every epochs and after the last one. */
        const int validated = (epoch + 1) % o.rc.val_every == 0 || epoch + 1 == o.epochs;
        double met[3] = { NAN, NAN, NAN };
        if (validated) st = validate(ctx, dctx, m, &val, &o, val_first, val_count, met);
        if (st != SSL3D_OK) break;
        double sel = o.select == SELECT_DICE || o.select == SELECT_ACC ? met[0] : o.select == SELECT_AUC ? met[1] : met[2];
        double tie = o.select == SELECT_ACC ? met[1] : o.select == SELECT_AUC ? met[0] : -INFINITY;
        if (isnan(sel)) sel = -INFINITY;
        if (isnan(tie)) tie = -INFINITY;
        int improved = validated &&
                       (val.n == 0 || !have_best || sel > best_metric || (sel == best_metric && tie > best_tie));
        if (improved) {
            st = ft_snapshot_take(ctx, m, &best);
            if (st != SSL3D_OK) break;
            have_best = 1; best_metric = sel; best_tie = tie; best_epoch = epoch + 1;
        }
        if (o.rc.resume[0] && ssl3d_ctx_comm_rank(ctx) == 0) {   /* ranks hold the same state */
            ft_progress pr = { epoch + 1, step_id, have_best, frozen, best_epoch, best_metric, best_tie };
            st = ft_resume_save(ctx, o.rc.resume, okey, m, opt, &best, &pr);
            if (st != SSL3D_OK) break;
        }
        if (epoch_cb) {
            char line[512];
            snprintf(line, sizeof line, "{\"epoch\": %d", (int)(epoch + 1));
            json_num(line, sizeof line, "loss", loss_sum / (double)steps);
            if (m->kind == SSL3D_FT_SEGMENT) json_num(line, sizeof line, "val_dice", met[0]);
            else {
                json_num(line, sizeof line, "val_acc", met[0]);
                json_num(line, sizeof line, "val_auc", met[1]);
                json_num(line, sizeof line, "val_qwk", met[2]);
            }
            size_t l = strlen(line);
            snprintf(line + l, sizeof line - l,
                     ", \"best\": %s, \"phase\": \"%s\", \"steps\": %lld, \"train_cases\": %lld, \"val_cases\": %lld",
                     improved ? "true" : "false", frozen ? "frozen" : "all", (long long)steps, (long long)train.n,
                     (long long)val.n);
            json_num(line, sizeof line, "lr", lr_now);
            l = strlen(line);
            snprintf(line + l, sizeof line - l, ", \"best_epoch\": %d", (int)best_epoch);
            json_num(line, sizeof line, "best_val", have_best ? best_metric : NAN);
            json_num(line, sizeof line, "seconds", now_s() - t0);
            l = strlen(line);
            snprintf(line + l, sizeof line - l, "}");
            if (epoch_cb(user, line)) break;
        }
    }
    ssl3d_set_grad_enabled(ctx, prev_grad);
    if (have_best) {
        ssl3d_status s2 = ft_snapshot_restore(ctx, m, &best);
        if (st == SSL3D_OK) st = s2;
    }
    ssl3d_status s3 = set_encoder_grad(ctx, m, 1);
    if (st == SSL3D_OK) st = s3;
    m->tta = prev_tta;
    ft_ds_release(m);
    ft_snapshot_free(&best);
    ssl3d_lr_schedule_release(sched);
    ssl3d_optim_release(opt);
    free(order);
    free(cw);
    set_free(&train);
    set_free(&val);
    return st;
}
