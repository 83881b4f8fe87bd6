/* Elementwise add (same shape, or a per-channel vector broadcast) and multiply. */
#include <string.h>
#include "../core/internal.h"
#include "../backend/layer_kernels.h"

static int same_shape(const ssl3d_tensor *a, const ssl3d_tensor *b) {
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]);
}

/* ---- add: iarg[0] = per-channel broadcast of b */
static ssl3d_status add_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *a = n->in[0], *b = n->in[1];
    const int per_channel = (int)n->iarg[0];
    const int64_t N = per_channel ? a->shape[0] : 1, C = per_channel ? a->shape[1] : 1;
    const int64_t S = a->numel / (N * C);
    float *da = NULL, *db = NULL;
    if (a->requires_grad && !(da = ssl3d_grad_of(ctx, a))) return SSL3D_ERR_NOMEM;
    if (b->requires_grad && !(db = ssl3d_grad_of(ctx, b))) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    /* a == b (y = x + x): the kernel adds dy twice, once per role. */
    ctx->be->layer->add_backward(&k, n->out->grad, N, C, S, per_channel, da, db);
    return SSL3D_OK;
}

ssl3d_status ssl3d_add(ssl3d_ctx *ctx, ssl3d_tensor *a, ssl3d_tensor *b, ssl3d_tensor **y) {
    static const char *fn = "ssl3d_add";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, a, fn, "a"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, b, fn, "b"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    char sa[96], sb[96];
    int per_channel = 0;
    if (!same_shape(a, b)) {
        per_channel = a->ndim >= 2 && b->ndim == 1 && b->shape[0] == a->shape[1];
        SSL3D_CHECK_SHAPE(ctx, per_channel, "%s: b %s must have the shape of a %s or be (C) with C = a's dim 1",
                          fn, ssl3d_shape_str(b, sb, sizeof sb), ssl3d_shape_str(a, sa, sizeof sa));
    }
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_ELEMENTWISE, fn));
    const int64_t N = per_channel ? a->shape[0] : 1, C = per_channel ? a->shape[1] : 1;
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit_like(ctx, a, &o));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->add_forward(&k, ssl3d_f32(a), ssl3d_f32(b), ssl3d_f32(o), N, C, a->numel / (N * C),
                                per_channel);
    ssl3d_tensor *in[2] = { a, b };
    if (ssl3d_tape_wants(ctx, in, 2)) {
        ssl3d_node *n;
        ssl3d_status st = ssl3d_tape_record(ctx, "add", add_backward, o, in, 2, &n);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
        n->iarg[0] = per_channel;
    }
    *y = o;
    return SSL3D_OK;
}

/* ---- mul */
static ssl3d_status mul_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *a = n->in[0], *b = n->in[1];
    float *da = NULL, *db = NULL;
    if (a->requires_grad && !(da = ssl3d_grad_of(ctx, a))) return SSL3D_ERR_NOMEM;
    if (b->requires_grad && !(db = ssl3d_grad_of(ctx, b))) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->mul_backward(&k, ssl3d_f32(a), ssl3d_f32(b), n->out->grad, da, db, a->numel);
    return SSL3D_OK;
}

ssl3d_status ssl3d_mul(ssl3d_ctx *ctx, ssl3d_tensor *a, ssl3d_tensor *b, ssl3d_tensor **y) {
    static const char *fn = "ssl3d_mul";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, a, fn, "a"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, b, fn, "b"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    char sa[96], sb[96];
    SSL3D_CHECK_SHAPE(ctx, same_shape(a, b), "%s: shapes differ, a %s vs b %s", fn,
                      ssl3d_shape_str(a, sa, sizeof sa), ssl3d_shape_str(b, sb, sizeof sb));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_ELEMENTWISE, fn));
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit_like(ctx, a, &o));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->mul_forward(&k, ssl3d_f32(a), ssl3d_f32(b), ssl3d_f32(o), a->numel);
    ssl3d_tensor *in[2] = { a, b };
    if (ssl3d_tape_wants(ctx, in, 2)) {
        ssl3d_status st = ssl3d_tape_record(ctx, "mul", mul_backward, o, in, 2, NULL);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
    }
    *y = o;
    return SSL3D_OK;
}
