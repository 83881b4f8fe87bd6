/* Activations, dropout, linear, add/mul, concat/narrow/reshape/flatten, L2 normalise:
 * forward values at known points, gradchecks in 2D and 3D, misuse. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"

static float *host(ssl3d_tensor *t) { return ssl3d_tensor_host_data(t); }

/* Random tensor whose values stay >= 0.1 away from 0 (kinks of relu / leaky relu). */
static ssl3d_tensor *randn_off0(ssl3d_ctx *ctx, int nd, const int64_t *shape) {
    ssl3d_tensor *t = th_randn(ctx, nd, shape, 1);
    if (!t) return NULL;
    float *v = host(t);
    for (int64_t i = 0; i < ssl3d_tensor_numel(t); i++) v[i] += v[i] >= 0 ? 0.1f : -0.1f;
    return t;
}

static const int64_t sh2d[4] = { 2, 3, 5, 3 }, sh3d[5] = { 2, 2, 3, 5, 3 };

/* ---------------------------------------------------------------- activations */

TEST(activations_at_known_points) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    const float xv[6] = { 0.0f, 1.0986122887f, -2.0f, 0.5493061443f, -100.0f, 100.0f };
    int64_t shape[1] = { 6 };
    ssl3d_tensor *x = th_tensor(ctx, 1, shape, xv), *r = NULL, *l = NULL, *s = NULL, *t = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_relu(ctx, x, &r));
    REQUIRE_OK(ctx, ssl3d_leaky_relu(ctx, x, 0.1f, &l));
    REQUIRE_OK(ctx, ssl3d_sigmoid(ctx, x, &s));
    REQUIRE_OK(ctx, ssl3d_tanh(ctx, x, &t));
    CHECK(host(r)[0] == 0.0f && host(r)[2] == 0.0f && host(r)[5] == 100.0f);
    CHECK_NEAR(host(l)[2], -0.2, 1e-7);
    CHECK_NEAR(host(l)[1], 1.0986122887, 1e-7);
    CHECK_NEAR(host(s)[0], 0.5, 1e-7);
    CHECK_NEAR(host(s)[1], 0.75, 1e-6);        /* sigmoid(ln 3) = 3/4 */
    CHECK(host(s)[4] >= 0.0f && host(s)[4] < 1e-30f && host(s)[5] == 1.0f);
    CHECK_NEAR(host(t)[3], 0.5, 1e-6);         /* tanh(atanh 0.5) */
    CHECK_NEAR(host(t)[2], tanh(-2.0), 1e-6);
    CHECK(host(t)[4] == -1.0f);
    ssl3d_tensor_release(x); ssl3d_tensor_release(r); ssl3d_tensor_release(l);
    ssl3d_tensor_release(s); ssl3d_tensor_release(t);
    ssl3d_ctx_release(ctx);
}

typedef struct { ssl3d_tensor *a, *b; int kind; float f; int i0, i1; } op_case;

static ssl3d_status act_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    op_case *c = u;
    switch (c->kind) {
    case 0: return ssl3d_relu(ctx, c->a, out);
    case 1: return ssl3d_leaky_relu(ctx, c->a, c->f, out);
    case 2: return ssl3d_sigmoid(ctx, c->a, out);
    default: return ssl3d_tanh(ctx, c->a, out);
    }
}

TEST(activations_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 4);
    REQUIRE(ctx);
    const char *names[4] = { "relu", "leaky_relu", "sigmoid", "tanh" };
    for (int d = 0; d < 2; d++)
        for (int kind = 0; kind < 4; kind++) {
            op_case c = { d ? randn_off0(ctx, 5, sh3d) : randn_off0(ctx, 4, sh2d), NULL, kind, 0.2f, 0, 0 };
            REQUIRE(c.a);
            char label[48];
            snprintf(label, sizeof label, "%s %dD", names[kind], d ? 3 : 2);
            CHECK(gradcheck(ctx, act_fwd, &c, &c.a, 1, NULL, label) == 0);
            ssl3d_tensor_release(c.a);
        }
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- dropout */

