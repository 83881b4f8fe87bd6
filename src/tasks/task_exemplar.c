/* Exemplar for dims 2 and 3, one N-d implementation.
 *
 * Per image b: a window of side input_size (random in training, centred in evaluation),
 * then two independently augmented views (ssl3d_exemplar_pair with the default
 * augmentation: flips, 90-degree and arbitrary rotations, zoom 0.8-1.2, brightness and
 * contrast). Both views of all B images go through the shared encoder as ONE batch
 * (rows b and b + B are the views of image b); global average pooling, standardisation
 * of each pooled feature over the 2B views (option feature_norm, default on), the
 * projection head ("exemplar_head": linear -> ReLU -> linear) and L2 normalisation give
 * unit embeddings z (2B, code_size). No sigmoid: with unit vectors the squared distance runs
 * over [0, 4], so a margin of 1 can be met (the reference code's sigmoid could not).
 * Loss (option "loss"): 0 triplet with squared L2 distance and margin `margin`, the
 * negative of each anchor being the hardest in the batch (negative = 0,
 * ssl3d_triplet_batch_hard) or a random view of another image (negative = 1); 1 NT-Xent
 * with temperature `temperature` (ssl3d_ntxent). Proxy accuracy: top-1 retrieval, each
 * of the 2B views is correct when its partner is strictly the most cosine-similar of
 * the 2B - 1 others (chance 1 / (2B - 1)). */
#include <math.h>
#include <string.h>
#include "task_cpc.h"
#include "../data/data_internal.h"

enum { EXEMPLAR_LOSS_TRIPLET = 0, EXEMPLAR_LOSS_NTXENT = 1 };
enum { EXEMPLAR_NEG_HARD = 0, EXEMPLAR_NEG_RANDOM = 1 };

typedef struct exemplar_impl {
    ssl3d_module *head;
    ssl3d_tensor *ones, *zeros;   /* (C_b): the scale and shift of the feature standardisation */
    ssl3d_augment *aug;     /* NULL: the default augmentation (data.h) */
    ssl3d_tensor *last_z;   /* copy of the last forward's embeddings (test hook) */
    ssl3d_tensor *last_f;   /* copy of the last forward's head input (test hook) */
} exemplar_impl;

static void exemplar_free_impl(void *p) {
    exemplar_impl *e = p;
    if (!e) return;
    ssl3d_tensor_release(e->last_z);
    ssl3d_tensor_release(e->last_f);
    ssl3d_tensor_release(e->ones);
    ssl3d_tensor_release(e->zeros);
    ssl3d_augment_release(e->aug);
    free(e);
}

static void exemplar_defaults(ssl3d_task *t) {
    task_opt_default(t, "input_size", 32);   /* CPU budget: docs/tasks.md, "Cost per step" */
    task_opt_default(t, "code_size", 128);
    task_opt_default(t, "hidden", 256);
    /* NT-Xent: the batch-hard triplet loss collapses from random initialisation (RetinaMNIST
     * 0.40 vs 0.97 held-out retrieval, docs/results.md). */
    task_opt_default(t, "loss", EXEMPLAR_LOSS_NTXENT);
    task_opt_default(t, "negative", EXEMPLAR_NEG_HARD);
    task_opt_default(t, "margin", 1);
    task_opt_default(t, "temperature", 0.1);
    /* Largest arbitrary rotation angle of the views; 180 is the default augmentation.
     * Smaller values make views of one image easier to match (e.g. similar anatomies). */
    /* 3D: a milder augmentation than data.h's default (run J of docs/results.md, "Exemplar
     * 3D": under the full one, flips plus arbitrary 3D rotations, zoom and contrast, 250
     * steps did not learn to tell hippocampus crops apart); 2D keeps the default, which
     * learns on RetinaMNIST (0.97). */
    const int d3 = t->dims == 3;
    task_opt_default(t, "max_degrees", d3 ? 20 : 180);
    task_opt_default(t, "rot90", d3 ? 0 : 0.5);          /* probability of a 90-degree rotation per view */
    task_opt_default(t, "zoom", d3 ? 0.1 : 0.2);         /* zoom uniform in [1 - zoom, 1 + zoom] */
    task_opt_default(t, "contrast", d3 ? 0.2 : 0.5);     /* contrast uniform in [1 - contrast, 1 + contrast] */
    task_opt_default(t, "brightness", d3 ? 0.05 : 0.125);   /* brightness uniform in [-b, b] */
    task_opt_default(t, "batch", 8);   /* only for ssl3d_task_chance before the first forward */
    /* Standardise the pooled features over the views of the call before the head: the
     * pooled ReLU outputs of all views share a large common component, so without it
     * every embedding starts in the same direction (cosine ~1) and the loss has no
     * gradient to separate them (docs/results.md, "Exemplar 3D"). */
    task_opt_default(t, "feature_norm", 1);
    /* 1: both views are augmentations of one window (Exemplar's "seed patch"); 0: with
     * random_window=1, each view cuts its own training window (run G of docs/results.md:
     * no position cue, but it did not learn within 120 steps). */
    task_opt_default(t, "shared_crop", 1);
    /* 0 (default): training windows are centred on the foreground box, as in evaluation.
     * With random windows the two views of an image share where the window fell, and on
     * same-anatomy crops a run learns that position instead of the image: the held-out
     * retrieval with centred windows fell to chance (run B, docs/results.md). */
    task_opt_default(t, "random_window", 0);
}

