/* CPC proxy task (src/tasks/task_cpc.c): options, the InfoNCE batch built by forward,
 * the loss against a hand computation, gradients of its private ops, determinism,
 * misuse, and that it learns in 2D and 3D. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "../src/tasks/task_cpc.h"

/* Structured image of texture type `type` (0..7): a plane wave along one of four
 * directions (type % 4) with a period of 4 or 7 voxels (type / 4), with a phase and a small ramp along axis 0 drawn from `seed`. */
static ssl3d_tensor *structured_image(ssl3d_ctx *ctx, int dims, int64_t S, int type, unsigned seed) {
    int64_t shape[4] = { 1, S, S, S };
    ssl3d_tensor *x = NULL;
    if (ssl3d_tensor_create(ctx, SSL3D_F32, dims + 1, shape, &x) != SSL3D_OK) return NULL;
    float *p = ssl3d_tensor_host_data(x);
    static const double dir2[4][2] = { { 1, 0 }, { 0, 1 }, { 0.7071, 0.7071 }, { 0.7071, -0.7071 } };
    static const double dir3[4][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 0.5774, 0.5774, 0.5774 } };
    unsigned h = 2654435761u * (seed + 1u);
    const double phase = (h >> 8) % 1000 / 1000.0 * 6.283185307, slope = ((h >> 20) % 100) / 100.0 - 0.5;
    const int64_t D = dims == 3 ? S : 1;
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < S; j++)
            for (int64_t k = 0; k < S; k++) {
                const int d = type % 4;
                double ph = dims == 3 ? dir3[d][0] * i + dir3[d][1] * j + dir3[d][2] * k
                                      : dir2[d][0] * j + dir2[d][1] * k;
                double u0 = (double)(dims == 3 ? i : j) / (double)S;
                p[(i * S + j) * S + k] = (float)(sin(6.283185307 * ph / (type / 4 ? 7.0 : 4.0) + phase) + slope * u0);
            }
    return x;
}

static ssl3d_task *tiny_cpc(ssl3d_ctx *ctx, int dims, const char *extra) {
    char opts[256];
    snprintf(opts, sizeof opts, "input_size=20,grid=4,filters=4,levels=2,code_size=16,hidden=16,negatives=7%s%s",
             extra ? "," : "", extra ? extra : "");
    ssl3d_task *t = NULL;
    if (ssl3d_task_create(ctx, SSL3D_TASK_CPC, dims, 1, opts, &t) != SSL3D_OK) return NULL;
    return t;
}

TEST(cpc_defaults_modules_and_chance) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_CPC, dims, 1, dims == 3 ? "filters=2" : "filters=4", &t));
        double v;
        const char *keys[] = { "input_size", "grid", "levels", "code_size", "hidden", "steps", "negatives", "temperature",
                               "overlap" };
        const double want[] = { 32, 4, 3, 64, 128, 2, dims == 3 ? 31 : 15, 1, 0 };
        for (int i = 0; i < 9; i++) {
            CHECK_OK(ctx, ssl3d_task_option(ctx, t, keys[i], &v));
            CHECK_NEAR(v, want[i], 0);
        }
        CHECK_NEAR(ssl3d_task_chance(t), 1.0 / (1.0 + want[6]), 1e-12);
        REQUIRE(ssl3d_task_module_count(t) == 5);
        CHECK(!strcmp(ssl3d_task_module_name(t, 1), "cpc_proj"));
        CHECK(!strcmp(ssl3d_task_module_name(t, 2), "cpc_gru"));
        CHECK(!strcmp(ssl3d_task_module_name(t, 3), "cpc_pred1"));
        CHECK(!strcmp(ssl3d_task_module_name(t, 4), "cpc_pred2"));
        ssl3d_module *g = ssl3d_task_module(t, 2);
        CHECK(ssl3d_module_tensor_count(g) == 4);
        CHECK(!strcmp(ssl3d_module_tensor_name(g, 0), "weight_ih_l0"));
        CHECK(ssl3d_tensor_dim(ssl3d_module_tensor(g, 0), 0) == 3 * 128);
        CHECK(ssl3d_tensor_dim(ssl3d_module_tensor(g, 0), 1) == 64);
        CHECK(ssl3d_module_tensor_trainable(g, 1) == 1);
        ssl3d_task_release(t);
    }
    ssl3d_ctx_release(ctx);
}

