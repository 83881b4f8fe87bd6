/* One-layer GRU (PyTorch equations and layout) built from the differentiable ops
 * linear, narrow, reshape, add, mul, sigmoid, tanh, axpby and concat, unrolled over
 * time: the tape sees an ordinary graph, and the weights, used once per step,
 * receive the sum of the per-step gradients. */
#include <math.h>
#include "../core/internal.h"

struct ssl3d_gru {
    int32_t input_size, hidden_size;
    ssl3d_tensor *t[4];   /* weight_ih (3H,I), weight_hh (3H,H), bias_ih (3H), bias_hh (3H) */
};
static const char *const gru_names[4] = { "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0" };

ssl3d_status ssl3d_gru_create(ssl3d_ctx *ctx, int32_t input_size, int32_t hidden_size, ssl3d_gru **out) {
    static const char *fn = "ssl3d_gru_create";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, input_size >= 1 && hidden_size >= 1,
                    "%s: input_size (%d) and hidden_size (%d) must be >= 1", fn, (int)input_size, (int)hidden_size);
    ssl3d_gru *g = calloc(1, sizeof *g);
    if (!g) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    g->input_size = input_size; g->hidden_size = hidden_size;
    const int64_t H3 = 3 * (int64_t)hidden_size;
    const int64_t shapes[4][2] = { { H3, input_size }, { H3, hidden_size }, { H3, 0 }, { H3, 0 } };
    const float bound = (float)(1.0 / sqrt((double)hidden_size));
    ssl3d_status st = SSL3D_OK;
    for (int i = 0; i < 4 && st == SSL3D_OK; i++) {
        st = ssl3d_tensor_new(ctx, SSL3D_F32, i < 2 ? 2 : 1, shapes[i], &g->t[i]);
        if (st == SSL3D_OK) st = ssl3d_tensor_fill_uniform(ctx, g->t[i], -bound, bound);
        if (st == SSL3D_OK) st = ssl3d_tensor_set_requires_grad(ctx, g->t[i], 1);
    }
    if (st != SSL3D_OK) { ssl3d_gru_release(g); return st; }
    *out = g;
    return SSL3D_OK;
}

void ssl3d_gru_release(ssl3d_gru *g) {
    if (!g) return;
    for (int i = 0; i < 4; i++) ssl3d_tensor_release(g->t[i]);
    free(g);
}

int32_t ssl3d_gru_input_size(const ssl3d_gru *g) { return g ? g->input_size : 0; }
int32_t ssl3d_gru_hidden_size(const ssl3d_gru *g) { return g ? g->hidden_size : 0; }
int32_t ssl3d_gru_tensor_count(const ssl3d_gru *g) { return g ? 4 : 0; }
ssl3d_tensor *ssl3d_gru_tensor(const ssl3d_gru *g, int32_t i) { return g && i >= 0 && i < 4 ? g->t[i] : NULL; }
const char *ssl3d_gru_tensor_name(const ssl3d_gru *g, int32_t i) {
    return g && i >= 0 && i < 4 ? gru_names[i] : NULL;
}
int32_t ssl3d_gru_tensor_trainable(const ssl3d_gru *g, int32_t i) { return g && i >= 0 && i < 4 ? 1 : 0; }

/* Temporaries of one forward, released together at the end (the tape keeps its own
 * references to what backward needs). */
typedef struct temps {
    ssl3d_tensor **t;
    int64_t n, cap;
} temps;

static ssl3d_tensor *keep(temps *tp, ssl3d_tensor *t) {
    tp->t[tp->n++] = t;   /* capacity reserved up front */
    return t;
}

/* Each step creates at most STEP_TEMPS temporaries. */
#define STEP_TEMPS 20
/* Run an op whose out-parameter is &o_, keep its result in `var`, stop on error. */
#define STEP(var, call) \
    do { ssl3d_tensor *o_ = NULL; if ((st = (call)) != SSL3D_OK) goto done; var = keep(&tp, o_); } while (0)

