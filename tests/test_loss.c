/* Losses: forward values against hand-computed cases, loss handles, predictions and
 * API misuse. Gradients are checked in test_loss_grad.c. */
#include <math.h>
#include <string.h>
#include "harness.h"

static ssl3d_tensor *ti32(ssl3d_ctx *ctx, int32_t ndim, const int64_t *shape, const int32_t *data) {
    ssl3d_tensor *t = NULL;
    if (ssl3d_tensor_from_data(ctx, SSL3D_I32, ndim, shape, data, &t) != SSL3D_OK) return NULL;
    return t;
}

static float value_of(ssl3d_ctx *ctx, ssl3d_tensor *t) {
    float v = NAN;
    if (t) ssl3d_tensor_read(ctx, t, &v, 4);
    ssl3d_tensor_release(t);
    return v;
}

TEST(loss_cross_entropy_hand_values) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* logits [0, ln 2], label 1: softmax = [1/3, 2/3], loss = ln 1.5 */
    int64_t s2[2] = { 1, 2 }, s1[1] = { 1 };
    float lv[2] = { 0.0f, (float)log(2.0) };
    int32_t yv[1] = { 1 };
    ssl3d_tensor *x = th_tensor(ctx, 2, s2, lv), *y = ti32(ctx, 1, s1, yv), *o = NULL;
    REQUIRE(x && y);
    REQUIRE_OK(ctx, ssl3d_cross_entropy(ctx, x, y, &o));
    CHECK_NEAR(value_of(ctx, o), log(1.5), 1e-6);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y);

    /* Dense 2D: logits (1,2,1,2); position 0 scores [0,0] label 0 -> ln 2; position 1
     * scores [0, ln 2] label 1 -> ln 1.5; mean = ln 3 / 2. */
    int64_t s4[4] = { 1, 2, 1, 2 }, s3[3] = { 1, 1, 2 };
    float dv[4] = { 0.0f, 0.0f, 0.0f, (float)log(2.0) };   /* [k][w] */
    int32_t ym[2] = { 0, 1 };
    x = th_tensor(ctx, 4, s4, dv); y = ti32(ctx, 3, s3, ym);
    REQUIRE(x && y);
    REQUIRE_OK(ctx, ssl3d_cross_entropy(ctx, x, y, &o));
    CHECK_NEAR(value_of(ctx, o), log(3.0) / 2, 1e-6);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y);

    /* 3D with large logits stays finite (log-sum-exp). */
    int64_t s5[5] = { 1, 2, 1, 1, 1 }, s4b[4] = { 1, 1, 1, 1 };
    float big[2] = { 1000.0f, -1000.0f };
    int32_t y1[1] = { 1 };
    x = th_tensor(ctx, 5, s5, big); y = ti32(ctx, 4, s4b, y1);
    REQUIRE(x && y);
    REQUIRE_OK(ctx, ssl3d_cross_entropy(ctx, x, y, &o));
    CHECK_NEAR(value_of(ctx, o), 2000.0, 1e-2);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y);
    ssl3d_ctx_release(ctx);
}

TEST(loss_bce_with_logits_hand_values_and_stability) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t s[2] = { 2, 2 };
    float xv[4] = { 0.0f, 2.0f, -100.0f, 100.0f }, tv[4] = { 1.0f, 0.0f, 0.0f, 0.25f };
    ssl3d_tensor *x = th_tensor(ctx, 2, s, xv), *t = th_tensor(ctx, 2, s, tv), *o = NULL;
    REQUIRE(x && t);
    REQUIRE_OK(ctx, ssl3d_bce_with_logits(ctx, x, t, &o));
    double want = (log(2.0) + log1p(exp(2.0)) + 0.0 + (100.0 - 25.0)) / 4.0;
    CHECK_NEAR(value_of(ctx, o), want, 1e-5);
    ssl3d_tensor_release(x); ssl3d_tensor_release(t);
    ssl3d_ctx_release(ctx);
}