TEST(cpc_bad_options) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    const char *bad[] = {
        "grid=1", "steps=0", "steps=4", "negatives=0", "code_size=0", "hidden=0", "temperature=0",
        "input_size=20,levels=4",   /* patches of 5 < 2^4 */
        "overlap=0.8", "overlap=-0.1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ssl3d_task *t = (ssl3d_task *)0x1;
        char o[96];
        snprintf(o, sizeof o, "filters=2,%s", bad[i]);
        CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_CPC, 2, 1, o, &t), SSL3D_ERR_INVALID_ARG);
        CHECK_MSG(t == (ssl3d_task *)0x1, "out written on failure for %s", bad[i]);
        CHECK(strlen(ssl3d_ctx_last_error(ctx)) > 0);
    }
    ssl3d_ctx_release(ctx);
}

/* Boxes [o, o + p) of two patches share a voxel iff they overlap along every axis. */
static int boxes_share_voxel(const int64_t *a, const int64_t *b, int64_t p, int dims) {
    for (int d = 0; d < dims; d++)
        if (a[d] + p <= b[d] || b[d] + p <= a[d]) return 0;
    return 1;
}

/* Number of (patch, step) targets that share a voxel with a patch of their context, for
 * the task's geometry (input_size, grid, overlap, steps) read back from the task. The
 * origins come from the sample builder and are checked against the patch contents
 * (an iota image: a patch's first voxel holds its origin's linear index). */
static void cpc_leaking_targets(ssl3d_ctx *ctx, const ssl3d_task *t, int dims, int64_t *leaks_out) {
    *leaks_out = -1;
    double vs, vg, vo, vl;
    REQUIRE_OK(ctx, ssl3d_task_option(ctx, t, "input_size", &vs));
    REQUIRE_OK(ctx, ssl3d_task_option(ctx, t, "grid", &vg));
    REQUIRE_OK(ctx, ssl3d_task_option(ctx, t, "overlap", &vo));
    REQUIRE_OK(ctx, ssl3d_task_option(ctx, t, "steps", &vl));
    const int64_t S = (int64_t)vs;
    const int32_t G = (int32_t)vg, K = dims == 3 ? G * G * G : G * G;
    int64_t shape[4] = { 1, S, S, S };
    ssl3d_tensor *x = NULL, *patches = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, dims + 1, shape, &x));
    float *xv = ssl3d_tensor_host_data(x);
    for (int64_t i = 0; i < ssl3d_tensor_numel(x); i++) xv[i] = (float)i;
    int64_t *org = malloc((size_t)K * (size_t)dims * sizeof *org);
    REQUIRE(org);
    REQUIRE_OK(ctx, ssl3d_cpc_patches_overlap(ctx, x, G, vo, &patches, org));
    const int64_t p = ssl3d_tensor_dim(patches, 2), per = ssl3d_tensor_numel(patches) / K;
    const float *pv = ssl3d_tensor_host_data(patches);
    for (int32_t q = 0; q < K; q++) {
        int64_t lin = 0;
        for (int d = 0; d < dims; d++) lin = lin * S + org[q * dims + d];
        CHECK_MSG(pv[q * per] == (float)lin, "patch %d: content does not start at its reported origin", (int)q);
    }
    int64_t leaks = 0, targets = 0;
    int32_t idx[10];
    for (int32_t pos = 0; pos < K; pos++) {
        const int32_t n = ssl3d_cpc_context(dims, G, pos, idx, 10);
        REQUIRE(n == (dims == 3 ? 10 : 4));
        for (int32_t l = 1; l <= (int32_t)vl; l++) {
            const int32_t tgt = ssl3d_cpc_target(dims, G, pos, l);
            if (tgt < 0) continue;
            targets++;
            int shared = 0;
            for (int32_t e = 0; e < n; e++) shared |= boxes_share_voxel(org + tgt * dims, org + idx[e] * dims, p, dims);
            leaks += shared;
        }
    }
    CHECK(targets > 0);
    free(org);
    ssl3d_tensor_release(patches);
    ssl3d_tensor_release(x);
    *leaks_out = leaks;
}

TEST(cpc_default_targets_share_no_voxel_with_their_context_2d_3d) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_CPC, dims, 1, "filters=2", &t));
        int64_t leaks = -1;
        cpc_leaking_targets(ctx, t, dims, &leaks);
        CHECK_MSG(leaks == 0, "%dD defaults: %lld targets share voxels with their context", dims, (long long)leaks);
        ssl3d_task_release(t);
        /* The check can fail: with the old 50% overlap most targets share voxels. */
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_CPC, dims, 1, "filters=2,overlap=0.5", &t));
        cpc_leaking_targets(ctx, t, dims, &leaks);
        CHECK_MSG(leaks > 0, "%dD overlap=0.5: no shared voxels found", dims);
        ssl3d_task_release(t);
    }
    ssl3d_ctx_release(ctx);
}

