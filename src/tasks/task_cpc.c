/* Contrastive predictive coding (CPC) for dims 2 and 3, one N-d implementation.
 *
 * Per image: a window of side input_size (random in training, centred in evaluation) is
 * cut into the G^dims grid of patches of ssl3d_cpc_patches_overlap (disjoint by default,
 * option "overlap": so a target shares no voxel with its context). All patches
 * of all B images go through the shared encoder as ONE batch (M = B * G^dims); global
 * average pooling of the bottleneck and a linear map ("cpc_proj") give the latents
 * z (M, code_size). For every patch, the GRU ("cpc_gru") reads its inverted-pyramid
 * context (ssl3d_cpc_context: row i-1's 3x3 block then the patch itself) and its last
 * hidden state is the context vector c (M, hidden). A linear predictor per step l
 * ("cpc_pred1", "cpc_pred2", ...) maps c_(i,j,k) to a prediction of z_(i+l,j,k). The
 * loss is InfoNCE (van den Oord et al., eq. 4): for each (image, patch, step) with a
 * target, softmax cross-entropy of the true z's score against `negatives` other latents
 * drawn from other positions and other images of the batch (ssl3d_cpc_negatives).
 * Proxy accuracy: the true z scores strictly highest among its 1 + negatives candidates.
 *
 * Also here: the small row-table ops shared with the Exemplar task (task_cpc.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "task_cpc.h"
#include "task_window.h"
#include "../data/data_internal.h"
#include "../nn/module.h"
#include "../ops/rows.h"

/* ================================================================ row-table ops */

/* The ops themselves are in src/ops/rows.c, over the backend's rows kernels: the tasks
 * draw index lists on the host and never touch tensor memory. */

ssl3d_status task_gather_rows(ssl3d_ctx *ctx, ssl3d_tensor *x, const int32_t *idx, int64_t R, int32_t ndim,
                              const int64_t *shape, ssl3d_tensor **y) {
    return ssl3d_rows_gather(ctx, x, idx, R, ndim, shape, "task_gather_rows", y);
}

ssl3d_status task_cpc_logits(ssl3d_ctx *ctx, ssl3d_tensor *pred, ssl3d_tensor *z, const ssl3d_tensor *table,
                             int32_t K, float temperature, ssl3d_tensor **logits) {
    const char *fn = "task_cpc_logits";
    SSL3D_CHECK(ssl3d_check_f32(ctx, pred, fn, "pred"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, z, fn, "z"));
    SSL3D_CHECK(ssl3d_check_i32(ctx, table, fn, "table"));
    SSL3D_CHECK_SHAPE(ctx, z->ndim == 2 && pred->ndim == 2 && pred->shape[1] == z->shape[1] &&
                      pred->shape[0] % z->shape[0] == 0, "%s: pred must be (S*M,D) for z (M,D)", fn);
    SSL3D_CHECK_SHAPE(ctx, table->ndim == 2 && table->shape[1] >= 5, "%s: table must be (R, 4+n), n >= 1", fn);
    SSL3D_CHECK_ARG(ctx, K >= 1 && temperature > 0.0f, "%s: bad K or temperature", fn);
    const int64_t M = z->shape[0], S = pred->shape[0] / M;
    const int64_t R = table->shape[0], C = table->shape[1] - 3;
    /* The table is small and drawn on the host; read it through the API (a device
     * context keeps it in device memory). */
    int32_t *tb = malloc((size_t)table->numel * sizeof(int32_t));
    int32_t *q = malloc((size_t)R * sizeof(int32_t));
    int32_t *cand = malloc((size_t)(R * C) * sizeof(int32_t));
    ssl3d_status st = tb && q && cand ? ssl3d_tensor_read(ctx, table, tb, table->numel * 4)
                                      : ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    for (int64_t r = 0; r < R && st == SSL3D_OK; r++) {
        const int32_t *row = tb + r * (C + 3);
        const int64_t qi = ((int64_t)row[2] - 1) * M + (int64_t)row[0] * K + row[1];
        int ok = row[2] >= 1 && row[2] <= S && row[1] >= 0 && row[1] < K && qi >= 0 && qi < S * M;
        for (int64_t c = 0; c < C && ok; c++) ok = row[3 + c] >= 0 && row[3 + c] < M;
        if (!ok) st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: table row %lld out of range", fn, (long long)r);
        q[r] = (int32_t)qi;
        memcpy(cand + r * C, row + 3, (size_t)C * sizeof(int32_t));
    }
    if (st == SSL3D_OK) st = ssl3d_rows_scores(ctx, pred, z, q, cand, R, C, 1.0f / temperature, fn, logits);
    free(tb); free(q); free(cand);
    return st;
}

