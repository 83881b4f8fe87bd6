/* The row-table ops behind the dispatch table (src/ops/rows.c, rows_kernels.h): row
 * gathers and CPC candidate scores, forward and backward against naive double-precision
 * references, finite-difference gradients with the index lists the CPC task really uses
 * in 2D and 3D (ssl3d_cpc_context, ssl3d_cpc_negatives), thread-count independence, and
 * argument errors. The CUDA backend runs the same ops in tests/test_backend_conformance.c
 * and, emulated on the CPU, in tests/test_cuda_kernels.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "../src/ops/rows.h"

/* The CPC context rows of a batch of B images on a G^dims grid (B*K*T entries, each in
 * [0, B*K)): every latent appears several times, so gradients must add up. */
static int32_t *context_rows(int dims, int32_t G, int32_t B, int64_t *R) {
    const int32_t K = dims == 3 ? G * G * G : G * G, T = dims == 3 ? 10 : 4;
    int32_t *idx = malloc((size_t)B * K * T * sizeof *idx);
    for (int32_t b = 0; b < B; b++)
        for (int32_t pos = 0; pos < K; pos++) {
            int32_t *row = idx + ((int64_t)b * K + pos) * T;
            ssl3d_cpc_context(dims, G, pos, row, T);
            for (int32_t s = 0; s < T; s++) row[s] += b * K;
        }
    *R = (int64_t)B * K * T;
    return idx;
}

/* q and cand of a CPC negatives table (as task_cpc_logits builds them). */
typedef struct score_idx { int64_t R, C, M, P; int32_t *q, *cand; } score_idx;

static int cpc_score_idx(ssl3d_ctx *ctx, int dims, int32_t G, int32_t B, int32_t steps, int32_t neg, score_idx *s) {
    const int32_t K = dims == 3 ? G * G * G : G * G;
    ssl3d_tensor *tab = NULL;
    if (ssl3d_cpc_negatives(ctx, dims, G, B, steps, neg, 3, 1, &tab) != SSL3D_OK) return 0;
    s->R = ssl3d_tensor_dim(tab, 0);
    s->C = ssl3d_tensor_dim(tab, 1) - 3;
    s->M = (int64_t)B * K;
    s->P = s->M * steps;
    int32_t *t = malloc((size_t)ssl3d_tensor_numel(tab) * 4);
    s->q = malloc((size_t)s->R * 4);
    s->cand = malloc((size_t)(s->R * s->C) * 4);
    ssl3d_tensor_read(ctx, tab, t, ssl3d_tensor_numel(tab) * 4);
    for (int64_t r = 0; r < s->R; r++) {
        const int32_t *row = t + r * (s->C + 3);
        s->q[r] = (int32_t)((row[2] - 1) * s->M + row[0] * K + row[1]);
        memcpy(s->cand + r * s->C, row + 3, (size_t)s->C * 4);
    }
    free(t);
    ssl3d_tensor_release(tab);
    return 1;
}

static void score_idx_free(score_idx *s) { free(s->q); free(s->cand); }

static float *host(ssl3d_ctx *ctx, const ssl3d_tensor *t) {
    float *v = malloc((size_t)ssl3d_tensor_numel(t) * 4);
    ssl3d_tensor_read(ctx, t, v, ssl3d_tensor_numel(t) * 4);
    return v;
}

/* Fixed output weights w[i] for L = sum_i w[i] y[i]: dL/dy = w. */
static float wgt(int64_t i) { return (float)((i * 7919) % 17) / 17.0f - 0.45f; }

static ssl3d_status weighted(ssl3d_ctx *ctx, ssl3d_tensor *y, ssl3d_tensor **loss) {
    int64_t n = ssl3d_tensor_numel(y);
    float *w = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) w[i] = wgt(i);
    ssl3d_tensor *wt = NULL;
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 1, &n, w, &wt);
    free(w);
    if (st == SSL3D_OK) st = ssl3d_weighted_sum(ctx, y, wt, loss);
    ssl3d_tensor_release(wt);
    return st;
}

