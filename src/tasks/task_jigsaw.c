/* Jigsaw: the n^dims grid patches shuffled by one of P permutations (ssl3d_jigsaw_sample);
 * the encoder embeds every patch of every puzzle as one batch, each puzzle's pooled
 * embeddings are concatenated in shuffled order -> MLP -> P logits, CE. The permutation
 * set (ssl3d_jigsaw_perms_create, seed "perm_seed") is saved with the checkpoint as
 * "jigsaw.permutations". */
#include <stdio.h>
#include "task_grid.h"

#define JIGSAW_PERMS_NAME "jigsaw.permutations"

typedef struct jigsaw_impl {
    ssl3d_tensor *perms;   /* int32 (P, n^dims) */
} jigsaw_impl;

static void jigsaw_free(void *p) {
    jigsaw_impl *j = p;
    if (j) ssl3d_tensor_release(j->perms);
    free(j);
}

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
    ssl3d_status st = ssl3d_jigsaw_perms_create(ctx, P, cells, (uint64_t)task_opt(t, "perm_seed"), &j->perms);
    if (st != SSL3D_OK) return st;
    t->chance = 1.0 / P;
    ssl3d_module *head = NULL;
    SSL3D_CHECK(ssl3d_mlp_create(ctx, cells * ssl3d_encoder_out_channels(t->modules[0]), task_opt_int(t, "hidden"), P,
                                 &head));
    return task_add_module(t, head, "head");
}

static ssl3d_status jigsaw_forward(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                   uint64_t seed, uint64_t index, int32_t training, ssl3d_tensor **loss,
                                   int64_t *correct, int64_t *total) {
    const jigsaw_impl *j = t->impl;
    int64_t cell, jitter, p;
    SSL3D_CHECK(task_grid_cell(ctx, t, images, n_images, &cell, &jitter, &p));
    const int32_t n = task_opt_int(t, "grid"), cells = jigsaw_cells(t);
    int32_t *labels = malloc((size_t)n_images * sizeof *labels);
    if (!labels) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward: out of memory");
    ssl3d_tensor *batch = NULL;
    ssl3d_status st = task_grid_batch(ctx, t, n_images, cells, p, &batch);   /* (B, cells, C, p..) */
    for (int32_t b = 0; b < n_images && st == SSL3D_OK; b++) {
        ssl3d_tensor *s = NULL, *win = NULL;
        st = task_grid_window(ctx, t, images[b], cell, training, seed, task_sample_key(t, index, b), &win);
        if (st == SSL3D_OK)
            st = ssl3d_jigsaw_sample(ctx, win, j->perms, n, cell, jitter, !training, seed,
                                     task_sample_key(t, index, b), &s, &labels[b]);
        if (st == SSL3D_OK) st = ssl3d_batch_set(ctx, batch, b, s);
        ssl3d_tensor_release(s);
        ssl3d_tensor_release(win);
    }
    if (st == SSL3D_OK) {
        task_grid_flatten(t, batch);   /* (B*cells, C, p..), puzzle b at rows b*cells.. in shuffled order */
        st = task_grid_head(ctx, t, batch, n_images, training, labels, loss, correct, total);
    }
    free(labels);
    ssl3d_tensor_release(batch);
    return st;
}

static ssl3d_status jigsaw_save(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_checkpoint *ck) {
    const jigsaw_impl *j = t->impl;
    int32_t dmin = 0;
    double dmean = 0;
    SSL3D_CHECK(ssl3d_jigsaw_perms_stats(ctx, j->perms, &dmin, &dmean));
    SSL3D_CHECK(ssl3d_checkpoint_add_tensor(ctx, ck, JIGSAW_PERMS_NAME, j->perms));
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
        st = ssl3d_jigsaw_perms_stats(ctx, perms, &dmin, &dmean);   /* every row a permutation */
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
    .forward = jigsaw_forward,
    .save_extra = jigsaw_save,
    .load_extra = jigsaw_load,
    .free_impl = jigsaw_free,
};
