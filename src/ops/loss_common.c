/* Helpers shared by the loss ops. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "loss_common.h"

static const int64_t scalar_shape[1] = { 1 };

ssl3d_status loss_scalar(ssl3d_ctx *ctx, double value, ssl3d_tensor **out) {
    ssl3d_tensor *y;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_F32, 1, scalar_shape, &y));
    float v = (float)value;
    ctx->be->from_host(ctx->be_state, y->data, &v, sizeof v);
    *out = y;
    return SSL3D_OK;
}

float loss_upstream(ssl3d_ctx *ctx, const ssl3d_node *n) {
    float g;
    ctx->be->to_host(ctx->be_state, &g, n->out->grad, sizeof g);
    return g;
}

const char *loss_index_str(const ssl3d_tensor *t, int64_t i, char *buf, size_t cap) {
    int64_t idx[SSL3D_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) { idx[d] = i % t->shape[d]; i /= t->shape[d]; }
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ",%lld" : "%lld", (long long)idx[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

ssl3d_status loss_check_class_map(ssl3d_ctx *ctx, const char *fn, const ssl3d_tensor *logits,
                                  const ssl3d_tensor *labels, int check_values, int64_t *N, int64_t *K,
                                  int64_t *S) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, logits, fn, "logits"));
    SSL3D_CHECK(ssl3d_check_i32(ctx, labels, fn, "labels"));
    char sl[96], sy[96];
    SSL3D_CHECK_SHAPE(ctx, logits->ndim >= 2, "%s: logits must be (N,K) or (N,K,spatial...), got %s", fn,
                      ssl3d_shape_str(logits, sl, sizeof sl));
    int ok = labels->ndim == logits->ndim - 1 && labels->shape[0] == logits->shape[0];
    for (int d = 1; ok && d < labels->ndim; d++) ok = labels->shape[d] == logits->shape[d + 1];
    SSL3D_CHECK_SHAPE(ctx, ok, "%s: labels %s do not match logits %s (want logits' shape without dim 1)", fn,
                      ssl3d_shape_str(labels, sy, sizeof sy), ssl3d_shape_str(logits, sl, sizeof sl));
    *N = logits->shape[0];
    *K = logits->shape[1];
    *S = logits->numel / (*N * *K);
    if (check_values) {
        SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
        ssl3d_kctx k = ssl3d_kctx_of(ctx);
        int64_t bad = ctx->be->loss->label_check(&k, ssl3d_i32(labels), labels->numel, *K);
        if (bad >= 0) {
            int32_t v;
            ctx->be->to_host(ctx->be_state, &v, ssl3d_i32(labels) + bad, sizeof v);
            char si[96];
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: labels%s = %d is outside [0,%lld) (K = %lld classes)",
                                   fn, loss_index_str(labels, bad, si, sizeof si), (int)v, (long long)*K,
                                   (long long)*K);
        }
    }
    return SSL3D_OK;
}

ssl3d_status loss_check_matrix(ssl3d_ctx *ctx, const char *fn, const ssl3d_tensor *t, const char *what) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, t, fn, what));
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, t->ndim == 2, "%s: %s must be (rows,D), got %s", fn, what, ssl3d_shape_str(t, s, sizeof s));
    return SSL3D_OK;
}

ssl3d_status loss_check_positive(ssl3d_ctx *ctx, const char *fn, const char *what, float v, int allow_zero) {
    SSL3D_CHECK_ARG(ctx, isfinite(v) && (v > 0 || (allow_zero && v == 0)), "%s: %s must be %s and finite, got %g",
                    fn, what, allow_zero ? ">= 0" : "> 0", (double)v);
    return SSL3D_OK;
}