TEST(cpc_grid_geometry) {
    int64_t s, p, o;
    CHECK(ssl3d_cpc_grid(64, 4, 0.5, &s, &p, &o) == 0 && s == 12 && p == 24 && o == 2);   /* the old grid */
    CHECK(ssl3d_cpc_grid(64, 4, 0.0, &s, &p, &o) == 0 && s == 16 && p == 16 && o == 0);
    CHECK(ssl3d_cpc_grid(33, 3, 0.0, &s, &p, &o) == 0 && s == 11 && p == 11 && o == 0);
    CHECK(ssl3d_cpc_grid(40, 3, 0.25, &s, &p, &o) == 0 && s == 12 && p == 16 && o == 0);   /* 40/(2+4/3) */
    CHECK(ssl3d_cpc_grid(2, 3, 0.0, &s, &p, &o) == -1);
    CHECK(ssl3d_cpc_grid(64, 4, 0.8, &s, &p, &o) == -1);
    CHECK(ssl3d_cpc_grid(64, 4, -0.1, &s, &p, &o) == -1);
}

/* The table forward used: one row per (image, patch, step) with a target, the positive
 * is that target's latent, never among its negatives, negatives distinct and in range. */
TEST(cpc_forward_batch_positive_never_negative) {
    ssl3d_ctx *ctx = th_ctx(2, 7);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = tiny_cpc(ctx, dims, NULL);
        REQUIRE(t);
        CHECK(task_cpc_last_table(t) == NULL);
        ssl3d_tensor *imgs[3];
        for (int b = 0; b < 3; b++) imgs[b] = structured_image(ctx, dims, 23, b % 4, (unsigned)b);
        ssl3d_tensor *loss = NULL;
        int64_t correct = -1, total = -1;
        REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 3, 5, 11, 1, &loss, &correct, &total));
        const ssl3d_tensor *tab = task_cpc_last_table(t);
        REQUIRE(tab);
        const int G = 4, K = dims == 3 ? 64 : 16, row = dims == 3 ? 16 : 4;
        const int64_t rows_per_img = (int64_t)(G - 1) * row + (int64_t)(G - 2) * row;   /* step 1 + step 2 */
        CHECK(ssl3d_tensor_dim(tab, 0) == 3 * rows_per_img);
        CHECK(ssl3d_tensor_dim(tab, 1) == 4 + 7);
        CHECK(total == 3 * rows_per_img);
        CHECK(correct >= 0 && correct <= total);
        const int32_t *y = ssl3d_tensor_host_data((ssl3d_tensor *)tab);
        int bad = 0;
        for (int64_t r = 0; r < total; r++, y += 11) {
            const int b = y[0], pos = y[1], l = y[2];
            bad += y[3] != b * K + pos + l * row;
            for (int e = 4; e < 11; e++) {
                bad += y[e] == y[3] || y[e] < 0 || y[e] >= 3 * K;
                for (int f = 4; f < e; f++) bad += y[f] == y[e];
            }
        }
        CHECK(bad == 0);
        float lv = 0;
        CHECK_OK(ctx, ssl3d_tensor_read(ctx, loss, &lv, 4));
        CHECK(isfinite(lv) && lv > 0);
        /* backward reaches the encoder and every head */
        CHECK_OK(ctx, ssl3d_backward(ctx, loss));
        for (int m = 0; m < ssl3d_task_module_count(t); m++) {
            ssl3d_tensor *w = ssl3d_module_tensor(ssl3d_task_module(t, m), 0);
            int64_t n = ssl3d_tensor_numel(w);
            float *g = malloc((size_t)n * 4);
            CHECK_OK(ctx, ssl3d_tensor_read_grad(ctx, w, g, n));
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += fabs(g[i]);
            CHECK_MSG(s > 0, "module %s got no gradient", ssl3d_task_module_name(t, m));
            free(g);
        }
        ssl3d_tensor_release(loss);
        for (int b = 0; b < 3; b++) ssl3d_tensor_release(imgs[b]);
        ssl3d_task_release(t);
    }
    ssl3d_ctx_release(ctx);
}

/* InfoNCE on a tiny hand case: M = 3 latents (B = 1, K = 3 is not a real grid but the
 * op only needs consistent indices), 2 prediction steps. */