ssl3d_status task_infonce_first(ssl3d_ctx *ctx, ssl3d_tensor *logits, ssl3d_tensor **loss, int64_t *correct) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, logits, "task_infonce_first", "logits"));
    SSL3D_CHECK_SHAPE(ctx, logits->ndim == 2 && logits->shape[1] >= 2, "task_infonce_first: logits must be (R,C>=2)");
    const int64_t R = logits->shape[0], C = logits->shape[1];
    ssl3d_tensor *labels;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_I32, 1, &R, &labels));   /* zeros: the positive is column 0 */
    ssl3d_status st = ssl3d_cross_entropy(ctx, logits, labels, loss);
    ssl3d_tensor_release(labels);
    SSL3D_CHECK(st);
    /* The accuracy count on a host copy of the logits (R x C values, not differentiated). */
    float *L = malloc((size_t)(R * C) * sizeof(float));
    st = L ? ssl3d_tensor_read(ctx, logits, L, R * C * 4)
           : ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "task_infonce_first: out of memory");
    int64_t n = 0;
    for (int64_t r = 0; r < R && st == SSL3D_OK; r++) {
        int ok = 1;
        for (int64_t c = 1; c < C && ok; c++) ok = L[r * C] > L[r * C + c];
        n += ok;
    }
    free(L);
    if (st != SSL3D_OK) { ssl3d_tensor_release(*loss); *loss = NULL; return st; }
    *correct = n;
    return SSL3D_OK;
}

/* ================================================================ input checks and crops */

ssl3d_status task_input_region(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, int32_t image,
                               int64_t size, task_region *rg) {
    SSL3D_CHECK(task_crop_region(ctx, t, x, image, rg));
    ssl3d_status st = task_opt_int(t, "region") == TASK_REGION_INNER
                          ? task_region_require(ctx, t, rg, image, size, "the window of side input_size")
                          : SSL3D_OK;
    if (st != SSL3D_OK) task_region_free(rg);
    return st;
}

ssl3d_status task_crop_window(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, const task_region *rg,
                              int64_t size, int32_t training, uint64_t seed, int purpose, uint64_t sample,
                              ssl3d_tensor **out) {
    int64_t off[3], sz[3] = { size, size, size };
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, data_stream(purpose, sample));
    task_fg_window(x, t->dims, rg, sz, training, &r, off);
    return ssl3d_crop(ctx, x, off, sz, 0.0f, out);
}

ssl3d_status task_crop_input(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, int32_t image, int64_t size,
                             int32_t training, uint64_t seed, int purpose, uint64_t sample, ssl3d_tensor **out) {
    task_region rg;
    SSL3D_CHECK(task_input_region(ctx, t, x, image, size, &rg));
    const ssl3d_status st = task_crop_window(ctx, t, x, &rg, size, training, seed, purpose, sample, out);
    task_region_free(&rg);
    return st;
}

/* ================================================================ the task */

#define CPC_MAX_STEPS 4
#define TASK_MODULE_GRU 3   /* module kind of the GRU holder (nn.h has no GRU kind yet) */

typedef struct cpc_impl {
    ssl3d_gru *gru;                         /* owned by the "cpc_gru" module */
    ssl3d_module *proj, *gru_mod, *pred[CPC_MAX_STEPS];
    ssl3d_tensor *last_table;
} cpc_impl;

static void cpc_free_impl(void *p) {
    cpc_impl *c = p;
    if (!c) return;
    ssl3d_tensor_release(c->last_table);
    free(c);
}

static void gru_holder_free(void *p) { ssl3d_gru_release(p); }

/* A module that holds a GRU: its four tensors under PyTorch's names, so checkpoints
 * and optimisers see them like any head. */
