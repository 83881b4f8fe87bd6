/* Activations: relu, leaky relu, sigmoid, tanh — y = f(x), any shape. */
#include <math.h>
#include "../core/internal.h"
#include "../backend/layer_kernels.h"

static ssl3d_status activation_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *dx = ssl3d_grad_of(ctx, x);
    if (!dx) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->activation_backward(&k, (int32_t)n->iarg[0], n->farg[0], ssl3d_f32(x),
                                        ssl3d_f32(n->out), n->out->grad, dx, x->numel);
    return SSL3D_OK;
}

static ssl3d_status activation(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t kind, float slope, const char *fn,
                               const char *name, ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_ACTIVATION, fn));
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit_like(ctx, x, &o));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->activation_forward(&k, kind, slope, ssl3d_f32(x), ssl3d_f32(o), x->numel);
    if (ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_node *n;
        ssl3d_status st = ssl3d_tape_record(ctx, name, activation_backward, o, &x, 1, &n);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
        n->iarg[0] = kind;
        n->farg[0] = slope;
    }
    *y = o;
    return SSL3D_OK;
}

ssl3d_status ssl3d_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y) {
    return activation(ctx, x, SSL3D_ACT_RELU, 0.0f, "ssl3d_relu", "relu", y);
}

ssl3d_status ssl3d_leaky_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, float slope, ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, isfinite(slope), "ssl3d_leaky_relu: slope must be finite");
    return activation(ctx, x, SSL3D_ACT_LEAKY_RELU, slope, "ssl3d_leaky_relu", "leaky_relu", y);
}

ssl3d_status ssl3d_sigmoid(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y) {
    return activation(ctx, x, SSL3D_ACT_SIGMOID, 0.0f, "ssl3d_sigmoid", "sigmoid", y);
}

ssl3d_status ssl3d_tanh(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y) {
    return activation(ctx, x, SSL3D_ACT_TANH, 0.0f, "ssl3d_tanh", "tanh", y);
}
