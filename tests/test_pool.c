/* Pooling: max pool 2 (odd sizes, argmax routing, NaN) and global average pool, in 2D
 * and 3D: hand-computed values, gradient checks, misuse. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"

/* A tensor with distinct values spaced 0.1 apart in shuffled order, so max pooling has
 * no ties and a finite-difference step of 1e-2 never changes a window's winner. */
static ssl3d_tensor *distinct(ssl3d_ctx *ctx, int32_t nd, const int64_t *shape, unsigned seed) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) v[i] = 0.1f * (float)(i - n / 2);
    for (int64_t i = n - 1; i > 0; i--) {
        seed = seed * 1664525u + 1013904223u;
        int64_t j = (int64_t)((seed >> 8) % (unsigned)(i + 1));
        float t = v[i]; v[i] = v[j]; v[j] = t;
    }
    ssl3d_tensor *t = th_tensor(ctx, nd, shape, v);
    free(v);
    if (t) ssl3d_tensor_set_requires_grad(ctx, t, 1);
    return t;
}

TEST(maxpool2_forward_hand_computed_odd_2d) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* 5x5, values 0..24 row-major but with a few swapped so maxima are not always bottom-right. */
    float xv[25];
    for (int i = 0; i < 25; i++) xv[i] = (float)i;
    xv[0] = 100.0f;                 /* top-left window max at (0,0) */
    xv[8] = -5.0f;                  /* (1,3): window (0,1) max becomes 7 at (1,2) */
    int64_t xs[4] = { 1, 1, 5, 5 };
    ssl3d_tensor *x = th_tensor(ctx, 4, xs, xv), *y = NULL, *r = NULL, *L = NULL;
    REQUIRE(x);
    ssl3d_tensor_set_requires_grad(ctx, x, 1);
    REQUIRE_OK(ctx, ssl3d_maxpool2(ctx, x, &y));
    CHECK(ssl3d_tensor_dim(y, 2) == 2 && ssl3d_tensor_dim(y, 3) == 2);   /* floor(5/2) */
    const float *yv = ssl3d_tensor_host_data(y);
    CHECK_NEAR(yv[0], 100.0, 0); CHECK_NEAR(yv[1], 7.0, 0); CHECK_NEAR(yv[2], 16.0, 0); CHECK_NEAR(yv[3], 18.0, 0);
    /* Gradient goes to the argmax positions only; the dropped last row/column get 0. */
    const float rv[4] = { 1, 2, 3, 4 };
    int64_t rs[1] = { 4 };
    r = th_tensor(ctx, 1, rs, rv);
    REQUIRE(r);
    REQUIRE_OK(ctx, ssl3d_weighted_sum(ctx, y, r, &L));
    REQUIRE_OK(ctx, ssl3d_backward(ctx, L));
    float g[25];
    REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, x, g, 25));
    float want[25] = { 0 };
    want[0] = 1; want[7] = 2; want[16] = 3; want[18] = 4;
    for (int i = 0; i < 25; i++) CHECK_NEAR(g[i], want[i], 0);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y); ssl3d_tensor_release(r); ssl3d_tensor_release(L);
    ssl3d_ctx_release(ctx);
}

TEST(maxpool2_forward_3d_and_nan) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    /* (1,2,3,2,3): per channel one 2x2x2 window (odd D and W trailing slices dropped). */
    float xv[36];
    for (int i = 0; i < 36; i++) xv[i] = (float)(i % 18) - 9.0f;
    xv[18 + 1] = NAN;               /* channel 1: a NaN inside the window propagates */
    int64_t xs[5] = { 1, 2, 3, 2, 3 };
    ssl3d_tensor *x = th_tensor(ctx, 5, xs, xv), *y = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_maxpool2(ctx, x, &y));
    CHECK(ssl3d_tensor_numel(y) == 2);
    const float *yv = ssl3d_tensor_host_data(y);
    /* window: d 0..1, h 0..1, w 0..1 -> offsets 0,1,3,4,6,7,9,10 -> max value 10-9 = 1 */
    CHECK_NEAR(yv[0], 1.0, 0);
    CHECK(yv[1] != yv[1]);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y);
    ssl3d_ctx_release(ctx);
}

