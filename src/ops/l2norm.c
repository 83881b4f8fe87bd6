/* Row L2 normalisation: y = x / max(||x||, eps) over the last dim. */
#include <math.h>
#include "../core/internal.h"
#include "../backend/layer_kernels.h"

static void free_be(ssl3d_ctx *ctx, void *p) { ssl3d_be_free(ctx, p); }

static ssl3d_status l2norm_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *dx = ssl3d_grad_of(ctx, x);
    if (!dx) return SSL3D_ERR_NOMEM;
    const int64_t D = x->shape[x->ndim - 1];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->l2norm_backward(&k, ssl3d_f32(n->out), n->saved, n->out->grad, dx, x->numel / D, D,
                                    n->farg[0]);
    return SSL3D_OK;
}

ssl3d_status ssl3d_l2_normalize(ssl3d_ctx *ctx, ssl3d_tensor *x, float eps, ssl3d_tensor **y) {
    static const char *fn = "ssl3d_l2_normalize";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    SSL3D_CHECK_ARG(ctx, eps > 0.0f && isfinite(eps), "%s: eps must be > 0, is %g", fn, (double)eps);
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim >= 2, "%s: x must be (N,D), has %s", fn, ssl3d_shape_str(x, s, sizeof s));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_L2NORM, fn));
    const int64_t D = x->shape[x->ndim - 1], M = x->numel / D;
    float *norm = ssl3d_be_alloc(ctx, (size_t)M * sizeof(float));
    if (!norm) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    ssl3d_tensor *o;
    ssl3d_status st = ssl3d_tensor_new_uninit_like(ctx, x, &o);
    if (st != SSL3D_OK) { ssl3d_be_free(ctx, norm); return st; }
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->l2norm_forward(&k, ssl3d_f32(x), ssl3d_f32(o), norm, M, D, eps);
    if (ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_node *n;
        st = ssl3d_tape_record(ctx, "l2_normalize", l2norm_backward, o, &x, 1, &n);
        if (st != SSL3D_OK) { ssl3d_be_free(ctx, norm); ssl3d_tensor_release(o); return st; }
        n->farg[0] = eps;
        n->saved = norm; n->free_saved = free_be;
        norm = NULL;
    }
    ssl3d_be_free(ctx, norm);
    *y = o;
    return SSL3D_OK;
}
