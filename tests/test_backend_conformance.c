/* Backend conformance: every op family the CUDA backend claims (supports_op) run through
 * the public API on a CUDA context and on a CPU context from the same inputs, forward
 * values and every gradient compared, in 2D and 3D where the op has both. Tolerances are
 * per op (below). (An op family the CUDA backend does not claim answers
 * SSL3D_ERR_UNSUPPORTED naming "cuda" — never a CPU fallback; today it claims all.)
 *
 * Without a usable CUDA backend every CUDA test here prints one skip line with the
 * probe's reason ("CUDA backend unavailable: no NVIDIA driver: ..."); the suite's own
 * machinery still runs, CPU against CPU. NOTE: these tests have not run on a GPU yet
 * (no GPU was available when they were written); tools/gpu-check.sh runs them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "../src/ops/rows.h"
#include "test_finetune_util.h"

/* A CUDA context, or skip with the reason. */
static ssl3d_ctx *cuda_ctx_or_skip(uint64_t seed) {
    static char why[1100];
    char msg[1024];
    if (ssl3d_backend_probe(SSL3D_BACKEND_CUDA, msg, sizeof msg) != SSL3D_OK) {
        snprintf(why, sizeof why, "CUDA backend unavailable: %s", msg);
        SKIP(why);
    }
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CUDA, &ctx) != SSL3D_OK) SKIP("CUDA probe passed but ssl3d_ctx_create failed");
    ssl3d_ctx_set_seed(ctx, seed);
    return ctx;
}

#define MAXIN 3
/* One op under test: out = f(in...). */
typedef ssl3d_status (*op_fn)(ssl3d_ctx *ctx, ssl3d_tensor **in, int n_in, const void *arg, ssl3d_tensor **out);

typedef struct tcase {
    const char *name;
    int n_in;
    int32_t ndim[MAXIN];
    int64_t shape[MAXIN][6];
    int grad[MAXIN];          /* inputs that require gradients */
    op_fn fn;
    const void *arg;
    float tol;                /* max |cuda - cpu| / (1 + |cpu|) */
} tcase;

static int64_t numel_of(int32_t nd, const int64_t *s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

static float max_rel(const float *a, const float *b, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]) / (1.0f + fabsf(b[i]));
        if (!(d <= m)) m = d;   /* NaN counts as infinitely wrong */
    }
    return m;
}

/* Run the case on ctx: forward, weighted-sum loss, backward. Writes y and the input
 * gradients (host copies, malloc'ed) into outs[0..n_in]. */
static int run_on(ssl3d_ctx *ctx, const tcase *c, float *const *host_in, float **outs, int64_t *out_n) {
    ssl3d_tensor *in[MAXIN] = { 0 }, *y = NULL, *wt = NULL, *loss = NULL;
    int ok = 0;
    for (int i = 0; i < c->n_in; i++) {
        if (ssl3d_tensor_from_data(ctx, SSL3D_F32, c->ndim[i], c->shape[i], host_in[i], &in[i]) != SSL3D_OK) goto done;
        if (c->grad[i]) ssl3d_tensor_set_requires_grad(ctx, in[i], 1);
    }
    if (c->fn(ctx, in, c->n_in, c->arg, &y) != SSL3D_OK) goto done;
    *out_n = ssl3d_tensor_numel(y);
    float *w = malloc((size_t)*out_n * 4);
    for (int64_t i = 0; i < *out_n; i++) w[i] = (float)((i * 7919) % 13) / 13.0f - 0.4f;   /* fixed weights */
    int64_t sh[1] = { *out_n };
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 1, sh, w, &wt);
    free(w);
    if (st != SSL3D_OK || ssl3d_weighted_sum(ctx, y, wt, &loss) != SSL3D_OK) goto done;
    if (ssl3d_backward(ctx, loss) != SSL3D_OK) goto done;
    outs[0] = malloc((size_t)*out_n * 4);
    if (ssl3d_tensor_read(ctx, y, outs[0], *out_n * 4) != SSL3D_OK) goto done;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->grad[i]) continue;
        int64_t n = numel_of(c->ndim[i], c->shape[i]);
        outs[1 + i] = malloc((size_t)n * 4);
        if (ssl3d_tensor_read_grad(ctx, in[i], outs[1 + i], n) != SSL3D_OK) goto done;
    }
    ok = 1;
done:
    for (int i = 0; i < c->n_in; i++) ssl3d_tensor_release(in[i]);
    ssl3d_tensor_release(y); ssl3d_tensor_release(wt); ssl3d_tensor_release(loss);
    return ok;
}

static void check_case(ssl3d_ctx *gpu, const tcase *c) {
    ssl3d_ctx *cpu = th_ctx(1, 5);
    ssl3d_ctx_set_seed(gpu, 5);
    float *host_in[MAXIN] = { 0 }, *a[MAXIN + 1] = { 0 }, *b[MAXIN + 1] = { 0 };
    for (int i = 0; i < c->n_in; i++) {
        int64_t n = numel_of(c->ndim[i], c->shape[i]);
        host_in[i] = malloc((size_t)n * 4);
        for (int64_t j = 0; j < n; j++) host_in[i][j] = sinf((float)(j * 31 + i * 7)) * 1.5f;
    }
    int64_t ny = 0, ny2 = 0;
    CHECK_MSG(run_on(cpu, c, host_in, a, &ny), "%s on cpu: %s", c->name, ssl3d_ctx_last_error(cpu));
    CHECK_MSG(run_on(gpu, c, host_in, b, &ny2), "%s on cuda: %s", c->name, ssl3d_ctx_last_error(gpu));
    if (a[0] && b[0] && ny == ny2) {
        float e = max_rel(b[0], a[0], ny);
        CHECK_MSG(e <= c->tol, "%s forward: max rel error %.3g > %.3g", c->name, (double)e, (double)c->tol);
        for (int i = 0; i < c->n_in; i++) {
            if (!c->grad[i] || !a[1 + i] || !b[1 + i]) continue;
            e = max_rel(b[1 + i], a[1 + i], numel_of(c->ndim[i], c->shape[i]));
            CHECK_MSG(e <= c->tol, "%s gradient of input %d: max rel error %.3g > %.3g", c->name, i, (double)e,
                      (double)c->tol);
        }
    }
    for (int i = 0; i <= MAXIN; i++) { free(a[i]); free(b[i]); }
    for (int i = 0; i < c->n_in; i++) free(host_in[i]);
    ssl3d_ctx_release(cpu);
}

