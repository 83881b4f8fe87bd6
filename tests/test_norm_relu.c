/* The fused norm + ReLU ops (src/ops/norm_relu.h) used by the U-Net blocks: finite-difference
 * gradients (2D and 3D, batch norm in training and evaluation, group and instance norm),
 * the same results as the norm followed by ssl3d_relu (outputs bit for bit, gradients and
 * running statistics to float rounding), and thread-count independence. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "../src/ops/norm_relu.h"

typedef struct {
    ssl3d_tensor *x, *gamma, *beta, *rm, *rv;
    int training, groups, fused;
} nr_case;

/* y = relu(norm(x)), fused or as the two public ops. */
static ssl3d_status nr_forward(ssl3d_ctx *ctx, void *u, ssl3d_tensor **out) {
    nr_case *c = u;
    if (c->fused)
        return c->groups ? ssl3d_group_norm_relu(ctx, c->x, c->groups, c->gamma, c->beta, 1e-5f, out)
                         : ssl3d_batch_norm_relu(ctx, c->x, c->gamma, c->beta, c->rm, c->rv, c->training, 0.1f,
                                                 1e-5f, out);
    ssl3d_tensor *t = NULL;
    ssl3d_status st = c->groups ? ssl3d_group_norm(ctx, c->x, c->groups, c->gamma, c->beta, 1e-5f, &t)
                                : ssl3d_batch_norm(ctx, c->x, c->gamma, c->beta, c->rm, c->rv, c->training, 0.1f,
                                                   1e-5f, &t);
    if (st == SSL3D_OK) st = ssl3d_relu(ctx, t, out);
    ssl3d_tensor_release(t);
    return st;
}

/* x (N,C,S...) whose normalised values stay >= 0.33 away from 0, so that the finite
 * differences never step across the ReLU's kink: every (n, c) row holds pairs (off + a,
 * off - a) with |a| in [0.5, 1.5], off constant over each normalisation set (per channel
 * for batch norm, per (n, group) for group norm). S must be even. */
static ssl3d_tensor *kink_free_x(ssl3d_ctx *ctx, int ndim, const int64_t *shape, int groups, uint64_t seed) {
    int64_t n = 1, S = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    for (int i = 2; i < ndim; i++) S *= shape[i];
    const int64_t N = shape[0], C = shape[1];
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return NULL;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < N * C; i++) {
        const int64_t ni = i / C, c = i % C;
        const float off = groups ? 0.7f * (float)(ni * groups + c / (C / groups)) - 1.0f : 0.5f * (float)c - 1.0f;
        for (int64_t j = 0; j < S; j += 2) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            const float a = 0.5f + (float)((s >> 11) % 1000) / 1000.0f, sign = (s >> 3) & 1 ? 1.0f : -1.0f;
            v[i * S + j] = off + sign * a;
            v[i * S + j + 1] = off - sign * a;
        }
    }
    ssl3d_tensor *x = th_tensor(ctx, ndim, shape, v);
    free(v);
    if (x) ssl3d_tensor_set_requires_grad(ctx, x, 1);
    return x;
}

static ssl3d_tensor *filled(ssl3d_ctx *ctx, int64_t C, float lo, float step, int requires_grad) {
    float v[16];
    for (int64_t c = 0; c < C; c++) v[c] = lo + step * (float)c;
    const int64_t shape[1] = { C };
    ssl3d_tensor *t = th_tensor(ctx, 1, shape, v);
    if (t && requires_grad) ssl3d_tensor_set_requires_grad(ctx, t, 1);
    return t;
}

static void release_case(nr_case *c) {
    ssl3d_tensor_release(c->x); ssl3d_tensor_release(c->gamma); ssl3d_tensor_release(c->beta);
    ssl3d_tensor_release(c->rm); ssl3d_tensor_release(c->rv);
}

/* S even in both: 2D (2,3,4,3), 3D (2,4,3,2,3). */
static const int64_t nr_shapes[2][5] = { { 2, 3, 4, 3, 0 }, { 2, 4, 3, 2, 3 } };
static const int nr_ndims[2] = { 4, 5 };

TEST(batchnorm_relu_gradcheck_train_and_eval_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 21);
    REQUIRE(ctx);
    for (int s = 0; s < 2; s++)
        for (int training = 1; training >= 0; training--) {
            const int64_t C = nr_shapes[s][1];
            /* gamma in [0.6, 1.5], beta within +-0.05; in evaluation the running statistics
             * are the channel offsets and variance 1, so the normalised values are +-a */
            nr_case c = { kink_free_x(ctx, nr_ndims[s], nr_shapes[s], 0, 3 + s), filled(ctx, C, 0.6f, 0.3f, 1),
                          filled(ctx, C, -0.05f, 0.03f, 1), filled(ctx, C, -1.0f, 0.5f, 0), filled(ctx, C, 1.0f, 0.0f, 0),
                          training, 0, 1 };
            REQUIRE(c.x && c.gamma && c.beta && c.rm && c.rv);
            char label[64];
            snprintf(label, sizeof label, "batch_norm_relu %dD %s", nr_ndims[s] - 2, training ? "train" : "eval");
            CHECK(gradcheck(ctx, nr_forward, &c, (ssl3d_tensor *[]){ c.x, c.gamma, c.beta }, 3, NULL, label) == 0);
            release_case(&c);
        }
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_ctx_release(ctx);
}

