#include <stdio.h>
#include <string.h>
#include "internal.h"

void *ssl3d_be_alloc(ssl3d_ctx *ctx, size_t bytes) {
    void *p = ctx->be->alloc(ctx->be_state, bytes ? bytes : 1);
    if (!p) ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "out of memory allocating %zu bytes on %s", bytes, ctx->be->name);
    return p;
}

void *ssl3d_be_alloc_uninit(ssl3d_ctx *ctx, size_t bytes) {
    void *p = ctx->be->alloc_uninit(ctx->be_state, bytes ? bytes : 1);
    if (!p) ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "out of memory allocating %zu bytes on %s", bytes, ctx->be->name);
    return p;
}

void ssl3d_be_free(ssl3d_ctx *ctx, void *p) {
    if (p) ctx->be->free(ctx->be_state, p);
}

const char *ssl3d_shape_str(const ssl3d_tensor *t, char *buf, size_t cap) {
    size_t n = 0;
    if (!t) { snprintf(buf, cap, "(null)"); return buf; }
    n += (size_t)snprintf(buf + n, cap - n, "(");
    for (int i = 0; i < t->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ")");
    return buf;
}

static ssl3d_status tensor_alloc(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape,
                                 int zeroed, ssl3d_tensor **out) {
    if (dtype != SSL3D_F32 && dtype != SSL3D_I32)
        return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "tensor: unknown dtype %d", (int)dtype);
    if (ndim < 1 || ndim > SSL3D_MAX_DIMS)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "tensor: ndim must be 1..%d, got %d", SSL3D_MAX_DIMS, (int)ndim);
    if (!shape) return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "tensor: shape is NULL");
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "tensor: dim %d is %lld, must be >= 1", i, (long long)shape[i]);
        if (numel > (INT64_MAX / 8) / shape[i])
            return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "tensor: element count overflows at dim %d", i);
        numel *= shape[i];
    }
    if ((uint64_t)numel * 4u > (uint64_t)SIZE_MAX)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "tensor: %lld elements do not fit in memory", (long long)numel);
    ssl3d_tensor *t = calloc(1, sizeof *t);
    if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "tensor: out of memory");
    t->data = zeroed ? ctx->be->alloc(ctx->be_state, (size_t)numel * 4u)
                     : ctx->be->alloc_uninit(ctx->be_state, (size_t)numel * 4u);
    if (!t->data) {
        free(t);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "tensor: out of memory allocating %lld bytes on %s",
                               (long long)numel * 4, ctx->be->name);
    }
    t->ctx = ctx; t->dtype = dtype; t->ndim = ndim; t->numel = numel; t->refcount = 1;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    ctx->live_tensors++;
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_tensor_new(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape,
                              ssl3d_tensor **out) {
    return tensor_alloc(ctx, dtype, ndim, shape, 1, out);
}

ssl3d_status ssl3d_tensor_new_uninit(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape,
                                     ssl3d_tensor **out) {
    return tensor_alloc(ctx, dtype, ndim, shape, 0, out);
}

ssl3d_status ssl3d_tensor_new_uninit_like(ssl3d_ctx *ctx, const ssl3d_tensor *like, ssl3d_tensor **out) {
    return tensor_alloc(ctx, like->dtype, like->ndim, like->shape, 0, out);
}

ssl3d_status ssl3d_tensor_new_like(ssl3d_ctx *ctx, const ssl3d_tensor *like, ssl3d_tensor **out) {
    return ssl3d_tensor_new(ctx, like->dtype, like->ndim, like->shape, out);
}

ssl3d_status ssl3d_tensor_create(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape,
                                 ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_tensor_create: out is NULL");
    return ssl3d_tensor_new(ctx, dtype, ndim, shape, out);
}

ssl3d_status ssl3d_tensor_from_data(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape,
                                    const void *data, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out && data, "ssl3d_tensor_from_data: %s is NULL", out ? "data" : "out");
    ssl3d_tensor *t;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, dtype, ndim, shape, &t));
    ctx->be->from_host(ctx->be_state, t->data, data, (size_t)t->numel * 4u);
    ssl3d_status st = ssl3d_be_sync(ctx, "ssl3d_tensor_from_data");
    if (st != SSL3D_OK) { ssl3d_tensor_release(t); return st; }
    *out = t;
    return SSL3D_OK;
}

ssl3d_tensor *ssl3d_tensor_retain(ssl3d_tensor *t) {
    if (t) t->refcount++;
    return t;
}

void ssl3d_tensor_release(ssl3d_tensor *t) {
    if (!t || --t->refcount > 0) return;
    ssl3d_ctx *ctx = t->ctx;
    ssl3d_be_free(ctx, t->data);
    ssl3d_be_free(ctx, t->grad);
    ctx->live_tensors--;
    free(t);
}

int32_t ssl3d_tensor_ndim(const ssl3d_tensor *t) { return t ? t->ndim : 0; }
int64_t ssl3d_tensor_dim(const ssl3d_tensor *t, int32_t i) {
    return (t && i >= 0 && i < t->ndim) ? t->shape[i] : -1;
}
int64_t ssl3d_tensor_numel(const ssl3d_tensor *t) { return t ? t->numel : 0; }
int32_t ssl3d_tensor_dtype(const ssl3d_tensor *t) { return t ? t->dtype : -1; }

ssl3d_status ssl3d_tensor_shape(ssl3d_ctx *ctx, const ssl3d_tensor *t, int64_t *shape, int32_t cap) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, t && shape, "ssl3d_tensor_shape: %s is NULL", t ? "shape" : "tensor");
    SSL3D_CHECK_ARG(ctx, cap >= t->ndim, "ssl3d_tensor_shape: capacity %d < ndim %d", (int)cap, (int)t->ndim);
    memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
    return SSL3D_OK;
}