/* ---- the ops */
typedef struct conv_arg { int32_t stride, pad; } conv_arg;
static ssl3d_status f_conv(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    const conv_arg *a = arg;
    return ssl3d_conv(ctx, in[0], in[1], n > 2 ? in[2] : NULL, a->stride, a->pad, out);
}
static ssl3d_status f_linear(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)arg;
    return ssl3d_linear(ctx, in[0], in[1], n > 2 ? in[2] : NULL, out);
}
static ssl3d_status f_act(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n;
    switch (*(const int *)arg) {
    case 0: return ssl3d_relu(ctx, in[0], out);
    case 1: return ssl3d_leaky_relu(ctx, in[0], 0.1f, out);
    case 2: return ssl3d_sigmoid(ctx, in[0], out);
    default: return ssl3d_tanh(ctx, in[0], out);
    }
}
static ssl3d_status f_add(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_add(ctx, in[0], in[1], out);
}
static ssl3d_status f_mul(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)arg;
    return ssl3d_mul(ctx, in[0], n > 1 ? in[1] : in[0], out);
}
static ssl3d_status f_maxpool(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_maxpool2(ctx, in[0], out);
}
static ssl3d_status f_avgpool(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_global_avgpool(ctx, in[0], out);
}
static ssl3d_status f_dropout(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_dropout(ctx, in[0], 0.3f, 1, out);
}
static ssl3d_status f_conv_t(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)arg;
    return ssl3d_conv_transpose(ctx, in[0], in[1], n > 2 ? in[2] : NULL, out);
}
/* in: x, gamma, beta; arg: training flag (eval uses fixed running statistics). */
static ssl3d_status f_bn(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n;
    const int training = *(const int *)arg;
    const int64_t c = ssl3d_tensor_dim(in[0], 1);
    float *rm = malloc((size_t)c * 4), *rv = malloc((size_t)c * 4);
    for (int64_t i = 0; i < c; i++) { rm[i] = 0.1f * (float)i; rv[i] = 1.0f + 0.5f * (float)i; }
    ssl3d_tensor *m = NULL, *v = NULL;
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 1, &c, rm, &m);
    if (st == SSL3D_OK) st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 1, &c, rv, &v);
    if (st == SSL3D_OK) st = ssl3d_batch_norm(ctx, in[0], in[1], in[2], m, v, training, 0.1f, 1e-5f, out);
    ssl3d_tensor_release(m); ssl3d_tensor_release(v);
    free(rm); free(rv);
    return st;
}
static ssl3d_status f_gn(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n;
    return ssl3d_group_norm(ctx, in[0], *(const int *)arg, in[1], in[2], 1e-5f, out);
}
static ssl3d_status f_l2(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_l2_normalize(ctx, in[0], 1e-12f, out);
}
/* Labels for logits (N,K,spatial...): (n*7 + s*3) mod K, made in ctx. */
static ssl3d_status make_labels(ssl3d_ctx *ctx, const ssl3d_tensor *logits, ssl3d_tensor **out) {
    const int32_t nd = ssl3d_tensor_ndim(logits);
    int64_t shape[8], n = 1, K = ssl3d_tensor_dim(logits, 1);
    shape[0] = ssl3d_tensor_dim(logits, 0);
    for (int32_t i = 2; i < nd; i++) shape[i - 1] = ssl3d_tensor_dim(logits, i);
    for (int32_t i = 0; i < nd - 1; i++) n *= shape[i];
    int32_t *lab = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)((i * 7 + (i / 5) * 3) % K);
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_I32, nd - 1, shape, lab, out);
    free(lab);
    return st;
}
/* arg: 0 cross-entropy, 1 soft Dice, 2 Dice + CE. */
static ssl3d_status f_seg_loss(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n;
    ssl3d_tensor *lab = NULL;
    ssl3d_status st = make_labels(ctx, in[0], &lab);
    const int which = *(const int *)arg;
    if (st == SSL3D_OK)
        st = which == 0 ? ssl3d_cross_entropy(ctx, in[0], lab, out)
           : which == 1 ? ssl3d_soft_dice(ctx, in[0], lab, out) : ssl3d_dice_ce(ctx, in[0], lab, out);
    ssl3d_tensor_release(lab);
    return st;
}
/* targets: the second input mapped to {0, 1} by its sign. */
static ssl3d_status f_bce(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    const int64_t m = ssl3d_tensor_numel(in[1]);
    float *t = malloc((size_t)m * 4);
    ssl3d_status st = ssl3d_tensor_read(ctx, in[1], t, m * 4);
    for (int64_t i = 0; i < m; i++) t[i] = t[i] > 0 ? 1.0f : 0.0f;
    ssl3d_tensor *tt = NULL;
    int64_t shape[8];
    if (st == SSL3D_OK) st = ssl3d_tensor_shape(ctx, in[1], shape, 8);
    if (st == SSL3D_OK) st = ssl3d_tensor_from_data(ctx, SSL3D_F32, ssl3d_tensor_ndim(in[1]), shape, t, &tt);
    if (st == SSL3D_OK) st = ssl3d_bce_with_logits(ctx, in[0], tt, out);
    ssl3d_tensor_release(tt);
    free(t);
    return st;
}
static ssl3d_status f_ntxent(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_ntxent(ctx, in[0], 0.5f, out);
}
static ssl3d_status f_infonce(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    const int64_t N = ssl3d_tensor_dim(in[0], 0), M = ssl3d_tensor_dim(in[1], 0);
    int32_t *pos = malloc((size_t)N * 4);
    for (int64_t i = 0; i < N; i++) pos[i] = (int32_t)((i * 3) % M);
    ssl3d_tensor *pt = NULL;
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, &N, pos, &pt);
    if (st == SSL3D_OK) st = ssl3d_infonce(ctx, in[0], in[1], pt, 0.2f, out);
    ssl3d_tensor_release(pt);
    free(pos);
    return st;
}
static ssl3d_status f_triplet(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_triplet(ctx, in[0], in[1], in[2], 1.0f, out);
}
static ssl3d_status f_hard(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    return ssl3d_triplet_batch_hard(ctx, in[0], 1.0f, out);
}
static ssl3d_status f_concat(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)arg;
    return ssl3d_concat(ctx, in, n, 1, out);
}