TEST(dropout_mask_statistics_and_determinism) {
    ssl3d_ctx *c1 = th_ctx(1, 9), *c2 = th_ctx(2, 9);
    REQUIRE(c1 && c2);
    int64_t shape[2] = { 100, 1001 };
    ssl3d_tensor *x1 = NULL, *x2 = NULL, *y1 = NULL, *y2 = NULL, *y3 = NULL;
    REQUIRE_OK(c1, ssl3d_tensor_create(c1, SSL3D_F32, 2, shape, &x1));
    REQUIRE_OK(c2, ssl3d_tensor_create(c2, SSL3D_F32, 2, shape, &x2));
    ssl3d_tensor_fill(c1, x1, 2.0f);
    ssl3d_tensor_fill(c2, x2, 2.0f);
    REQUIRE_OK(c1, ssl3d_dropout(c1, x1, 0.3f, 1, &y1));
    REQUIRE_OK(c2, ssl3d_dropout(c2, x2, 0.3f, 1, &y2));
    const int64_t n = 100 * 1001;
    CHECK(th_tensors_identical(c1, y1, y2));   /* thread-count independent */
    int64_t zeros = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = host(y1)[i];
        if (v == 0.0f) zeros++;
        else if (fabsf(v - 2.0f / 0.7f) > 1e-6f) bad++;
    }
    CHECK(bad == 0);
    CHECK_NEAR((double)zeros / n, 0.3, 0.01);
    /* a second call draws a different mask */
    REQUIRE_OK(c1, ssl3d_dropout(c1, x1, 0.3f, 1, &y3));
    CHECK(!th_tensors_identical(c1, y1, y3));
    ssl3d_tensor_release(y3);
    /* eval and p = 0 are the identity (the same tensor) */
    REQUIRE_OK(c1, ssl3d_dropout(c1, x1, 0.3f, 0, &y3));
    CHECK(y3 == x1);
    ssl3d_tensor_release(y3);
    REQUIRE_OK(c1, ssl3d_dropout(c1, x1, 0.0f, 1, &y3));
    CHECK(y3 == x1);
    ssl3d_tensor_release(y3);
    /* p = 1 drops everything */
    REQUIRE_OK(c1, ssl3d_dropout(c1, x1, 1.0f, 1, &y3));
    CHECK(host(y3)[0] == 0.0f && host(y3)[n - 1] == 0.0f);
    ssl3d_tensor_release(y3);
    ssl3d_tensor_release(x1); ssl3d_tensor_release(x2); ssl3d_tensor_release(y1); ssl3d_tensor_release(y2);
    ssl3d_ctx_release(c1); ssl3d_ctx_release(c2);
}

/* The seed is reset inside the closure so every call draws the same mask. */
static ssl3d_status dropout_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    op_case *c = u;
    ssl3d_ctx_set_seed(ctx, 77);
    return ssl3d_dropout(ctx, c->a, c->f, 1, out);
}

TEST(dropout_gradcheck_fixed_mask_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 4);
    REQUIRE(ctx);
    for (int d = 0; d < 2; d++) {
        op_case c = { d ? th_randn(ctx, 5, sh3d, 1) : th_randn(ctx, 4, sh2d, 1), NULL, 0, 0.4f, 0, 0 };
        REQUIRE(c.a);
        CHECK(gradcheck(ctx, dropout_fwd, &c, &c.a, 1, NULL, d ? "dropout 3D" : "dropout 2D") == 0);
        ssl3d_tensor_release(c.a);
    }
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- linear */

TEST(linear_forward_values) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    const float xv[6] = { 1, 2, 3, 4, 5, 6 }, wv[6] = { 1, 0, -1, 0.5f, 0.5f, 0.5f }, bv[2] = { 1, -1 };
    int64_t xs[2] = { 2, 3 }, ws[2] = { 2, 3 }, bs[1] = { 2 };
    ssl3d_tensor *x = th_tensor(ctx, 2, xs, xv), *w = th_tensor(ctx, 2, ws, wv), *b = th_tensor(ctx, 1, bs, bv);
    ssl3d_tensor *y = NULL, *y0 = NULL;
    REQUIRE(x && w && b);
    REQUIRE_OK(ctx, ssl3d_linear(ctx, x, w, b, &y));
    CHECK(ssl3d_tensor_dim(y, 0) == 2 && ssl3d_tensor_dim(y, 1) == 2);
    const float want[4] = { -1, 2, -1, 6.5f };
    for (int i = 0; i < 4; i++) CHECK_NEAR(host(y)[i], want[i], 1e-6);
    REQUIRE_OK(ctx, ssl3d_linear(ctx, x, w, NULL, &y0));
    CHECK_NEAR(host(y0)[3], 7.5, 1e-6);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b);
    ssl3d_tensor_release(y); ssl3d_tensor_release(y0);
    ssl3d_ctx_release(ctx);
}

