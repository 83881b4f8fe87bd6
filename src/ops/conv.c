/* ssl3d_conv: 2D/3D cross-correlation with optional bias, differentiable in x, w, b.
 * Validation and tape recording live here; the arithmetic is the backend's
 * conv_forward / conv_backward (src/backend/cpu/cpu_conv.c on the CPU,
 * src/backend/cuda/cuda_conv.c through cuDNN). */
#include "../core/internal.h"
#include "../backend/conv_kernels.h"

/* Geometry from x (N,Cin,[D,]H,W) and w (Cout,Cin,[kd,]kh,kw); 2D becomes D = 1. */
static void conv_geom(const ssl3d_tensor *x, const ssl3d_tensor *w, int64_t stride, int64_t pad,
                      ssl3d_conv_geom *g) {
    const int dims = x->ndim - 2, off = 3 - dims;
    g->n = x->shape[0];
    g->cin = x->shape[1];
    g->cout = w->shape[0];
    for (int i = 0; i < 3; i++) {
        const int present = i >= off;
        g->in[i] = present ? x->shape[2 + i - off] : 1;
        g->k[i] = present ? w->shape[2 + i - off] : 1;
        g->stride[i] = present ? stride : 1;
        g->pad[i] = present ? pad : 0;
        g->out[i] = (g->in[i] + 2 * g->pad[i] - g->k[i]) / g->stride[i] + 1;
    }
}

static ssl3d_status conv_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    ssl3d_conv_geom g;
    conv_geom(x, w, n->iarg[0], n->iarg[1], &g);
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (x->requires_grad && !(dx = ssl3d_grad_of(ctx, x))) return SSL3D_ERR_NOMEM;
    if (w->requires_grad && !(dw = ssl3d_grad_of(ctx, w))) return SSL3D_ERR_NOMEM;
    if (b && b->requires_grad && !(db = ssl3d_grad_of(ctx, b))) return SSL3D_ERR_NOMEM;
    if (!dx && !dw && !db) return SSL3D_OK;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ssl3d_status st = ctx->be->conv->conv_backward(&k, &g, ssl3d_f32(x), ssl3d_f32(w), n->out->grad, dx, dw, db);
    if (st != SSL3D_OK)
        return ssl3d_kernel_failed(ctx, st, "ssl3d_conv (backward)", "out of memory for the tile buffers");
    return SSL3D_OK;
}

ssl3d_status ssl3d_conv(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *w, ssl3d_tensor *b, int32_t stride,
                        int32_t pad, ssl3d_tensor **out) {
    static const char *fn = "ssl3d_conv";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, w, fn, "w"));
    if (b) SSL3D_CHECK(ssl3d_check_f32(ctx, b, fn, "b"));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_conv: out is NULL");
    char sx[96], sw[96], sb[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 4 || x->ndim == 5,
                      "ssl3d_conv: x must be (N,C,H,W) or (N,C,D,H,W), got %s", ssl3d_shape_str(x, sx, sizeof sx));
    SSL3D_CHECK_SHAPE(ctx, w->ndim == x->ndim,
                      "ssl3d_conv: w %s must have %d dims (Cout,Cin,%s) for x %s", ssl3d_shape_str(w, sw, sizeof sw),
                      x->ndim, x->ndim == 5 ? "kd,kh,kw" : "kh,kw", ssl3d_shape_str(x, sx, sizeof sx));
    SSL3D_CHECK_SHAPE(ctx, w->shape[1] == x->shape[1],
                      "ssl3d_conv: w %s expects %lld input channels but x %s has %lld",
                      ssl3d_shape_str(w, sw, sizeof sw), (long long)w->shape[1], ssl3d_shape_str(x, sx, sizeof sx),
                      (long long)x->shape[1]);
    if (b)
        SSL3D_CHECK_SHAPE(ctx, b->ndim == 1 && b->shape[0] == w->shape[0],
                          "ssl3d_conv: b %s must be (%lld), one value per output channel of w %s",
                          ssl3d_shape_str(b, sb, sizeof sb), (long long)w->shape[0],
                          ssl3d_shape_str(w, sw, sizeof sw));
    SSL3D_CHECK_ARG(ctx, stride == 1 || stride == 2, "ssl3d_conv: stride must be 1 or 2, got %d", (int)stride);
    for (int32_t i = 2; i < w->ndim; i++)
        SSL3D_CHECK_ARG(ctx, pad >= 0 && pad < w->shape[i],
                        "ssl3d_conv: pad %d out of range for kernel %s (need 0 <= pad < kernel extent)", (int)pad,
                        ssl3d_shape_str(w, sw, sizeof sw));
    for (int32_t i = 2; i < x->ndim; i++)
        SSL3D_CHECK_SHAPE(ctx, x->shape[i] + 2 * (int64_t)pad >= w->shape[i],
                          "ssl3d_conv: x %s with pad %d is smaller than kernel %s (output would be empty)",
                          ssl3d_shape_str(x, sx, sizeof sx), (int)pad, ssl3d_shape_str(w, sw, sizeof sw));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_CONV, fn));

    ssl3d_conv_geom g;
    conv_geom(x, w, stride, pad, &g);
    int64_t shape[5] = { g.n, g.cout, 0, 0, 0 };
    for (int32_t i = 2; i < x->ndim; i++) shape[i] = g.out[3 - (x->ndim - i)];
    ssl3d_tensor *y;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, SSL3D_F32, x->ndim, shape, &y));   /* the kernel writes every element */
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ssl3d_status st = ctx->be->conv->conv_forward(&k, &g, ssl3d_f32(x), ssl3d_f32(w), b ? ssl3d_f32(b) : NULL,
                                                  ssl3d_f32(y));
    if (st != SSL3D_OK) {
        ssl3d_tensor_release(y);
        return ssl3d_kernel_failed(ctx, st, "ssl3d_conv", "out of memory for the tile buffers");
    }
    ssl3d_tensor *in[3] = { x, w, b };
    if (ssl3d_tape_wants(ctx, in, 3)) {
        ssl3d_node *node;
        st = ssl3d_tape_record(ctx, "conv", conv_backward, y, in, 3, &node);
        if (st != SSL3D_OK) { ssl3d_tensor_release(y); return st; }
        node->iarg[0] = stride;
        node->iarg[1] = pad;
    }
    *out = y;
    return SSL3D_OK;
}