/* Row gathers with the CPC context rows of a G = 3 grid (arg: dims) over x (B*G^dims, D):
 * every row is read several times, so the backward pass adds. */
static ssl3d_status f_gather(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n;
    const int dims = *(const int *)arg, T = dims == 3 ? 10 : 4, K = dims == 3 ? 27 : 9;
    const int64_t B = ssl3d_tensor_dim(in[0], 0) / K, R = B * K * T;
    int32_t idx[2 * 27 * 10];
    if (R > (int64_t)(sizeof idx / sizeof idx[0])) return SSL3D_ERR_INVALID_ARG;
    for (int64_t r = 0; r < B * K; r++) {
        ssl3d_cpc_context(dims, 3, (int32_t)(r % K), idx + r * T, T);
        for (int t = 0; t < T; t++) idx[r * T + t] += (int32_t)(r / K * K);
    }
    int64_t shape[3] = { B * K, T, ssl3d_tensor_dim(in[0], 1) };
    return ssl3d_rows_gather(ctx, in[0], idx, R, 3, shape, "conformance gather", out);
}

/* CPC candidate scores of pred (P,D) against z (M,D): R = P/2 distinct query rows, 5
 * candidates each drawn with a fixed LCG (candidates repeat across rows). */
static ssl3d_status f_scores(ssl3d_ctx *ctx, ssl3d_tensor **in, int n, const void *arg, ssl3d_tensor **out) {
    (void)n; (void)arg;
    const int64_t P = ssl3d_tensor_dim(in[0], 0), M = ssl3d_tensor_dim(in[1], 0), R = P / 2, C = 5;
    int32_t q[64], cand[64 * 5];
    if (R > 64) return SSL3D_ERR_INVALID_ARG;
    uint32_t st = 12345u;
    for (int64_t r = 0; r < R; r++) q[r] = (int32_t)(2 * r + (r & 1));
    for (int64_t e = 0; e < R * C; e++) { st = st * 1664525u + 1013904223u; cand[e] = (int32_t)((st >> 8) % M); }
    return ssl3d_rows_scores(ctx, in[0], in[1], q, cand, R, C, 1.0f / 0.3f, "conformance scores", out);
}

/* Tolerances: cuDNN / cuBLAS sum in other orders than the CPU (1e-4 relative for conv,
 * 1e-5 for linear); elementwise kernels evaluate the same float expressions (1e-6);
 * copies and max pooling are exact. */
static const conv_arg s1p1 = { 1, 1 }, s2p0 = { 2, 0 };
static const int k0 = 0, k1 = 1, k2 = 2, k3 = 3;

static const tcase conv_cases[] = {
    { "conv2d s1 p1", 3, { 4, 4, 1 }, { { 2, 3, 9, 8 }, { 4, 3, 3, 3 }, { 4 } }, { 1, 1, 1 }, f_conv, &s1p1, 1e-4f },
    { "conv2d s2 p0", 2, { 4, 4 }, { { 2, 3, 9, 8 }, { 4, 3, 3, 3 } }, { 1, 1 }, f_conv, &s2p0, 1e-4f },
    { "conv3d s1 p1", 3, { 5, 5, 1 }, { { 2, 2, 6, 7, 5 }, { 3, 2, 3, 3, 3 }, { 3 } }, { 1, 1, 1 }, f_conv, &s1p1, 1e-4f },
    { "conv3d s2 p0 1x1x1", 2, { 5, 5 }, { { 1, 4, 6, 6, 6 }, { 5, 4, 1, 1, 1 } }, { 1, 1 }, f_conv, &s2p0, 1e-4f },
    { "conv transpose 2d", 3, { 4, 4, 1 }, { { 2, 3, 4, 5 }, { 3, 2, 2, 2 }, { 2 } }, { 1, 1, 1 }, f_conv_t, NULL, 1e-4f },
    { "conv transpose 3d", 3, { 5, 5, 1 }, { { 1, 4, 3, 2, 3 }, { 4, 3, 2, 2, 2 }, { 3 } }, { 1, 1, 1 }, f_conv_t, NULL,
      1e-4f },
};

