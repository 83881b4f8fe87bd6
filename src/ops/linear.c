/* Linear layer: y (M,out) = x (M,in) w^T + b, M = product of x's leading dims. */
#include "../core/internal.h"
#include "../backend/layer_kernels.h"

static ssl3d_status linear_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const int64_t Out = w->shape[0], In = w->shape[1], M = x->numel / In;
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (x->requires_grad && !(dx = ssl3d_grad_of(ctx, x))) return SSL3D_ERR_NOMEM;
    if (w->requires_grad && !(dw = ssl3d_grad_of(ctx, w))) return SSL3D_ERR_NOMEM;
    if (b && b->requires_grad && !(db = ssl3d_grad_of(ctx, b))) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->linear_backward(&k, ssl3d_f32(x), ssl3d_f32(w), n->out->grad, M, In, Out, dx, dw, db);
    return SSL3D_OK;
}

ssl3d_status ssl3d_linear(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *w, ssl3d_tensor *b, ssl3d_tensor **y) {
    static const char *fn = "ssl3d_linear";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, w, fn, "w"));
    if (b) SSL3D_CHECK(ssl3d_check_f32(ctx, b, fn, "b"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    char sx[96], sw[96], sb[96];
    SSL3D_CHECK_SHAPE(ctx, w->ndim == 2, "%s: w must be (out,in), has %s", fn, ssl3d_shape_str(w, sw, sizeof sw));
    const int64_t Out = w->shape[0], In = w->shape[1];
    SSL3D_CHECK_SHAPE(ctx, x->ndim >= 2 && x->shape[x->ndim - 1] == In,
                      "%s: x must be (N,%lld) to match w %s, has %s", fn, (long long)In,
                      ssl3d_shape_str(w, sw, sizeof sw), ssl3d_shape_str(x, sx, sizeof sx));
    if (b)
        SSL3D_CHECK_SHAPE(ctx, b->ndim == 1 && b->shape[0] == Out, "%s: b must be (%lld) to match w %s, has %s",
                          fn, (long long)Out, ssl3d_shape_str(w, sw, sizeof sw), ssl3d_shape_str(b, sb, sizeof sb));
    SSL3D_CHECK_ARG(ctx, In <= INT32_MAX && Out <= INT32_MAX && x->numel / In <= INT32_MAX,
                    "%s: sizes exceed the BLAS index range", fn);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LINEAR, fn));
    int64_t shape[SSL3D_MAX_DIMS];
    for (int32_t i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = Out;
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, SSL3D_F32, x->ndim, shape, &o));   /* GEMM with beta = 0 */
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->linear_forward(&k, ssl3d_f32(x), ssl3d_f32(w), b ? ssl3d_f32(b) : NULL, ssl3d_f32(o),
                                   x->numel / In, In, Out);
    ssl3d_tensor *in[3] = { x, w, b };
    if (ssl3d_tape_wants(ctx, in, 3)) {
        ssl3d_status st = ssl3d_tape_record(ctx, "linear", linear_backward, o, in, 3, NULL);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
    }
    *y = o;
    return SSL3D_OK;
}
