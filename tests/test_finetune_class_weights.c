/* Class-weighted loss of classification fine-tuning (finetune_weights.c): loss values and
 * gradients against hand-computed ones (softmax and ordinal models), the automatic weights
 * of a training subset, option errors naming the option, and training with weights. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "finetune_fixture.h"
#include "../src/finetune/finetune_recipe.h"

static ssl3d_ftmodel *cls_model(ssl3d_ctx *ctx, int32_t classes, int32_t ordinal) {
    ssl3d_ftmodel *m = NULL;
    if (ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 2, 3, classes, 4, 2, SSL3D_NORM_BATCH, 8, ordinal, &m) != SSL3D_OK)
        return NULL;
    return m;
}

static double weighted_value(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, ssl3d_tensor *lg, ssl3d_tensor *y, const double *w) {
    ssl3d_tensor *loss = NULL;
    float v = NAN;
    if (ft_weighted_loss(ctx, m, lg, y, w, &loss) == SSL3D_OK) ssl3d_tensor_read(ctx, loss, &v, 4);
    ssl3d_tensor_release(loss);
    ssl3d_tape_reset(ctx);
    return v;
}

TEST(finetune_class_weights_loss_by_hand) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_ftmodel *m2 = cls_model(ctx, 2, 0), *m3 = cls_model(ctx, 3, 0), *mo = cls_model(ctx, 3, 1);
    REQUIRE(m2 && m3 && mo);
    /* K = 2: rows [0, 0] label 0 (loss ln 2) and [ln 3, 0] label 1 (p = 1/4, loss ln 4);
     * w = (1, 3): (1 ln 2 + 3 ln 4) / 2 = 3.5 ln 2; w = (1, 1): the plain mean 1.5 ln 2. */
    {
        const int64_t s[2] = { 2, 2 }, n[1] = { 2 };
        const float lv[4] = { 0, 0, (float)log(3.0), 0 };
        const int32_t yv[2] = { 0, 1 };
        ssl3d_tensor *lg = th_tensor(ctx, 2, s, lv), *y = NULL;
        REQUIRE(lg && ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, n, yv, &y) == SSL3D_OK);
        const double w13[2] = { 1, 3 }, w11[2] = { 1, 1 };
        CHECK_NEAR(weighted_value(ctx, m2, lg, y, w13), 3.5 * log(2.0), 1e-6);
        CHECK_NEAR(weighted_value(ctx, m2, lg, y, w11), 1.5 * log(2.0), 1e-6);
        ssl3d_tensor_release(lg); ssl3d_tensor_release(y);
    }
    /* K = 3: rows [1, 2, 3] label 2 (CE 0.4076059644), [0, 0, 0] label 0 (ln 3 =
     * 1.0986122887), [2, 0, -1] label 1 (2.1698460196); w = (0.5, 2, 1):
     * (1 x 0.4076059644 + 0.5 x 1.0986122887 + 2 x 2.1698460196) / 3 = 1.7655347160. The
     * gradient is (w[y_n] / N) (softmax - one-hot), row by row. */
    {
        const int64_t s[2] = { 3, 3 }, n[1] = { 3 };
        const float lv[9] = { 1, 2, 3, 0, 0, 0, 2, 0, -1 };
        const int32_t yv[3] = { 2, 0, 1 };
        const double w[3] = { 0.5, 2, 1 };
        ssl3d_tensor *lg = th_tensor(ctx, 2, s, lv), *y = NULL, *loss = NULL;
        REQUIRE(lg && ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, n, yv, &y) == SSL3D_OK);
        REQUIRE_OK(ctx, ssl3d_tensor_set_requires_grad(ctx, lg, 1));
        int32_t prev = ssl3d_set_grad_enabled(ctx, 1);
        REQUIRE_OK(ctx, ft_weighted_loss(ctx, m3, lg, y, w, &loss));
        float v = 0, g[9];
        REQUIRE_OK(ctx, ssl3d_tensor_read(ctx, loss, &v, 4));
        CHECK_NEAR(v, 1.7655347160, 1e-6);
        REQUIRE_OK(ctx, ssl3d_backward(ctx, loss));
        REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, lg, g, 9));
        for (int r = 0; r < 3; r++) {
            double z = 0;
            for (int k = 0; k < 3; k++) z += exp(lv[3 * r + k]);
            for (int k = 0; k < 3; k++) {
                double want = w[yv[r]] / 3.0 * (exp(lv[3 * r + k]) / z - (k == yv[r]));
                CHECK_MSG(fabs(g[3 * r + k] - want) < 1e-6, "grad [%d,%d] %g, by hand %g", r, k, g[3 * r + k], want);
            }
        }
        ssl3d_tape_reset(ctx);
        ssl3d_set_grad_enabled(ctx, prev);
        ssl3d_tensor_release(loss); ssl3d_tensor_release(lg); ssl3d_tensor_release(y);
    }
    /* Ordinal (K = 3, two sigmoids): row [0, 0] label 1 (targets [1, 0]: ln 2), row
     * [2, -1] label 2 (targets [1, 1]: (ln(1 + e^-2) + ln(1 + e)) / 2 = 0.7200948493);
     * w = (1, 1, 4): (ln 2 + 4 x 0.7200948493) / 2 = 1.7867632888. */
    {
        const int64_t s[2] = { 2, 2 }, n[1] = { 2 };
        const float lv[4] = { 0, 0, 2, -1 };
        const int32_t yv[2] = { 1, 2 };
        const double w[3] = { 1, 1, 4 };
        ssl3d_tensor *lg = th_tensor(ctx, 2, s, lv), *y = NULL;
        REQUIRE(lg && ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, n, yv, &y) == SSL3D_OK);
        CHECK_NEAR(weighted_value(ctx, mo, lg, y, w), 1.7867632888, 1e-6);
        /* a label outside the classes is refused, naming the sample */
        const int32_t bad[2] = { 1, 3 };
        ssl3d_tensor *yb = NULL, *loss = NULL;
        REQUIRE(ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, n, bad, &yb) == SSL3D_OK);
        CHECK_ST(ctx, ft_weighted_loss(ctx, mo, lg, yb, w, &loss), SSL3D_ERR_INVALID_ARG);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "sample 1") != NULL);
        ssl3d_tensor_release(lg); ssl3d_tensor_release(y); ssl3d_tensor_release(yb);
    }
    ssl3d_ftmodel_release(m2); ssl3d_ftmodel_release(m3); ssl3d_ftmodel_release(mo);
    ssl3d_ctx_release(ctx);
}

