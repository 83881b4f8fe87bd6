/* Batch norm, group norm, instance norm: forward values against hand-computed cases,
 * running statistics, train vs eval, gradients (2D and 3D, input and parameters),
 * thread-count independence, accessors and misuse. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"

static float *host(ssl3d_tensor *t) { return ssl3d_tensor_host_data(t); }

/* Random values for gamma/beta so that parameter gradients are not trivially symmetric. */
static void randomize(ssl3d_ctx *ctx, ssl3d_tensor *t, float lo, float hi) {
    ssl3d_tensor_fill_uniform(ctx, t, lo, hi);
}

TEST(batchnorm_forward_matches_hand_computation) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    /* x (N=2,C=2,H=1,W=2): channel 0 = {1,2 | 3,4}, channel 1 = {0,0 | 0,8} */
    const float xv[8] = { 1, 2, 0, 0, 3, 4, 0, 8 };
    int64_t shape[4] = { 2, 2, 1, 2 };
    ssl3d_tensor *x = th_tensor(ctx, 4, shape, xv), *y = NULL;
    ssl3d_batchnorm *bn = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_batchnorm_create(ctx, 2, 0.1f, 1e-5f, &bn));
    const float gv[2] = { 2.0f, 1.0f }, bv[2] = { 0.5f, 0.0f };
    REQUIRE_OK(ctx, ssl3d_tensor_write(ctx, ssl3d_batchnorm_tensor(bn, 0), gv, 8));
    REQUIRE_OK(ctx, ssl3d_tensor_write(ctx, ssl3d_batchnorm_tensor(bn, 1), bv, 8));
    REQUIRE_OK(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 1, &y));
    const double m0 = 2.5, v0 = 1.25, m1 = 2.0, v1 = 12.0, eps = 1e-5;
    const float *yv = host(y);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++) {
            CHECK_NEAR(yv[n * 4 + i], 2.0 * (xv[n * 4 + i] - m0) / sqrt(v0 + eps) + 0.5, 1e-5);
            CHECK_NEAR(yv[n * 4 + 2 + i], (xv[n * 4 + 2 + i] - m1) / sqrt(v1 + eps), 1e-5);
        }
    /* running stats: momentum 0.1, unbiased variance (M = 4) */
    const float *rm = host(ssl3d_batchnorm_tensor(bn, 2)), *rv = host(ssl3d_batchnorm_tensor(bn, 3));
    CHECK_NEAR(rm[0], 0.1 * m0, 1e-6);
    CHECK_NEAR(rm[1], 0.1 * m1, 1e-6);
    CHECK_NEAR(rv[0], 0.9 + 0.1 * v0 * 4.0 / 3.0, 1e-6);
    CHECK_NEAR(rv[1], 0.9 + 0.1 * v1 * 4.0 / 3.0, 1e-6);
    /* a second step compounds */
    ssl3d_tensor_release(y);
    REQUIRE_OK(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 1, &y));
    CHECK_NEAR(rm[0], 0.9 * 0.1 * m0 + 0.1 * m0, 1e-6);
    CHECK_NEAR(rv[1], 0.9 * (0.9 + 0.1 * v1 * 4.0 / 3.0) + 0.1 * v1 * 4.0 / 3.0, 1e-5);
    /* eval: uses the running statistics and leaves them alone */
    ssl3d_tensor_release(y);
    const float rm0 = rm[0], rv0 = rv[0];
    REQUIRE_OK(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 0, &y));
    yv = host(y);
    CHECK_NEAR(yv[0], 2.0 * (1.0 - rm0) / sqrt(rv0 + eps) + 0.5, 1e-5);
    CHECK(rm[0] == rm0 && rv[0] == rv0);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x);
    ssl3d_batchnorm_release(bn);
    ssl3d_ctx_release(ctx);
}