static ssl3d_status linear_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    op_case *c = u;
    return ssl3d_linear(ctx, c->a, c->b, NULL, out);
}

typedef struct { ssl3d_tensor *x, *w, *b; } lin_case;
static ssl3d_status linear_b_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    lin_case *c = u;
    return ssl3d_linear(ctx, c->x, c->w, c->b, out);
}

TEST(linear_gradcheck_x_w_b) {
    ssl3d_ctx *ctx = th_ctx(2, 6);
    REQUIRE(ctx);
    int64_t xs[2] = { 5, 7 }, ws[2] = { 3, 7 }, bs[1] = { 3 }, x3[3] = { 2, 3, 7 };
    for (int lead = 0; lead < 2; lead++) {
        lin_case c = { lead ? th_randn(ctx, 3, x3, 1) : th_randn(ctx, 2, xs, 1), th_randn(ctx, 2, ws, 1),
                       th_randn(ctx, 1, bs, 1) };
        REQUIRE(c.x && c.w && c.b);
        CHECK(gradcheck(ctx, linear_b_fwd, &c, (ssl3d_tensor *[]){ c.x, c.w, c.b }, 3, NULL, "linear") == 0);
        op_case o = { c.x, c.w, 0, 0, 0, 0 };
        CHECK(gradcheck(ctx, linear_fwd, &o, (ssl3d_tensor *[]){ c.x, c.w }, 2, NULL, "linear no bias") == 0);
        ssl3d_tensor_release(c.x); ssl3d_tensor_release(c.w); ssl3d_tensor_release(c.b);
    }
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- add / mul */

static ssl3d_status addmul_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    op_case *c = u;
    /* kind 0: a + b, 1: a * b, 2: a * a + b (a used twice) */
    if (c->kind == 0) return ssl3d_add(ctx, c->a, c->b, out);
    if (c->kind == 1) return ssl3d_mul(ctx, c->a, c->b, out);
    ssl3d_tensor *sq = NULL;
    ssl3d_status st = ssl3d_mul(ctx, c->a, c->a, &sq);
    if (st == SSL3D_OK) st = ssl3d_add(ctx, sq, c->b, out);
    ssl3d_tensor_release(sq);
    return st;
}

TEST(add_mul_values_and_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 8);
    REQUIRE(ctx);
    const float av[4] = { 1, 2, 3, 4 }, bv[4] = { 10, 20, 30, 40 }, cv[2] = { 100, 200 };
    int64_t s22[2] = { 2, 2 }, s2[1] = { 2 };
    ssl3d_tensor *a = th_tensor(ctx, 2, s22, av), *b = th_tensor(ctx, 2, s22, bv), *cb = th_tensor(ctx, 1, s2, cv);
    ssl3d_tensor *y = NULL, *z = NULL, *w = NULL;
    REQUIRE(a && b && cb);
    REQUIRE_OK(ctx, ssl3d_add(ctx, a, b, &y));
    REQUIRE_OK(ctx, ssl3d_mul(ctx, a, b, &z));
    REQUIRE_OK(ctx, ssl3d_add(ctx, a, cb, &w));   /* per-channel: dim 1 */
    CHECK(host(y)[3] == 44.0f && host(z)[2] == 90.0f);
    CHECK(host(w)[0] == 101.0f && host(w)[1] == 202.0f && host(w)[2] == 103.0f && host(w)[3] == 204.0f);
    ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(cb);
    ssl3d_tensor_release(y); ssl3d_tensor_release(z); ssl3d_tensor_release(w);
    for (int d = 0; d < 2; d++) {
        const int nd = d ? 5 : 4;
        const int64_t *sh = d ? sh3d : sh2d, cs[1] = { sh[1] };
        for (int kind = 0; kind < 3; kind++) {
            op_case c = { th_randn(ctx, nd, sh, 1), th_randn(ctx, nd, sh, 1), kind, 0, 0, 0 };
            REQUIRE(c.a && c.b);
            CHECK(gradcheck(ctx, addmul_fwd, &c, (ssl3d_tensor *[]){ c.a, c.b }, 2, NULL, "add/mul") == 0);
            ssl3d_tensor_release(c.b);
            if (kind == 0) {   /* per-channel broadcast b (C) */
                c.b = th_randn(ctx, 1, cs, 1);
                REQUIRE(c.b);
                CHECK(gradcheck(ctx, addmul_fwd, &c, (ssl3d_tensor *[]){ c.a, c.b }, 2, NULL, "add (C)") == 0);
                ssl3d_tensor_release(c.b);
            }
            ssl3d_tensor_release(c.a);
        }
    }
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- shape ops */