/* Norms: statistics are reduced in other orders than the CPU (1e-4). */
static const int train1 = 1, train0 = 0, groups2 = 2, groups4 = 4;
static const tcase norm_cases[] = {
    { "batch norm train 3d", 3, { 5, 1, 1 }, { { 2, 4, 3, 4, 5 }, { 4 }, { 4 } }, { 1, 1, 1 }, f_bn, &train1, 1e-4f },
    { "batch norm eval 2d", 3, { 4, 1, 1 }, { { 2, 4, 5, 6 }, { 4 }, { 4 } }, { 1, 1, 1 }, f_bn, &train0, 1e-4f },
    { "group norm 3d", 3, { 5, 1, 1 }, { { 2, 4, 3, 4, 5 }, { 4 }, { 4 } }, { 1, 1, 1 }, f_gn, &groups2, 1e-4f },
    { "instance norm 2d", 3, { 4, 1, 1 }, { { 2, 4, 5, 6 }, { 4 }, { 4 } }, { 1, 1, 1 }, f_gn, &groups4, 1e-4f },
    { "l2 normalize", 1, { 2 }, { { 6, 10 } }, { 1 }, f_l2, NULL, 1e-5f },
};

static const tcase layer_cases[] = {
    { "linear", 3, { 2, 2, 1 }, { { 5, 7 }, { 3, 7 }, { 3 } }, { 1, 1, 1 }, f_linear, NULL, 1e-5f },
    { "relu 3d", 1, { 5 }, { { 2, 3, 4, 5, 6 } }, { 1 }, f_act, &k0, 1e-6f },
    { "leaky relu 2d", 1, { 4 }, { { 2, 3, 5, 6 } }, { 1 }, f_act, &k1, 1e-6f },
    { "sigmoid", 1, { 2 }, { { 7, 9 } }, { 1 }, f_act, &k2, 1e-6f },
    { "tanh", 1, { 2 }, { { 7, 9 } }, { 1 }, f_act, &k3, 1e-6f },
    { "add", 2, { 4, 4 }, { { 2, 3, 4, 5 }, { 2, 3, 4, 5 } }, { 1, 1 }, f_add, NULL, 1e-6f },
    { "add per channel 3d", 2, { 5, 1 }, { { 2, 3, 4, 5, 2 }, { 3 } }, { 1, 1 }, f_add, NULL, 1e-5f },
    { "mul", 2, { 2, 2 }, { { 6, 7 }, { 6, 7 } }, { 1, 1 }, f_mul, NULL, 1e-6f },
    { "mul x*x", 1, { 2 }, { { 6, 7 } }, { 1 }, f_mul, NULL, 1e-6f },
    { "concat axis 1", 2, { 4, 4 }, { { 2, 3, 4, 4 }, { 2, 5, 4, 4 } }, { 1, 1 }, f_concat, NULL, 0.0f },
};

static const tcase pool_cases[] = {
    { "maxpool2 2d", 1, { 4 }, { { 2, 3, 9, 8 } }, { 1 }, f_maxpool, NULL, 0.0f },
    { "maxpool2 3d", 1, { 5 }, { { 2, 3, 5, 6, 7 } }, { 1 }, f_maxpool, NULL, 0.0f },
    { "global avgpool 3d", 1, { 5 }, { { 2, 3, 4, 5, 6 } }, { 1 }, f_avgpool, NULL, 1e-6f },
    /* the same seed gives the same mask on both backends (same Philox streams) */
    { "dropout p=0.3", 1, { 2 }, { { 9, 33 } }, { 1 }, f_dropout, NULL, 1e-6f },
};

/* Losses: softmax, GEMMs and sums in other orders (1e-4). */
static const int ce0 = 0, dice1 = 1, dicece2 = 2;
static const tcase loss_cases[] = {
    { "cross-entropy (N,K)", 1, { 2 }, { { 6, 5 } }, { 1 }, f_seg_loss, &ce0, 1e-4f },
    { "cross-entropy 3d", 1, { 5 }, { { 2, 3, 3, 4, 5 } }, { 1 }, f_seg_loss, &ce0, 1e-4f },
    { "soft dice 2d", 1, { 4 }, { { 2, 3, 6, 7 } }, { 1 }, f_seg_loss, &dice1, 1e-4f },
    { "dice + ce 3d", 1, { 5 }, { { 2, 4, 3, 4, 4 } }, { 1 }, f_seg_loss, &dicece2, 1e-4f },
    { "bce with logits", 2, { 2, 2 }, { { 4, 3 }, { 4, 3 } }, { 1, 0 }, f_bce, NULL, 1e-4f },
    { "ntxent", 1, { 2 }, { { 8, 6 } }, { 1 }, f_ntxent, NULL, 1e-4f },
    { "infonce", 2, { 2, 2 }, { { 5, 6 }, { 7, 6 } }, { 1, 1 }, f_infonce, NULL, 1e-4f },
    { "triplet", 3, { 2, 2, 2 }, { { 5, 4 }, { 5, 4 }, { 5, 4 } }, { 1, 1, 1 }, f_triplet, NULL, 1e-4f },
    { "triplet batch hard", 1, { 2 }, { { 8, 4 } }, { 1 }, f_hard, NULL, 1e-4f },
};

/* Row tables: the same float operations in the same order on both backends (gathers and
 * their ordered scatter-adds exact; scores 1e-5 for the GPU's fused multiply-adds). */
static const int dims2 = 2, dims3 = 3;
static const tcase rows_cases[] = {
    { "gather rows 2d (cpc context)", 1, { 2 }, { { 18, 5 } }, { 1 }, f_gather, &dims2, 0.0f },
    { "gather rows 3d (cpc context)", 1, { 2 }, { { 54, 6 } }, { 1 }, f_gather, &dims3, 0.0f },
    { "cpc scores", 2, { 2, 2 }, { { 24, 9 }, { 13, 9 } }, { 1, 1 }, f_scores, NULL, 1e-5f },
};

