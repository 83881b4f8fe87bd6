/* Relative patch location task: classes, head, grid options, and that it learns. */
#include "test_task_util.h"

TEST(task_rpl_classes_head_and_defaults) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, dims, 1, "filters=2", &t));
        double v = 0;
        CHECK_NEAR(ssl3d_task_chance(t), dims == 3 ? 1.0 / 26 : 1.0 / 8, 1e-12);
        const char *keys[5] = { "grid", "cell", "jitter", "levels", "hidden" };
        const double want[5] = { 3, dims == 3 ? 12 : 16, 4, 3, 256 };
        for (int k = 0; k < 5; k++) {
            CHECK_OK(ctx, ssl3d_task_option(ctx, t, keys[k], &v));
            CHECK_MSG(v == want[k], "%dD %s = %g, want %g", dims, keys[k], v, want[k]);
        }
        ssl3d_module *head = ssl3d_task_module(t, 1);
        CHECK(ssl3d_mlp_in_features(head) == 2 * ssl3d_encoder_out_channels(ssl3d_task_encoder(t)));
        CHECK(ssl3d_mlp_out_features(head) == (dims == 3 ? 26 : 8));
        ssl3d_task_release(t);
        /* grid must be odd; patches must survive the encoder's pooling */
        CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, dims, 1, "grid=4", &t), SSL3D_ERR_INVALID_ARG);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "'grid'"));
        CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, dims, 1, "cell=10,jitter=4,levels=3", &t),
                 SSL3D_ERR_INVALID_ARG);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "'cell'") && strstr(ssl3d_ctx_last_error(ctx), "'jitter'"));
    }
    ssl3d_ctx_release(ctx);
}

/* cell = 0 fits the cell to the smallest foreground box of the call; grid 5 gives 24 classes in 2D. */
TEST(task_rpl_auto_cell_and_larger_grid) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    ssl3d_task *t = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, 3, 1, "filters=2,levels=1,cell=0,jitter=1,hidden=0", &t));
    int64_t s1[4] = { 1, 9, 12, 10 }, s2[4] = { 1, 14, 9, 9 }, s3[4] = { 1, 5, 20, 20 };
    ssl3d_tensor *im[3] = { th_randn(ctx, 4, s1, 0), th_randn(ctx, 4, s2, 0), th_randn(ctx, 4, s3, 0) }, *loss = NULL;
    int64_t c, n;
    CHECK_OK(ctx, ssl3d_task_forward(ctx, t, im, 2, 0, 0, 1, &loss, &c, &n));
    CHECK(n == 2);
    ssl3d_tensor_release(loss);
    ssl3d_tape_reset(ctx);
    /* min size: grid * 2^levels = 6 (the cell and the jitter shrink to fit smaller images) */
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 3, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "images[2]") && strstr(ssl3d_ctx_last_error(ctx), "6"));
    /* an image large enough whose foreground box (non-zero voxels) is too small */
    float *z = ssl3d_tensor_host_data(im[1]);
    for (int64_t v = 0; v < 14 * 9 * 9; v++)
        if (v % 81 / 9 < 2) z[v] = 0.0f;   /* rows 0..1 of every slice */
    for (int64_t v = 0; v < 14 * 9 * 9; v++)
        if (v % 81 / 9 >= 5) z[v] = 0.0f;  /* rows 5..8 too: box height 3 < 6 */
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 2, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "images[1]") && strstr(ssl3d_ctx_last_error(ctx), "foreground box"));
    ssl3d_task_release(t);
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, 2, 1, "filters=2,levels=1,grid=5,cell=4,jitter=1", &t));
    CHECK_NEAR(ssl3d_task_chance(t), 1.0 / 24, 1e-12);
    int64_t s4[3] = { 1, 20, 21 };
    ssl3d_tensor *x = th_randn(ctx, 3, s4, 0);
    CHECK_OK(ctx, ssl3d_task_forward(ctx, t, &x, 1, 0, 0, 0, &loss, &c, &n));
    CHECK(n == 1);
    ssl3d_tensor_release(loss);
    ssl3d_tensor_release(x);
    ssl3d_task_release(t);
    tt_release_all(im, 3);
    ssl3d_ctx_release(ctx);
}

static void learn(int dims) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    enum { NT = 32, NV = 16 };
    ssl3d_tensor *train[NT], *val[NV];
    const int64_t S = dims == 3 ? 24 : 24;
    for (int i = 0; i < NT; i++) train[i] = tt_ramp_image(ctx, dims, dims, S, (uint32_t)i);
    for (int i = 0; i < NV; i++) val[i] = tt_ramp_image(ctx, dims, dims, S, 1000u + (uint32_t)i);
    ssl3d_task *t = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, dims, dims, "filters=4,levels=2,cell=8,jitter=2,hidden=64", &t));
    tt_result r = { 0, 0, 0, 0, 0, 0 };
    const int steps = dims == 3 ? 120 : 100;
    REQUIRE(tt_learn(ctx, t, train, NT, 16, steps, 3e-3f, val, NV, 4, &r));
    tt_print(dims == 3 ? "rpl 3D" : "rpl 2D", &r, steps);
    CHECK_MSG(r.after >= r.chance + (dims == 3 ? 0.15 : 0.3), "rpl %dD: accuracy %.3f after %d steps, chance %.3f", dims, r.after, steps,
              r.chance);
    ssl3d_task_release(t);
    tt_release_all(train, NT);
    tt_release_all(val, NV);
    ssl3d_ctx_release(ctx);
}

TEST(task_rpl_learns_3d) { learn(3); }
TEST(task_rpl_learns_2d) { learn(2); }
