/* Finite-difference gradient checks of the reductions whose backward is the add_scalar
 * kernel slot: ssl3d_mean, and ssl3d_weighted_sum's plain-sum branch (w == NULL), alone
 * and both on the same input (so the two backward passes accumulate into one gradient),
 * on 2D (N,C,H,W) and 3D (N,C,D,H,W) shapes. */
#include "gradcheck.h"
#include "harness.h"

typedef struct { ssl3d_tensor *x; int which; } red_case;

/* which: 0 mean(x), 1 sum(x), 2 0.7*mean(x) - 1.3*sum(x) */
static ssl3d_status red_fwd(ssl3d_ctx *ctx, void *user, ssl3d_tensor **out) {
    red_case *c = user;
    if (c->which == 0) return ssl3d_mean(ctx, c->x, out);
    if (c->which == 1) return ssl3d_weighted_sum(ctx, c->x, NULL, out);
    ssl3d_tensor *m = NULL, *s = NULL;
    ssl3d_status st = ssl3d_mean(ctx, c->x, &m);
    if (st == SSL3D_OK) st = ssl3d_weighted_sum(ctx, c->x, NULL, &s);
    if (st == SSL3D_OK) st = ssl3d_axpby(ctx, 0.7f, m, -1.3f, s, out);
    ssl3d_tensor_release(m);
    ssl3d_tensor_release(s);
    return st;
}

TEST(mean_and_plain_sum_gradients_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 11);
    REQUIRE(ctx);
    const int64_t s2[4] = { 2, 3, 5, 4 }, s3[5] = { 2, 2, 3, 4, 5 };
    for (int d = 0; d < 2; d++) {
        ssl3d_tensor *x = d ? th_randn(ctx, 5, s3, 1) : th_randn(ctx, 4, s2, 1);
        REQUIRE(x);
        const int64_t n = ssl3d_tensor_numel(x);
        for (int which = 0; which < 3; which++) {
            red_case c = { x, which };
            char label[64];
            snprintf(label, sizeof label, "%s %s", which == 0 ? "mean" : which == 1 ? "sum" : "mean+sum",
                     d ? "3D" : "2D");
            gc_opts o = { .eps = 1e-2, .atol = 1e-3, .rtol = 1e-2, .max_checks = (int)n };
            CHECK(gradcheck(ctx, red_fwd, &c, &c.x, 1, &o, label) == 0);
        }
        ssl3d_tensor_release(x);
    }
    ssl3d_ctx_release(ctx);
}