static ssl3d_status exemplar_init(ssl3d_ctx *ctx, ssl3d_task *t) {
    const char *fn = "ssl3d_task_create(exemplar)";
    const int32_t code = task_opt_int(t, "code_size"), hidden = task_opt_int(t, "hidden");
    const int32_t loss = task_opt_int(t, "loss"), negative = task_opt_int(t, "negative");
    const int32_t batch = task_opt_int(t, "batch");
    const double margin = task_opt(t, "margin"), temp = task_opt(t, "temperature");
    const int32_t levels = ssl3d_encoder_levels(t->modules[0]);
    const int64_t S = task_opt_int(t, "input_size");
    SSL3D_CHECK_ARG(ctx, code >= 1 && code <= 65536, "%s: code_size = %d outside [1, 65536]", fn, (int)code);
    SSL3D_CHECK_ARG(ctx, hidden >= 0 && hidden <= 65536, "%s: hidden = %d outside [0, 65536]", fn, (int)hidden);
    SSL3D_CHECK_ARG(ctx, loss == EXEMPLAR_LOSS_TRIPLET || loss == EXEMPLAR_LOSS_NTXENT,
                    "%s: loss = %d must be 0 (triplet) or 1 (ntxent)", fn, (int)loss);
    SSL3D_CHECK_ARG(ctx, negative == EXEMPLAR_NEG_HARD || negative == EXEMPLAR_NEG_RANDOM,
                    "%s: negative = %d must be 0 (hard) or 1 (random)", fn, (int)negative);
    SSL3D_CHECK_ARG(ctx, margin >= 0 && isfinite(margin), "%s: margin = %g must be >= 0", fn, margin);
    SSL3D_CHECK_ARG(ctx, temp > 0 && isfinite(temp), "%s: temperature = %g must be > 0", fn, temp);
    SSL3D_CHECK_ARG(ctx, batch >= 2, "%s: batch = %d must be >= 2", fn, (int)batch);
    SSL3D_CHECK_ARG(ctx, levels >= 1 && S >= ((int64_t)1 << levels),
                    "%s: input_size = %lld is smaller than 2^levels = %lld", fn, (long long)S, (long long)1 << levels);
    exemplar_impl *e = calloc(1, sizeof *e);
    if (!e) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    t->impl = e;
    ssl3d_module *m;
    SSL3D_CHECK(ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(t->modules[0]), hidden, code, &m));
    SSL3D_CHECK(task_add_module(t, m, "exemplar_head"));
    e->head = m;
    const double max_degrees = task_opt(t, "max_degrees");
    SSL3D_CHECK_ARG(ctx, max_degrees >= 0 && max_degrees <= 180, "%s: max_degrees = %g outside [0, 180]", fn,
                    max_degrees);
    const double rot90 = task_opt(t, "rot90");
    SSL3D_CHECK_ARG(ctx, rot90 >= 0 && rot90 <= 1, "%s: rot90 = %g outside [0, 1]", fn, rot90);
    const double zoom = task_opt(t, "zoom"), contrast = task_opt(t, "contrast"), bright = task_opt(t, "brightness");
    SSL3D_CHECK(task_opt_check(ctx, t, "zoom", 0.0, 0.9));
    SSL3D_CHECK(task_opt_check(ctx, t, "contrast", 0.0, 0.99));
    SSL3D_CHECK(task_opt_check(ctx, t, "brightness", 0.0, 100.0));
    if (max_degrees != 180 || rot90 != 0.5 || zoom != 0.2 || contrast != 0.5 || bright != 0.125) {
        /* The default augmentation (flip 0.5, rotate 1) with these settings. */
        SSL3D_CHECK(ssl3d_augment_create(ctx, &e->aug));
        SSL3D_CHECK(ssl3d_augment_set_geometry(ctx, e->aug, 0.5f, (float)rot90, 1.0f, (float)max_degrees));
        SSL3D_CHECK(ssl3d_augment_set_zoom(ctx, e->aug, (float)(1.0 - zoom), (float)(1.0 + zoom)));
        SSL3D_CHECK(ssl3d_augment_set_intensity(ctx, e->aug, (float)(1.0 - contrast), (float)(1.0 + contrast),
                                                (float)-bright, (float)bright, 0.0f));
    }
    SSL3D_CHECK(task_opt_check_int(ctx, t, "feature_norm", 0, 1));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "shared_crop", 0, 1));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "random_window", 0, 1));
    const int64_t cb = ssl3d_encoder_out_channels(t->modules[0]);
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, 1, &cb, &e->zeros));
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, 1, &cb, &e->ones));
    SSL3D_CHECK(ssl3d_tensor_fill(ctx, e->ones, 1.0f));
    t->chance = 1.0 / (2.0 * batch - 1.0);
    t->min_size = S;
    return SSL3D_OK;
}