typedef struct wl_case { const ssl3d_ftmodel *m; ssl3d_tensor *lg, *y; const double *w; } wl_case;
static ssl3d_status wl_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    wl_case *c = u;
    return ft_weighted_loss(ctx, c->m, c->lg, c->y, c->w, out);
}

/* Finite differences over random logits, softmax and ordinal heads. */
TEST(finetune_class_weights_gradcheck) {
    ssl3d_ctx *ctx = th_ctx(1, 7);
    REQUIRE(ctx);
    static const gc_opts tight = { 1e-2, 2e-5, 1e-2, 64 };
    for (int ordinal = 0; ordinal < 2; ordinal++) {
        ssl3d_ftmodel *m = cls_model(ctx, 4, ordinal);
        REQUIRE(m);
        const int64_t s[2] = { 6, ordinal ? 3 : 4 }, n[1] = { 6 };
        const int32_t yv[6] = { 0, 3, 1, 1, 2, 3 };
        const double w[4] = { 0.25, 1.5, 0, 3 };
        ssl3d_tensor *y = NULL;
        REQUIRE(ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, n, yv, &y) == SSL3D_OK);
        wl_case c = { m, th_randn(ctx, 2, s, 1), y, w };
        REQUIRE(c.lg);
        CHECK(gradcheck(ctx, wl_fwd, &c, &c.lg, 1, &tight, ordinal ? "ordinal" : "softmax") == 0);
        ssl3d_tensor_release(c.lg); ssl3d_tensor_release(y);
        ssl3d_ftmodel_release(m);
    }
    ssl3d_ctx_release(ctx);
}

