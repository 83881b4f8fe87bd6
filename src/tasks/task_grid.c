/* Options and geometry shared by the grid tasks (RPL, Jigsaw): an n^dims grid of cells
 * of side `cell` with patches of side cell - jitter (ssl3d_grid_patches). */
#include <stdio.h>
#include <stdlib.h>
#include "task_grid.h"
#include "../data/data_internal.h"

void task_grid_defaults(ssl3d_task *t, int32_t grid) {
    /* CPU budget (docs/tasks.md, "Cost per step"): patches of 8 (3D) / 12 (2D) voxels
     * through a 3-level encoder (bottleneck 1^3 / 1^2); smaller images shrink the cell. */
    task_opt_default(t, "levels", 3);
    task_opt_default(t, "grid", grid);
    task_opt_default(t, "cell", t->dims == 3 ? 12 : 16);
    task_opt_default(t, "jitter", 4);
}

ssl3d_status task_grid_init(ssl3d_ctx *ctx, ssl3d_task *t, int32_t grid_lo, int32_t grid_hi) {
    SSL3D_CHECK(task_opt_check_int(ctx, t, "grid", grid_lo, grid_hi));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "cell", 0, 4096));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "jitter", 0, 4096));
    const int64_t n = task_opt_int(t, "grid"), cell = task_opt_int(t, "cell"), jitter = task_opt_int(t, "jitter");
    const int64_t need = (int64_t)1 << task_opt_int(t, "levels");
    SSL3D_CHECK_ARG(ctx, cell == 0 || cell - jitter >= need,
                    "ssl3d_task_create: options 'cell' = %lld and 'jitter' = %lld of task %s give patches of %lld "
                    "voxels, fewer than 2^levels = %lld", (long long)cell, (long long)jitter, t->vt->name,
                    (long long)(cell - jitter), (long long)need);
    t->min_size = n * need;   /* smaller cells than `cell` are used where the image is smaller */
    return SSL3D_OK;
}

ssl3d_status task_grid_regions(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                               task_region **regions) {
    task_region *r = calloc((size_t)n_images, sizeof *r);
    if (!r) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward: out of memory");
    for (int32_t i = 0; i < n_images; i++) {
        const ssl3d_status st = task_crop_region(ctx, t, images[i], i, &r[i]);
        if (st != SSL3D_OK) { task_grid_regions_free(r, i); return st; }
    }
    *regions = r;
    return SSL3D_OK;
}

void task_grid_regions_free(task_region *regions, int32_t n_images) {
    for (int32_t i = 0; regions && i < n_images; i++) task_region_free(&regions[i]);
    free(regions);
}

ssl3d_status task_grid_cell(ssl3d_ctx *ctx, const ssl3d_task *t, const task_region *regions, int32_t n_images,
                            int64_t *cell, int64_t *jitter, int64_t *patch) {
    const int64_t n = task_opt_int(t, "grid"), c0 = task_opt_int(t, "cell"), j0 = task_opt_int(t, "jitter");
    const int64_t need = (int64_t)1 << task_opt_int(t, "levels");
    int64_t fit = INT64_MAX;
    int32_t smallest = 0;
    for (int32_t i = 0; i < n_images; i++)
        for (int32_t a = 0; a < t->dims; a++) {
            const int64_t side = regions[i].hi[a] - regions[i].lo[a];
            if (side / n < fit) { fit = side / n; smallest = i; }
        }
    const int64_t c = c0 > 0 && c0 < fit ? c0 : fit;
    int64_t j = c0 > 0 && c < c0 ? j0 * c / c0 : j0;   /* a shrunk cell keeps the jitter's share */
    if (c - j < need) j = c - need;
    if (j < 0) {
        char what[96];
        snprintf(what, sizeof what, "a %lldx grid of cells of at least 2^levels = %lld voxels", (long long)n,
                 (long long)need);
        return task_region_require(ctx, t, &regions[smallest], smallest, n * need, what);
    }
    *cell = c;
    *jitter = j;
    *patch = c - j;
    return SSL3D_OK;
}

ssl3d_status task_grid_window(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, const task_region *rg,
                              int64_t cell, int32_t training, uint64_t seed, uint64_t key, ssl3d_tensor **out) {
    const int64_t side = task_opt_int(t, "grid") * cell;
    int64_t off[3], w[3] = { side, side, side };
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, data_stream(TASK_STREAM_GRID_WINDOW, key));
    task_fg_window(x, t->dims, rg, w, training, &r, off);
    return ssl3d_crop(ctx, x, off, w, 0.0f, out);
}

ssl3d_status task_grid_batch(ssl3d_ctx *ctx, const ssl3d_task *t, int64_t B, int64_t K, int64_t p,
                             ssl3d_tensor **out) {
    int64_t shape[SSL3D_MAX_DIMS] = { B, K, t->in_channels, p, p, p };
    return ssl3d_tensor_new_uninit(ctx, SSL3D_F32, 3 + t->dims, shape, out);
}

void task_grid_flatten(const ssl3d_task *t, ssl3d_tensor *batch) {
    int64_t shape[SSL3D_MAX_DIMS] = { batch->shape[0] * batch->shape[1], t->in_channels };
    for (int32_t a = 0; a < t->dims; a++) shape[2 + a] = batch->shape[3 + a];
    task_view_as(batch, 2 + t->dims, shape);
}

ssl3d_status task_grid_head(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *batch, int64_t B, int32_t training,
                            const task_samples *s, ssl3d_tensor **loss, int64_t *correct, int64_t *total) {
    ssl3d_tensor *f = NULL, *cat = NULL, *logits = NULL, *lab = NULL;
    ssl3d_status st = task_encode_pooled(ctx, t, batch, training, &f);          /* (B*K, C_b) */
    if (st == SSL3D_OK) {
        int64_t shape[2] = { B, f->numel / B };                              /* (B, K*C_b) */
        st = ssl3d_reshape(ctx, f, 2, shape, &cat);
    }
    if (st == SSL3D_OK) st = ssl3d_mlp_forward(ctx, t->modules[1], cat, &logits);
    if (st == SSL3D_OK) st = task_samples_labels(ctx, s, &lab);
    if (st == SSL3D_OK) st = task_classify(ctx, logits, lab, loss, correct);
    if (st == SSL3D_OK) *total = B;
    ssl3d_tensor_release(f);
    ssl3d_tensor_release(cat);
    ssl3d_tensor_release(logits);
    ssl3d_tensor_release(lab);
    return st;
}