TEST(concat_narrow_reshape_values) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    /* a (2,1,2), b (2,2,2): concat on axis 1 -> (2,3,2) */
    const float av[4] = { 1, 2, 3, 4 }, bv[8] = { 10, 11, 12, 13, 20, 21, 22, 23 };
    int64_t as[3] = { 2, 1, 2 }, bs[3] = { 2, 2, 2 };
    ssl3d_tensor *a = th_tensor(ctx, 3, as, av), *b = th_tensor(ctx, 3, bs, bv), *y = NULL, *n = NULL, *r = NULL,
                 *f = NULL, *y0 = NULL;
    REQUIRE(a && b);
    REQUIRE_OK(ctx, ssl3d_concat(ctx, (ssl3d_tensor *[]){ a, b }, 2, 1, &y));
    CHECK(ssl3d_tensor_dim(y, 1) == 3);
    const float want[12] = { 1, 2, 10, 11, 12, 13, 3, 4, 20, 21, 22, 23 };
    CHECK(!memcmp(host(y), want, sizeof want));
    REQUIRE_OK(ctx, ssl3d_concat(ctx, (ssl3d_tensor *[]){ b, b, b }, 3, 0, &y0));
    CHECK(ssl3d_tensor_dim(y0, 0) == 6 && host(y0)[8] == 10.0f);
    /* narrow axis 1 [1, 3) of y gives b back; axis 2 [1,2) */
    REQUIRE_OK(ctx, ssl3d_narrow(ctx, y, 1, 1, 2, &n));
    CHECK(!memcmp(host(n), bv, sizeof bv));
    ssl3d_tensor_release(n);
    REQUIRE_OK(ctx, ssl3d_narrow(ctx, y, 2, 1, 1, &n));
    const float want_n[6] = { 2, 11, 13, 4, 21, 23 };
    CHECK(!memcmp(host(n), want_n, sizeof want_n));
    /* reshape with -1, flatten */
    int64_t rs[2] = { -1, 4 };
    REQUIRE_OK(ctx, ssl3d_reshape(ctx, y, 2, rs, &r));
    CHECK(ssl3d_tensor_dim(r, 0) == 3 && ssl3d_tensor_dim(r, 1) == 4 && !memcmp(host(r), want, sizeof want));
    REQUIRE_OK(ctx, ssl3d_flatten(ctx, y, &f));
    CHECK(ssl3d_tensor_ndim(f) == 2 && ssl3d_tensor_dim(f, 0) == 2 && ssl3d_tensor_dim(f, 1) == 6);
    ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(y); ssl3d_tensor_release(y0);
    ssl3d_tensor_release(n); ssl3d_tensor_release(r); ssl3d_tensor_release(f);
    ssl3d_ctx_release(ctx);
}

typedef struct { ssl3d_tensor *t[8]; int n, axis, mode; } shape_case;