/* 1e-5 of the mean over features of their variance over the rows of f (N, D); a floor
 * keeps it positive for constant features. */
static float feature_eps_of(const float *p, int64_t N, int64_t D) {
    double tot = 0;
    for (int64_t d = 0; d < D; d++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < N; i++) m += p[i * D + d];
        m /= (double)N;
        for (int64_t i = 0; i < N; i++) v += (p[i * D + d] - m) * (p[i * D + d] - m);
        tot += v / (double)N;
    }
    const double eps = 1e-5 * tot / (double)D;
    return eps > 1e-30 ? (float)eps : 1e-30f;
}

/* feature_eps of f (N, D) from a host copy (f may live on a device): *eps, or an error. */
static ssl3d_status feature_eps(ssl3d_ctx *ctx, const ssl3d_tensor *f, float *eps) {
    const int64_t N = f->shape[0], D = f->shape[1];
    float *p = malloc((size_t)(N * D) * sizeof(float));
    if (!p) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward(exemplar): out of memory");
    ssl3d_status st = ssl3d_tensor_read(ctx, f, p, N * D * 4);
    if (st == SSL3D_OK) *eps = feature_eps_of(p, N, D);
    free(p);
    return st;
}

/* Both views of every image: X (2B, C, S..), row b view 0 and row B + b view 1 of image b. */
static ssl3d_status exemplar_batch(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t B,
                                   uint64_t seed, uint64_t index, int32_t training, ssl3d_tensor **X) {
    const int64_t S = task_opt_int(t, "input_size");
    int64_t shape[5] = { 2 * B, t->in_channels, S, S, S };
    ssl3d_tensor *batch;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, SSL3D_F32, t->dims + 2, shape, &batch));
    ssl3d_status st = SSL3D_OK;
    for (int32_t b = 0; b < B && st == SSL3D_OK; b++) {
        const uint64_t sample = task_sample_key(t, index, b);
        const ssl3d_augment *aug = ((exemplar_impl *)t->impl)->aug;
        ssl3d_tensor *crop = NULL, *crop1 = NULL, *v0 = NULL, *v1 = NULL;
        const int32_t rnd = training && task_opt_int(t, "random_window");
        task_region rg;   /* one region for both windows */
        st = task_input_region(ctx, t, images[b], b, S, &rg);
        if (st == SSL3D_OK) {
            st = task_crop_window(ctx, t, images[b], &rg, S, rnd, seed, TASK_STREAM_EXEMPLAR_CROP, sample, &crop);
            if (st == SSL3D_OK && rnd && !task_opt_int(t, "shared_crop"))
                st = task_crop_window(ctx, t, images[b], &rg, S, rnd, seed, TASK_STREAM_EXEMPLAR_CROP2, sample, &crop1);
            task_region_free(&rg);
        }
        if (st == SSL3D_OK) st = ssl3d_exemplar_view(ctx, crop, aug, seed, sample, 0, &v0);
        if (st == SSL3D_OK) st = ssl3d_exemplar_view(ctx, crop1 ? crop1 : crop, aug, seed, sample, 1, &v1);
        if (st == SSL3D_OK) st = ssl3d_batch_set(ctx, batch, b, v0);
        if (st == SSL3D_OK) st = ssl3d_batch_set(ctx, batch, B + b, v1);
        ssl3d_tensor_release(crop); ssl3d_tensor_release(crop1);
        ssl3d_tensor_release(v0); ssl3d_tensor_release(v1);
    }
    if (st != SSL3D_OK) { ssl3d_tensor_release(batch); return st; }
    *X = batch;
    return SSL3D_OK;
}

