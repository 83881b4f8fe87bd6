/* Copies between contexts (core.h: ssl3d_tensor_copy_to / ssl3d_tensor_copy_into). The
 * direct path is taken when one side is host memory; two device contexts go through a
 * host staging buffer (a device-to-device copy between contexts would need both to
 * share a device and stream order, which nothing guarantees). */
#include <string.h>
#include "internal.h"

/* Host copy of src's values, read through src's own backend. */
static ssl3d_status read_src(ssl3d_ctx *dst_ctx, const ssl3d_tensor *src, void *host, const char *fn) {
    ssl3d_ctx *sc = src->ctx;
    sc->be->to_host(sc->be_state, host, src->data, (size_t)src->numel * 4u);
    ssl3d_status st = ssl3d_be_sync(sc, fn);
    if (st != SSL3D_OK) return ssl3d_set_error(dst_ctx, st, "%s", ssl3d_ctx_last_error(sc));
    return SSL3D_OK;
}

static ssl3d_status copy_values(ssl3d_ctx *ctx, ssl3d_tensor *dst, const ssl3d_tensor *src, const char *fn) {
    const size_t bytes = (size_t)src->numel * 4u;
    if (dst == src) return SSL3D_OK;
    if (src->ctx == ctx) {
        ctx->be->copy(ctx->be_state, dst->data, src->data, bytes);
        return ssl3d_be_sync(ctx, fn);
    }
    if (src->ctx->be->host_memory) {
        ctx->be->from_host(ctx->be_state, dst->data, src->data, bytes);
        return ssl3d_be_sync(ctx, fn);
    }
    if (ctx->be->host_memory) return read_src(ctx, src, dst->data, fn);
    void *stage = malloc(bytes);
    if (!stage) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of host memory staging %zu bytes", fn, bytes);
    ssl3d_status st = read_src(ctx, src, stage, fn);
    if (st == SSL3D_OK) {
        ctx->be->from_host(ctx->be_state, dst->data, stage, bytes);
        st = ssl3d_be_sync(ctx, fn);
    }
    free(stage);
    return st;
}

ssl3d_status ssl3d_tensor_copy_to(ssl3d_ctx *dst_ctx, const ssl3d_tensor *src, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_tensor_copy_to";
    SSL3D_CHECK_CTX(dst_ctx);
    SSL3D_CHECK_ARG(dst_ctx, src && out, "%s: %s is NULL", fn, src ? "out" : "src");
    ssl3d_tensor *t;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(dst_ctx, src->dtype, src->ndim, src->shape, &t));
    ssl3d_status st = copy_values(dst_ctx, t, src, fn);
    if (st != SSL3D_OK) { ssl3d_tensor_release(t); return st; }
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_tensor_copy_into(ssl3d_ctx *dst_ctx, ssl3d_tensor *dst, const ssl3d_tensor *src) {
    static const char fn[] = "ssl3d_tensor_copy_into";
    SSL3D_CHECK_CTX(dst_ctx);
    SSL3D_CHECK_ARG(dst_ctx, dst && src, "%s: %s is NULL", fn, dst ? "src" : "dst");
    SSL3D_CHECK_ARG(dst_ctx, dst->ctx == dst_ctx, "%s: dst belongs to another context", fn);
    if (dst->dtype != src->dtype)
        return ssl3d_set_error(dst_ctx, SSL3D_ERR_DTYPE, "%s: dst is %s, src is %s", fn,
                               dst->dtype == SSL3D_F32 ? "float32" : "int32",
                               src->dtype == SSL3D_F32 ? "float32" : "int32");
    if (dst->numel != src->numel) {
        char a[128], b[128];
        return ssl3d_set_error(dst_ctx, SSL3D_ERR_SHAPE, "%s: dst %s has %lld elements, src %s has %lld", fn,
                               ssl3d_shape_str(dst, a, sizeof a), (long long)dst->numel,
                               ssl3d_shape_str(src, b, sizeof b), (long long)src->numel);
    }
    return copy_values(dst_ctx, dst, src, fn);
}

/* ---------------------------------------------------------------- uploads begun ahead */

struct ssl3d_upload {
    ssl3d_tensor *t;      /* in the destination context; not to be used before taken */
    int64_t ticket;       /* the backend's upload_begin ticket (0: complete) */
};

ssl3d_status ssl3d_upload_begin(ssl3d_ctx *ctx, const ssl3d_tensor *src, ssl3d_upload **out) {
    static const char fn[] = "ssl3d_upload_begin";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, src && out, "%s: %s is NULL", fn, src ? "out" : "src");
    SSL3D_CHECK_ARG(ctx, src->ctx == ctx || src->ctx->be->host_memory,
                    "%s: src belongs to a %s context: uploads come from host memory", fn, src->ctx->be->name);
    ssl3d_upload *u = calloc(1, sizeof *u);
    if (!u) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of host memory", fn);
    if (src->ctx == ctx) {   /* already there (a host-memory model context): nothing to copy */
        u->t = ssl3d_tensor_retain((ssl3d_tensor *)src);
        *out = u;
        return SSL3D_OK;
    }
    ssl3d_status st = ssl3d_tensor_new_uninit(ctx, src->dtype, src->ndim, src->shape, &u->t);
    if (st != SSL3D_OK) { free(u); return st; }
    const size_t bytes = (size_t)src->numel * 4u;
    if (ctx->be->upload_begin) {
        u->ticket = ctx->be->upload_begin(ctx->be_state, u->t->data, src->data, bytes);
    } else {
        ctx->be->from_host(ctx->be_state, u->t->data, src->data, bytes);
        st = ssl3d_be_sync(ctx, fn);
        if (st != SSL3D_OK) { ssl3d_tensor_release(u->t); free(u); return st; }
    }
    *out = u;
    return SSL3D_OK;
}

ssl3d_tensor *ssl3d_upload_take(ssl3d_ctx *ctx, ssl3d_upload *u) {
    if (!u) return NULL;
    ssl3d_tensor *t = u->t;
    if (u->ticket && ctx->be->upload_wait) ctx->be->upload_wait(ctx->be_state, u->ticket);
    free(u);
    return t;
}

void ssl3d_upload_drop(ssl3d_ctx *ctx, ssl3d_upload *u) {
    /* Taken first, so the memory is reused only in order after the copy. */
    ssl3d_tensor_release(ssl3d_upload_take(ctx, u));
}
