/* ssl3d_conv_transpose: kernel 2, stride 2 transposed convolution (U-Net decoder
 * upsampling), differentiable in x, w, b. Arithmetic: the backend's
 * conv_transpose_forward / conv_transpose_backward. */
#include "../core/internal.h"
#include "../backend/conv_kernels.h"

/* Spatial extents of x as (D,H,W), D = 1 in 2D. */
static void spatial3(const ssl3d_tensor *x, int64_t in[3]) {
    const int off = 5 - x->ndim;
    for (int i = 0; i < 3; i++) in[i] = i >= off ? x->shape[2 + i - off] : 1;
}

static ssl3d_status conv_transpose_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (x->requires_grad && !(dx = ssl3d_grad_of(ctx, x))) return SSL3D_ERR_NOMEM;
    if (w->requires_grad && !(dw = ssl3d_grad_of(ctx, w))) return SSL3D_ERR_NOMEM;
    if (b && b->requires_grad && !(db = ssl3d_grad_of(ctx, b))) return SSL3D_ERR_NOMEM;
    if (!dx && !dw && !db) return SSL3D_OK;
    int64_t in[3];
    spatial3(x, in);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ssl3d_status st = ctx->be->conv->conv_transpose_backward(&k, x->ndim - 2, x->shape[0], x->shape[1], w->shape[1],
                                                             in, ssl3d_f32(x), ssl3d_f32(w), n->out->grad, dx, dw, db);
    if (st != SSL3D_OK)
        return ssl3d_kernel_failed(ctx, st, "ssl3d_conv_transpose (backward)", "out of memory for the tile buffers");
    return SSL3D_OK;
}

ssl3d_status ssl3d_conv_transpose(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *w, ssl3d_tensor *b,
                                  ssl3d_tensor **out) {
    static const char *fn = "ssl3d_conv_transpose";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, w, fn, "w"));
    if (b) SSL3D_CHECK(ssl3d_check_f32(ctx, b, fn, "b"));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_conv_transpose: out is NULL");
    char sx[96], sw[96], sb[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 4 || x->ndim == 5,
                      "ssl3d_conv_transpose: x must be (N,C,H,W) or (N,C,D,H,W), got %s",
                      ssl3d_shape_str(x, sx, sizeof sx));
    int ok = w->ndim == x->ndim && w->shape[0] == x->shape[1];
    for (int32_t i = 2; ok && i < w->ndim; i++) ok = w->shape[i] == 2;
    SSL3D_CHECK_SHAPE(ctx, ok, "ssl3d_conv_transpose: w %s must be (Cin=%lld,Cout,%s) for x %s",
                      ssl3d_shape_str(w, sw, sizeof sw), (long long)x->shape[1], x->ndim == 5 ? "2,2,2" : "2,2",
                      ssl3d_shape_str(x, sx, sizeof sx));
    if (b)
        SSL3D_CHECK_SHAPE(ctx, b->ndim == 1 && b->shape[0] == w->shape[1],
                          "ssl3d_conv_transpose: b %s must be (%lld), one value per output channel of w %s",
                          ssl3d_shape_str(b, sb, sizeof sb), (long long)w->shape[1], ssl3d_shape_str(w, sw, sizeof sw));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_CONV_TRANSPOSE, fn));

    int64_t shape[5] = { x->shape[0], w->shape[1], 0, 0, 0 };
    for (int32_t i = 2; i < x->ndim; i++) shape[i] = 2 * x->shape[i];
    ssl3d_tensor *y;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, SSL3D_F32, x->ndim, shape, &y));   /* windows tile the output */
    int64_t in[3];
    spatial3(x, in);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ssl3d_status st = ctx->be->conv->conv_transpose_forward(&k, x->ndim - 2, x->shape[0], x->shape[1], w->shape[1], in,
                                                            ssl3d_f32(x), ssl3d_f32(w), b ? ssl3d_f32(b) : NULL,
                                                            ssl3d_f32(y));
    if (st != SSL3D_OK) {
        ssl3d_tensor_release(y);
        return ssl3d_kernel_failed(ctx, st, "ssl3d_conv_transpose", "out of memory for the tile buffers");
    }
    ssl3d_tensor *inputs[3] = { x, w, b };
    if (ssl3d_tape_wants(ctx, inputs, 3)) {
        st = ssl3d_tape_record(ctx, "conv_transpose", conv_transpose_backward, y, inputs, 3, NULL);
        if (st != SSL3D_OK) { ssl3d_tensor_release(y); return st; }
    }
    *out = y;
    return SSL3D_OK;
}