static ssl3d_status shape_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    shape_case *c = u;
    if (c->mode == 0) return ssl3d_concat(ctx, c->t, c->n, c->axis, out);
    if (c->mode == 1) {   /* two overlapping narrows of the same tensor, concatenated */
        ssl3d_tensor *p = NULL, *q = NULL;
        int64_t len = ssl3d_tensor_dim(c->t[0], c->axis);
        ssl3d_status st = ssl3d_narrow(ctx, c->t[0], c->axis, 0, len - 1, &p);
        if (st == SSL3D_OK) st = ssl3d_narrow(ctx, c->t[0], c->axis, 1, len - 1, &q);
        if (st == SSL3D_OK) st = ssl3d_concat(ctx, (ssl3d_tensor *[]){ p, q }, 2, c->axis, out);
        ssl3d_tensor_release(p); ssl3d_tensor_release(q);
        return st;
    }
    if (c->mode == 2) return ssl3d_flatten(ctx, c->t[0], out);
    int64_t s[3] = { 3, -1, 2 };
    return ssl3d_reshape(ctx, c->t[0], 3, s, out);
}

TEST(shape_ops_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 10);
    REQUIRE(ctx);
    for (int d = 0; d < 2; d++) {
        const int nd = d ? 5 : 4;
        for (int axis = 0; axis < nd; axis++) {
            /* concat of 7 tensors (more than a tape node's inputs), sizes 1..3 on axis */
            shape_case c = { { 0 }, 7, axis, 0 };
            for (int i = 0; i < 7; i++) {
                int64_t s[5];
                memcpy(s, d ? sh3d : sh2d, sizeof(int64_t) * (size_t)nd);
                s[axis] = 1 + i % 3;
                c.t[i] = th_randn(ctx, nd, s, i != 3);   /* one input without grad */
                REQUIRE(c.t[i]);
            }
            ssl3d_tensor *wrt[6] = { c.t[0], c.t[1], c.t[2], c.t[4], c.t[5], c.t[6] };
            CHECK(gradcheck(ctx, shape_fwd, &c, wrt, 6, &(gc_opts){ .max_checks = 16 }, "concat") == 0);
            for (int i = 0; i < 7; i++) ssl3d_tensor_release(c.t[i]);
            shape_case nc = { { d ? th_randn(ctx, 5, sh3d, 1) : th_randn(ctx, 4, sh2d, 1) }, 1, axis, 1 };
            REQUIRE(nc.t[0]);
            CHECK(gradcheck(ctx, shape_fwd, &nc, nc.t, 1, NULL, "narrow") == 0);
            if (axis == 0) {
                nc.mode = 2;
                CHECK(gradcheck(ctx, shape_fwd, &nc, nc.t, 1, NULL, "flatten") == 0);
                nc.mode = 3;
                CHECK(gradcheck(ctx, shape_fwd, &nc, nc.t, 1, NULL, "reshape") == 0);
            }
            ssl3d_tensor_release(nc.t[0]);
        }
    }
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- L2 normalise */

TEST(l2_normalize_values) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    const float xv[6] = { 3, 4, 0, 0, 0, 0 };
    int64_t s[2] = { 3, 2 };
    ssl3d_tensor *x = th_tensor(ctx, 2, s, xv), *y = NULL;
    REQUIRE(x);
    host(x)[4] = 1e-14f;
    REQUIRE_OK(ctx, ssl3d_l2_normalize(ctx, x, 1e-12f, &y));
    CHECK_NEAR(host(y)[0], 0.6, 1e-7);
    CHECK_NEAR(host(y)[1], 0.8, 1e-7);
    CHECK(host(y)[2] == 0.0f && host(y)[3] == 0.0f);    /* zero row stays zero, no NaN */
    CHECK_NEAR(host(y)[4], 0.01, 1e-6);                 /* below eps: x / eps */
    ssl3d_tensor_release(x); ssl3d_tensor_release(y);
    ssl3d_ctx_release(ctx);
}

static ssl3d_status l2_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    op_case *c = u;
    return ssl3d_l2_normalize(ctx, c->a, c->f, out);
}