#define RUN_TABLE(ctx, t) for (size_t i_ = 0; i_ < sizeof(t) / sizeof((t)[0]); i_++) check_case((ctx), &(t)[i_])

TEST(conformance_cuda_conv_2d_3d) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(5);
    RUN_TABLE(gpu, conv_cases);
    ssl3d_ctx_release(gpu);
}

TEST(conformance_cuda_linear_activation_elementwise) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(5);
    RUN_TABLE(gpu, layer_cases);
    ssl3d_ctx_release(gpu);
}

TEST(conformance_cuda_norms) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(5);
    RUN_TABLE(gpu, norm_cases);
    ssl3d_ctx_release(gpu);
}

TEST(conformance_cuda_losses) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(5);
    RUN_TABLE(gpu, loss_cases);
    ssl3d_ctx_release(gpu);
}

TEST(conformance_cuda_row_tables) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(5);
    RUN_TABLE(gpu, rows_cases);
    ssl3d_ctx_release(gpu);
}

TEST(conformance_cuda_pooling_and_dropout) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(5);
    RUN_TABLE(gpu, pool_cases);
    ssl3d_ctx_release(gpu);
}

/* The suite's own machinery and case tables, on every machine: a second CPU context
 * (two threads) stands in for the device; results must agree within the same
 * tolerances. A broken case table or comparison shows up here, not first on a GPU. */
TEST(conformance_suite_runs_cpu_against_cpu) {
    ssl3d_ctx *other = th_ctx(2, 5);
    REQUIRE(other);
    RUN_TABLE(other, conv_cases);
    RUN_TABLE(other, norm_cases);
    RUN_TABLE(other, layer_cases);
    RUN_TABLE(other, pool_cases);
    RUN_TABLE(other, loss_cases);
    RUN_TABLE(other, rows_cases);
    ssl3d_ctx_release(other);
}

/* Ten optimiser steps from the same gradients: SGD with Nesterov momentum and AdamW. */
TEST(conformance_cuda_optimiser_steps) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(5), *cpu = th_ctx(1, 5);
    const int64_t shape[2] = { 33, 17 }, n = 33 * 17;
    float *p0 = malloc(n * 4), *got[2][2];
    for (int64_t i = 0; i < n; i++) p0[i] = cosf((float)i);
    for (int kind = 0; kind < 2; kind++) {
        for (int b = 0; b < 2; b++) {
            ssl3d_ctx *ctx = b ? gpu : cpu;
            ssl3d_tensor *p = NULL, *loss = NULL, *sq = NULL;
            ssl3d_optim *opt = NULL;
            REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 2, shape, p0, &p));
            ssl3d_tensor_set_requires_grad(ctx, p, 1);
            REQUIRE_OK(ctx, kind == 0 ? ssl3d_optim_create_sgd(ctx, 0.05f, 0.9f, 1e-3f, 1, &opt)
                                      : ssl3d_optim_create_adamw(ctx, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, &opt));
            REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, opt, &p, 1, 0));
            for (int step = 0; step < 10; step++) {
                REQUIRE_OK(ctx, ssl3d_optim_zero_grad(ctx, opt));
                REQUIRE_OK(ctx, ssl3d_mul(ctx, p, p, &sq));   /* loss = sum p^2 */
                REQUIRE_OK(ctx, ssl3d_weighted_sum(ctx, sq, NULL, &loss));
                REQUIRE_OK(ctx, ssl3d_backward(ctx, loss));
                REQUIRE_OK(ctx, ssl3d_optim_step(ctx, opt));
                ssl3d_tensor_release(sq); ssl3d_tensor_release(loss);
            }
            got[kind][b] = malloc(n * 4);
            REQUIRE_OK(ctx, ssl3d_tensor_read(ctx, p, got[kind][b], n * 4));
            ssl3d_optim_release(opt);
            ssl3d_tensor_release(p);
        }
        float e = max_rel(got[kind][1], got[kind][0], n);
        CHECK_MSG(e <= 1e-5f, "%s after 10 steps: max rel error %.3g", kind ? "adamw" : "sgd", (double)e);
        free(got[kind][0]); free(got[kind][1]);
    }
    free(p0);
    ssl3d_ctx_release(cpu); ssl3d_ctx_release(gpu);
}


/* ---- five training steps of small W2 (3D classification: encoder + BN + GAP + MLP,
 * cross-entropy) and W3 (3D segmentation: encoder + decoder, Dice + CE) models, Adam.
 * The same seed gives the same initial weights and inputs on every backend (they are
 * drawn on the host), so the losses must agree to 1e-3 relative. */
typedef struct small_model {
    ssl3d_module *enc, *dec, *head;
    ssl3d_tensor *x, *labels;
    ssl3d_optim *opt;
} small_model;

static void small_release(small_model *m) {
    ssl3d_optim_release(m->opt);
    ssl3d_module_release(m->head); ssl3d_module_release(m->dec); ssl3d_module_release(m->enc);
    ssl3d_tensor_release(m->x); ssl3d_tensor_release(m->labels);
}

static ssl3d_status add_params(ssl3d_ctx *ctx, ssl3d_optim *opt, const ssl3d_module *m) {
    if (!m) return SSL3D_OK;
    ssl3d_tensor *p[256];
    int32_t n = 0;
    ssl3d_status st = ssl3d_module_params(ctx, m, p, 256, &n);
    return st ? st : ssl3d_optim_add_params(ctx, opt, p, n, 0);
}

