#include <stdio.h>
#include <string.h>
#include "internal.h"

const char *ssl3d_status_string(ssl3d_status status) {
    switch (status) {
    case SSL3D_OK: return "SSL3D_OK: success";
    case SSL3D_ERR_INVALID_ARG: return "SSL3D_ERR_INVALID_ARG: invalid argument or NULL handle";
    case SSL3D_ERR_SHAPE: return "SSL3D_ERR_SHAPE: tensor shapes do not fit";
    case SSL3D_ERR_DTYPE: return "SSL3D_ERR_DTYPE: wrong element type";
    case SSL3D_ERR_NOMEM: return "SSL3D_ERR_NOMEM: out of memory";
    case SSL3D_ERR_IO: return "SSL3D_ERR_IO: input/output error";
    case SSL3D_ERR_FORMAT: return "SSL3D_ERR_FORMAT: malformed input";
    case SSL3D_ERR_BACKEND_UNAVAILABLE: return "SSL3D_ERR_BACKEND_UNAVAILABLE: backend not available";
    case SSL3D_ERR_UNSUPPORTED: return "SSL3D_ERR_UNSUPPORTED: operation not supported";
    case SSL3D_ERR_STATE: return "SSL3D_ERR_STATE: call out of order";
    case SSL3D_ERR_NUMERIC: return "SSL3D_ERR_NUMERIC: NaN or Inf";
    case SSL3D_ERR_NOT_FOUND: return "SSL3D_ERR_NOT_FOUND: not found";
    case SSL3D_ERR_DEVICE: return "SSL3D_ERR_DEVICE: device call failed";
    }
    return "SSL3D_ERR_UNKNOWN: unknown status code";
}

const char *ssl3d_version(void) { return SSL3D_VERSION_STRING; }
uint32_t ssl3d_version_number(void) { return (uint32_t)SSL3D_VERSION_NUMBER; }

ssl3d_status ssl3d_set_error(ssl3d_ctx *ctx, ssl3d_status st, const char *fmt, ...) {
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
    }
    return st;
}

const char *ssl3d_ctx_last_error(const ssl3d_ctx *ctx) {
    if (!ctx) return "no context (NULL ssl3d_ctx handle)";
    return ctx->err;
}

void ssl3d_ctx_clear_error(ssl3d_ctx *ctx) {
    if (ctx) ctx->err[0] = '\0';
}

ssl3d_status ssl3d_check_f32(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *op, const char *what) {
    if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s is NULL", op, what);
    if (t->ctx != ctx)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s belongs to another context", op, what);
    if (t->dtype != SSL3D_F32)
        return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "%s: %s must be float32, got int32", op, what);
    return SSL3D_OK;
}

ssl3d_status ssl3d_check_i32(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *op, const char *what) {
    if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s is NULL", op, what);
    if (t->ctx != ctx)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s belongs to another context", op, what);
    if (t->dtype != SSL3D_I32)
        return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "%s: %s must be int32, got float32", op, what);
    return SSL3D_OK;
}

ssl3d_status ssl3d_check_supported(ssl3d_ctx *ctx, int32_t op, const char *opname) {
    if (!ctx->be->supports_op(op))
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "%s: not supported by the %s backend",
                               opname, ctx->be->name);
    return SSL3D_OK;
}