/* Gather: forward exact, backward = the double-precision scatter-add of the weights. */
static void gather_vs_reference(int dims) {
    ssl3d_ctx *ctx = th_ctx(2, 4);
    int64_t R;
    int32_t *idx = context_rows(dims, 3, 2, &R);
    const int64_t M = 2 * (dims == 3 ? 27 : 9), D = 5;
    int64_t xs[2] = { M, D }, ys[3] = { R / (dims == 3 ? 10 : 4), dims == 3 ? 10 : 4, D };
    ssl3d_tensor *x = th_randn(ctx, 2, xs, 1), *y = NULL, *loss = NULL;
    REQUIRE_OK(ctx, ssl3d_rows_gather(ctx, x, idx, R, 3, ys, "test", &y));
    float *xv = host(ctx, x), *yv = host(ctx, y);
    int exact = 1;
    for (int64_t r = 0; r < R; r++)
        for (int64_t d = 0; d < D; d++) exact &= yv[r * D + d] == xv[idx[r] * D + d];
    CHECK_MSG(exact, "%dD gather forward differs from x[idx]", dims);
    REQUIRE_OK(ctx, weighted(ctx, y, &loss));
    REQUIRE_OK(ctx, ssl3d_backward(ctx, loss));
    float *g = malloc((size_t)(M * D) * 4);
    REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, x, g, M * D));
    double *ref = calloc((size_t)(M * D), sizeof *ref), err = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t d = 0; d < D; d++) ref[idx[r] * D + d] += (double)wgt(r * D + d);
    for (int64_t i = 0; i < M * D; i++) err = fmax(err, fabs(g[i] - ref[i]) / (1.0 + fabs(ref[i])));
    CHECK_MSG(err <= 1e-6, "%dD gather backward: max rel error %.3g", dims, err);
    free(xv); free(yv); free(g); free(ref); free(idx);
    ssl3d_tensor_release(x); ssl3d_tensor_release(y); ssl3d_tensor_release(loss);
    ssl3d_ctx_release(ctx);
}

TEST(rows_gather_matches_double_reference_2d) { gather_vs_reference(2); }
TEST(rows_gather_matches_double_reference_3d) { gather_vs_reference(3); }

/* Scores: forward and both gradients against double sums. */
static void scores_vs_reference(int dims) {
    ssl3d_ctx *ctx = th_ctx(2, 6);
    score_idx s;
    REQUIRE(cpc_score_idx(ctx, dims, 3, 2, 2, 5, &s));
    const int64_t D = 6;
    const float inv_t = 1.0f / 0.3f;
    int64_t ps[2] = { s.P, D }, zs[2] = { s.M, D };
    ssl3d_tensor *p = th_randn(ctx, 2, ps, 1), *z = th_randn(ctx, 2, zs, 1), *y = NULL, *loss = NULL;
    REQUIRE_OK(ctx, ssl3d_rows_scores(ctx, p, z, s.q, s.cand, s.R, s.C, inv_t, "test", &y));
    REQUIRE_OK(ctx, weighted(ctx, y, &loss));
    REQUIRE_OK(ctx, ssl3d_backward(ctx, loss));
    float *pv = host(ctx, p), *zv = host(ctx, z), *yv = host(ctx, y);
    float *gp = malloc((size_t)(s.P * D) * 4), *gz = malloc((size_t)(s.M * D) * 4);
    REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, p, gp, s.P * D));
    REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, z, gz, s.M * D));
    double *rp = calloc((size_t)(s.P * D), sizeof *rp), *rz = calloc((size_t)(s.M * D), sizeof *rz);
    double ef = 0, ep = 0, ez = 0;
    for (int64_t r = 0; r < s.R; r++)
        for (int64_t c = 0; c < s.C; c++) {
            const int64_t e = r * s.C + c, qi = s.q[r], zi = s.cand[e];
            double dot = 0;
            for (int64_t d = 0; d < D; d++) dot += (double)pv[qi * D + d] * zv[zi * D + d];
            const double ref = dot * inv_t, w = (double)wgt(e) * inv_t;
            ef = fmax(ef, fabs(yv[e] - ref) / (1.0 + fabs(ref)));
            for (int64_t d = 0; d < D; d++) {
                rp[qi * D + d] += w * zv[zi * D + d];
                rz[zi * D + d] += w * pv[qi * D + d];
            }
        }
    for (int64_t i = 0; i < s.P * D; i++) ep = fmax(ep, fabs(gp[i] - rp[i]) / (1.0 + fabs(rp[i])));
    for (int64_t i = 0; i < s.M * D; i++) ez = fmax(ez, fabs(gz[i] - rz[i]) / (1.0 + fabs(rz[i])));
    CHECK_MSG(ef <= 1e-5, "%dD scores forward: max rel error %.3g", dims, ef);
    CHECK_MSG(ep <= 1e-5, "%dD scores d pred: max rel error %.3g", dims, ep);
    CHECK_MSG(ez <= 1e-5, "%dD scores d z: max rel error %.3g", dims, ez);
    free(pv); free(zv); free(yv); free(gp); free(gz); free(rp); free(rz);
    score_idx_free(&s);
    ssl3d_tensor_release(p); ssl3d_tensor_release(z); ssl3d_tensor_release(y); ssl3d_tensor_release(loss);
    ssl3d_ctx_release(ctx);
}