/* seg = 0: W2-like, seg = 1: W3-like. Writes the 5 losses. */
static ssl3d_status train5(ssl3d_ctx *ctx, int seg, double *losses) {
    small_model m = { 0 };
    ssl3d_ctx_set_seed(ctx, 11);
    const int64_t xs[5] = { seg ? 2 : 4, 1, 16, 16, 16 }, ys4[4] = { 2, 16, 16, 16 }, ys1[1] = { 4 };
    const int64_t nlab = seg ? 2 * 16 * 16 * 16 : 4;
    int32_t *lab = malloc((size_t)nlab * 4);
    for (int64_t i = 0; i < nlab; i++) lab[i] = (int32_t)((i * 2654435761u >> 7) % (seg ? 3 : 5));
    ssl3d_status st = ssl3d_encoder_create(ctx, 3, 1, 4, 3, SSL3D_NORM_BATCH, &m.enc);
    if (!st && seg) st = ssl3d_decoder_create(ctx, m.enc, 3, &m.dec);
    if (!st && !seg) st = ssl3d_mlp_create(ctx, ssl3d_encoder_out_channels(m.enc), 16, 5, &m.head);
    if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 5, xs, &m.x);
    if (!st) st = ssl3d_tensor_fill_normal(ctx, m.x, 0.0f, 1.0f);
    if (!st) st = ssl3d_tensor_from_data(ctx, SSL3D_I32, seg ? 4 : 1, seg ? ys4 : ys1, lab, &m.labels);
    if (!st) st = ssl3d_optim_create_adam(ctx, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &m.opt);
    if (!st) st = add_params(ctx, m.opt, m.enc);
    if (!st) st = add_params(ctx, m.opt, m.dec);
    if (!st) st = add_params(ctx, m.opt, m.head);
    free(lab);
    for (int step = 0; step < 5 && !st; step++) {
        ssl3d_tensor *bott = NULL, *skips[8] = { 0 }, *feat = NULL, *logits = NULL, *loss = NULL;
        st = ssl3d_optim_zero_grad(ctx, m.opt);
        if (!st) st = ssl3d_encoder_forward(ctx, m.enc, m.x, 1, &bott, seg ? skips : NULL);
        if (!st && seg) st = ssl3d_decoder_forward(ctx, m.dec, bott, skips, 1, &logits);
        if (!st && !seg) st = ssl3d_global_avgpool(ctx, bott, &feat);
        if (!st && !seg) st = ssl3d_mlp_forward(ctx, m.head, feat, &logits);
        if (!st) st = seg ? ssl3d_dice_ce(ctx, logits, m.labels, &loss) : ssl3d_cross_entropy(ctx, logits, m.labels, &loss);
        float v = 0.0f;
        if (!st) st = ssl3d_tensor_read(ctx, loss, &v, sizeof v);
        losses[step] = v;
        if (!st) st = ssl3d_backward(ctx, loss);
        if (!st) st = ssl3d_optim_step(ctx, m.opt);
        if (st) ssl3d_tape_reset(ctx);
        for (int l = 0; l < 8; l++) ssl3d_tensor_release(skips[l]);
        ssl3d_tensor_release(bott); ssl3d_tensor_release(feat); ssl3d_tensor_release(logits); ssl3d_tensor_release(loss);
    }
    small_release(&m);
    return st;
}

static void check_train5(ssl3d_ctx *other) {
    ssl3d_ctx *cpu = th_ctx(1, 11);
    for (int seg = 0; seg < 2; seg++) {
        double a[5], b[5];
        CHECK_MSG(train5(cpu, seg, a) == SSL3D_OK, "%s on cpu: %s", seg ? "W3" : "W2", ssl3d_ctx_last_error(cpu));
        CHECK_MSG(train5(other, seg, b) == SSL3D_OK, "%s on %s: %s", seg ? "W3" : "W2", ssl3d_ctx_backend_name(other),
                  ssl3d_ctx_last_error(other));
        for (int i = 0; i < 5; i++)
            CHECK_MSG(fabs(b[i] - a[i]) <= 1e-3 * fabs(a[i]) && isfinite(a[i]), "%s step %d: loss %.7g on %s, %.7g on cpu",
                      seg ? "W3" : "W2", i, b[i], ssl3d_ctx_backend_name(other), a[i]);
        CHECK_MSG(a[4] < a[0], "%s: the loss did not go down in 5 steps (%.6g -> %.6g)", seg ? "W3" : "W2", a[0], a[4]);
    }
    ssl3d_ctx_release(cpu);
}

TEST(conformance_cuda_five_training_steps_w2_w3) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(11);
    check_train5(gpu);
    ssl3d_ctx_release(gpu);
}

/* The same check, CPU with 2 threads against CPU with 1, on every machine. */
TEST(conformance_five_training_steps_cpu_against_cpu) {
    ssl3d_ctx *other = th_ctx(2, 11);
    REQUIRE(other);
    check_train5(other);
    ssl3d_ctx_release(other);
}

/* ---- the five proxy tasks on the device: samples built from images in a CPU context,
 * batches uploaded, the model (and the CPC gathers and scores) on the device. Five Adam
 * steps each; losses agree with an all-CPU run to 1e-3 relative. */
typedef struct task_cfg { int32_t kind, dims; const char *opts; int64_t S; } task_cfg;
static const task_cfg TASKS[] = {
    { SSL3D_TASK_ROTATION, 3, "input_size=16,filters=4,levels=2", 18 },
    { SSL3D_TASK_RPL, 2, "filters=4,levels=2,grid=3,cell=8,jitter=2", 26 },
    { SSL3D_TASK_JIGSAW, 3, "filters=4,levels=2,grid=2,cell=8,jitter=2,permutations=10", 18 },
    { SSL3D_TASK_CPC, 2, "input_size=20,filters=4,levels=2", 24 },
    { SSL3D_TASK_CPC, 3, "input_size=16,grid=3,filters=4,levels=2", 18 },
    { SSL3D_TASK_EXEMPLAR, 3, "input_size=16,filters=4,levels=2,loss=triplet,negative=random", 18 },
};