ssl3d_status ssl3d_gru_forward(ssl3d_ctx *ctx, ssl3d_gru *g, ssl3d_tensor *x_seq, ssl3d_tensor *h0,
                               ssl3d_tensor **h_last, ssl3d_tensor **h_all) {
    static const char *fn = "ssl3d_gru_forward";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, g, "%s: g is NULL", fn);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x_seq, fn, "x_seq"));
    SSL3D_CHECK_ARG(ctx, h_last, "%s: h_last is NULL", fn);
    char s[96];
    const int64_t I = g->input_size, H = g->hidden_size;
    SSL3D_CHECK_SHAPE(ctx, x_seq->ndim == 3 && x_seq->shape[2] == I, "%s: x_seq must be (N,T,%lld), has %s", fn,
                      (long long)I, ssl3d_shape_str(x_seq, s, sizeof s));
    const int64_t N = x_seq->shape[0], T = x_seq->shape[1];
    if (h0) {
        SSL3D_CHECK(ssl3d_check_f32(ctx, h0, fn, "h0"));
        SSL3D_CHECK_SHAPE(ctx, h0->ndim == 2 && h0->shape[0] == N && h0->shape[1] == H,
                          "%s: h0 must be (%lld,%lld), has %s", fn, (long long)N, (long long)H,
                          ssl3d_shape_str(h0, s, sizeof s));
    }
    temps tp = { NULL, 0, STEP_TEMPS * T + 4 };
    tp.t = malloc((size_t)tp.cap * sizeof *tp.t);
    if (!tp.t) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    ssl3d_tensor **steps = h_all ? calloc((size_t)T, sizeof *steps) : NULL;
    ssl3d_status st = SSL3D_OK;
    if (h_all && !steps) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
    ssl3d_tensor *w_ih = g->t[0], *w_hh = g->t[1], *b_ih = g->t[2], *b_hh = g->t[3];
    const int64_t nh[2] = { N, H }, n3h[2] = { N, 3 * H }, n1h[3] = { N, 1, H };

    /* Input projections of every step in one GEMM: (N,T,I) -> (N,T,3H). */
    ssl3d_tensor *gi_all, *h = h0;
    STEP(gi_all, ssl3d_linear(ctx, x_seq, w_ih, b_ih, &o_));
    if (!h) STEP(h, ssl3d_tensor_new(ctx, SSL3D_F32, 2, nh, &o_));   /* zeros */
    for (int64_t t = 0; t < T; t++) {
        ssl3d_tensor *gi3, *gi, *gh, *ir, *iz, *in, *hr, *hz, *hn, *ar, *az, *r, *z, *rh, *an, *n, *d, *zd, *hn1;
        STEP(gi3, ssl3d_narrow(ctx, gi_all, 1, t, 1, &o_));           /* (N,1,3H) */
        STEP(gi, ssl3d_reshape(ctx, gi3, 2, n3h, &o_));               /* (N,3H)   */
        STEP(gh, ssl3d_linear(ctx, h, w_hh, b_hh, &o_));              /* (N,3H)   */
        STEP(ir, ssl3d_narrow(ctx, gi, 1, 0, H, &o_));
        STEP(iz, ssl3d_narrow(ctx, gi, 1, H, H, &o_));
        STEP(in, ssl3d_narrow(ctx, gi, 1, 2 * H, H, &o_));
        STEP(hr, ssl3d_narrow(ctx, gh, 1, 0, H, &o_));
        STEP(hz, ssl3d_narrow(ctx, gh, 1, H, H, &o_));
        STEP(hn, ssl3d_narrow(ctx, gh, 1, 2 * H, H, &o_));
        STEP(ar, ssl3d_add(ctx, ir, hr, &o_));
        STEP(r, ssl3d_sigmoid(ctx, ar, &o_));
        STEP(az, ssl3d_add(ctx, iz, hz, &o_));
        STEP(z, ssl3d_sigmoid(ctx, az, &o_));
        STEP(rh, ssl3d_mul(ctx, r, hn, &o_));
        STEP(an, ssl3d_add(ctx, in, rh, &o_));
        STEP(n, ssl3d_tanh(ctx, an, &o_));
        /* h' = (1 - z) * n + z * h = n + z * (h - n) */
        STEP(d, ssl3d_axpby(ctx, 1.0f, h, -1.0f, n, &o_));
        STEP(zd, ssl3d_mul(ctx, z, d, &o_));
        STEP(hn1, ssl3d_add(ctx, n, zd, &o_));
        if (steps) STEP(steps[t], ssl3d_reshape(ctx, hn1, 3, n1h, &o_));   /* (N,1,H) */
        h = hn1;
    }
    if (steps) {
        ssl3d_tensor *all = NULL;
        if ((st = ssl3d_concat(ctx, steps, (int32_t)T, 1, &all)) != SSL3D_OK) goto done;
        *h_all = all;
    }
    *h_last = ssl3d_tensor_retain(h);
done:
    for (int64_t i = 0; i < tp.n; i++) ssl3d_tensor_release(tp.t[i]);
    free(tp.t);
    free(steps);
    return st;
}