TEST(loss_infonce_two_queries_by_hand) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t sq[2] = { 2, 2 }, sk[2] = { 3, 2 }, sp[1] = { 2 };
    float qv[4] = { 1, 0, 0, 1 }, kv[6] = { 1, 0, 0, 1, 1, 1 };
    int32_t pv[2] = { 1, 2 };
    ssl3d_tensor *q = th_tensor(ctx, 2, sq, qv), *k = th_tensor(ctx, 2, sk, kv), *p = ti32(ctx, 1, sp, pv), *o = NULL;
    REQUIRE(q && k && p);
    /* T = 1: row 0 logits [1,0,1], positive 1 -> log(1+2e) - 0; row 1 logits [0,1,1],
     * positive 2 -> log(1+2e) - 1. Mean log(1+2e) - 0.5. */
    REQUIRE_OK(ctx, ssl3d_infonce(ctx, q, k, p, 1.0f, &o));
    CHECK_NEAR(value_of(ctx, o), log(1 + 2 * M_E) - 0.5, 1e-5);
    /* T = 0.5 doubles the logits: row 0 log(1+2e^2), row 1 log(1+2e^2) - 2. */
    REQUIRE_OK(ctx, ssl3d_infonce(ctx, q, k, p, 0.5f, &o));
    CHECK_NEAR(value_of(ctx, o), log(1 + 2 * exp(2.0)) - 1.0, 1e-5);
    ssl3d_tensor_release(q); ssl3d_tensor_release(k); ssl3d_tensor_release(p);
    ssl3d_ctx_release(ctx);
}

TEST(loss_ntxent_by_hand_excludes_self) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* z rows [1,0],[0,1],[1,0],[0,1], B = 2: for row 0 the candidates are rows 1,2,3
     * with similarities 0,1,0 and positive 2: log(2+e) - 1 (self-similarity 1 excluded,
     * else it would be log(2+2e) - 1). Every row is alike. */
    int64_t s[2] = { 4, 2 };
    float zv[8] = { 1, 0, 0, 1, 1, 0, 0, 1 };
    ssl3d_tensor *z = th_tensor(ctx, 2, s, zv), *o = NULL;
    REQUIRE(z);
    REQUIRE_OK(ctx, ssl3d_ntxent(ctx, z, 1.0f, &o));
    CHECK_NEAR(value_of(ctx, o), log(2 + M_E) - 1, 1e-5);
    ssl3d_tensor_release(z);
    ssl3d_ctx_release(ctx);
}

TEST(loss_triplet_known_distances) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* row 0: d(a,p) = 1, d(a,n) = 4, margin 1 -> max(0,-2) = 0.
     * row 1: d(a,p) = 4, d(a,n) = 1 -> 4. Mean 2. */
    int64_t s[2] = { 2, 2 }, s1[2] = { 1, 2 };
    float av[4] = { 0, 0, 0, 0 }, pv[4] = { 1, 0, 2, 0 }, nv[4] = { 0, 2, 1, 0 };
    ssl3d_tensor *a = th_tensor(ctx, 2, s, av), *p = th_tensor(ctx, 2, s, pv), *n = th_tensor(ctx, 2, s, nv), *o = NULL;
    REQUIRE(a && p && n);
    REQUIRE_OK(ctx, ssl3d_triplet(ctx, a, p, n, 1.0f, &o));
    CHECK_NEAR(value_of(ctx, o), 2.0, 1e-6);
    ssl3d_tensor_release(a); ssl3d_tensor_release(p); ssl3d_tensor_release(n);
    /* Only the satisfied row: zero loss, and zero gradient. */
    a = th_tensor(ctx, 2, s1, av); p = th_tensor(ctx, 2, s1, pv); n = th_tensor(ctx, 2, s1, nv);
    REQUIRE(a && p && n);
    ssl3d_tensor_set_requires_grad(ctx, a, 1);
    REQUIRE_OK(ctx, ssl3d_triplet(ctx, a, p, n, 1.0f, &o));
    float v;
    ssl3d_tensor_read(ctx, o, &v, 4);
    CHECK(v == 0.0f);
    REQUIRE_OK(ctx, ssl3d_backward(ctx, o));
    float g[2] = { 1, 1 };
    ssl3d_tensor_read_grad(ctx, a, g, 2);
    CHECK(g[0] == 0.0f && g[1] == 0.0f);
    ssl3d_tensor_release(o);
    ssl3d_tensor_release(a); ssl3d_tensor_release(p); ssl3d_tensor_release(n);
    ssl3d_ctx_release(ctx);
}

