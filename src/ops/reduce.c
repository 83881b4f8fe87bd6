/* Reductions used to form scalar losses: weighted sum, mean, a*x + b*y. */
#include <string.h>
#include "../core/internal.h"

static const int64_t scalar_shape[1] = { 1 };

/* ---- weighted_sum: out = sum x*w (w constant, may be NULL) */
static ssl3d_status weighted_sum_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *w = n->in[1];
    if (!x->requires_grad) return SSL3D_OK;
    float g;
    ctx->be->to_host(ctx->be_state, &g, n->out->grad, sizeof g);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    if (w && !x->grad) {
        /* x's first gradient: written as g*w instead of zero-filled and then added to, one
         * pass over it instead of two (18.9 MB each in the W1 benchmarks); the same values. */
        x->grad = ssl3d_be_alloc_uninit(ctx, (size_t)x->numel * 4u);
        if (!x->grad) return SSL3D_ERR_NOMEM;
        ctx->be->scale_add(&k, g, ssl3d_f32(w), 0.0f, ssl3d_f32(w), x->grad, x->numel);
        return SSL3D_OK;
    }
    float *gx = ssl3d_grad_of(ctx, x);
    if (!gx) return SSL3D_ERR_NOMEM;
    if (w) {
        ctx->be->axpy(&k, g, ssl3d_f32(w), gx, x->numel);
    } else {
        ctx->be->add_scalar(&k, g, gx, x->numel);   /* d(sum x)/dx = 1 */
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_weighted_sum(ssl3d_ctx *ctx, ssl3d_tensor *x, const ssl3d_tensor *w, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, "ssl3d_weighted_sum", "x"));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_weighted_sum: out is NULL");
    if (w) {
        SSL3D_CHECK(ssl3d_check_f32(ctx, w, "ssl3d_weighted_sum", "w"));
        SSL3D_CHECK_SHAPE(ctx, w->numel == x->numel, "ssl3d_weighted_sum: w has %lld elements, x has %lld",
                          (long long)w->numel, (long long)x->numel);
    }
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_REDUCE, "ssl3d_weighted_sum"));
    ssl3d_tensor *y;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, 1, scalar_shape, &y));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    float s = (float)ctx->be->dot(&k, ssl3d_f32(x), w ? ssl3d_f32(w) : NULL, x->numel);
    ctx->be->from_host(ctx->be_state, y->data, &s, sizeof s);
    ssl3d_tensor *in[2] = { x, (ssl3d_tensor *)w };
    if (ssl3d_tape_wants(ctx, in, 1)) {
        ssl3d_status st = ssl3d_tape_record(ctx, "weighted_sum", weighted_sum_backward, y, in, 2, NULL);
        if (st != SSL3D_OK) { ssl3d_tensor_release(y); return st; }
    }
    *out = y;
    return SSL3D_OK;
}

/* ---- mean */
static ssl3d_status mean_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *gx = ssl3d_grad_of(ctx, x);
    if (!gx) return SSL3D_ERR_NOMEM;
    float g;
    ctx->be->to_host(ctx->be_state, &g, n->out->grad, sizeof g);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->add_scalar(&k, g / (float)x->numel, gx, x->numel);
    return SSL3D_OK;
}

ssl3d_status ssl3d_mean(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, "ssl3d_mean", "x"));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_mean: out is NULL");
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_REDUCE, "ssl3d_mean"));
    ssl3d_tensor *y;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, 1, scalar_shape, &y));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    float s = (float)(ctx->be->dot(&k, ssl3d_f32(x), NULL, x->numel) / (double)x->numel);
    ctx->be->from_host(ctx->be_state, y->data, &s, sizeof s);
    if (ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_status st = ssl3d_tape_record(ctx, "mean", mean_backward, y, &x, 1, NULL);
        if (st != SSL3D_OK) { ssl3d_tensor_release(y); return st; }
    }
    *out = y;
    return SSL3D_OK;
}

/* ---- axpby: out = a*x + b*y */
static ssl3d_status axpby_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    for (int i = 0; i < 2; i++) {
        ssl3d_tensor *t = n->in[i];
        if (!t->requires_grad) continue;
        float *g = ssl3d_grad_of(ctx, t);
        if (!g) return SSL3D_ERR_NOMEM;
        ctx->be->axpy(&k, n->farg[i], n->out->grad, g, t->numel);
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_axpby(ssl3d_ctx *ctx, float a, ssl3d_tensor *x, float b, ssl3d_tensor *y, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, "ssl3d_axpby", "x"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, y, "ssl3d_axpby", "y"));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_axpby: out is NULL");
    char sx[96], sy[96];
    SSL3D_CHECK_SHAPE(ctx, x->numel == y->numel && x->ndim == y->ndim &&
                      !memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]),
                      "ssl3d_axpby: shapes differ, x %s vs y %s", ssl3d_shape_str(x, sx, sizeof sx),
                      ssl3d_shape_str(y, sy, sizeof sy));
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_like(ctx, x, &o));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->scale_add(&k, a, ssl3d_f32(x), b, ssl3d_f32(y), ssl3d_f32(o), x->numel);
    ssl3d_tensor *in[2] = { x, y };
    if (ssl3d_tape_wants(ctx, in, 2)) {
        ssl3d_node *n;
        ssl3d_status st = ssl3d_tape_record(ctx, "axpby", axpby_backward, o, in, 2, &n);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
        n->farg[0] = a; n->farg[1] = b;
    }
    *out = o;
    return SSL3D_OK;
}