TEST(rows_scores_match_double_reference_2d) { scores_vs_reference(2); }
TEST(rows_scores_match_double_reference_3d) { scores_vs_reference(3); }

/* Finite differences through both ops, with the CPC index lists of a small 2D / 3D grid. */
typedef struct gc_case { ssl3d_tensor *p, *z; int32_t *idx; int64_t R, T; score_idx s; } gc_case;

static ssl3d_status both_ops(ssl3d_ctx *ctx, void *user, ssl3d_tensor **out) {
    gc_case *c = user;
    ssl3d_tensor *g = NULL, *l = NULL, *parts[2] = { NULL, NULL };
    int64_t gs[2] = { c->R, ssl3d_tensor_dim(c->z, 1) };
    ssl3d_status st = ssl3d_rows_gather(ctx, c->z, c->idx, c->R, 2, gs, "test", &g);
    if (st == SSL3D_OK) st = ssl3d_rows_scores(ctx, c->p, c->z, c->s.q, c->s.cand, c->s.R, c->s.C, 2.0f, "test", &l);
    int64_t flat[1] = { -1 };
    if (st == SSL3D_OK) st = ssl3d_reshape(ctx, g, 1, flat, &parts[0]);
    if (st == SSL3D_OK) st = ssl3d_reshape(ctx, l, 1, flat, &parts[1]);
    if (st == SSL3D_OK) st = ssl3d_concat(ctx, parts, 2, 0, out);
    ssl3d_tensor_release(g); ssl3d_tensor_release(l);
    ssl3d_tensor_release(parts[0]); ssl3d_tensor_release(parts[1]);
    return st;
}

static void gradcheck_rows(int dims) {
    ssl3d_ctx *ctx = th_ctx(2, 8);
    gc_case c;
    memset(&c, 0, sizeof c);
    REQUIRE(cpc_score_idx(ctx, dims, 2, 2, 1, 3, &c.s));
    c.idx = context_rows(dims, 2, 2, &c.R);
    int64_t ps[2] = { c.s.P, 3 }, zs[2] = { c.s.M, 3 };
    c.p = th_randn(ctx, 2, ps, 1);
    c.z = th_randn(ctx, 2, zs, 1);
    ssl3d_tensor *wrt[2] = { c.p, c.z };
    CHECK_MSG(gradcheck(ctx, both_ops, &c, wrt, 2, NULL, dims == 3 ? "rows 3d" : "rows 2d") == 0, "%dD", dims);
    ssl3d_tensor_release(c.p); ssl3d_tensor_release(c.z);
    free(c.idx);
    score_idx_free(&c.s);
    ssl3d_ctx_release(ctx);
}

TEST(rows_ops_gradcheck_2d) { gradcheck_rows(2); }
TEST(rows_ops_gradcheck_3d) { gradcheck_rows(3); }