TEST(groupnorm_relu_gradcheck_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 22);
    REQUIRE(ctx);
    for (int s = 0; s < 2; s++) {
        const int64_t C = nr_shapes[s][1];
        const int groups[3] = { 1, (int)C, C % 2 ? 0 : 2 };   /* layer-norm-like, instance norm, groups */
        for (int g = 0; g < 3; g++) {
            if (!groups[g]) continue;
            nr_case c = { kink_free_x(ctx, nr_ndims[s], nr_shapes[s], groups[g], 7 + g), filled(ctx, C, 0.6f, 0.3f, 1),
                          filled(ctx, C, -0.05f, 0.03f, 1), NULL, NULL, 1, groups[g], 1 };
            REQUIRE(c.x && c.gamma && c.beta);
            char label[64];
            snprintf(label, sizeof label, "group_norm_relu %dD G=%d", nr_ndims[s] - 2, groups[g]);
            CHECK(gradcheck(ctx, nr_forward, &c, (ssl3d_tensor *[]){ c.x, c.gamma, c.beta }, 3, NULL, label) == 0);
            release_case(&c);
        }
    }
    ssl3d_ctx_release(ctx);
}

/* One forward + backward of L = sum(relu(norm(x)) * r), fused or not; output, the three
 * gradients and (batch norm) the running statistics into out. */
static int nr_run(int threads, int groups, int training, int fused, float *out) {
    ssl3d_ctx *ctx = th_ctx(threads, 5);
    if (!ctx) return -1;
    const int64_t shape[5] = { 2, 6, 7, 9, 11 }, cs[1] = { 6 }, n = 2 * 6 * 7 * 9 * 11;
    nr_case c = { th_randn(ctx, 5, shape, 1), th_randn(ctx, 1, cs, 1), th_randn(ctx, 1, cs, 1),
                  th_randn(ctx, 1, cs, 0), filled(ctx, 6, 0.5f, 0.2f, 0), training, groups, fused };
    ssl3d_tensor *r = th_randn(ctx, 5, shape, 0), *y = NULL, *L = NULL;
    int rc = -1;
    if (!c.x || !c.gamma || !c.beta || !c.rm || !c.rv || !r) goto out;
    if (nr_forward(ctx, &c, &y) || ssl3d_weighted_sum(ctx, y, r, &L) || ssl3d_backward(ctx, L)) goto out;
    ssl3d_tensor_read(ctx, y, out, n * 4);
    ssl3d_tensor_read_grad(ctx, c.x, out + n, n);
    ssl3d_tensor_read_grad(ctx, c.gamma, out + 2 * n, 6);
    ssl3d_tensor_read_grad(ctx, c.beta, out + 2 * n + 6, 6);
    ssl3d_tensor_read(ctx, c.rm, out + 2 * n + 12, 24);
    ssl3d_tensor_read(ctx, c.rv, out + 2 * n + 18, 24);
    rc = 0;
out:
    release_case(&c);
    ssl3d_tensor_release(r); ssl3d_tensor_release(y); ssl3d_tensor_release(L);
    ssl3d_ctx_release(ctx);
    return rc;
}

TEST(norm_relu_fused_matches_unfused_and_thread_count) {
    const size_t n = 2 * 6 * 7 * 9 * 11, len = 2 * n + 24;
    float *f = calloc(len, sizeof *f), *u = calloc(len, sizeof *u), *f2 = calloc(len, sizeof *f2);
    REQUIRE(f && u && f2);
    const int cases[4][2] = { { 0, 1 }, { 0, 0 }, { 3, 1 }, { 6, 1 } };   /* groups (0: batch norm), training */
    for (int i = 0; i < 4; i++) {
        const int groups = cases[i][0], training = cases[i][1];
        REQUIRE(nr_run(2, groups, training, 1, f) == 0);
        REQUIRE(nr_run(2, groups, training, 0, u) == 0);
        REQUIRE(nr_run(1, groups, training, 1, f2) == 0);
        CHECK_MSG(!memcmp(f, u, n * sizeof *f), "groups %d training %d: fused output differs from norm + relu",
                  groups, training);
        CHECK_MSG(!memcmp(f, f2, len * sizeof *f), "groups %d training %d: 1 and 2 threads differ", groups, training);
        int bad = 0;
        for (size_t j = n; j < len; j++)
            if (!(fabsf(f[j] - u[j]) <= 1e-5f + 1e-5f * fabsf(u[j]))) {
                if (bad++ < 3) th_fail(__FILE__, __LINE__, "groups %d training %d: element %zu fused %.9g unfused %.9g",
                                       groups, training, j, f[j], u[j]);
            }
        /* the ReLU zeroes part of the gradient: the check must see both kinds of element */
        size_t zeros = 0;
        for (size_t j = 0; j < n; j++) zeros += f[j] == 0.0f;
        CHECK(zeros > n / 4 && zeros < 3 * n / 4);
    }
    free(f); free(u); free(f2);
}

TEST(norm_relu_misuse_is_reported) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    const int64_t shape[4] = { 2, 4, 3, 3 }, cs[1] = { 3 };
    ssl3d_tensor *x = th_randn(ctx, 4, shape, 1), *g3 = th_randn(ctx, 1, cs, 1), *y = NULL;
    REQUIRE(x && g3);
    CHECK_ST(ctx, ssl3d_batch_norm_relu(ctx, x, g3, g3, NULL, NULL, 1, 0.1f, 1e-5f, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_batch_norm_relu") != NULL);
    CHECK_ST(ctx, ssl3d_group_norm_relu(ctx, x, 3, g3, g3, 1e-5f, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_group_norm_relu") != NULL);
    CHECK(y == NULL && ssl3d_tape_size(ctx) == 0);
    ssl3d_tensor_release(x); ssl3d_tensor_release(g3);
    ssl3d_ctx_release(ctx);
}
