/* Rotation task: classes, head, sampling (crop / pad), and that it learns. */
#include "test_task_util.h"

TEST(task_rotation_classes_head_and_defaults) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, dims, 1, "filters=2", &t));
        double v = 0;
        CHECK_NEAR(ssl3d_task_chance(t), dims == 3 ? 0.1 : 0.25, 1e-12);
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "input_size", &v));
        CHECK(v == 32);
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "levels", &v));
        CHECK(v == 4);
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "hidden", &v));
        CHECK(v == 256);
        CHECK(ssl3d_task_module_count(t) == 2);
        CHECK(!strcmp(ssl3d_task_module_name(t, 0), "encoder") && !strcmp(ssl3d_task_module_name(t, 1), "head"));
        ssl3d_module *head = ssl3d_task_module(t, 1);
        CHECK(ssl3d_mlp_in_features(head) == ssl3d_encoder_out_channels(ssl3d_task_encoder(t)));
        CHECK(ssl3d_mlp_out_features(head) == (dims == 3 ? 10 : 4));
        ssl3d_task_release(t);
    }
    ssl3d_ctx_release(ctx);
}

/* Images smaller than input_size are padded; samples_per_image multiplies the batch. */
TEST(task_rotation_pads_small_images_and_counts_samples) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, dims, 2,
                                          "filters=2,levels=2,input_size=8,hidden=8,samples_per_image=3", &t));
        int64_t s1[4] = { 2, 5, 9, 12 }, s2[4] = { 2, 8, 8, 8 };
        ssl3d_tensor *im[2] = { th_randn(ctx, dims + 1, s1, 0), th_randn(ctx, dims + 1, s2, 0) }, *loss = NULL;
        int64_t c = -1, n = -1;
        for (int training = 0; training <= 1; training++) {
            CHECK_OK(ctx, ssl3d_task_forward(ctx, t, im, 2, 3, 4, training, &loss, &c, &n));
            CHECK(n == 6 && c >= 0 && c <= 6);
            CHECK(ssl3d_tensor_numel(loss) == 1);
            ssl3d_tensor_release(loss);
            loss = NULL;
            ssl3d_tape_reset(ctx);
        }
        tt_release_all(im, 2);
        ssl3d_task_release(t);
    }
    ssl3d_ctx_release(ctx);
}

static void learn(int dims) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    enum { NT = 16, NV = 8 };
    ssl3d_tensor *train[NT], *val[NV];
    const int64_t S = 12;
    for (int i = 0; i < NT; i++) train[i] = tt_ramp_image(ctx, dims, 1, S, (uint32_t)i);
    for (int i = 0; i < NV; i++) val[i] = tt_ramp_image(ctx, dims, 1, S, 1000u + (uint32_t)i);
    ssl3d_task *t = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, dims, 1, "filters=4,levels=2,input_size=8,hidden=32", &t));
    tt_result r = { 0, 0, 0, 0, 0, 0 };
    const int steps = dims == 3 ? 100 : 80;
    REQUIRE(tt_learn(ctx, t, train, NT, 8, steps, 3e-3f, val, NV, 4, &r));
    tt_print(dims == 3 ? "rotation 3D" : "rotation 2D", &r, steps);
    CHECK_MSG(r.after >= r.chance + 0.3, "rotation %dD: accuracy %.3f after %d steps, chance %.3f", dims, r.after, steps,
              r.chance);
    ssl3d_task_release(t);
    tt_release_all(train, NT);
    tt_release_all(val, NV);
    ssl3d_ctx_release(ctx);
}

TEST(task_rotation_learns_3d) { learn(3); }
TEST(task_rotation_learns_2d) { learn(2); }