/* Triplet loss with a random negative: anchor row i, positive its partner, negative a
 * uniformly drawn view of another image (Philox stream (seed, EXEMPLAR_NEG, index)). */
static ssl3d_status exemplar_triplet_random(ssl3d_ctx *ctx, ssl3d_tensor *z, int32_t B, float margin,
                                            uint64_t seed, uint64_t index, ssl3d_tensor **loss) {
    const int64_t N = 2 * (int64_t)B;
    int32_t *idx = malloc((size_t)(2 * N) * sizeof(int32_t));
    if (!idx) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward(exemplar): out of memory");
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, data_stream(TASK_STREAM_EXEMPLAR_NEG, index));
    for (int64_t i = 0; i < N; i++) {
        const int32_t b = (int32_t)(i % B);
        int32_t o = (int32_t)ssl3d_rng_below(&r, (uint32_t)(B - 1));
        o += o >= b;                                    /* another image */
        idx[i] = (int32_t)((i + B) % N);                /* positive */
        idx[N + i] = o + B * (int32_t)ssl3d_rng_below(&r, 2);  /* negative: either view of it */
    }
    int64_t shape[2] = { N, z->shape[1] };
    ssl3d_tensor *pos = NULL, *neg = NULL;
    ssl3d_status st = task_gather_rows(ctx, z, idx, N, 2, shape, &pos);
    if (st == SSL3D_OK) st = task_gather_rows(ctx, z, idx + N, N, 2, shape, &neg);
    if (st == SSL3D_OK) st = ssl3d_triplet(ctx, z, pos, neg, margin, loss);
    free(idx);
    ssl3d_tensor_release(pos); ssl3d_tensor_release(neg);
    return st;
}

/* Top-1 retrieval: view i is correct when its partner's cosine similarity is strictly
 * larger than that of every other view (z rows are unit vectors: dot = cosine). */
static int64_t retrieval_hits(const float *Z, int32_t B, int64_t D) {
    const int64_t N = 2 * (int64_t)B;
    int64_t n_ok = 0;
    for (int64_t i = 0; i < N; i++) {
        const int64_t partner = (i + B) % N;
        double best_other = -INFINITY, s_partner = 0;
        for (int64_t j = 0; j < N; j++) {
            if (j == i) continue;
            double s = 0;
            for (int64_t d = 0; d < D; d++) s += (double)Z[i * D + d] * Z[j * D + d];
            if (j == partner) s_partner = s;
            else if (s > best_other) best_other = s;
        }
        n_ok += s_partner > best_other;
    }
    return n_ok;
}

/* retrieval_hits of z (2B, D) from a host copy (z may live on a device). */
static ssl3d_status exemplar_retrieval(ssl3d_ctx *ctx, const ssl3d_tensor *z, int32_t B, int64_t *hits) {
    const int64_t D = z->shape[1];
    float *Z = malloc((size_t)z->numel * sizeof(float));
    if (!Z) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward(exemplar): out of memory");
    ssl3d_status st = ssl3d_tensor_read(ctx, z, Z, z->numel * 4);
    if (st == SSL3D_OK) *hits = retrieval_hits(Z, B, D);
    free(Z);
    return st;
}

/* The two views of every image (X: views 0 in rows 0..B, views 1 in B..2B). */
static ssl3d_status exemplar_build(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                   uint64_t seed, uint64_t index, int32_t training, task_samples *s) {
    const char *fn = "ssl3d_task_forward(exemplar)";
    SSL3D_CHECK_ARG(ctx, n_images >= 2, "%s: n_images = %d, needs >= 2 (the other images are the negatives)", fn,
                    (int)n_images);
    SSL3D_CHECK_ARG(ctx, index < (UINT64_C(1) << 38), "%s: index = %llu must be < 2^38", fn,
                    (unsigned long long)index);
    ssl3d_ctx *sctx = task_sample_ctx(images);
    return task_sample_status(ctx, sctx, exemplar_batch(sctx, t, images, n_images, seed, index, training, &s->x));
}