static ssl3d_status gru_module_create(ssl3d_ctx *ctx, int32_t in, int32_t hidden, ssl3d_gru **gru,
                                      ssl3d_module **out) {
    ssl3d_gru *g;
    SSL3D_CHECK(ssl3d_gru_create(ctx, in, hidden, &g));
    ssl3d_module *m;
    ssl3d_status st = nn_module_new(ctx, TASK_MODULE_GRU, 0, &m);
    if (st != SSL3D_OK) { ssl3d_gru_release(g); return st; }
    m->impl = g; m->impl_free = gru_holder_free;
    for (int32_t i = 0; i < ssl3d_gru_tensor_count(g) && st == SSL3D_OK; i++)
        st = nn_module_add(m, ssl3d_gru_tensor(g, i), ssl3d_gru_tensor_trainable(g, i), "%s", ssl3d_gru_tensor_name(g, i));
    if (st != SSL3D_OK) { ssl3d_module_release(m); return st; }
    *gru = g; *out = m;
    return SSL3D_OK;
}

static void cpc_defaults(ssl3d_task *t) {
    /* CPU budget (docs/tasks.md, "Cost per step"): 32-voxel windows, 4 x 4 (x 4) disjoint
     * patches of 8 -> a 1-voxel bottleneck after 3 levels. */
    task_opt_default(t, "input_size", 32);
    task_opt_default(t, "levels", 3);
    task_opt_default(t, "grid", 4);
    task_opt_default(t, "code_size", 64);
    task_opt_default(t, "hidden", 128);
    task_opt_default(t, "steps", 2);
    task_opt_default(t, "negatives", t->dims == 3 ? 31 : 15);
    task_opt_default(t, "temperature", 1);
    task_opt_default(t, "overlap", 0);       /* disjoint patches: no shared voxels with the context */
}

/* Patch side of the task's grid over its input window; 0 when the window is too small. */
static int64_t cpc_patch_side(const ssl3d_task *t) {
    int64_t p = 0;
    if (ssl3d_cpc_grid(task_opt_int(t, "input_size"), task_opt_int(t, "grid"), task_opt(t, "overlap"), NULL, &p,
                       NULL) != 0)
        return 0;
    return p;
}

static ssl3d_status cpc_init(ssl3d_ctx *ctx, ssl3d_task *t) {
    const char *fn = "ssl3d_task_create(cpc)";
    const int32_t G = task_opt_int(t, "grid"), code = task_opt_int(t, "code_size");
    const int32_t hidden = task_opt_int(t, "hidden"), steps = task_opt_int(t, "steps");
    const int32_t neg = task_opt_int(t, "negatives"), levels = ssl3d_encoder_levels(t->modules[0]);
    const double temp = task_opt(t, "temperature");
    SSL3D_CHECK_ARG(ctx, G >= 2 && G <= 16, "%s: grid = %d outside [2, 16]", fn, (int)G);
    SSL3D_CHECK_ARG(ctx, code >= 1 && code <= 65536, "%s: code_size = %d outside [1, 65536]", fn, (int)code);
    SSL3D_CHECK_ARG(ctx, hidden >= 1 && hidden <= 65536, "%s: hidden = %d outside [1, 65536]", fn, (int)hidden);
    SSL3D_CHECK_ARG(ctx, steps >= 1 && steps <= CPC_MAX_STEPS && steps < G, "%s: steps = %d outside [1, min(%d, grid - 1)]",
                    fn, (int)steps, CPC_MAX_STEPS);
    SSL3D_CHECK_ARG(ctx, neg >= 1, "%s: negatives = %d must be >= 1", fn, (int)neg);
    SSL3D_CHECK_ARG(ctx, temp > 0 && isfinite(temp), "%s: temperature = %g must be > 0", fn, temp);
    SSL3D_CHECK(task_opt_check(ctx, t, "overlap", 0.0, SSL3D_CPC_MAX_OVERLAP));
    const int64_t p = cpc_patch_side(t);
    SSL3D_CHECK_ARG(ctx, levels >= 1 && p >= ((int64_t)1 << levels),
                    "%s: input_size = %d gives patches of side %lld with grid = %d and overlap = %g; the encoder's %d "
                    "levels need >= %lld", fn, task_opt_int(t, "input_size"), (long long)p, (int)G,
                    task_opt(t, "overlap"), (int)levels, (long long)1 << levels);
    cpc_impl *c = calloc(1, sizeof *c);
    if (!c) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    t->impl = c;   /* freed by the common release through free_impl */
    ssl3d_module *m;
    SSL3D_CHECK(ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(t->modules[0]), 0, code, &m));
    SSL3D_CHECK(task_add_module(t, m, "cpc_proj"));
    c->proj = m;
    SSL3D_CHECK(gru_module_create(ctx, code, hidden, &c->gru, &m));
    SSL3D_CHECK(task_add_module(t, m, "cpc_gru"));
    c->gru_mod = m;
    for (int32_t l = 0; l < steps; l++) {
        char name[24];
        snprintf(name, sizeof name, "cpc_pred%d", (int)(l + 1));
        SSL3D_CHECK(ssl3d_mlp_create(ctx, hidden, 0, code, &m));
        SSL3D_CHECK(task_add_module(t, m, name));
        c->pred[l] = m;
    }
    t->chance = 1.0 / (1.0 + neg);
    t->min_size = task_opt_int(t, "input_size");
    return SSL3D_OK;
}

