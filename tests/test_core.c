/* Core: version, status strings, context, tensors, RNG, tape and reductions. */
#include <string.h>
#include "harness.h"
#include "gradcheck.h"

TEST(version_matches_header) {
    CHECK(!strcmp(ssl3d_version(), SSL3D_VERSION_STRING));
    CHECK(ssl3d_version_number() == SSL3D_VERSION_NUMBER);
}

TEST(status_strings_name_every_code) {
    for (int s = 0; s <= SSL3D_ERR_DEVICE; s++)
        CHECK(strncmp(ssl3d_status_string((ssl3d_status)s), "SSL3D_", 6) == 0);
    CHECK(strstr(ssl3d_status_string((ssl3d_status)999), "UNKNOWN") != NULL);
}

TEST(cuda_backend_is_reported_not_silently_replaced) {
    ssl3d_ctx *ctx = (ssl3d_ctx *)0x1;
    char msg[256];
    ssl3d_status st = ssl3d_backend_probe(SSL3D_BACKEND_CUDA, msg, sizeof msg);
    if (st == SSL3D_OK) SKIP("CUDA backend built and a device present");
    CHECK(st == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK(strlen(msg) > 0);
    CHECK(ssl3d_ctx_create(SSL3D_BACKEND_CUDA, &ctx) == SSL3D_ERR_BACKEND_UNAVAILABLE);
    CHECK(ctx == (ssl3d_ctx *)0x1);   /* out-parameter untouched on error */
    CHECK(ssl3d_ctx_create(42, &ctx) == SSL3D_ERR_BACKEND_UNAVAILABLE);
}

TEST(null_handles_are_rejected) {
    CHECK(ssl3d_ctx_create(SSL3D_BACKEND_CPU, NULL) == SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_ctx_set_threads(NULL, 2) == SSL3D_ERR_INVALID_ARG);
    CHECK(strlen(ssl3d_ctx_last_error(NULL)) > 0);
    ssl3d_ctx_release(NULL);
    ssl3d_tensor_release(NULL);
    ssl3d_tape_reset(NULL);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_tensor *t = (ssl3d_tensor *)0x1;
    int64_t shape[2] = { 2, 3 };
    CHECK_ST(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 2, NULL, &t), SSL3D_ERR_INVALID_ARG);
    CHECK(t == (ssl3d_tensor *)0x1);
    CHECK_ST(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 2, shape, NULL, &t), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_weighted_sum(ctx, NULL, NULL, &t), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "x is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_backward(ctx, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_ctx_set_threads(ctx, 0), SSL3D_ERR_INVALID_ARG);
    CHECK(t == (ssl3d_tensor *)0x1);
    ssl3d_ctx_release(ctx);
}

TEST(tensor_shapes_are_validated) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_tensor *t = NULL;
    int64_t bad[2] = { 2, 0 }, huge[4] = { INT64_C(1) << 20, INT64_C(1) << 20, INT64_C(1) << 20, 4 };
    CHECK_ST(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 2, bad, &t), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "dim 1") != NULL);
    CHECK_ST(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 0, bad, &t), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 4, huge, &t), SSL3D_ERR_NOMEM);
    CHECK_ST(ctx, ssl3d_tensor_create(ctx, 7, 1, huge, &t), SSL3D_ERR_DTYPE);
    CHECK(t == NULL);
    int64_t shape[3] = { 2, 3, 4 };
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 3, shape, &t));
    CHECK(ssl3d_tensor_numel(t) == 24 && ssl3d_tensor_ndim(t) == 3 && ssl3d_tensor_dim(t, 2) == 4);
    CHECK(ssl3d_tensor_dim(t, 3) == -1);
    float buf[24];
    CHECK_ST(ctx, ssl3d_tensor_read(ctx, t, buf, 10), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_tensor_fill(ctx, t, 1.0f), SSL3D_ERR_DTYPE);
    ssl3d_tensor_release(t);
    ssl3d_ctx_release(ctx);
}