TEST(loss_triplet_batch_hard_by_hand) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* z = [0,1,3,2] (D=1), B = 2, positives (0,2), (1,3):
     * anchor 0: d(0,2)=9, closest negative row 1 (1) -> 9
     * anchor 1: d(1,3)=1, negatives rows 0 (1), 2 (4) -> 1 - 1 + 1 = 1
     * anchor 2: d(2,0)=9, negatives 1 (4), 3 (1) -> 9
     * anchor 3: d(3,1)=1, negatives 0 (4), 2 (1) -> 1. Mean 5. */
    int64_t s[2] = { 4, 1 };
    float zv[4] = { 0, 1, 3, 2 };
    ssl3d_tensor *z = th_tensor(ctx, 2, s, zv), *o = NULL;
    REQUIRE(z);
    REQUIRE_OK(ctx, ssl3d_triplet_batch_hard(ctx, z, 1.0f, &o));
    CHECK_NEAR(value_of(ctx, o), 5.0, 1e-6);
    /* Far-apart pairs: all satisfied -> 0. */
    float far[4] = { 0, 10, 1, 12 };
    ssl3d_tensor_write(ctx, z, far, sizeof far);
    REQUIRE_OK(ctx, ssl3d_triplet_batch_hard(ctx, z, 1.0f, &o));
    CHECK_NEAR(value_of(ctx, o), 0.0, 1e-9);
    ssl3d_tensor_release(z);
    ssl3d_ctx_release(ctx);
}

TEST(loss_soft_dice_perfect_and_uniform) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    /* 3D, N=2, K=3, 2x3x4: confident correct logits -> loss ~ 0 (absent classes count
     * as perfect through eps). */
    int64_t sl[5] = { 2, 3, 2, 3, 4 }, sy[4] = { 2, 2, 3, 4 };
    float x[2 * 3 * 24];
    int32_t y[2 * 24];
    for (int n = 0; n < 2; n++)
        for (int s = 0; s < 24; s++) {
            y[n * 24 + s] = n == 0 ? (s % 3) : (s % 2);    /* sample 1 never has class 2 */
            for (int k = 0; k < 3; k++) x[(n * 3 + k) * 24 + s] = k == y[n * 24 + s] ? 40.0f : 0.0f;
        }
    ssl3d_tensor *lg = th_tensor(ctx, 5, sl, x), *lb = ti32(ctx, 4, sy, y), *o = NULL;
    REQUIRE(lg && lb);
    REQUIRE_OK(ctx, ssl3d_soft_dice(ctx, lg, lb, &o));
    CHECK_NEAR(value_of(ctx, o), 0.0, 1e-5);
    ssl3d_tensor_release(lg); ssl3d_tensor_release(lb);
    /* 2D uniform prediction, K=2, labels [0,1]: per class inter .5, sum p 1, sum onehot 1
     * -> dice (1+eps)/(2+eps) for both; loss = 1 - that. */
    int64_t s2[4] = { 1, 2, 1, 2 }, y2s[3] = { 1, 1, 2 };
    float z4[4] = { 0, 0, 0, 0 };
    int32_t y2[2] = { 0, 1 };
    lg = th_tensor(ctx, 4, s2, z4); lb = ti32(ctx, 3, y2s, y2);
    REQUIRE(lg && lb);
    REQUIRE_OK(ctx, ssl3d_soft_dice(ctx, lg, lb, &o));
    CHECK_NEAR(value_of(ctx, o), 1.0 - (1.0 + 1e-5) / (2.0 + 1e-5), 1e-6);
    /* Dice + CE = the two added. */
    REQUIRE_OK(ctx, ssl3d_dice_ce(ctx, lg, lb, &o));
    CHECK_NEAR(value_of(ctx, o), 1.0 - (1.0 + 1e-5) / (2.0 + 1e-5) + log(2.0), 1e-6);
    ssl3d_tensor_release(lg); ssl3d_tensor_release(lb);
    ssl3d_ctx_release(ctx);
}