TEST(batchnorm_on_2d_features_and_large_mean) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    /* (N,C) input (MLP heads) with a large offset: the shifted variance stays exact. */
    int64_t shape[2] = { 4, 1 };
    const float xv[4] = { 10000.0f, 10001.0f, 10002.0f, 10003.0f };
    ssl3d_tensor *x = th_tensor(ctx, 2, shape, xv), *y = NULL;
    ssl3d_batchnorm *bn = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_batchnorm_create(ctx, 1, 0.1f, 1e-5f, &bn));
    REQUIRE_OK(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 1, &y));
    const float *yv = host(y);
    const double sd = sqrt(1.25 + 1e-5);
    for (int i = 0; i < 4; i++) CHECK_NEAR(yv[i], (i - 1.5) / sd, 1e-5);
    ssl3d_tensor_release(y); ssl3d_tensor_release(x);
    ssl3d_batchnorm_release(bn);
    ssl3d_ctx_release(ctx);
}

TEST(batchnorm_accessors_name_every_tensor) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    ssl3d_batchnorm *bn = NULL;
    REQUIRE_OK(ctx, ssl3d_batchnorm_create(ctx, 3, 0.1f, 1e-5f, &bn));
    const char *names[4] = { "weight", "bias", "running_mean", "running_var" };
    const float init[4] = { 1, 0, 0, 1 };
    CHECK(ssl3d_batchnorm_tensor_count(bn) == 4);
    CHECK(ssl3d_batchnorm_channels(bn) == 3);
    for (int i = 0; i < 4; i++) {
        ssl3d_tensor *t = ssl3d_batchnorm_tensor(bn, i);
        REQUIRE(t);
        CHECK(!strcmp(ssl3d_batchnorm_tensor_name(bn, i), names[i]));
        CHECK(ssl3d_batchnorm_tensor_trainable(bn, i) == (i < 2));
        CHECK(ssl3d_tensor_requires_grad(t) == (i < 2));
        CHECK(ssl3d_tensor_ndim(t) == 1 && ssl3d_tensor_dim(t, 0) == 3);
        CHECK(host(t)[2] == init[i]);
    }
    CHECK(ssl3d_batchnorm_tensor(bn, 4) == NULL && ssl3d_batchnorm_tensor(bn, -1) == NULL);
    CHECK(ssl3d_batchnorm_tensor_name(bn, 4) == NULL);
    CHECK(ssl3d_batchnorm_tensor_count(NULL) == 0);
    ssl3d_batchnorm_release(bn);
    ssl3d_batchnorm_release(NULL);
    ssl3d_ctx_release(ctx);
}

/* ---- gradchecks */
typedef struct {
    ssl3d_tensor *x, *gamma, *beta, *rm, *rv;
    int training, groups;
} norm_case;

static ssl3d_status bn_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    norm_case *c = u;
    return ssl3d_batch_norm(ctx, c->x, c->gamma, c->beta, c->rm, c->rv, c->training, 0.1f, 1e-5f, out);
}

static ssl3d_status gn_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    norm_case *c = u;
    return ssl3d_group_norm(ctx, c->x, c->groups, c->gamma, c->beta, 1e-5f, out);
}

/* Odd sizes, batch 2, channels > 1, 2D and 3D, plus (N,C). */
static const int64_t shapes[3][5] = { { 2, 3, 5, 3, 0 }, { 2, 4, 3, 5, 3 }, { 5, 4, 0, 0, 0 } };
static const int ndims[3] = { 4, 5, 2 };

TEST(batchnorm_gradcheck_train_and_eval_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 11);
    REQUIRE(ctx);
    for (int s = 0; s < 3; s++) {
        const int64_t C = shapes[s][1], cs[1] = { C };
        for (int training = 1; training >= 0; training--) {
            norm_case c = { th_randn(ctx, ndims[s], shapes[s], 1), th_randn(ctx, 1, cs, 1), th_randn(ctx, 1, cs, 1),
                            th_randn(ctx, 1, cs, 0), th_randn(ctx, 1, cs, 0), training, 0 };
            REQUIRE(c.x && c.gamma && c.beta && c.rm && c.rv);
            randomize(ctx, c.rv, 0.5f, 2.0f);
            char label[64];
            snprintf(label, sizeof label, "batch_norm %dD %s", ndims[s] - 2, training ? "train" : "eval");
            CHECK(gradcheck(ctx, bn_fwd, &c, (ssl3d_tensor *[]){ c.x, c.gamma, c.beta }, 3, NULL, label) == 0);
            ssl3d_tensor_release(c.x); ssl3d_tensor_release(c.gamma); ssl3d_tensor_release(c.beta);
            ssl3d_tensor_release(c.rm); ssl3d_tensor_release(c.rv);
        }
    }
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_ctx_release(ctx);
}

