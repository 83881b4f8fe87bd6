/* Pooling ops: ssl3d_maxpool2 (window 2, stride 2, argmax saved for backward) and
 * ssl3d_global_avgpool ((N,C,...) -> (N,C)). Arithmetic: the backend's conv family. */
#include <limits.h>
#include "../core/internal.h"
#include "../backend/conv_kernels.h"

static void spatial3(const ssl3d_tensor *x, int64_t in[3]) {
    const int off = 5 - x->ndim;
    for (int i = 0; i < 3; i++) in[i] = i >= off ? x->shape[2 + i - off] : 1;
}

/* ---- maxpool2: node->saved holds the argmax (int32 offsets inside each input plane,
 * one per output element) in backend memory. */
static void free_argmax(ssl3d_ctx *ctx, void *saved) { ssl3d_be_free(ctx, saved); }

static ssl3d_status maxpool2_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *dx = ssl3d_grad_of(ctx, x);
    if (!dx) return SSL3D_ERR_NOMEM;
    int64_t in[3];
    spatial3(x, in);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->conv->maxpool2_backward(&k, x->ndim - 2, x->shape[0] * x->shape[1], in, n->out->grad,
                                     (const int32_t *)n->saved, dx);
    return SSL3D_OK;
}

ssl3d_status ssl3d_maxpool2(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **out) {
    static const char *fn = "ssl3d_maxpool2";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_maxpool2: out is NULL");
    char sx[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 4 || x->ndim == 5,
                      "ssl3d_maxpool2: x must be (N,C,H,W) or (N,C,D,H,W), got %s", ssl3d_shape_str(x, sx, sizeof sx));
    int64_t plane = 1;
    for (int32_t i = 2; i < x->ndim; i++) {
        SSL3D_CHECK_SHAPE(ctx, x->shape[i] >= 2, "ssl3d_maxpool2: every spatial extent of x %s must be >= 2",
                          ssl3d_shape_str(x, sx, sizeof sx));
        plane *= x->shape[i];
    }
    SSL3D_CHECK_SHAPE(ctx, plane <= INT32_MAX, "ssl3d_maxpool2: x %s has more than 2^31 elements per channel",
                      ssl3d_shape_str(x, sx, sizeof sx));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_MAXPOOL, fn));

    int64_t shape[5] = { x->shape[0], x->shape[1], 0, 0, 0 };
    for (int32_t i = 2; i < x->ndim; i++) shape[i] = x->shape[i] / 2;
    ssl3d_tensor *y;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, SSL3D_F32, x->ndim, shape, &y));   /* every window is written */
    int32_t *argmax = ssl3d_be_alloc_uninit(ctx, (size_t)y->numel * sizeof *argmax);
    if (!argmax) { ssl3d_tensor_release(y); return SSL3D_ERR_NOMEM; }
    int64_t in[3];
    spatial3(x, in);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->conv->maxpool2_forward(&k, x->ndim - 2, x->shape[0] * x->shape[1], in, ssl3d_f32(x), ssl3d_f32(y),
                                    argmax);
    if (ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_node *node;
        ssl3d_status st = ssl3d_tape_record(ctx, "maxpool2", maxpool2_backward, y, &x, 1, &node);
        if (st != SSL3D_OK) { ssl3d_be_free(ctx, argmax); ssl3d_tensor_release(y); return st; }
        node->saved = argmax;
        node->free_saved = free_argmax;
    } else {
        ssl3d_be_free(ctx, argmax);
    }
    *out = y;
    return SSL3D_OK;
}

/* ---- global average pooling */
static ssl3d_status global_avgpool_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *dx = ssl3d_grad_of(ctx, x);
    if (!dx) return SSL3D_ERR_NOMEM;
    const int64_t nc = x->shape[0] * x->shape[1];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->conv->global_avgpool_backward(&k, nc, x->numel / nc, n->out->grad, dx);
    return SSL3D_OK;
}

ssl3d_status ssl3d_global_avgpool(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **out) {
    static const char *fn = "ssl3d_global_avgpool";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_global_avgpool: out is NULL");
    char sx[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 4 || x->ndim == 5,
                      "ssl3d_global_avgpool: x must be (N,C,H,W) or (N,C,D,H,W), got %s",
                      ssl3d_shape_str(x, sx, sizeof sx));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_GLOBAL_AVGPOOL, fn));
    int64_t shape[2] = { x->shape[0], x->shape[1] };
    ssl3d_tensor *y;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, 2, shape, &y));
    const int64_t nc = shape[0] * shape[1];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->conv->global_avgpool_forward(&k, nc, x->numel / nc, ssl3d_f32(x), ssl3d_f32(y));
    if (ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_status st = ssl3d_tape_record(ctx, "global_avgpool", global_avgpool_backward, y, &x, 1, NULL);
        if (st != SSL3D_OK) { ssl3d_tensor_release(y); return st; }
    }
    *out = y;
    return SSL3D_OK;
}