TEST(cpc_infonce_matches_hand_computation) {
    ssl3d_ctx *ctx = th_ctx(1, 3);
    const float zv[3 * 2] = { 1, 0, 0, 1, 1, 1 };
    const float pv[6 * 2] = { -1, 2, 2, 0, 0, 0, 0.1f, 0.2f, 3, -1, 0, 0 };
    const int32_t tv[3 * 6] = {
        0, 0, 1, 1, 2, 0,    /* b 0, pos 0, step 1: query row 0, positive 1, negatives 2, 0 */
        0, 1, 1, 2, 0, 1,    /* query row 1, positive 2 */
        0, 1, 2, 0, 1, 2,    /* step 2: query row 3 + 1 = 4, positive 0 */
    };
    int64_t zs[2] = { 3, 2 }, ps[2] = { 6, 2 }, ts[2] = { 3, 6 };
    ssl3d_tensor *z = th_tensor(ctx, 2, zs, zv), *p = th_tensor(ctx, 2, ps, pv), *tab = NULL, *logits = NULL, *loss = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, ts, tv, &tab));
    const float T = 0.5f;
    REQUIRE_OK(ctx, task_cpc_logits(ctx, p, z, tab, 3, T, &logits));
    int64_t correct = -1;
    REQUIRE_OK(ctx, task_infonce_first(ctx, logits, &loss, &correct));
    const int q[3] = { 0, 1, 4 };
    double want = 0;
    int want_ok = 0;
    for (int r = 0; r < 3; r++) {
        double s[3], mx = -1e30, se = 0;
        for (int c = 0; c < 3; c++) {
            const int zi = tv[r * 6 + 3 + c];
            s[c] = (pv[q[r] * 2] * zv[zi * 2] + pv[q[r] * 2 + 1] * zv[zi * 2 + 1]) / T;
            mx = s[c] > mx ? s[c] : mx;
        }
        for (int c = 0; c < 3; c++) se += exp(s[c] - mx);
        want += -(s[0] - mx - log(se)) / 3;
        want_ok += s[0] > s[1] && s[0] > s[2];
        float got[3];
        const float *L = ssl3d_tensor_host_data(logits);
        memcpy(got, L + r * 3, sizeof got);
        for (int c = 0; c < 3; c++) CHECK_NEAR(got[c], s[c], 1e-5);
    }
    float lv;
    CHECK_OK(ctx, ssl3d_tensor_read(ctx, loss, &lv, 4));
    CHECK_NEAR(lv, want, 1e-5);
    CHECK(correct == want_ok);
    CHECK(want_ok == 2);   /* rows 0 and 2 are right; row 1 is a tie, not a hit */
    ssl3d_tensor_release(loss); ssl3d_tensor_release(logits);
    /* a table row pointing outside z is rejected */
    int32_t badv[6] = { 0, 0, 1, 3, 2, 0 };
    ssl3d_tensor *bad = NULL;
    int64_t bs[2] = { 1, 6 };
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, bs, badv, &bad));
    logits = (ssl3d_tensor *)0x1;
    CHECK_ST(ctx, task_cpc_logits(ctx, p, z, bad, 3, T, &logits), SSL3D_ERR_INVALID_ARG);
    CHECK(logits == (ssl3d_tensor *)0x1);
    ssl3d_tensor_release(bad); ssl3d_tensor_release(tab);
    ssl3d_tensor_release(z); ssl3d_tensor_release(p);
    ssl3d_ctx_release(ctx);
}

typedef struct ops_case {
    ssl3d_tensor *p, *z, *tab;
    int32_t idx[7];
} ops_case;

static ssl3d_status ops_fwd(ssl3d_ctx *ctx, void *user, ssl3d_tensor **out) {
    ops_case *c = user;
    ssl3d_tensor *g = NULL, *l = NULL;
    int64_t gs[3] = { 7, 1, 3 };
    ssl3d_status st = task_gather_rows(ctx, c->z, c->idx, 7, 3, gs, &g);   /* repeated rows */
    if (st == SSL3D_OK) st = task_cpc_logits(ctx, c->p, c->z, c->tab, 2, 0.7f, &l);
    ssl3d_tensor *both[2] = { NULL, NULL };
    if (st == SSL3D_OK) {
        int64_t s1[1] = { 21 }, s2[1] = { -1 };
        st = ssl3d_reshape(ctx, g, 1, s1, &both[0]);
        if (st == SSL3D_OK) st = ssl3d_reshape(ctx, l, 1, s2, &both[1]);
        if (st == SSL3D_OK) st = ssl3d_concat(ctx, both, 2, 0, out);
    }
    ssl3d_tensor_release(g); ssl3d_tensor_release(l);
    ssl3d_tensor_release(both[0]); ssl3d_tensor_release(both[1]);
    return st;
}

