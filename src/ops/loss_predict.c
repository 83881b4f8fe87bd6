/* Predictions from class scores (not differentiable): argmax and correct counts. */
#include <stdlib.h>
#include "loss_common.h"

ssl3d_status ssl3d_argmax_rows(ssl3d_ctx *ctx, const ssl3d_tensor *logits, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_argmax_rows";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(ssl3d_check_f32(ctx, logits, fn, "logits"));
    char sl[96];
    SSL3D_CHECK_SHAPE(ctx, logits->ndim >= 2, "%s: logits must be (N,K) or (N,K,spatial...), got %s", fn,
                      ssl3d_shape_str(logits, sl, sizeof sl));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
    int64_t shape[SSL3D_MAX_DIMS];
    shape[0] = logits->shape[0];
    for (int d = 2; d < logits->ndim; d++) shape[d - 1] = logits->shape[d];
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_I32, logits->ndim == 2 ? 1 : logits->ndim - 1, shape, &o));
    int64_t N = logits->shape[0], K = logits->shape[1];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->argmax(&k, ssl3d_f32(logits), N, K, logits->numel / (N * K), ssl3d_i32(o));
    *out = o;
    return SSL3D_OK;
}

ssl3d_status ssl3d_count_correct(ssl3d_ctx *ctx, const ssl3d_tensor *logits, const ssl3d_tensor *labels,
                                 int64_t *correct) {
    static const char fn[] = "ssl3d_count_correct";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, correct, "%s: correct is NULL", fn);
    int64_t N, K, S;
    SSL3D_CHECK(loss_check_class_map(ctx, fn, logits, labels, 0, &N, &K, &S));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
    size_t bytes = (size_t)(N * S) * sizeof(int32_t);
    int32_t *pred = ssl3d_be_alloc(ctx, bytes);
    int32_t *hp = malloc(bytes), *hy = malloc(bytes);
    if (!pred || !hp || !hy) {
        ssl3d_be_free(ctx, pred); free(hp); free(hy);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->argmax(&k, ssl3d_f32(logits), N, K, S, pred);
    ctx->be->to_host(ctx->be_state, hp, pred, bytes);
    ctx->be->to_host(ctx->be_state, hy, labels->data, bytes);
    int64_t c = 0;
    for (int64_t i = 0; i < N * S; i++) c += hp[i] == hy[i];
    ssl3d_be_free(ctx, pred); free(hp); free(hy);
    *correct = c;
    return SSL3D_OK;
}
