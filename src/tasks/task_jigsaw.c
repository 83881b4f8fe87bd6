/* Jigsaw: the n^dims grid patches shuffled by one of P permutations (ssl3d_jigsaw_sample);
 * the encoder embeds every patch of every puzzle as one batch, each puzzle's pooled
 * embeddings are concatenated in shuffled order -> MLP -> P logits, CE. The permutation
 * set (ssl3d_jigsaw_perms_create, seed "perm_seed") is saved with the checkpoint as
 * "jigsaw.permutations". */
#include <stdio.h>
#include "task_grid.h"

#define JIGSAW_PERMS_NAME "jigsaw.permutations"

typedef struct jigsaw_impl {
    ssl3d_tensor *perms;   /* int32 (P, n^dims), in host memory: the task's context or hctx */
    ssl3d_ctx *hctx;       /* a private CPU context for perms when the task runs on a device */
} jigsaw_impl;

static void jigsaw_free(void *p) {
    jigsaw_impl *j = p;
    if (j) {
        ssl3d_tensor_release(j->perms);
        ssl3d_ctx_release(j->hctx);
    }
    free(j);
}

/* The host-memory context of the permutation set. */
static ssl3d_ctx *perms_ctx(ssl3d_ctx *ctx, const jigsaw_impl *j) { return j->hctx ? j->hctx : ctx; }

static void jigsaw_defaults(ssl3d_task *t) {
    task_grid_defaults(t, 3);
    task_opt_default(t, "permutations", 100);
    task_opt_default(t, "perm_seed", 0);
    task_opt_default(t, "hidden", 512);
}

static int32_t jigsaw_cells(const ssl3d_task *t) {
    const int32_t n = task_opt_int(t, "grid");
    return t->dims == 3 ? n * n * n : n * n;
}

static ssl3d_status jigsaw_init(ssl3d_ctx *ctx, ssl3d_task *t) {
    SSL3D_CHECK(task_grid_init(ctx, t, 2, 4));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "permutations", 2, 100000));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "perm_seed", 0, INT64_C(1) << 53));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "hidden", 0, 65536));
    const int32_t P = task_opt_int(t, "permutations"), cells = jigsaw_cells(t);
    jigsaw_impl *j = calloc(1, sizeof *j);
    if (!j) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_create: out of memory");
    t->impl = j;
    /* The permutation set is read by the sample builders and checked on the host. */
    if (!ctx->be->host_memory && ssl3d_ctx_create(SSL3D_BACKEND_CPU, &j->hctx) != SSL3D_OK)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_create: cannot create a host context");
    ssl3d_ctx *pc = perms_ctx(ctx, j);
    ssl3d_status st = ssl3d_jigsaw_perms_create(pc, P, cells, (uint64_t)task_opt(t, "perm_seed"), &j->perms);
    if (st != SSL3D_OK) return task_sample_status(ctx, pc, st);
    t->chance = 1.0 / P;
    ssl3d_module *head = NULL;
    SSL3D_CHECK(ssl3d_mlp_create(ctx, cells * ssl3d_encoder_out_channels(t->modules[0]), task_opt_int(t, "hidden"), P,
                                 &head));
    return task_add_module(t, head, "head");
}

static ssl3d_status jigsaw_build(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                 uint64_t seed, uint64_t index, int32_t training, task_samples *samples) {
    const jigsaw_impl *j = t->impl;
    int64_t cell, jitter, p;
    ssl3d_ctx *sctx = task_sample_ctx(images);
    task_region *rg = NULL;   /* each image's crop region, once per call */
    SSL3D_CHECK(task_sample_status(ctx, sctx, task_grid_regions(sctx, t, images, n_images, &rg)));
    ssl3d_status st = task_grid_cell(sctx, t, rg, n_images, &cell, &jitter, &p);
    if (st != SSL3D_OK) { task_grid_regions_free(rg, n_images); return task_sample_status(ctx, sctx, st); }
    const int32_t n = task_opt_int(t, "grid"), cells = jigsaw_cells(t);
    int32_t *labels = samples->labels = malloc((size_t)n_images * sizeof *labels);
    if (!labels) {
        task_grid_regions_free(rg, n_images);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward: out of memory");
    }
    samples->n_labels = n_images;
    ssl3d_tensor *batch = NULL;
    /* The permutation set where the samples are built (a copy when that is not its own host
     * context: a device task's images live in the caller's CPU context). */
    ssl3d_tensor *perms = ssl3d_tensor_retain(j->perms);
    if (perms->ctx != sctx) {
        ssl3d_tensor_release(perms);
        perms = NULL;
        st = ssl3d_tensor_copy_to(sctx, j->perms, &perms);
    }
    if (st == SSL3D_OK) st = task_grid_batch(sctx, t, n_images, cells, p, &batch);   /* (B, cells, C, p..) */
    for (int32_t b = 0; b < n_images && st == SSL3D_OK; b++) {
        ssl3d_tensor *s = NULL, *win = NULL;
        st = task_grid_window(sctx, t, images[b], &rg[b], cell, training, seed, task_sample_key(t, index, b), &win);
        if (st == SSL3D_OK)
            st = ssl3d_jigsaw_sample(sctx, win, perms, n, cell, jitter, !training, seed,
                                     task_sample_key(t, index, b), &s, &labels[b]);
        if (st == SSL3D_OK) st = ssl3d_batch_set(sctx, batch, b, s);
        ssl3d_tensor_release(s);
        ssl3d_tensor_release(win);
    }
    samples->x = batch;
    ssl3d_tensor_release(perms);
    task_grid_regions_free(rg, n_images);
    return task_sample_status(ctx, sctx, st);
}