TEST(groupnorm_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 12);
    REQUIRE(ctx);
    const int groups[3] = { 1, 2, 4 };   /* layer-norm-like, groups, instance norm */
    for (int s = 0; s < 2; s++)
        for (int g = 0; g < 3; g++) {
            const int64_t C = shapes[s][1], cs[1] = { C };
            if (C % groups[g]) continue;
            norm_case c = { th_randn(ctx, ndims[s], shapes[s], 1), th_randn(ctx, 1, cs, 1), th_randn(ctx, 1, cs, 1),
                            NULL, NULL, 1, groups[g] };
            REQUIRE(c.x && c.gamma && c.beta);
            char label[64];
            snprintf(label, sizeof label, "group_norm %dD G=%d", ndims[s] - 2, groups[g]);
            CHECK(gradcheck(ctx, gn_fwd, &c, (ssl3d_tensor *[]){ c.x, c.gamma, c.beta }, 3, NULL, label) == 0);
            ssl3d_tensor_release(c.x); ssl3d_tensor_release(c.gamma); ssl3d_tensor_release(c.beta);
        }
    ssl3d_ctx_release(ctx);
}

TEST(groupnorm_forward_matches_hand_computation) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    /* x (1,4,2), G = 2: group 0 = {1,2,3,4} (mean 2.5, var 1.25), group 1 = {0,0,0,8} (2, 12) */
    const float xv[8] = { 1, 2, 3, 4, 0, 0, 0, 8 };
    int64_t shape[3] = { 1, 4, 2 };
    ssl3d_tensor *x = th_tensor(ctx, 3, shape, xv), *y = NULL, *yi = NULL;
    ssl3d_groupnorm *gn = NULL, *in = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_groupnorm_create(ctx, 2, 4, 1e-5f, &gn));
    const float gv[4] = { 1, 2, 1, 1 }, bv[4] = { 0, 0, 1, 0 };
    REQUIRE_OK(ctx, ssl3d_tensor_write(ctx, ssl3d_groupnorm_tensor(gn, 0), gv, 16));
    REQUIRE_OK(ctx, ssl3d_tensor_write(ctx, ssl3d_groupnorm_tensor(gn, 1), bv, 16));
    REQUIRE_OK(ctx, ssl3d_groupnorm_forward(ctx, gn, x, &y));
    const float *yv = host(y);
    const double s0 = sqrt(1.25 + 1e-5), s1 = sqrt(12 + 1e-5);
    CHECK_NEAR(yv[0], (1 - 2.5) / s0, 1e-5);
    CHECK_NEAR(yv[3], 2 * (4 - 2.5) / s0, 1e-5);
    CHECK_NEAR(yv[4], (0 - 2.0) / s1 + 1, 1e-5);
    CHECK_NEAR(yv[7], (8 - 2.0) / s1, 1e-5);
    /* instance norm: each channel on its own; channel 3 = {0,8}: -1, +1 */
    REQUIRE_OK(ctx, ssl3d_instancenorm_create(ctx, 4, 1e-5f, &in));
    CHECK(ssl3d_groupnorm_groups(in) == 4 && ssl3d_groupnorm_channels(in) == 4);
    REQUIRE_OK(ctx, ssl3d_groupnorm_forward(ctx, in, x, &yi));
    CHECK_NEAR(host(yi)[6], -1.0, 1e-5);
    CHECK_NEAR(host(yi)[7], 1.0, 1e-5);
    CHECK_NEAR(host(yi)[0], -0.5 / sqrt(0.25 + 1e-5), 1e-5);
    CHECK(ssl3d_groupnorm_tensor_count(gn) == 2);
    CHECK(!strcmp(ssl3d_groupnorm_tensor_name(gn, 0), "weight") && !strcmp(ssl3d_groupnorm_tensor_name(gn, 1), "bias"));
    CHECK(ssl3d_groupnorm_tensor_trainable(gn, 1) == 1 && ssl3d_groupnorm_tensor(gn, 2) == NULL);
    ssl3d_tensor_release(y); ssl3d_tensor_release(yi); ssl3d_tensor_release(x);
    ssl3d_groupnorm_release(gn); ssl3d_groupnorm_release(in); ssl3d_groupnorm_release(NULL);
    ssl3d_ctx_release(ctx);
}