/* Encoder + pooling + projection of the batch of patches X (M, C, p..) -> z (M, code). */
static ssl3d_status cpc_latents(ssl3d_ctx *ctx, ssl3d_task *t, cpc_impl *c, ssl3d_tensor *X, int32_t training,
                                ssl3d_tensor **z) {
    ssl3d_tensor *feat = NULL;
    ssl3d_status st = task_encode_pooled(ctx, t, X, training, &feat);
    if (st == SSL3D_OK) st = ssl3d_mlp_forward(ctx, c->proj, feat, z);
    ssl3d_tensor_release(feat);
    return st;
}

/* All patches of all images, image-major: X (B*K, C, p..). */
static ssl3d_status cpc_batch(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t B, uint64_t seed,
                              uint64_t index, int32_t training, ssl3d_tensor **X) {
    const int64_t S = task_opt_int(t, "input_size");
    const int32_t G = task_opt_int(t, "grid");
    ssl3d_tensor **parts = calloc((size_t)B, sizeof *parts);
    if (!parts) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward(cpc): out of memory");
    ssl3d_status st = SSL3D_OK;
    for (int32_t b = 0; b < B && st == SSL3D_OK; b++) {
        ssl3d_tensor *crop = NULL;
        st = task_crop_input(ctx, t, images[b], b, S, training, seed, TASK_STREAM_CPC_CROP,
                             task_sample_key(t, index, b), &crop);
        if (st == SSL3D_OK) st = ssl3d_cpc_patches_overlap(ctx, crop, G, task_opt(t, "overlap"), &parts[b], NULL);
        ssl3d_tensor_release(crop);
    }
    if (st == SSL3D_OK) st = ssl3d_concat(ctx, parts, B, 0, X);
    for (int32_t b = 0; b < B; b++) ssl3d_tensor_release(parts[b]);
    free(parts);
    return st;
}

/* Context vectors: the GRU over each patch's context sequence -> c (M, hidden). */
static ssl3d_status cpc_contexts(ssl3d_ctx *ctx, ssl3d_task *t, cpc_impl *c, ssl3d_tensor *z, int32_t B,
                                 ssl3d_tensor **h) {
    const int32_t G = task_opt_int(t, "grid"), T = t->dims == 3 ? 10 : 4;
    const int32_t K = t->dims == 3 ? G * G * G : G * G;
    const int64_t M = (int64_t)B * K;
    int32_t *idx = malloc((size_t)(M * T) * sizeof(int32_t));
    if (!idx) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward(cpc): out of memory");
    for (int32_t b = 0; b < B; b++)
        for (int32_t pos = 0; pos < K; pos++) {
            int32_t *row = idx + ((int64_t)b * K + pos) * T;
            (void)ssl3d_cpc_context(t->dims, G, pos, row, T);
            for (int32_t s = 0; s < T; s++) row[s] += b * K;
        }
    int64_t shape[3] = { M, T, z->shape[1] };
    ssl3d_tensor *seq = NULL;
    ssl3d_status st = task_gather_rows(ctx, z, idx, M * T, 3, shape, &seq);
    free(idx);
    if (st == SSL3D_OK) st = ssl3d_gru_forward(ctx, c->gru, seq, NULL, h, NULL);
    ssl3d_tensor_release(seq);
    return st;
}