typedef struct { ssl3d_tensor *x; int avg; } pool_gc;
static ssl3d_status pool_gc_fwd(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    pool_gc *c = u;
    return c->avg ? ssl3d_global_avgpool(ctx, c->x, out) : ssl3d_maxpool2(ctx, c->x, out);
}

TEST(pool_gradcheck_2d_3d) {
    for (int threads = 1; threads <= 2; threads++) {
        ssl3d_ctx *ctx = th_ctx(threads, 3);
        REQUIRE(ctx);
        const int64_t s2[4] = { 2, 3, 5, 7 }, s3[5] = { 2, 3, 5, 4, 7 };
        for (int avg = 0; avg <= 1; avg++) {
            pool_gc a = { distinct(ctx, 4, s2, 7u), avg }, b = { distinct(ctx, 5, s3, 8u), avg };
            REQUIRE(a.x && b.x);
            CHECK(gradcheck(ctx, pool_gc_fwd, &a, &a.x, 1, NULL, avg ? "avgpool 2D" : "maxpool 2D") == 0);
            CHECK(gradcheck(ctx, pool_gc_fwd, &b, &b.x, 1, NULL, avg ? "avgpool 3D" : "maxpool 3D") == 0);
            ssl3d_tensor_release(a.x); ssl3d_tensor_release(b.x);
        }
        ssl3d_ctx_release(ctx);
    }
}

TEST(global_avgpool_values) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    float xv[2 * 3 * 2 * 2 * 2];
    for (int i = 0; i < 48; i++) xv[i] = (float)i;
    int64_t x3[5] = { 2, 3, 2, 2, 2 }, x2[4] = { 2, 3, 4, 2 };
    ssl3d_tensor *a = th_tensor(ctx, 5, x3, xv), *b = th_tensor(ctx, 4, x2, xv), *ya = NULL, *yb = NULL;
    REQUIRE(a && b);
    REQUIRE_OK(ctx, ssl3d_global_avgpool(ctx, a, &ya));
    REQUIRE_OK(ctx, ssl3d_global_avgpool(ctx, b, &yb));
    CHECK(ssl3d_tensor_ndim(ya) == 2 && ssl3d_tensor_dim(ya, 0) == 2 && ssl3d_tensor_dim(ya, 1) == 3);
    const float *va = ssl3d_tensor_host_data(ya), *vb = ssl3d_tensor_host_data(yb);
    for (int c = 0; c < 6; c++) {
        CHECK_NEAR(va[c], 8.0 * c + 3.5, 1e-6);   /* mean of 8c .. 8c+7 */
        CHECK_NEAR(vb[c], va[c], 1e-6);
    }
    ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(ya); ssl3d_tensor_release(yb);
    ssl3d_ctx_release(ctx);
}

TEST(pool_rejects_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t ok[5] = { 1, 2, 4, 4, 4 }, thin[5] = { 1, 2, 1, 4, 4 }, flat[3] = { 2, 3, 4 };
    ssl3d_tensor *x = th_randn(ctx, 5, ok, 0), *xt = th_randn(ctx, 5, thin, 0), *xf = th_randn(ctx, 3, flat, 0);
    ssl3d_tensor *xi = NULL, *y = (ssl3d_tensor *)0x1;
    REQUIRE(x && xt && xf);
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 5, ok, &xi));
    CHECK(ssl3d_maxpool2(NULL, x, &y) == SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_maxpool2(ctx, NULL, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_maxpool2: x is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_maxpool2(ctx, x, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_maxpool2(ctx, xi, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_maxpool2(ctx, xt, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "(1,2,1,4,4)") != NULL);
    CHECK_ST(ctx, ssl3d_maxpool2(ctx, xf, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_global_avgpool(ctx, NULL, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_global_avgpool: x is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_global_avgpool(ctx, xi, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_global_avgpool(ctx, xf, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_global_avgpool(ctx, x, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(y == (ssl3d_tensor *)0x1);
    ssl3d_tensor_release(x); ssl3d_tensor_release(xt); ssl3d_tensor_release(xf); ssl3d_tensor_release(xi);
    ssl3d_ctx_release(ctx);
}
