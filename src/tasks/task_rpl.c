/* Relative patch location: pairs (centre patch, query patch) of an n^dims grid
 * (ssl3d_rpl_sample); the encoder embeds all 2B patches as one batch, the pooled
 * features of centre and query are concatenated -> MLP -> n^dims - 1 logits, CE. */
#include "task_grid.h"

static void rpl_defaults(ssl3d_task *t) {
    task_grid_defaults(t, 3);
    task_opt_default(t, "hidden", 256);
}

static ssl3d_status rpl_init(ssl3d_ctx *ctx, ssl3d_task *t) {
    SSL3D_CHECK(task_grid_init(ctx, t, 3, 15));
    SSL3D_CHECK_ARG(ctx, task_opt_int(t, "grid") % 2 == 1, "ssl3d_task_create: option 'grid' = %d of task rpl must be "
                    "odd (the centre cell is the reference)", (int)task_opt_int(t, "grid"));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "hidden", 0, 65536));
    const int32_t K = ssl3d_rpl_classes(t->dims, task_opt_int(t, "grid"));
    t->chance = 1.0 / K;
    ssl3d_module *head = NULL;
    SSL3D_CHECK(ssl3d_mlp_create(ctx, 2 * ssl3d_encoder_out_channels(t->modules[0]), task_opt_int(t, "hidden"), K,
                                 &head));
    return task_add_module(t, head, "head");
}

static ssl3d_status rpl_build(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                              uint64_t seed, uint64_t index, int32_t training, task_samples *samples) {
    int64_t cell, jitter, p;
    ssl3d_ctx *sctx = task_sample_ctx(images);
    task_region *rg = NULL;   /* each image's crop region, once per call */
    SSL3D_CHECK(task_sample_status(ctx, sctx, task_grid_regions(sctx, t, images, n_images, &rg)));
    ssl3d_status st = task_grid_cell(sctx, t, rg, n_images, &cell, &jitter, &p);
    if (st != SSL3D_OK) { task_grid_regions_free(rg, n_images); return task_sample_status(ctx, sctx, st); }
    const int32_t n = task_opt_int(t, "grid");
    int32_t *labels = samples->labels = malloc((size_t)n_images * sizeof *labels);
    if (!labels) {
        task_grid_regions_free(rg, n_images);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward: out of memory");
    }
    samples->n_labels = n_images;
    ssl3d_tensor *batch = NULL;
    st = task_grid_batch(sctx, t, n_images, 2, p, &batch);     /* (B, 2, C, p..) */
    for (int32_t b = 0; b < n_images && st == SSL3D_OK; b++) {
        ssl3d_tensor *s = NULL, *win = NULL;
        st = task_grid_window(sctx, t, images[b], &rg[b], cell, training, seed, task_sample_key(t, index, b), &win);
        if (st == SSL3D_OK)
            st = ssl3d_rpl_sample(sctx, win, n, cell, jitter, !training, seed, task_sample_key(t, index, b), &s,
                                  &labels[b]);
        if (st == SSL3D_OK) st = ssl3d_batch_set(sctx, batch, b, s);
        ssl3d_tensor_release(s);
        ssl3d_tensor_release(win);
    }
    samples->x = batch;
    task_grid_regions_free(rg, n_images);
    return task_sample_status(ctx, sctx, st);
}

static ssl3d_status rpl_run(ssl3d_ctx *ctx, ssl3d_task *t, task_samples *s, int32_t n_images, uint64_t seed,
                            uint64_t index, int32_t training, ssl3d_tensor **loss, int64_t *correct, int64_t *total) {
    task_grid_flatten(t, s->x);   /* (2B, C, p..): rows 2b (centre), 2b + 1 (query) */
    return task_grid_head(ctx, t, s->x, n_images, training, s, loss, correct, total);
}

const task_vtable task_rpl_vtable = {
    .name = "rpl",
    .defaults = rpl_defaults,
    .init = rpl_init,
    .build = rpl_build,
    .run = rpl_run,
};