TEST(finetune_class_weights_auto_and_options) {
    double w[3];
    const int32_t a[4] = { 0, 0, 0, 1 }, b[6] = { 0, 0, 1, 1, 1, 1 };
    ft_class_weights_auto(a, 4, 2, w);   /* 4 / (2 x 3), 4 / (2 x 1) */
    CHECK_NEAR(w[0], 2.0 / 3.0, 1e-12);
    CHECK_NEAR(w[1], 2.0, 1e-12);
    ft_class_weights_auto(b, 6, 3, w);   /* class 2 absent: 6 / (2 x 2), 6 / (2 x 4), 0 */
    CHECK(w[0] == 1.5 && w[1] == 0.75 && w[2] == 0);
    CHECK(ft_class_weights_parse("1:2.5:0", 3, w) == 3 && w[0] == 1 && w[1] == 2.5 && w[2] == 0);
    const char *bad[] = { "", "abc", "1:-1", "0:0", "1::2", "1:2:", "1,2", "inf:1", "1:2:3:4" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(ft_class_weights_parse(bad[i], 3, NULL) < 0, "'%s' accepted", bad[i]);

    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ft_recipe rc;
    ssl3d_status st;
    ft_recipe_defaults(&rc, SSL3D_FT_CLASSIFY);
    CHECK(rc.class_weights[0] == 0);   /* off by default */
    CHECK(ft_recipe_parse(ctx, &rc, "class_weights", "auto", &st) == 1 && st == SSL3D_OK && !strcmp(rc.class_weights, "auto"));
    CHECK(ft_recipe_parse(ctx, &rc, "class_weights", "0:0", &st) == 1 && st == SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "class_weights=0:0") != NULL);
    /* through ssl3d_ft_train: the count must match the classes; segmentation refuses it */
    ssl3d_manifest *man = tf_cls_manifest(ctx, 12, 3, 6, 3, 3, 4);
    REQUIRE(man);
    ssl3d_ftmodel *m = cls_model(ctx, 3, 0), *seg = NULL;
    REQUIRE(m);
    CHECK_ST(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, "epochs=1,class_weights=1:2", NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "class_weights=1:2") && strstr(ssl3d_ctx_last_error(ctx), "3 weights"));
    seg = tf_tiny_seg(ctx, 3);
    REQUIRE(seg);
    CHECK_ST(ctx, ssl3d_ft_train(ctx, seg, man, NULL, 0, "class_weights=auto", NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "class_weights") != NULL);
    ssl3d_ftmodel_release(m); ssl3d_ftmodel_release(seg);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

/* Training: weights 1:1:1 give the unweighted loss (a balanced set: auto weights are 1
 * too), 1:1:4 another one; all runs finish. */
TEST(finetune_class_weights_train) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    ssl3d_manifest *man = tf_cls_manifest(ctx, 12, 3, 12, 3, 3, 5);
    REQUIRE(man);
    const char *extra[4] = { "", ",class_weights=1:1:1", ",class_weights=auto", ",class_weights=1:1:4" };
    double loss[4];
    for (int i = 0; i < 4; i++) {
        char opts[256];
        snprintf(opts, sizeof opts, "epochs=1,batch=6,seed=2,steps_per_epoch=2%s", extra[i]);
        ssl3d_ctx_set_seed(ctx, 9);
        ssl3d_ftmodel *m = cls_model(ctx, 3, 0);
        REQUIRE(m);
        tf_log lg = { 0 };
        REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, opts, tf_log_cb, &lg));
        loss[i] = tf_loss_value(lg.lines[0]);   /* the first epoch's; NAN when none */
        ssl3d_ftmodel_release(m);
    }
    CHECK_MSG(isfinite(loss[0]) && fabs(loss[1] - loss[0]) < 1e-4 * fabs(loss[0]) && fabs(loss[2] - loss[0]) < 1e-4 * fabs(loss[0]) &&
              fabs(loss[3] - loss[0]) > 1e-3, "losses: plain %g, 1:1:1 %g, auto %g, 1:1:4 %g", loss[0], loss[1], loss[2], loss[3]);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}
