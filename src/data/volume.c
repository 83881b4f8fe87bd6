/* Views of images / labels as C channels of a D x H x W grid, and batch slots. */
#include <string.h>
#include "data_internal.h"

ssl3d_status vol_of(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *fn, const char *what,
                    ssl3d_vol *v) {
    if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s is NULL", fn, what);
    if (t->ctx != ctx)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s belongs to another context", fn, what);
    if (!ctx->be->host_memory)
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED,
                               "%s: the data path needs a host-memory (CPU) context, not %s", fn, ctx->be->name);
    char s[96];
    int label = t->dtype == SSL3D_I32;
    int dims = label ? t->ndim : t->ndim - 1;
    if (dims != 2 && dims != 3)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE,
                               "%s: %s %s must be %s, got %s", fn, what, label ? "label" : "image",
                               label ? "(D,H,W) or (H,W)" : "(C,D,H,W) or (C,H,W)",
                               ssl3d_shape_str(t, s, sizeof s));
    v->p = t->data;
    v->dims = dims;
    v->is_label = label;
    v->c = label ? 1 : t->shape[0];
    const int64_t *sp = t->shape + (label ? 0 : 1);
    v->n[0] = dims == 3 ? sp[0] : 1;
    v->n[1] = sp[dims - 2];
    v->n[2] = sp[dims - 1];
    return SSL3D_OK;
}

ssl3d_status vol_of_image(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *fn, const char *what,
                          ssl3d_vol *v) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, t, fn, what));
    return vol_of(ctx, t, fn, what, v);
}

ssl3d_status vol_new(ssl3d_ctx *ctx, const ssl3d_vol *like, const int64_t n[3], ssl3d_tensor **out,
                     ssl3d_vol *v) {
    int64_t shape[4];
    int nd = 0;
    if (!like->is_label) shape[nd++] = like->c;
    for (int a = 3 - like->dims; a < 3; a++) shape[nd++] = n[a];
    ssl3d_tensor *t;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, like->is_label ? SSL3D_I32 : SSL3D_F32, nd, shape, &t));
    *v = *like;
    v->p = t->data;
    for (int a = 0; a < 3; a++) v->n[a] = n[a];
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_batch_set(ssl3d_ctx *ctx, ssl3d_tensor *batch, int64_t index, const ssl3d_tensor *sample) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_batch_set";
    SSL3D_CHECK_ARG(ctx, batch, "%s: batch is NULL", fn);
    SSL3D_CHECK_ARG(ctx, sample, "%s: sample is NULL", fn);
    SSL3D_CHECK_ARG(ctx, batch->ctx == ctx && sample->ctx == ctx, "%s: batch or sample belongs to another context", fn);
    if (batch->dtype != sample->dtype)
        return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "%s: batch and sample dtypes differ", fn);
    char sb[96], ss[96];
    SSL3D_CHECK_SHAPE(ctx, batch->ndim == sample->ndim + 1 &&
                      !memcmp(batch->shape + 1, sample->shape, (size_t)sample->ndim * sizeof(int64_t)),
                      "%s: batch %s is not (B, %s)", fn, ssl3d_shape_str(batch, sb, sizeof sb),
                      ssl3d_shape_str(sample, ss, sizeof ss));
    SSL3D_CHECK_ARG(ctx, index >= 0 && index < batch->shape[0], "%s: index %lld outside [0, %lld)", fn,
                    (long long)index, (long long)batch->shape[0]);
    ctx->be->copy(ctx->be_state, (char *)batch->data + (size_t)index * (size_t)sample->numel * 4u,
                  sample->data, (size_t)sample->numel * 4u);
    return SSL3D_OK;
}