TEST(rng_is_deterministic_and_seed_sensitive) {
    ssl3d_ctx *a = th_ctx(1, 7), *b = th_ctx(2, 7), *c = th_ctx(1, 8);
    REQUIRE(a && b && c);
    int64_t shape[1] = { 1000 };
    ssl3d_tensor *ta = th_randn(a, 1, shape, 0), *tb = th_randn(b, 1, shape, 0), *tc = th_randn(c, 1, shape, 0);
    REQUIRE(ta && tb && tc);
    float *x = ssl3d_tensor_host_data(ta), *y = ssl3d_tensor_host_data(tb), *z = ssl3d_tensor_host_data(tc);
    CHECK(!memcmp(x, y, 4000));
    CHECK(memcmp(x, z, 4000) != 0);
    double m = 0, v = 0;
    for (int i = 0; i < 1000; i++) m += x[i];
    m /= 1000;
    for (int i = 0; i < 1000; i++) v += (x[i] - m) * (x[i] - m);
    v /= 1000;
    CHECK_NEAR(m, 0.0, 0.1);
    CHECK_NEAR(v, 1.0, 0.15);
    ssl3d_tensor_release(ta); ssl3d_tensor_release(tb); ssl3d_tensor_release(tc);
    ssl3d_ctx_release(a); ssl3d_ctx_release(b); ssl3d_ctx_release(c);
}

TEST(weighted_sum_and_mean_values) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t shape[1] = { 4 };
    float xv[4] = { 1, 2, 3, 4 }, wv[4] = { 0.5f, -1, 2, 0 };
    ssl3d_tensor *x = th_tensor(ctx, 1, shape, xv), *w = th_tensor(ctx, 1, shape, wv), *s = NULL, *m = NULL;
    REQUIRE(x && w);
    REQUIRE_OK(ctx, ssl3d_weighted_sum(ctx, x, w, &s));
    REQUIRE_OK(ctx, ssl3d_mean(ctx, x, &m));
    float sv, mv;
    ssl3d_tensor_read(ctx, s, &sv, 4);
    ssl3d_tensor_read(ctx, m, &mv, 4);
    CHECK_NEAR(sv, 0.5 - 2 + 6, 1e-6);
    CHECK_NEAR(mv, 2.5, 1e-6);
    CHECK(ssl3d_tape_size(ctx) == 0);      /* nothing requires grad: nothing recorded */
    CHECK_ST(ctx, ssl3d_backward(ctx, s), SSL3D_ERR_STATE);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(s); ssl3d_tensor_release(m);
    ssl3d_ctx_release(ctx);
}

/* weighted_sum's backward writes x's first gradient (no zero fill) and adds to one that
 * exists: x feeding two weighted sums gets w1 + w2, a second backward without zero_grad
 * twice that, and after zero_grad w1 + w2 again. */
TEST(weighted_sum_gradient_written_first_then_added) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t shape[1] = { 5 };
    float xv[5] = { 1, -2, 3, 0.5f, 7 }, w1v[5] = { 0.5f, -1, 2, 0, 3 }, w2v[5] = { 1, 1, -4, 0.25f, 0 };
    ssl3d_tensor *x = th_tensor(ctx, 1, shape, xv), *w1 = th_tensor(ctx, 1, shape, w1v);
    ssl3d_tensor *w2 = th_tensor(ctx, 1, shape, w2v);
    REQUIRE(x && w1 && w2);
    REQUIRE_OK(ctx, ssl3d_tensor_set_requires_grad(ctx, x, 1));
    for (int round = 0; round < 3; round++) {
        if (round == 2) REQUIRE_OK(ctx, ssl3d_tensor_zero_grad(ctx, x));
        ssl3d_tensor *a = NULL, *b = NULL, *L = NULL;
        REQUIRE_OK(ctx, ssl3d_weighted_sum(ctx, x, w1, &a));
        REQUIRE_OK(ctx, ssl3d_weighted_sum(ctx, x, w2, &b));
        REQUIRE_OK(ctx, ssl3d_axpby(ctx, 1.0f, a, 2.0f, b, &L));
        REQUIRE_OK(ctx, ssl3d_backward(ctx, L));
        float gx[5];
        REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, x, gx, 5));
        const double times = round == 1 ? 2.0 : 1.0;
        for (int i = 0; i < 5; i++) CHECK_NEAR(gx[i], times * (w1v[i] + 2.0 * w2v[i]), 1e-6);
        ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(L);
    }
    ssl3d_tensor_release(x); ssl3d_tensor_release(w1); ssl3d_tensor_release(w2);
    ssl3d_ctx_release(ctx);
}