/* Batch norm forward and all gradients are bit-identical for 1 and 2 threads. */
static int bn_run(int threads, float *y_out, float *gx_out, float *gg_out) {
    ssl3d_ctx *ctx = th_ctx(threads, 5);
    if (!ctx) return -1;
    int64_t shape[5] = { 2, 3, 7, 9, 11 };
    ssl3d_tensor *x = th_randn(ctx, 5, shape, 1), *y = NULL, *gy = NULL, *L = NULL, *r = NULL;
    ssl3d_batchnorm *bn = NULL;
    ssl3d_groupnorm *gn = NULL;
    int rc = -1;
    if (!x || ssl3d_batchnorm_create(ctx, 3, 0.1f, 1e-5f, &bn) || ssl3d_groupnorm_create(ctx, 3, 3, 1e-5f, &gn))
        goto out;
    r = th_randn(ctx, 5, shape, 0);
    if (ssl3d_batchnorm_forward(ctx, bn, x, 1, &y) || ssl3d_groupnorm_forward(ctx, gn, y, &gy) ||
        ssl3d_weighted_sum(ctx, gy, r, &L) || ssl3d_backward(ctx, L))
        goto out;
    int64_t n = ssl3d_tensor_numel(x);
    ssl3d_tensor_read(ctx, gy, y_out, n * 4);
    ssl3d_tensor_read_grad(ctx, x, gx_out, n);
    ssl3d_tensor_read_grad(ctx, ssl3d_batchnorm_tensor(bn, 0), gg_out, 3);
    ssl3d_tensor_read_grad(ctx, ssl3d_groupnorm_tensor(gn, 0), gg_out + 3, 3);
    rc = 0;
out:
    ssl3d_tensor_release(x); ssl3d_tensor_release(y); ssl3d_tensor_release(gy);
    ssl3d_tensor_release(L); ssl3d_tensor_release(r);
    ssl3d_batchnorm_release(bn); ssl3d_groupnorm_release(gn);
    ssl3d_ctx_release(ctx);
    return rc;
}

TEST(norms_are_thread_count_independent) {
    const size_t n = 2 * 3 * 7 * 9 * 11;
    float *a = calloc(2 * n + 6, sizeof *a), *b = calloc(2 * n + 6, sizeof *b);
    REQUIRE(a && b);
    CHECK(bn_run(1, a, a + n, a + 2 * n) == 0);
    CHECK(bn_run(2, b, b + n, b + 2 * n) == 0);
    CHECK(!memcmp(a, b, (2 * n + 6) * sizeof *a));
    free(a); free(b);
}

TEST(batchnorm_frozen_params_and_eval_records_affine_op) {
    ssl3d_ctx *ctx = th_ctx(1, 2);
    REQUIRE(ctx);
    int64_t shape[4] = { 2, 2, 3, 3 };
    ssl3d_tensor *x = th_randn(ctx, 4, shape, 0), *y = NULL;
    ssl3d_batchnorm *bn = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_batchnorm_create(ctx, 2, 0.1f, 1e-5f, &bn));
    /* nothing requires grad: nothing recorded */
    ssl3d_tensor_set_requires_grad(ctx, ssl3d_batchnorm_tensor(bn, 0), 0);
    ssl3d_tensor_set_requires_grad(ctx, ssl3d_batchnorm_tensor(bn, 1), 0);
    REQUIRE_OK(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 1, &y));
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_tensor_release(y);
    /* grad disabled: running stats still move in training mode */
    ssl3d_tensor_set_requires_grad(ctx, ssl3d_batchnorm_tensor(bn, 0), 1);
    ssl3d_set_grad_enabled(ctx, 0);
    float before = host(ssl3d_batchnorm_tensor(bn, 2))[0];
    REQUIRE_OK(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 1, &y));
    CHECK(ssl3d_tape_size(ctx) == 0);
    CHECK(host(ssl3d_batchnorm_tensor(bn, 2))[0] != before);
    ssl3d_set_grad_enabled(ctx, 1);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x);
    ssl3d_batchnorm_release(bn);
    ssl3d_ctx_release(ctx);
}