/* Image (1, S..) with a ramp along every axis and a little deterministic noise. */
static ssl3d_tensor *ramp_image(ssl3d_ctx *ctx, int dims, int64_t S, unsigned seed) {
    int64_t shape[4] = { 1, S, S, S };
    int64_t n = dims == 3 ? S * S * S : S * S;
    float *v = malloc((size_t)n * 4);
    unsigned s = seed * 2654435761u + 1u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)(s >> 8) / 16777216.0f * 0.2f + (float)(i % S) / (float)S + (float)(i / S % S) / (2.0f * S);
    }
    ssl3d_tensor *t = NULL;
    ssl3d_tensor_from_data(ctx, SSL3D_F32, dims + 1, shape, v, &t);
    free(v);
    return t;
}

static ssl3d_status task5(ssl3d_ctx *ctx, const task_cfg *c, double *losses) {
    ssl3d_ctx *host = th_ctx(1, 3);
    ssl3d_ctx_set_seed(ctx, 7);
    ssl3d_task *t = NULL;
    ssl3d_optim *opt = NULL;
    ssl3d_tensor *img[3] = { NULL };
    ssl3d_status st = ssl3d_task_create(ctx, c->kind, c->dims, 1, c->opts, &t);
    for (int i = 0; i < 3 && !st; i++) st = (img[i] = ramp_image(host, c->dims, c->S, (unsigned)i + 1)) ? 0 : SSL3D_ERR_NOMEM;
    if (!st) st = ssl3d_optim_create_adam(ctx, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &opt);
    for (int32_t m = 0; !st && m < ssl3d_task_module_count(t); m++) st = add_params(ctx, opt, ssl3d_task_module(t, m));
    for (int step = 0; step < 5 && !st; step++) {
        ssl3d_tensor *loss = NULL;
        int64_t hit = 0, total = 0;
        float v = 0.0f;
        st = ssl3d_task_forward(ctx, t, img, 3, 5, (uint64_t)step, 1, &loss, &hit, &total);
        if (!st) st = ssl3d_tensor_read(ctx, loss, &v, sizeof v);
        losses[step] = v;
        if (!st) st = ssl3d_backward(ctx, loss);
        if (!st) st = ssl3d_optim_step(ctx, opt);
        if (!st) st = ssl3d_optim_zero_grad(ctx, opt);
        if (st) ssl3d_tape_reset(ctx);
        ssl3d_tensor_release(loss);
    }
    for (int i = 0; i < 3; i++) ssl3d_tensor_release(img[i]);
    ssl3d_optim_release(opt);
    ssl3d_task_release(t);
    ssl3d_ctx_release(host);
    return st;
}

static void check_tasks5(ssl3d_ctx *other) {
    ssl3d_ctx *cpu = th_ctx(1, 11);
    for (size_t k = 0; k < sizeof TASKS / sizeof TASKS[0]; k++) {
        const task_cfg *c = &TASKS[k];
        double a[5], b[5];
        const char *name = ssl3d_task_kind_name(c->kind);
        if (task5(cpu, c, a) != SSL3D_OK || task5(other, c, b) != SSL3D_OK) {
            CHECK_MSG(0, "%s %dD: cpu: %s; %s: %s", name, (int)c->dims, ssl3d_ctx_last_error(cpu),
                      ssl3d_ctx_backend_name(other), ssl3d_ctx_last_error(other));
            continue;
        }
        for (int i = 0; i < 5; i++)
            CHECK_MSG(fabs(b[i] - a[i]) <= 1e-3 * fabs(a[i]) && isfinite(a[i]), "%s %dD step %d: loss %.7g on %s, %.7g on cpu",
                      name, (int)c->dims, i, b[i], ssl3d_ctx_backend_name(other), a[i]);
    }
    ssl3d_ctx_release(cpu);
}

TEST(conformance_cuda_five_steps_of_every_proxy_task) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(11);
    check_tasks5(gpu);
    ssl3d_ctx_release(gpu);
}

/* The same comparison on every machine: a two-thread CPU context stands in for the device. */
TEST(conformance_five_steps_of_every_proxy_task_cpu_against_cpu) {
    ssl3d_ctx *other = th_ctx(2, 11);
    REQUIRE(other);
    check_tasks5(other);
    ssl3d_ctx_release(other);
}

/* ---- fine-tuning on the device (ssl3d_ft_train / ssl3d_ft_evaluate with a device
 * context): cases, crops, augmentation and metrics on the host, one batch uploaded per
 * step, the model, loss and optimiser on the device. Five Adam steps (one per epoch) from
 * the same initial weights: the per-step losses agree with the CPU run to 1e-3 relative,
 * and the evaluation of the trained model runs (Dice within 0.02, accuracy within one
 * case). Segment and classify (ordinal in 2D), 2D and 3D. */
typedef struct ft5_cfg { int32_t kind, dims, ordinal; const char *opts; } ft5_cfg;
static const ft5_cfg FT5[] = {
    { SSL3D_FT_SEGMENT, 3, 0, "epochs=5,steps_per_epoch=1,val_every=5,batch=2,patch=8,seed=3,augment=none,flip=0" },
    { SSL3D_FT_SEGMENT, 2, 0, "epochs=5,steps_per_epoch=1,val_every=5,batch=3,patch=8,seed=4,augment=none,flip=0" },
    { SSL3D_FT_CLASSIFY, 2, 1, "epochs=5,steps_per_epoch=1,val_every=5,batch=4,seed=5" },
    { SSL3D_FT_CLASSIFY, 3, 0, "epochs=5,steps_per_epoch=1,val_every=5,batch=3,seed=6" },
};