TEST(loss_values_do_not_depend_on_thread_count) {
    float v[2][3];
    for (int t = 0; t < 2; t++) {
        ssl3d_ctx *ctx = th_ctx(t + 1, 5);
        REQUIRE(ctx);
        int64_t sl[5] = { 2, 3, 5, 6, 7 }, sy[4] = { 2, 5, 6, 7 };
        ssl3d_tensor *lg = th_randn(ctx, 5, sl, 0), *lb = NULL, *o = NULL;
        REQUIRE(lg);
        int32_t y[2 * 210];
        for (int i = 0; i < 420; i++) y[i] = (i * 7) % 3;
        lb = ti32(ctx, 4, sy, y);
        REQUIRE(lb);
        REQUIRE_OK(ctx, ssl3d_cross_entropy(ctx, lg, lb, &o));
        v[t][0] = value_of(ctx, o);
        REQUIRE_OK(ctx, ssl3d_soft_dice(ctx, lg, lb, &o));
        v[t][1] = value_of(ctx, o);
        int64_t sz[2] = { 10, 21 };
        ssl3d_tensor *z = th_randn(ctx, 2, sz, 0);
        REQUIRE(z);
        REQUIRE_OK(ctx, ssl3d_triplet_batch_hard(ctx, z, 1.0f, &o));
        v[t][2] = value_of(ctx, o);
        ssl3d_tensor_release(z); ssl3d_tensor_release(lg); ssl3d_tensor_release(lb);
        ssl3d_ctx_release(ctx);
    }
    CHECK(!memcmp(v[0], v[1], sizeof v[0]));
}