TEST(norm_misuse_is_reported) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    ssl3d_batchnorm *bn = NULL;
    ssl3d_groupnorm *gn = NULL;
    ssl3d_tensor *y = (ssl3d_tensor *)0x1;
    int64_t shape[4] = { 2, 3, 2, 2 }, one[4] = { 1, 3, 1, 1 };
    ssl3d_tensor *x = th_randn(ctx, 4, shape, 0), *x1 = th_randn(ctx, 4, one, 0), *xi = NULL;
    REQUIRE(x && x1);
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 4, shape, &xi));
    CHECK_ST(ctx, ssl3d_batchnorm_create(ctx, 0, 0.1f, 1e-5f, &bn), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_batchnorm_create(ctx, 3, 1.5f, 1e-5f, &bn), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "momentum") != NULL);
    CHECK_ST(ctx, ssl3d_batchnorm_create(ctx, 3, 0.1f, 0.0f, &bn), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_batchnorm_create(NULL, 3, 0.1f, 1e-5f, &bn), SSL3D_ERR_INVALID_ARG);
    CHECK(bn == NULL);
    REQUIRE_OK(ctx, ssl3d_batchnorm_create(ctx, 4, 0.1f, 1e-5f, &bn));
    CHECK_ST(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 1, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_batchnorm_forward") && strstr(ssl3d_ctx_last_error(ctx), "channels"));
    CHECK_ST(ctx, ssl3d_batchnorm_forward(ctx, NULL, x, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_batchnorm_forward(ctx, bn, NULL, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_batchnorm_forward(ctx, bn, xi, 1, &y), SSL3D_ERR_DTYPE);
    ssl3d_batchnorm_release(bn);
    REQUIRE_OK(ctx, ssl3d_batchnorm_create(ctx, 3, 0.1f, 1e-5f, &bn));
    CHECK_ST(ctx, ssl3d_batchnorm_forward(ctx, bn, x, 1, NULL), SSL3D_ERR_INVALID_ARG);
    /* one value per channel cannot be normalised in training */
    CHECK_ST(ctx, ssl3d_batchnorm_forward(ctx, bn, x1, 1, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "more than one value") != NULL);
    CHECK_OK(ctx, ssl3d_batchnorm_forward(ctx, bn, x1, 0, &y));   /* eval is fine */
    ssl3d_tensor_release(y);
    y = (ssl3d_tensor *)0x1;
    /* functional form: eval needs running stats; gamma shape checked */
    CHECK_ST(ctx, ssl3d_batch_norm(ctx, x, ssl3d_batchnorm_tensor(bn, 0), ssl3d_batchnorm_tensor(bn, 1), NULL, NULL,
                                   0, 0.1f, 1e-5f, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "running_mean") != NULL);
    CHECK_ST(ctx, ssl3d_batch_norm(ctx, x, x, ssl3d_batchnorm_tensor(bn, 1), NULL, NULL, 1, 0.1f, 1e-5f, &y),
             SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "gamma") != NULL);
    CHECK(y == (ssl3d_tensor *)0x1);
    /* group norm */
    CHECK_ST(ctx, ssl3d_groupnorm_create(ctx, 2, 3, 1e-5f, &gn), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "divide") != NULL);
    CHECK(gn == NULL);
    REQUIRE_OK(ctx, ssl3d_groupnorm_create(ctx, 1, 2, 1e-5f, &gn));
    CHECK_ST(ctx, ssl3d_groupnorm_forward(ctx, gn, x, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_groupnorm_forward(ctx, gn, xi, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_group_norm(ctx, x, 2, ssl3d_batchnorm_tensor(bn, 0), ssl3d_batchnorm_tensor(bn, 1), 1e-5f,
                                   &y), SSL3D_ERR_SHAPE);
    CHECK(y == (ssl3d_tensor *)0x1);
    ssl3d_groupnorm_release(gn);
    ssl3d_batchnorm_release(bn);
    ssl3d_tensor_release(x); ssl3d_tensor_release(x1); ssl3d_tensor_release(xi);
    ssl3d_ctx_release(ctx);
}