TEST(cpc_private_ops_gradcheck) {
    ssl3d_ctx *ctx = th_ctx(2, 9);
    int64_t zs[2] = { 4, 3 }, ps[2] = { 8, 3 }, ts[2] = { 4, 7 };
    ops_case c = { th_randn(ctx, 2, ps, 1), th_randn(ctx, 2, zs, 1), NULL, { 0, 3, 3, 1, 0, 2, 3 } };
    const int32_t tv[4 * 7] = {
        0, 0, 1, 2, 0, 1, 3,
        1, 1, 1, 3, 2, 2, 0,   /* a repeated candidate: gradients add up */
        0, 0, 2, 3, 3, 1, 2,   /* (the op does not forbid it; the builder never makes one) */
        1, 0, 1, 3, 0, 1, 2,
    };
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, ts, tv, &c.tab));
    ssl3d_tensor *wrt[2] = { c.p, c.z };
    CHECK(gradcheck(ctx, ops_fwd, &c, wrt, 2, NULL, "cpc ops") == 0);
    ssl3d_tensor_release(c.p); ssl3d_tensor_release(c.z); ssl3d_tensor_release(c.tab);
    ssl3d_ctx_release(ctx);
}

/* Same seed and index -> same loss, bitwise, for fresh tasks from the same context seed;
 * evaluation is repeatable on one task; another index draws another batch. */
TEST(cpc_deterministic) {
    float l[3] = { 0 };
    int64_t c[3] = { 0 };
    for (int run = 0; run < 2; run++) {
        ssl3d_ctx *ctx = th_ctx(2, 42);
        ssl3d_task *t = tiny_cpc(ctx, 2, NULL);
        REQUIRE(t);
        ssl3d_tensor *imgs[2] = { structured_image(ctx, 2, 26, 0, 0), structured_image(ctx, 2, 26, 1, 1) };
        ssl3d_tensor *loss = NULL;
        int64_t tot;
        REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 2, 3, 4, 1, &loss, &c[run], &tot));
        float v;
        ssl3d_tensor_read(ctx, loss, &v, 4);
        if (run == 0) l[0] = v; else CHECK(memcmp(&v, &l[0], 4) == 0);
        ssl3d_tensor_release(loss);
        ssl3d_tape_reset(ctx);
        if (run == 1) {
            float e1, e2, e3;
            ssl3d_tensor *a = NULL, *b = NULL, *d = NULL;
            REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 2, 3, 4, 0, &a, NULL, NULL));
            REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 2, 3, 4, 0, &b, NULL, NULL));
            REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 2, 3, 5, 0, &d, NULL, NULL));
            CHECK(ssl3d_tape_size(ctx) == 0);
            ssl3d_tensor_read(ctx, a, &e1, 4); ssl3d_tensor_read(ctx, b, &e2, 4); ssl3d_tensor_read(ctx, d, &e3, 4);
            CHECK(memcmp(&e1, &e2, 4) == 0);
            CHECK(e1 != e3);
            ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(d);
        }
        ssl3d_tape_reset(ctx);
        ssl3d_tensor_release(imgs[0]); ssl3d_tensor_release(imgs[1]);
        ssl3d_task_release(t);
        ssl3d_ctx_release(ctx);
    }
    CHECK(c[0] == c[1]);
}

TEST(cpc_forward_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    ssl3d_task *t = tiny_cpc(ctx, 2, NULL);
    REQUIRE(t);
    ssl3d_tensor *small = structured_image(ctx, 2, 19, 0, 0), *ok = structured_image(ctx, 2, 20, 0, 0);
    ssl3d_tensor *vol = structured_image(ctx, 3, 20, 0, 0);
    ssl3d_tensor *loss = (ssl3d_tensor *)0x1;
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, &small, 1, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, &vol, 1, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, NULL, 1, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, &ok, 0, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(loss == (ssl3d_tensor *)0x1);
    CHECK(ssl3d_tape_size(ctx) == 0);
    ssl3d_task_release(t);
    /* more negatives than one image's 16 latents minus the positive */
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_CPC, 2, 1, "input_size=20,filters=2,levels=2,negatives=16", &t));
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, &ok, 1, 0, 0, 1, &loss, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "negatives") != NULL);
    ssl3d_tensor *two[2] = { ok, ok };
    CHECK_OK(ctx, ssl3d_task_forward(ctx, t, two, 2, 0, 0, 0, &loss, NULL, NULL));
    ssl3d_tensor_release(loss);
    ssl3d_task_release(t);
    ssl3d_tensor_release(small); ssl3d_tensor_release(ok); ssl3d_tensor_release(vol);
    ssl3d_ctx_release(ctx);
}