typedef struct ft5_log { double loss[5]; int n; } ft5_log;

static int32_t ft5_cb(void *user, const char *json) {
    ft5_log *l = user;
    const char *p = strstr(json, "\"loss\": ");
    if (l->n < 5) l->loss[l->n++] = p ? strtod(p + 8, NULL) : NAN;
    return 0;
}

/* Fine-tune in ctx from the weights of a model made in a CPU context (seed 21), then
 * evaluate every case (segment) / the test split (classify): metric into *met. */
static ssl3d_status ft5_run(ssl3d_ctx *ctx, const ft5_cfg *c, const char *manifest, ft5_log *log, double *met) {
    ssl3d_ctx *init = th_ctx(1, 21);
    ssl3d_manifest *man = NULL;
    ssl3d_ftmodel *m0 = NULL, *m = NULL;
    ssl3d_ftresult *r = NULL;
    const int32_t in = c->kind == SSL3D_FT_SEGMENT ? 1 : c->dims == 2 ? 3 : 1;
    const int32_t K = c->kind == SSL3D_FT_SEGMENT ? 3 : c->ordinal ? 3 : 2;
    ssl3d_status st = ssl3d_manifest_load(ctx, manifest, 0, &man);
    if (!st) st = ssl3d_ftmodel_create(init, c->kind, c->dims, in, K, 4, 2, SSL3D_NORM_BATCH, 8, c->ordinal, &m0);
    if (!st) st = ssl3d_ftmodel_create(ctx, c->kind, c->dims, in, K, 4, 2, SSL3D_NORM_BATCH, 8, c->ordinal, &m);
    for (int h = 0; h < 2 && !st; h++) {
        ssl3d_module *a = h ? ssl3d_ftmodel_head(m0) : ssl3d_ftmodel_encoder(m0);
        ssl3d_module *b = h ? ssl3d_ftmodel_head(m) : ssl3d_ftmodel_encoder(m);
        for (int32_t i = 0; i < ssl3d_module_tensor_count(a) && !st; i++)
            st = ssl3d_tensor_copy_into(ctx, ssl3d_module_tensor(b, i), ssl3d_module_tensor(a, i));
    }
    if (!st) st = ssl3d_ft_train(ctx, m, man, NULL, 0, c->opts, ft5_cb, log);
    int64_t cases[64], n = 0;
    if (!st) st = ssl3d_ft_select_cases(ctx, man, c->kind == SSL3D_FT_SEGMENT ? -1 : SSL3D_SPLIT_TEST, NULL, cases, 64, &n);
    if (!st) st = ssl3d_ft_evaluate(ctx, m, man, cases, n, -1, 0.5f, NULL, &r);
    if (!st) st = ssl3d_ftresult_get(ctx, r, c->kind == SSL3D_FT_SEGMENT ? "dice_mean" : "accuracy", met);
    ssl3d_ftresult_release(r);
    ssl3d_ftmodel_release(m);
    ssl3d_ftmodel_release(m0);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(init);
    return st;
}

static void check_finetune5(ssl3d_ctx *other) {
    ssl3d_ctx *cpu = th_ctx(1, 11);
    tf_sets sets;
    REQUIRE(tf_make_sets(cpu, &sets) == 0);
    for (size_t k = 0; k < sizeof FT5 / sizeof FT5[0]; k++) {
        const ft5_cfg *c = &FT5[k];
        const char *what = c->kind == SSL3D_FT_SEGMENT ? "finetune segment" : "finetune classify";
        char man[400];
        tf_sets_manifest(&sets, c->kind, c->dims, man, sizeof man);
        ft5_log a = { { 0 }, 0 }, b = { { 0 }, 0 };
        double ma = NAN, mb = NAN;
        if (ft5_run(cpu, c, man, &a, &ma) != SSL3D_OK || ft5_run(other, c, man, &b, &mb) != SSL3D_OK) {
            CHECK_MSG(0, "%s %dD: cpu: %s; %s: %s", what, (int)c->dims, ssl3d_ctx_last_error(cpu),
                      ssl3d_ctx_backend_name(other), ssl3d_ctx_last_error(other));
            continue;
        }
        CHECK_MSG(a.n == 5 && b.n == 5, "%s %dD: %d / %d epochs", what, (int)c->dims, a.n, b.n);
        for (int i = 0; i < 5 && i < a.n && i < b.n; i++)
            CHECK_MSG(fabs(b.loss[i] - a.loss[i]) <= 1e-3 * fabs(a.loss[i]) && isfinite(a.loss[i]),
                      "%s %dD step %d: loss %.7g on %s, %.7g on cpu", what, (int)c->dims, i, b.loss[i],
                      ssl3d_ctx_backend_name(other), a.loss[i]);
        const double tol = c->kind == SSL3D_FT_SEGMENT ? 0.02 : 1.0 / 4 + 1e-9;
        CHECK_MSG(isfinite(ma) && fabs(ma - mb) <= tol, "%s %dD: evaluation %.6g on %s, %.6g on cpu", what,
                  (int)c->dims, mb, ssl3d_ctx_backend_name(other), ma);
    }
    ssl3d_ctx_release(cpu);
}

TEST(conformance_cuda_five_finetuning_steps_and_evaluation) {
    ssl3d_ctx *gpu = cuda_ctx_or_skip(11);
    check_finetune5(gpu);
    ssl3d_ctx_release(gpu);
}

/* The same comparison on every machine: a two-thread CPU context stands in for the device. */
TEST(conformance_five_finetuning_steps_cpu_against_cpu) {
    ssl3d_ctx *other = th_ctx(2, 11);
    REQUIRE(other);
    check_finetune5(other);
    ssl3d_ctx_release(other);
}