static ssl3d_status exemplar_run(ssl3d_ctx *ctx, ssl3d_task *t, task_samples *s, int32_t n_images, uint64_t seed,
                                 uint64_t index, int32_t training, ssl3d_tensor **loss, int64_t *correct,
                                 int64_t *total) {
    exemplar_impl *e = t->impl;
    const int32_t B = n_images;
    const float margin = (float)task_opt(t, "margin"), temp = (float)task_opt(t, "temperature");
    ssl3d_tensor *X = s->x, *feat = NULL, *emb = NULL, *z = NULL, *out = NULL, *copy = NULL;
    s->x = NULL;
    ssl3d_status st = task_encode_pooled(ctx, t, X, training, &feat);
    if (st == SSL3D_OK && task_opt_int(t, "feature_norm")) {
        /* Per feature over the 2B views of this call, in training and evaluation alike
         * (retrieval is within the call): (f - mean) / sqrt(var + eps), with eps 1e-5 of
         * the mean variance, so that the scale of the features does not matter (a fresh
         * encoder evaluated with its initial running statistics gives features of 1e-4). */
        ssl3d_tensor *fs = NULL;
        float eps = 0.0f;
        st = feature_eps(ctx, feat, &eps);
        if (st == SSL3D_OK) st = ssl3d_batch_norm(ctx, feat, e->ones, e->zeros, NULL, NULL, 1, 0.0f, eps, &fs);
        ssl3d_tensor_release(feat);
        feat = fs;
    }
    if (st == SSL3D_OK) {
        ssl3d_tensor_release(e->last_f);
        e->last_f = NULL;
        st = ssl3d_tensor_clone(ctx, feat, &e->last_f);
    }
    if (st == SSL3D_OK) st = ssl3d_mlp_forward(ctx, e->head, feat, &emb);
    if (st == SSL3D_OK) st = ssl3d_l2_normalize(ctx, emb, 1e-12f, &z);
    if (st == SSL3D_OK) {
        if (task_opt_int(t, "loss") == EXEMPLAR_LOSS_NTXENT) st = ssl3d_ntxent(ctx, z, temp, &out);
        else if (task_opt_int(t, "negative") == EXEMPLAR_NEG_RANDOM)
            st = exemplar_triplet_random(ctx, z, B, margin, seed, index, &out);
        else st = ssl3d_triplet_batch_hard(ctx, z, margin, &out);
    }
    int64_t hits = 0;
    if (st == SSL3D_OK) st = exemplar_retrieval(ctx, z, B, &hits);
    if (st == SSL3D_OK) st = ssl3d_tensor_clone(ctx, z, &copy);
    if (st == SSL3D_OK) {
        ssl3d_tensor_release(e->last_z);
        e->last_z = copy;
        *correct = hits;
        *total = 2 * (int64_t)B;
        *loss = out;
        t->chance = 1.0 / (2.0 * B - 1.0);
        out = NULL;
    }
    ssl3d_tensor_release(X); ssl3d_tensor_release(feat);
    ssl3d_tensor_release(emb); ssl3d_tensor_release(z); ssl3d_tensor_release(out);
    if (st != SSL3D_OK && training) ssl3d_tape_reset(ctx);   /* drop a half-built graph */
    return st;
}

const ssl3d_tensor *task_exemplar_last_embeddings(const ssl3d_task *t) {
    if (!t || t->vt != &task_exemplar_vtable || !t->impl) return NULL;
    return ((const exemplar_impl *)t->impl)->last_z;
}

const ssl3d_tensor *task_exemplar_last_features(const ssl3d_task *t) {
    if (!t || t->vt != &task_exemplar_vtable || !t->impl) return NULL;
    return ((const exemplar_impl *)t->impl)->last_f;
}

const task_vtable task_exemplar_vtable = {
    .name = "exemplar",
    .defaults = exemplar_defaults,
    .init = exemplar_init,
    .build = exemplar_build,
    .run = exemplar_run,
    .save_extra = NULL,
    .load_extra = NULL,
    .free_impl = exemplar_free_impl,
};