/* The first gradient is g*w exactly, also where w is infinite (+-inf, not the NaN that
 * g*w + 0*w would give), and a second weighted sum adds to it as before. */
TEST(weighted_sum_gradient_of_an_infinite_weight) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t shape[1] = { 4 };
    float xv[4] = { 1, 2, 3, 4 }, wv[4] = { INFINITY, -INFINITY, 0.5f, -2 };
    ssl3d_tensor *x = th_tensor(ctx, 1, shape, xv), *w = th_tensor(ctx, 1, shape, wv);
    REQUIRE(x && w);
    REQUIRE_OK(ctx, ssl3d_tensor_set_requires_grad(ctx, x, 1));
    ssl3d_tensor *L = NULL;
    REQUIRE_OK(ctx, ssl3d_weighted_sum(ctx, x, w, &L));
    REQUIRE_OK(ctx, ssl3d_backward(ctx, L));
    float gx[4];
    REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, x, gx, 4));
    CHECK_MSG(isinf(gx[0]) && gx[0] > 0, "dL/dx[0] = %g, want +inf", gx[0]);
    CHECK_MSG(isinf(gx[1]) && gx[1] < 0, "dL/dx[1] = %g, want -inf", gx[1]);
    CHECK(gx[2] == 0.5f && gx[3] == -2.0f);
    ssl3d_tensor_release(L);
    ssl3d_tensor_release(x); ssl3d_tensor_release(w);
    ssl3d_ctx_release(ctx);
}

typedef struct { ssl3d_tensor *x, *y; } reduce_case;
static ssl3d_status reduce_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    reduce_case *c = u;
    ssl3d_tensor *z = NULL, *m = NULL;
    ssl3d_status st = ssl3d_axpby(ctx, 2.0f, c->x, -0.5f, c->y, &z);
    if (st == SSL3D_OK) st = ssl3d_mean(ctx, z, &m);
    /* Use x twice: gradients from both paths must add up. */
    ssl3d_tensor *s = NULL;
    if (st == SSL3D_OK) st = ssl3d_axpby(ctx, 1.0f, z, 3.0f, c->x, &s);
    ssl3d_tensor_release(z);
    ssl3d_tensor_release(m);
    if (st == SSL3D_OK) *out = s;
    return st;
}

TEST(reductions_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(1, 3);
    REQUIRE(ctx);
    int64_t shapes[2][5] = { { 2, 3, 4, 5, 0 }, { 1, 2, 3, 4, 5 } };
    int nd[2] = { 4, 5 };
    for (int i = 0; i < 2; i++) {
        reduce_case c = { th_randn(ctx, nd[i], shapes[i], 1), th_randn(ctx, nd[i], shapes[i], 1) };
        REQUIRE(c.x && c.y);
        CHECK(gradcheck(ctx, reduce_fwd, &c, (ssl3d_tensor *[]){ c.x, c.y }, 2, NULL, "axpby") == 0);
        ssl3d_tensor_release(c.x); ssl3d_tensor_release(c.y);
    }
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_ctx_release(ctx);
}

TEST(grad_disabled_records_nothing) {
    ssl3d_ctx *ctx = th_ctx(1, 3);
    REQUIRE(ctx);
    int64_t shape[1] = { 8 };
    ssl3d_tensor *x = th_randn(ctx, 1, shape, 1), *m = NULL;
    REQUIRE(x);
    CHECK(ssl3d_set_grad_enabled(ctx, 0) == 1);
    REQUIRE_OK(ctx, ssl3d_mean(ctx, x, &m));
    CHECK(ssl3d_tape_size(ctx) == 0);
    CHECK_ST(ctx, ssl3d_backward(ctx, m), SSL3D_ERR_STATE);
    ssl3d_set_grad_enabled(ctx, 1);
    ssl3d_tensor_release(m);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}
