/* Inverted dropout with a counter-based mask: element i of call c is dropped iff the
 * Philox draw (ctx seed, stream of call c, i) is < p. The mask is never stored: the
 * backward pass draws it again from the stream id kept on the tape node. */
#include <math.h>
#include "../core/internal.h"
#include "../backend/layer_kernels.h"

static ssl3d_status dropout_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *dx = ssl3d_grad_of(ctx, x);
    if (!dx) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->dropout_backward(&k, n->out->grad, dx, x->numel, n->farg[0], (uint64_t)n->iarg[0],
                                     (uint64_t)n->iarg[1]);
    return SSL3D_OK;
}

ssl3d_status ssl3d_dropout(ssl3d_ctx *ctx, ssl3d_tensor *x, float p, int32_t training, ssl3d_tensor **y) {
    static const char *fn = "ssl3d_dropout";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    SSL3D_CHECK_ARG(ctx, p >= 0.0f && p <= 1.0f, "%s: p must be in [0,1], is %g", fn, (double)p);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_DROPOUT, fn));
    if (!training || p == 0.0f) {
        *y = ssl3d_tensor_retain(x);   /* identity: the same tensor, gradients flow as is */
        return SSL3D_OK;
    }
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit_like(ctx, x, &o));
    const uint64_t seed = ctx->seed, stream = ssl3d_ctx_stream(ctx);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->dropout_forward(&k, ssl3d_f32(x), ssl3d_f32(o), x->numel, p, seed, stream);
    if (ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_node *n;
        ssl3d_status st = ssl3d_tape_record(ctx, "dropout", dropout_backward, o, &x, 1, &n);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
        n->farg[0] = p;
        n->iarg[0] = (int64_t)seed;
        n->iarg[1] = (int64_t)stream;
    }
    *y = o;
    return SSL3D_OK;
}
