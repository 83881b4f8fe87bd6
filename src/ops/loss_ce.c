/* Softmax cross-entropy (classification and dense segmentation) and binary
 * cross-entropy with logits. */
#include <string.h>
#include "loss_common.h"

/* ---- softmax cross-entropy: logits (N,K,S), labels (N,S) */
static ssl3d_status ce_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *y = n->in[1];
    if (!x->requires_grad) return SSL3D_OK;
    float *gx = ssl3d_grad_of(ctx, x);
    if (!gx) return SSL3D_ERR_NOMEM;
    int64_t N = n->iarg[0], K = n->iarg[1], S = n->iarg[2];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->ce_backward(&k, ssl3d_f32(x), ssl3d_i32(y), N, K, S,
                               loss_upstream(ctx, n) / (float)(N * S), gx);
    return SSL3D_OK;
}

ssl3d_status ssl3d_cross_entropy(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *labels,
                                 ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_cross_entropy";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    int64_t N, K, S;
    SSL3D_CHECK(loss_check_class_map(ctx, fn, logits, labels, 1, &N, &K, &S));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    double sum = ctx->be->loss->ce_forward(&k, ssl3d_f32(logits), ssl3d_i32(labels), N, K, S);
    ssl3d_tensor *o;
    SSL3D_CHECK(loss_scalar(ctx, sum / (double)(N * S), &o));
    ssl3d_tensor *in[2] = { logits, (ssl3d_tensor *)labels };
    if (ssl3d_tape_wants(ctx, in, 1)) {
        ssl3d_node *node;
        ssl3d_status st = ssl3d_tape_record(ctx, "cross_entropy", ce_backward, o, in, 2, &node);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
        node->iarg[0] = N; node->iarg[1] = K; node->iarg[2] = S;
    }
    *out = o;
    return SSL3D_OK;
}

/* ---- binary cross-entropy with logits */
static ssl3d_status bce_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *t = n->in[1];
    if (!x->requires_grad) return SSL3D_OK;
    float *gx = ssl3d_grad_of(ctx, x);
    if (!gx) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->bce_backward(&k, ssl3d_f32(x), ssl3d_f32(t), x->numel,
                                loss_upstream(ctx, n) / (float)x->numel, gx);
    return SSL3D_OK;
}

ssl3d_status ssl3d_bce_with_logits(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *targets,
                                   ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_bce_with_logits";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(ssl3d_check_f32(ctx, logits, fn, "logits"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, targets, fn, "targets"));
    char sx[96], stg[96];
    SSL3D_CHECK_SHAPE(ctx, logits->ndim == targets->ndim &&
                      !memcmp(logits->shape, targets->shape, (size_t)logits->ndim * sizeof logits->shape[0]),
                      "%s: targets %s must have the shape of logits %s", fn,
                      ssl3d_shape_str(targets, stg, sizeof stg), ssl3d_shape_str(logits, sx, sizeof sx));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    int64_t bad = ctx->be->loss->range_check(&k, ssl3d_f32(targets), targets->numel, 0.0f, 1.0f);
    if (bad >= 0) {
        float v;
        ctx->be->to_host(ctx->be_state, &v, ssl3d_f32(targets) + bad, sizeof v);
        char si[96];
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: targets%s = %g is outside [0,1]", fn,
                               loss_index_str(targets, bad, si, sizeof si), (double)v);
    }
    double sum = ctx->be->loss->bce_forward(&k, ssl3d_f32(logits), ssl3d_f32(targets), logits->numel);
    ssl3d_tensor *o;
    SSL3D_CHECK(loss_scalar(ctx, sum / (double)logits->numel, &o));
    ssl3d_tensor *in[2] = { logits, (ssl3d_tensor *)targets };
    if (ssl3d_tape_wants(ctx, in, 1)) {
        ssl3d_status s = ssl3d_tape_record(ctx, "bce_with_logits", bce_backward, o, in, 2, NULL);
        if (s != SSL3D_OK) { ssl3d_tensor_release(o); return s; }
    }
    *out = o;
    return SSL3D_OK;
}