/* The patches of every image (X), after the call's argument checks. */
static ssl3d_status cpc_build(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                              uint64_t seed, uint64_t index, int32_t training, task_samples *s) {
    const char *fn = "ssl3d_task_forward(cpc)";
    const int32_t G = task_opt_int(t, "grid"), neg = task_opt_int(t, "negatives");
    const int32_t K = t->dims == 3 ? G * G * G : G * G;
    SSL3D_CHECK_ARG(ctx, (int64_t)neg < (int64_t)n_images * K,
                    "%s: negatives = %d needs more than %d latents; %d images give %lld", fn, (int)neg, (int)neg,
                    (int)n_images, (long long)n_images * K);
    SSL3D_CHECK_ARG(ctx, index < (UINT64_C(1) << 39), "%s: index = %llu must be < 2^39", fn,
                    (unsigned long long)index);
    ssl3d_ctx *sctx = task_sample_ctx(images);
    return task_sample_status(ctx, sctx, cpc_batch(sctx, t, images, n_images, seed, index, training, &s->x));
}

static ssl3d_status cpc_run(ssl3d_ctx *ctx, ssl3d_task *t, task_samples *s, int32_t n_images, uint64_t seed,
                            uint64_t index, int32_t training, ssl3d_tensor **loss, int64_t *correct, int64_t *total) {
    cpc_impl *c = t->impl;
    const int32_t G = task_opt_int(t, "grid"), steps = task_opt_int(t, "steps");
    const int32_t neg = task_opt_int(t, "negatives");
    const int32_t K = t->dims == 3 ? G * G * G : G * G;
    ssl3d_tensor *z = NULL, *h = NULL, *P = NULL, *table = NULL, *logits = NULL, *out = NULL;
    ssl3d_tensor *preds[CPC_MAX_STEPS] = { 0 };
    int64_t n_ok = 0;
    ssl3d_status st = cpc_latents(ctx, t, c, s->x, training, &z);
    ssl3d_tensor_release(s->x);   /* as soon as the encoder has it (memory) */
    s->x = NULL;
    if (st == SSL3D_OK) st = cpc_contexts(ctx, t, c, z, n_images, &h);
    for (int32_t l = 0; l < steps && st == SSL3D_OK; l++) st = ssl3d_mlp_forward(ctx, c->pred[l], h, &preds[l]);
    if (st == SSL3D_OK) st = ssl3d_concat(ctx, preds, steps, 0, &P);
    if (st == SSL3D_OK) st = ssl3d_cpc_negatives(ctx, t->dims, G, n_images, steps, neg, seed, index, &table);
    if (st == SSL3D_OK) st = task_cpc_logits(ctx, P, z, table, K, (float)task_opt(t, "temperature"), &logits);
    if (st == SSL3D_OK) st = task_infonce_first(ctx, logits, &out, &n_ok);
    if (st == SSL3D_OK) {
        ssl3d_tensor_release(c->last_table);
        c->last_table = ssl3d_tensor_retain(table);
        *loss = out; *correct = n_ok; *total = table->shape[0];
        out = NULL;
    }
    for (int32_t l = 0; l < steps; l++) ssl3d_tensor_release(preds[l]);
    ssl3d_tensor_release(z); ssl3d_tensor_release(h); ssl3d_tensor_release(P);
    ssl3d_tensor_release(table); ssl3d_tensor_release(logits); ssl3d_tensor_release(out);
    if (st != SSL3D_OK && training) ssl3d_tape_reset(ctx);   /* drop a half-built graph */
    return st;
}

const ssl3d_tensor *task_cpc_last_table(const ssl3d_task *t) {
    if (!t || t->vt != &task_cpc_vtable || !t->impl) return NULL;
    return ((const cpc_impl *)t->impl)->last_table;
}

const task_vtable task_cpc_vtable = {
    .name = "cpc",
    .defaults = cpc_defaults,
    .init = cpc_init,
    .build = cpc_build,
    .run = cpc_run,
    .save_extra = NULL,
    .load_extra = NULL,
    .free_impl = cpc_free_impl,
};