static ssl3d_status jigsaw_run(ssl3d_ctx *ctx, ssl3d_task *t, task_samples *s, int32_t n_images, uint64_t seed,
                               uint64_t index, int32_t training, ssl3d_tensor **loss, int64_t *correct,
                               int64_t *total) {
    task_grid_flatten(t, s->x);   /* (B*cells, C, p..), puzzle b at rows b*cells.. in shuffled order */
    return task_grid_head(ctx, t, s->x, n_images, training, s, loss, correct, total);
}

static ssl3d_status jigsaw_save(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_checkpoint *ck) {
    const jigsaw_impl *j = t->impl;
    int32_t dmin = 0;
    double dmean = 0;
    ssl3d_ctx *pc = perms_ctx(ctx, j);
    SSL3D_CHECK(task_sample_status(ctx, pc, ssl3d_jigsaw_perms_stats(pc, j->perms, &dmin, &dmean)));
    if (pc == ctx) SSL3D_CHECK(ssl3d_checkpoint_add_tensor(ctx, ck, JIGSAW_PERMS_NAME, j->perms));
    else {
        ssl3d_tensor *copy = NULL;
        SSL3D_CHECK(ssl3d_tensor_copy_to(ctx, j->perms, &copy));
        ssl3d_status st = ssl3d_checkpoint_add_tensor(ctx, ck, JIGSAW_PERMS_NAME, copy);
        ssl3d_tensor_release(copy);
        SSL3D_CHECK(st);
    }
    char v[32];
    snprintf(v, sizeof v, "%d", (int)dmin);
    SSL3D_CHECK(ssl3d_checkpoint_set_meta(ctx, ck, "jigsaw.min_hamming", v));
    snprintf(v, sizeof v, "%.6f", dmean);
    return ssl3d_checkpoint_set_meta(ctx, ck, "jigsaw.mean_hamming", v);
}

static ssl3d_status jigsaw_load(ssl3d_ctx *ctx, ssl3d_task *t, const ssl3d_checkpoint *ck) {
    static const char fn[] = "ssl3d_task_load";
    jigsaw_impl *j = t->impl;
    ssl3d_tensor *perms = NULL;
    ssl3d_status st = ssl3d_checkpoint_get_tensor(ctx, ck, JIGSAW_PERMS_NAME, &perms);
    if (st == SSL3D_ERR_NOT_FOUND)
        return ssl3d_set_error(ctx, st, "%s: checkpoint has no tensor '%s'", fn, JIGSAW_PERMS_NAME);
    if (st != SSL3D_OK) return st;
    char s[96], w[96];
    if (perms->dtype != SSL3D_I32 || perms->ndim != 2 || perms->shape[0] != j->perms->shape[0] ||
        perms->shape[1] != j->perms->shape[1]) {
        st = ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: tensor '%s' is %s, the task needs int32 %s", fn,
                             JIGSAW_PERMS_NAME, ssl3d_shape_str(perms, s, sizeof s),
                             ssl3d_shape_str(j->perms, w, sizeof w));
    } else {
        int32_t dmin;
        double dmean;
        ssl3d_ctx *pc = perms_ctx(ctx, j);
        if (pc != ctx) {   /* to the task's host context */
            ssl3d_tensor *h = NULL;
            st = ssl3d_tensor_copy_to(pc, perms, &h);
            ssl3d_tensor_release(perms);
            perms = h;
            st = task_sample_status(ctx, pc, st);
        }
        if (st == SSL3D_OK)   /* every row a permutation */
            st = task_sample_status(ctx, pc, ssl3d_jigsaw_perms_stats(pc, perms, &dmin, &dmean));
    }
    if (st != SSL3D_OK) { ssl3d_tensor_release(perms); return st; }
    ssl3d_tensor_release(j->perms);
    j->perms = perms;
    return SSL3D_OK;
}

const task_vtable task_jigsaw_vtable = {
    .name = "jigsaw",
    .defaults = jigsaw_defaults,
    .init = jigsaw_init,
    .build = jigsaw_build,
    .run = jigsaw_run,
    .save_extra = jigsaw_save,
    .load_extra = jigsaw_load,
    .free_impl = jigsaw_free,
};