TEST(loss_argmax_and_count_correct) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t s[2] = { 3, 3 }, sy[1] = { 3 };
    float xv[9] = { 0, 2, 1, 5, 5, 0, NAN, -1, -2 };
    int32_t yv[3] = { 1, 1, 1 };
    ssl3d_tensor *x = th_tensor(ctx, 2, s, xv), *y = ti32(ctx, 1, sy, yv), *a = NULL;
    REQUIRE(x && y);
    REQUIRE_OK(ctx, ssl3d_argmax_rows(ctx, x, &a));
    REQUIRE(ssl3d_tensor_dtype(a) == SSL3D_I32 && ssl3d_tensor_ndim(a) == 1 && ssl3d_tensor_dim(a, 0) == 3);
    int32_t got[3];
    ssl3d_tensor_read(ctx, a, got, sizeof got);
    CHECK(got[0] == 1 && got[1] == 0 && got[2] == 1);   /* tie -> lowest; NaN never wins */
    int64_t c = -1;
    REQUIRE_OK(ctx, ssl3d_count_correct(ctx, x, y, &c));
    CHECK(c == 2);
    ssl3d_tensor_release(a); ssl3d_tensor_release(x); ssl3d_tensor_release(y);
    /* dense: (1,2,2,2) -> (1,2,2) */
    int64_t s4[4] = { 1, 2, 2, 2 };
    float dv[8] = { 0, 1, 2, 3, 3, 2, 1, 0 };
    x = th_tensor(ctx, 4, s4, dv);
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_argmax_rows(ctx, x, &a));
    CHECK(ssl3d_tensor_ndim(a) == 3 && ssl3d_tensor_dim(a, 1) == 2 && ssl3d_tensor_dim(a, 2) == 2);
    int32_t g4[4];
    ssl3d_tensor_read(ctx, a, g4, sizeof g4);
    CHECK(g4[0] == 1 && g4[1] == 1 && g4[2] == 0 && g4[3] == 0);
    ssl3d_tensor_release(a); ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(loss_handles_match_functional_ops) {
    ssl3d_ctx *ctx = th_ctx(1, 3);
    REQUIRE(ctx);
    ssl3d_loss *l = NULL;
    REQUIRE_OK(ctx, ssl3d_loss_create(ctx, SSL3D_LOSS_INFONCE, &l));
    CHECK(ssl3d_loss_num_inputs(l) == 3 && ssl3d_loss_kind_of(l) == SSL3D_LOSS_INFONCE);
    CHECK_NEAR(ssl3d_loss_param_value(l, SSL3D_LOSS_PARAM_TEMPERATURE), 0.1, 1e-7);
    REQUIRE_OK(ctx, ssl3d_loss_set_param(ctx, l, SSL3D_LOSS_PARAM_TEMPERATURE, 0.5f));
    CHECK_ST(ctx, ssl3d_loss_set_param(ctx, l, SSL3D_LOSS_PARAM_MARGIN, 1.0f), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "infonce") != NULL);
    CHECK_ST(ctx, ssl3d_loss_set_param(ctx, l, SSL3D_LOSS_PARAM_TEMPERATURE, 0.0f), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_loss_set_param(ctx, l, 99, 1.0f), SSL3D_ERR_INVALID_ARG);
    int64_t sq[2] = { 2, 2 }, sk[2] = { 3, 2 }, sp[1] = { 2 };
    float qv[4] = { 1, 0, 0, 1 }, kv[6] = { 1, 0, 0, 1, 1, 1 };
    int32_t pv[2] = { 1, 2 };
    ssl3d_tensor *in[3] = { th_tensor(ctx, 2, sq, qv), th_tensor(ctx, 2, sk, kv), ti32(ctx, 1, sp, pv) }, *o = NULL;
    REQUIRE(in[0] && in[1] && in[2]);
    REQUIRE_OK(ctx, ssl3d_loss_forward(ctx, l, in, 3, &o));
    CHECK_NEAR(value_of(ctx, o), log(1 + 2 * exp(2.0)) - 1.0, 1e-5);
    CHECK_ST(ctx, ssl3d_loss_forward(ctx, l, in, 2, &o), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "takes 3 inputs") != NULL);
    ssl3d_loss_release(l);
    for (int i = 0; i < 3; i++) ssl3d_tensor_release(in[i]);

    /* CE handle with a class count, Dice+CE with weights. */
    REQUIRE_OK(ctx, ssl3d_loss_create(ctx, SSL3D_LOSS_DICE_CE, &l));
    REQUIRE_OK(ctx, ssl3d_loss_set_param(ctx, l, SSL3D_LOSS_PARAM_NUM_CLASSES, 3));
    REQUIRE_OK(ctx, ssl3d_loss_set_param(ctx, l, SSL3D_LOSS_PARAM_CE_WEIGHT, 0.5f));
    int64_t s2[4] = { 1, 2, 1, 2 }, y2s[3] = { 1, 1, 2 };
    float z4[4] = { 0, 0, 0, 0 };
    int32_t y2[2] = { 0, 1 };
    ssl3d_tensor *seg[2] = { th_tensor(ctx, 4, s2, z4), ti32(ctx, 3, y2s, y2) };
    REQUIRE(seg[0] && seg[1]);
    CHECK_ST(ctx, ssl3d_loss_forward(ctx, l, seg, 2, &o), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "3 classes") != NULL);
    REQUIRE_OK(ctx, ssl3d_loss_set_param(ctx, l, SSL3D_LOSS_PARAM_NUM_CLASSES, 2));
    REQUIRE_OK(ctx, ssl3d_loss_forward(ctx, l, seg, 2, &o));
    CHECK_NEAR(value_of(ctx, o), 1.0 - (1.0 + 1e-5) / (2.0 + 1e-5) + 0.5 * log(2.0), 1e-6);
    ssl3d_loss_release(l);
    ssl3d_tensor_release(seg[0]); ssl3d_tensor_release(seg[1]);
    CHECK_ST(ctx, ssl3d_loss_create(ctx, 42, &l), SSL3D_ERR_INVALID_ARG);
    ssl3d_loss_release(NULL);
    CHECK(ssl3d_loss_num_inputs(NULL) == 0 && isnan(ssl3d_loss_param_value(NULL, 0)));
    ssl3d_ctx_release(ctx);
}