/* The scatter-adds follow the inverse maps in order: 1 and 3 threads give the same bits. */
TEST(rows_ops_gradients_do_not_depend_on_threads) {
    float *g[2][2] = { { NULL } };
    int64_t np = 0, nz = 0;
    for (int run = 0; run < 2; run++) {
        ssl3d_ctx *ctx = th_ctx(run ? 3 : 1, 12);
        ssl3d_ctx_set_threads(ctx, run ? 3 : 1);
        gc_case c;
        memset(&c, 0, sizeof c);
        REQUIRE(cpc_score_idx(ctx, 3, 3, 3, 2, 8, &c.s));
        c.idx = context_rows(3, 3, 3, &c.R);
        int64_t ps[2] = { c.s.P, 16 }, zs[2] = { c.s.M, 16 };
        c.p = th_randn(ctx, 2, ps, 1);
        c.z = th_randn(ctx, 2, zs, 1);
        np = c.s.P * 16; nz = c.s.M * 16;
        ssl3d_tensor *y = NULL, *loss = NULL;
        REQUIRE_OK(ctx, both_ops(ctx, &c, &y));
        REQUIRE_OK(ctx, weighted(ctx, y, &loss));
        REQUIRE_OK(ctx, ssl3d_backward(ctx, loss));
        g[run][0] = malloc((size_t)np * 4); g[run][1] = malloc((size_t)nz * 4);
        REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, c.p, g[run][0], np));
        REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, c.z, g[run][1], nz));
        ssl3d_tensor_release(y); ssl3d_tensor_release(loss);
        ssl3d_tensor_release(c.p); ssl3d_tensor_release(c.z);
        free(c.idx);
        score_idx_free(&c.s);
        ssl3d_ctx_release(ctx);
    }
    CHECK(!memcmp(g[0][0], g[1][0], (size_t)np * 4));
    CHECK(!memcmp(g[0][1], g[1][1], (size_t)nz * 4));
    for (int i = 0; i < 2; i++) { free(g[i][0]); free(g[i][1]); }
}

TEST(rows_ops_reject_bad_indices_and_shapes) {
    ssl3d_ctx *ctx = th_ctx(1, 2);
    int64_t xs[2] = { 4, 3 }, ys[2] = { 2, 3 }, bad[2] = { 3, 3 };
    ssl3d_tensor *x = th_randn(ctx, 2, xs, 1), *y = (ssl3d_tensor *)0x1;
    const int32_t ok[2] = { 0, 3 }, out_of_range[2] = { 0, 4 }, neg[2] = { -1, 0 };
    CHECK_ST(ctx, ssl3d_rows_gather(ctx, x, out_of_range, 2, 2, ys, "gather", &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "gather: index 1 = 4 outside [0,4)"));
    CHECK_ST(ctx, ssl3d_rows_gather(ctx, x, neg, 2, 2, ys, "gather", &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_rows_gather(ctx, x, ok, 2, 2, bad, "gather", &y), SSL3D_ERR_SHAPE);
    CHECK(y == (ssl3d_tensor *)0x1);
    /* scores: q must be distinct rows of p; candidates rows of z */
    const int32_t q_rep[2] = { 1, 1 }, q_ok[2] = { 0, 1 }, cand[4] = { 0, 1, 2, 3 }, cand_bad[4] = { 0, 1, 2, 9 };
    CHECK_ST(ctx, ssl3d_rows_scores(ctx, x, x, q_rep, cand, 2, 2, 1.0f, "scores", &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "repeated"));
    CHECK_ST(ctx, ssl3d_rows_scores(ctx, x, x, q_ok, cand_bad, 2, 2, 1.0f, "scores", &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "candidate 3 = 9"));
    CHECK_ST(ctx, ssl3d_rows_scores(ctx, x, x, q_ok, cand, 2, 2, 0.0f, "scores", &y), SSL3D_ERR_INVALID_ARG);
    CHECK(y == (ssl3d_tensor *)0x1);
    REQUIRE_OK(ctx, ssl3d_rows_scores(ctx, x, x, q_ok, cand, 2, 2, 1.0f, "scores", &y));
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}
