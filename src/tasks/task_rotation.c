/* Rotation task: a cube of side input_size cut from the image's crop region (task_window.h:
 * foreground-centred in training, centred in evaluation; a smaller region gives a smaller
 * content cube in a symmetric zero frame) rotated by one of R classes (10 in 3D, 4 in 2D;
 * ssl3d_rotation_*). encoder -> GAP -> MLP -> R logits, CE. */
#include "task_window.h"
#include "../data/data_internal.h"

/* Philox purpose of the class and crop draws (beyond the builders' purposes). */
#define TASK_STREAM_ROTATION 16

static void rotation_defaults(ssl3d_task *t) {
    task_opt_default(t, "input_size", 32);   /* CPU budget: docs/tasks.md, "Cost per step" */
    task_opt_default(t, "hidden", 256);
    task_opt_default(t, "samples_per_image", 1);
}

static ssl3d_status rotation_init(ssl3d_ctx *ctx, ssl3d_task *t) {
    SSL3D_CHECK(task_opt_check_int(ctx, t, "input_size", (int64_t)1 << task_opt_int(t, "levels"), 4096));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "hidden", 0, 65536));
    SSL3D_CHECK(task_opt_check_int(ctx, t, "samples_per_image", 1, 1024));
    const int32_t R = ssl3d_rotation_classes(t->dims);
    t->chance = 1.0 / R;
    t->min_size = 1;   /* smaller images are zero-padded */
    ssl3d_module *head = NULL;
    SSL3D_CHECK(ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(t->modules[0]), task_opt_int(t, "hidden"), R, &head));
    return task_add_module(t, head, "head");
}

/* Sample b: class r, then the content cube, all from one stream of (seed, index, b).
 * The content is a cube of side m = min(S, smallest side of the crop region: the
 * foreground box, or the inner square / cube with region=inner), inside the region
 * (foreground-centred in training, centred in evaluation: task_fg_window). When
 * m < S it is zero-padded by (S - m) / 2 on every side of every axis (m has the parity of
 * S), so the frame is the same for all R rotations and neither the box's shape nor
 * the image border nor padding can tell the class. */
static ssl3d_status rotation_sample(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, int32_t image,
                                    int64_t S, uint64_t seed, uint64_t key, int32_t training, ssl3d_tensor *batch,
                                    int64_t b, int32_t *label) {
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, data_stream(TASK_STREAM_ROTATION, key));
    const int32_t cls = (int32_t)ssl3d_rng_below(&r, (uint32_t)ssl3d_rotation_classes(t->dims));
    int64_t m = S;
    task_region rg;
    SSL3D_CHECK(task_crop_region(ctx, t, x, image, &rg));
    for (int32_t a = 0; a < t->dims; a++) m = rg.hi[a] - rg.lo[a] < m ? rg.hi[a] - rg.lo[a] : m;
    if ((S - m) % 2) m--;                      /* an even margin: the same on both sides */
    if (m < 1) m = S % 2 ? 1 : 2;              /* a box of one voxel in an even cube */
    int64_t off[3], w[3] = { m, m, m }, size[3] = { m, m, m }, pad[3], cube_size[3] = { S, S, S };
    task_fg_window(x, t->dims, &rg, w, training, &r, off);
    task_region_free(&rg);
    ssl3d_tensor *content = NULL, *cube = NULL;
    SSL3D_CHECK(ssl3d_crop(ctx, x, off, size, 0.0f, &content));
    ssl3d_status st = SSL3D_OK;
    if (m == S) cube = content;
    else {
        for (int32_t a = 0; a < t->dims; a++) pad[a] = -(S - m) / 2;
        st = ssl3d_crop(ctx, content, pad, cube_size, 0.0f, &cube);
        ssl3d_tensor_release(content);
    }
    if (st == SSL3D_OK) st = ssl3d_rotation_apply_into(ctx, cube, cls, batch, b);
    ssl3d_tensor_release(cube);
    *label = cls;
    return st;
}

/* Samples (B = n_images x samples_per_image rotated cubes) and their rotation classes. */
static ssl3d_status rotation_build(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                                   uint64_t seed, uint64_t index, int32_t training, task_samples *s) {
    const int64_t S = task_opt_int(t, "input_size"), spi = task_opt_int(t, "samples_per_image");
    const int64_t B = (int64_t)n_images * spi;
    SSL3D_CHECK_ARG(ctx, B <= 65536, "ssl3d_task_forward: %lld samples per call (n_images x samples_per_image) "
                    "exceed 65536", (long long)B);
    int64_t shape[5] = { B, t->in_channels, S, S, S };
    s->labels = malloc((size_t)B * sizeof *s->labels);
    if (!s->labels) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward: out of memory");
    s->n_labels = B;
    ssl3d_ctx *sctx = task_sample_ctx(images);
    ssl3d_status st = ssl3d_tensor_new_uninit(sctx, SSL3D_F32, 2 + t->dims, shape, &s->x);
    for (int64_t b = 0; b < B && st == SSL3D_OK; b++)
        st = rotation_sample(sctx, t, images[b / spi], (int32_t)(b / spi), S, seed, task_sample_key(t, index, b),
                             training, s->x, b, &s->labels[b]);
    return task_sample_status(ctx, sctx, st);
}

static ssl3d_status rotation_run(ssl3d_ctx *ctx, ssl3d_task *t, task_samples *s, int32_t n_images, uint64_t seed,
                                 uint64_t index, int32_t training, ssl3d_tensor **loss, int64_t *correct,
                                 int64_t *total) {
    ssl3d_tensor *f = NULL, *logits = NULL, *lab = NULL;
    ssl3d_status st = task_encode_pooled(ctx, t, s->x, training, &f);
    if (st == SSL3D_OK) st = ssl3d_mlp_forward(ctx, t->modules[1], f, &logits);
    if (st == SSL3D_OK) st = task_samples_labels(ctx, s, &lab);
    if (st == SSL3D_OK) st = task_classify(ctx, logits, lab, loss, correct);
    if (st == SSL3D_OK) *total = s->n_labels;
    ssl3d_tensor_release(f);
    ssl3d_tensor_release(logits);
    ssl3d_tensor_release(lab);
    return st;
}

const task_vtable task_rotation_vtable = {
    .name = "rotation",
    .defaults = rotation_defaults,
    .init = rotation_init,
    .build = rotation_build,
    .run = rotation_run,
};