TEST(loss_misuse_is_reported) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t s[2] = { 2, 3 }, sy[1] = { 2 }, s4[4] = { 2, 3, 2, 2 }, sy3[3] = { 2, 2, 2 };
    float xv[6] = { 0 };
    int32_t good[2] = { 0, 2 }, bad[2] = { 1, 3 };
    ssl3d_tensor *x = th_tensor(ctx, 2, s, xv), *yg = ti32(ctx, 1, sy, good), *yb = ti32(ctx, 1, sy, bad);
    ssl3d_tensor *sentinel = (ssl3d_tensor *)0x1, *o = sentinel;
    REQUIRE(x && yg && yb);
    CHECK(ssl3d_cross_entropy(NULL, x, yg, &o) == SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_cross_entropy(ctx, NULL, yg, &o), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_cross_entropy: logits is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_cross_entropy(ctx, x, yg, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_cross_entropy(ctx, x, yb, &o), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "labels[1] = 3") != NULL);
    CHECK_ST(ctx, ssl3d_cross_entropy(ctx, x, x, &o), SSL3D_ERR_DTYPE);          /* float labels */
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "labels must be int32") != NULL);
    CHECK_ST(ctx, ssl3d_cross_entropy(ctx, yg, yg, &o), SSL3D_ERR_DTYPE);        /* int logits */
    /* dense: wrong label map shape, then a bad label with its position */
    ssl3d_tensor *x4 = th_randn(ctx, 4, s4, 0);
    int32_t ym[8] = { 0, 1, 2, 0, 1, 2, -1, 0 };
    ssl3d_tensor *y3 = ti32(ctx, 3, sy3, ym);
    REQUIRE(x4 && y3);
    CHECK_ST(ctx, ssl3d_cross_entropy(ctx, x4, yg, &o), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_soft_dice(ctx, x4, y3, &o), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "labels[1,1,0] = -1") != NULL);
    CHECK_ST(ctx, ssl3d_soft_dice(ctx, x, y3, &o), SSL3D_ERR_SHAPE);
    /* BCE: shape and target range */
    float tv[6] = { 0, 1, 0.5f, 1.5f, 0, 0 };
    ssl3d_tensor *t = th_tensor(ctx, 2, s, tv);
    REQUIRE(t);
    CHECK_ST(ctx, ssl3d_bce_with_logits(ctx, x, t, &o), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "targets[1,0] = 1.5") != NULL);
    CHECK_ST(ctx, ssl3d_bce_with_logits(ctx, x, x4, &o), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_bce_with_logits(ctx, x, yg, &o), SSL3D_ERR_DTYPE);
    /* contrastive */
    CHECK_ST(ctx, ssl3d_infonce(ctx, x, x, yg, 0.0f, &o), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "temperature") != NULL);
    CHECK_ST(ctx, ssl3d_infonce(ctx, x, x, yb, 0.1f, &o), SSL3D_ERR_INVALID_ARG);  /* key index 3 >= M = 2 */
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "positives[1] = 3") != NULL);
    CHECK_ST(ctx, ssl3d_infonce(ctx, x, x4, yg, 0.1f, &o), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_infonce(ctx, x, x, x, 0.1f, &o), SSL3D_ERR_DTYPE);
    int64_t s3[2] = { 3, 2 };
    ssl3d_tensor *odd = th_randn(ctx, 2, s3, 0);
    REQUIRE(odd);
    CHECK_ST(ctx, ssl3d_ntxent(ctx, odd, 0.1f, &o), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_ntxent(ctx, x, NAN, &o), SSL3D_ERR_INVALID_ARG);
    /* triplet */
    CHECK_ST(ctx, ssl3d_triplet(ctx, x, x, odd, 1.0f, &o), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_triplet(ctx, x, x, x, -1.0f, &o), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_triplet(ctx, x, NULL, x, 1.0f, &o), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "positive is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_triplet_batch_hard(ctx, x, 1.0f, &o), SSL3D_ERR_SHAPE);   /* N = 2 < 4 */
    CHECK_ST(ctx, ssl3d_argmax_rows(ctx, yg, &o), SSL3D_ERR_DTYPE);
    int64_t c = 7;
    CHECK_ST(ctx, ssl3d_count_correct(ctx, x, y3, &c), SSL3D_ERR_SHAPE);
    CHECK(c == 7);
    CHECK(o == sentinel);                        /* never written on failure */
    ssl3d_tensor *all[] = { x, yg, yb, x4, y3, t, odd };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssl3d_tensor_release(all[i]);
    ssl3d_ctx_release(ctx);
}