/* Train on fresh structured images every step (4 texture types, random phases); the
 * proxy accuracy on held-out images of the same family (evaluation mode) must rise
 * well above chance and above its value before training. */
static void cpc_learns(int dims, int steps, const char *opts, int64_t S, double *acc_before, double *acc_after,
                       double *chance) {
    ssl3d_ctx *ctx = th_ctx(2, 123);
    ssl3d_task *t = tiny_cpc(ctx, dims, opts);
    if (!t) { th_fail(__FILE__, __LINE__, "create: %s", ssl3d_ctx_last_error(ctx)); return; }
    *chance = ssl3d_task_chance(t);
    enum { B = 4, HELD = 8 };
    ssl3d_tensor *held[HELD];
    for (int b = 0; b < HELD; b++) held[b] = structured_image(ctx, dims, S, b, 1000u + (unsigned)b);
    ssl3d_optim *opt = NULL;
    ssl3d_optim_create_adam(ctx, 3e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &opt);
    for (int m = 0; m < ssl3d_task_module_count(t); m++) {
        ssl3d_tensor *ps[64];
        int32_t n = 0;
        ssl3d_module_params(ctx, ssl3d_task_module(t, m), ps, 64, &n);
        ssl3d_optim_add_params(ctx, opt, ps, n, 0);
    }
    for (int phase = 0; phase < 2; phase++) {
        for (int s = 0; phase == 1 && s < steps; s++) {
            ssl3d_tensor *batch[B], *loss = NULL;
            for (int b = 0; b < B; b++) batch[b] = structured_image(ctx, dims, S, (s * B + b) % 8, (unsigned)(s * B + b));
            ssl3d_optim_zero_grad(ctx, opt);
            ssl3d_status st = ssl3d_task_forward(ctx, t, batch, B, 77, (uint64_t)s, 1, &loss, NULL, NULL);
            if (st == SSL3D_OK) st = ssl3d_backward(ctx, loss);
            if (st == SSL3D_OK) st = ssl3d_optim_step(ctx, opt);
            ssl3d_tensor_release(loss);
            for (int b = 0; b < B; b++) ssl3d_tensor_release(batch[b]);
            if (st != SSL3D_OK) { th_fail(__FILE__, __LINE__, "step %d: %s", s, ssl3d_ctx_last_error(ctx)); break; }
        }
        ssl3d_tensor *loss = NULL;
        int64_t c = 0, n = 0;
        if (ssl3d_task_forward(ctx, t, held, HELD, 5, 0, 0, &loss, &c, &n) != SSL3D_OK) th_fail(__FILE__, __LINE__, "eval");
        ssl3d_tensor_release(loss);
        *(phase ? acc_after : acc_before) = n ? (double)c / (double)n : 0;
    }
    ssl3d_optim_release(opt);
    for (int b = 0; b < HELD; b++) ssl3d_tensor_release(held[b]);
    ssl3d_task_release(t);
    ssl3d_ctx_release(ctx);
}

TEST(cpc_learns_2d) {
    double a0, a1, ch;
    cpc_learns(2, 60, "input_size=20", 24, &a0, &a1, &ch);
    printf("  cpc 2D held-out proxy accuracy %.3f -> %.3f (chance %.3f)\n", a0, a1, ch);
    CHECK(a1 >= 2 * ch);      /* seed 123: 0.125 -> 0.47 (2D), 0.14 -> 0.35 (3D) */
    CHECK(a1 >= a0 + 0.1);
}

TEST(cpc_learns_3d) {
    double a0, a1, ch;
    cpc_learns(3, 40, "input_size=16,grid=3", 18, &a0, &a1, &ch);
    printf("  cpc 3D held-out proxy accuracy %.3f -> %.3f (chance %.3f)\n", a0, a1, ch);
    CHECK(a1 >= 2 * ch);      /* seed 123: 0.125 -> 0.47 (2D), 0.14 -> 0.35 (3D) */
    CHECK(a1 >= a0 + 0.1);
}