TEST(l2_normalize_gradcheck) {
    ssl3d_ctx *ctx = th_ctx(2, 3);
    REQUIRE(ctx);
    int64_t s[2] = { 5, 8 }, s3[3] = { 2, 3, 6 };
    for (int i = 0; i < 2; i++) {
        op_case c = { i ? th_randn(ctx, 3, s3, 1) : th_randn(ctx, 2, s, 1), NULL, 0, 1e-12f, 0, 0 };
        REQUIRE(c.a);
        CHECK(gradcheck(ctx, l2_fwd, &c, &c.a, 1, &(gc_opts){ .eps = 1e-3 }, "l2_normalize") == 0);
        ssl3d_tensor_release(c.a);
    }
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- misuse */

TEST(layer_misuse_is_reported) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    int64_t s23[2] = { 2, 3 }, s32[2] = { 3, 2 }, s4[1] = { 4 };
    ssl3d_tensor *a = th_randn(ctx, 2, s23, 0), *b = th_randn(ctx, 2, s32, 0), *v = th_randn(ctx, 1, s4, 0);
    ssl3d_tensor *ai = NULL, *y = (ssl3d_tensor *)0x1;
    REQUIRE(a && b && v);
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 2, s23, &ai));
    const char *e;
#define LAST_HAS(s) (e = ssl3d_ctx_last_error(ctx), strstr(e, s) != NULL)
    CHECK_ST(ctx, ssl3d_relu(ctx, NULL, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(LAST_HAS("ssl3d_relu"));
    CHECK_ST(ctx, ssl3d_sigmoid(ctx, ai, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_tanh(ctx, a, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(NULL, ssl3d_relu(NULL, a, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_dropout(ctx, a, 1.5f, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(LAST_HAS("p must be"));
    CHECK_ST(ctx, ssl3d_dropout(ctx, ai, 0.5f, 1, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_add(ctx, a, b, &y), SSL3D_ERR_SHAPE);
    CHECK(LAST_HAS("ssl3d_add") && LAST_HAS("(2,3)"));
    CHECK_ST(ctx, ssl3d_add(ctx, a, v, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_mul(ctx, a, b, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_mul(ctx, a, ai, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_linear(ctx, b, a, NULL, &y), SSL3D_ERR_SHAPE);
    CHECK(LAST_HAS("ssl3d_linear"));
    CHECK_ST(ctx, ssl3d_linear(ctx, b, b, a, &y), SSL3D_ERR_SHAPE);     /* bias shape */
    CHECK(LAST_HAS("b must be"));
    CHECK_ST(ctx, ssl3d_linear(ctx, a, NULL, NULL, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_concat(ctx, (ssl3d_tensor *[]){ a, b }, 2, 0, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_concat(ctx, (ssl3d_tensor *[]){ a, a }, 2, 2, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_concat(ctx, (ssl3d_tensor *[]){ a, NULL }, 2, 0, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(LAST_HAS("tensors[1]"));
    CHECK_ST(ctx, ssl3d_concat(ctx, NULL, 2, 0, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_concat(ctx, (ssl3d_tensor *[]){ a }, 0, 0, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_narrow(ctx, a, 1, 2, 2, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_narrow(ctx, a, 1, -1, 1, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_narrow(ctx, a, 5, 0, 1, &y), SSL3D_ERR_INVALID_ARG);
    int64_t bad[2] = { 4, 2 }, two_inf[2] = { -1, -1 }, neg[2] = { -3, 2 };
    CHECK_ST(ctx, ssl3d_reshape(ctx, a, 2, bad, &y), SSL3D_ERR_SHAPE);
    CHECK(LAST_HAS("ssl3d_reshape"));
    CHECK_ST(ctx, ssl3d_reshape(ctx, a, 2, two_inf, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_reshape(ctx, a, 2, neg, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_reshape(ctx, a, 0, bad, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_l2_normalize(ctx, v, 1e-12f, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_l2_normalize(ctx, a, 0.0f, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(y == (ssl3d_tensor *)0x1);
    /* int32 reshape is allowed (label maps) */
    int64_t flat[1] = { 6 };
    ssl3d_tensor *ri = NULL;
    CHECK_OK(ctx, ssl3d_reshape(ctx, ai, 1, flat, &ri));
    CHECK(ssl3d_tensor_dtype(ri) == SSL3D_I32);
    ssl3d_tensor_release(ri);
    ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(v); ssl3d_tensor_release(ai);
    ssl3d_ctx_release(ctx);
}