static ssl3d_status check_io(ssl3d_ctx *ctx, const ssl3d_tensor *t, const void *p, int64_t nbytes,
                             const char *fn) {
    SSL3D_CHECK_ARG(ctx, t, "%s: tensor is NULL", fn);
    SSL3D_CHECK_ARG(ctx, t->ctx == ctx, "%s: tensor belongs to another context", fn);
    SSL3D_CHECK_ARG(ctx, p, "%s: buffer is NULL", fn);
    if (nbytes != t->numel * 4)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: buffer has %lld bytes, tensor needs %lld", fn,
                               (long long)nbytes, (long long)(t->numel * 4));
    return SSL3D_OK;
}

ssl3d_status ssl3d_tensor_read(ssl3d_ctx *ctx, const ssl3d_tensor *t, void *dst, int64_t nbytes) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_io(ctx, t, dst, nbytes, "ssl3d_tensor_read"));
    ctx->be->to_host(ctx->be_state, dst, t->data, (size_t)nbytes);
    return ssl3d_be_sync(ctx, "ssl3d_tensor_read");
}

ssl3d_status ssl3d_tensor_write(ssl3d_ctx *ctx, ssl3d_tensor *t, const void *src, int64_t nbytes) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_io(ctx, t, src, nbytes, "ssl3d_tensor_write"));
    ctx->be->from_host(ctx->be_state, t->data, src, (size_t)nbytes);
    return ssl3d_be_sync(ctx, "ssl3d_tensor_write");
}

void *ssl3d_tensor_host_data(ssl3d_tensor *t) {
    return (t && t->ctx->be->host_memory) ? t->data : NULL;
}

/* Fills draw on the host (element i from counter i of a fresh stream), then upload:
 * the values do not depend on the thread count or the backend. */
static ssl3d_status fill_random(ssl3d_ctx *ctx, ssl3d_tensor *t, int normal, float a, float b,
                                const char *fn) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, t, fn, "tensor"));
    uint64_t stream = ssl3d_ctx_stream(ctx);
    float *buf = ctx->be->host_memory ? (float *)t->data : malloc((size_t)t->numel * 4u);
    if (!buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    for (int64_t i = 0; i < t->numel; i++)
        buf[i] = normal ? a + b * ssl3d_rng_normal_at(ctx->seed, stream, (uint64_t)i)
                        : a + (b - a) * ssl3d_rng_uniform_at(ctx->seed, stream, (uint64_t)i);
    if (!ctx->be->host_memory) {
        ctx->be->from_host(ctx->be_state, t->data, buf, (size_t)t->numel * 4u);
        ssl3d_status st = ssl3d_be_sync(ctx, fn);   /* buf must outlive the copy */
        free(buf);
        return st;
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_tensor_fill_normal(ssl3d_ctx *ctx, ssl3d_tensor *t, float mean, float std) {
    return fill_random(ctx, t, 1, mean, std, "ssl3d_tensor_fill_normal");
}

ssl3d_status ssl3d_tensor_fill_uniform(ssl3d_ctx *ctx, ssl3d_tensor *t, float lo, float hi) {
    if (ctx && !(lo <= hi)) return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_tensor_fill_uniform: lo > hi");
    return fill_random(ctx, t, 0, lo, hi, "ssl3d_tensor_fill_uniform");
}

ssl3d_status ssl3d_tensor_fill(ssl3d_ctx *ctx, ssl3d_tensor *t, float value) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, t, "ssl3d_tensor_fill", "tensor"));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->fill(&k, (float *)t->data, t->numel, value);
    return SSL3D_OK;
}

ssl3d_status ssl3d_tensor_clone(ssl3d_ctx *ctx, const ssl3d_tensor *t, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, t && out, "ssl3d_tensor_clone: %s is NULL", t ? "out" : "tensor");
    ssl3d_tensor *c;
    SSL3D_CHECK(ssl3d_tensor_new_like(ctx, t, &c));
    ctx->be->copy(ctx->be_state, c->data, t->data, (size_t)t->numel * 4u);
    *out = c;
    return SSL3D_OK;
}

float *ssl3d_grad_of(ssl3d_ctx *ctx, ssl3d_tensor *t) {
    if (!t->grad) t->grad = ssl3d_be_alloc(ctx, (size_t)t->numel * 4u);
    return t->grad;
}

ssl3d_status ssl3d_tensor_set_requires_grad(ssl3d_ctx *ctx, ssl3d_tensor *t, int32_t requires_grad) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, t, "ssl3d_tensor_set_requires_grad", "tensor"));
    t->requires_grad = requires_grad ? 1 : 0;
    return SSL3D_OK;
}

int32_t ssl3d_tensor_requires_grad(const ssl3d_tensor *t) { return t ? t->requires_grad : 0; }

ssl3d_status ssl3d_tensor_read_grad(ssl3d_ctx *ctx, const ssl3d_tensor *t, float *dst, int64_t n) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_io(ctx, t, dst, n * 4, "ssl3d_tensor_read_grad"));
    if (t->grad) ctx->be->to_host(ctx->be_state, dst, t->grad, (size_t)n * 4u);
    else memset(dst, 0, (size_t)n * 4u);
    return ssl3d_be_sync(ctx, "ssl3d_tensor_read_grad");
}

ssl3d_status ssl3d_tensor_zero_grad(ssl3d_ctx *ctx, ssl3d_tensor *t) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, t, "ssl3d_tensor_zero_grad: tensor is NULL");
    if (t->grad) ctx->be->memset0(ctx->be_state, t->grad, (size_t)t->numel * 4u);
    return SSL3D_OK;
}
