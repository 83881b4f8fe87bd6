#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

/* Probe: acquire the table (loading a plugin if need be), then create and destroy one
 * backend state, which is where a device backend finds its driver and device. */
ssl3d_status ssl3d_backend_probe(int32_t backend, char *msg, size_t cap) {
    char buf[1024] = "";
    const ssl3d_backend *be = NULL;
    ssl3d_status st = ssl3d_backend_acquire(backend, &be, buf, sizeof buf);
    if (st == SSL3D_OK) {
        void *state = NULL;
        st = be->init(&state, 0, buf, sizeof buf);
        if (st == SSL3D_OK) {
            be->shutdown(state);
            if (!buf[0]) snprintf(buf, sizeof buf, "%s backend built in", be->name);
        }
        else if (!buf[0]) snprintf(buf, sizeof buf, "backend %s failed to initialise (%s)", be->name,
                                   ssl3d_status_string(st));
        if (st != SSL3D_OK) st = SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    if (msg && cap) {
        strncpy(msg, buf, cap - 1);
        msg[cap - 1] = '\0';
    }
    return st;
}

ssl3d_status ssl3d_backend_device_count(int32_t backend, int32_t *count, char *msg, size_t cap) {
    char buf[1024] = "";
    const ssl3d_backend *be = NULL;
    ssl3d_status st = count ? ssl3d_backend_acquire(backend, &be, buf, sizeof buf) : SSL3D_ERR_INVALID_ARG;
    if (st == SSL3D_OK) {
        if (be->device_count) st = be->device_count(count, buf, sizeof buf);
        else *count = 1;
        if (st == SSL3D_OK && *count < 1) {
            st = SSL3D_ERR_BACKEND_UNAVAILABLE;
            snprintf(buf, sizeof buf, "no %s device", be->name);
        }
    }
    if (count && st != SSL3D_OK) *count = 0;
    if (msg && cap) {
        strncpy(msg, st == SSL3D_OK ? "" : buf, cap - 1);
        msg[cap - 1] = '\0';
    }
    return st;
}

ssl3d_status ssl3d_ctx_create(int32_t backend, ssl3d_ctx **out) { return ssl3d_ctx_create_on_device(backend, 0, out); }

ssl3d_status ssl3d_ctx_create_on_device(int32_t backend, int32_t device, ssl3d_ctx **out) {
    if (!out) return SSL3D_ERR_INVALID_ARG;   /* *out is left alone on failure */
    const ssl3d_backend *be = NULL;
    if (ssl3d_backend_acquire(backend, &be, NULL, 0) != SSL3D_OK) return SSL3D_ERR_BACKEND_UNAVAILABLE;
    if (device != 0) {   /* device 0 needs no count: init says why it is absent */
        int32_t n = 0;
        ssl3d_status cst = ssl3d_backend_device_count(backend, &n, NULL, 0);
        if (cst != SSL3D_OK) return cst;
        if (device < 0 || device >= n) return SSL3D_ERR_INVALID_ARG;
    }
    ssl3d_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return SSL3D_ERR_NOMEM;
    ctx->be = be;
    char msg[256];
    ssl3d_status st = be->init(&ctx->be_state, device, msg, sizeof msg);
    if (st != SSL3D_OK) {
        free(ctx);
        /* No device, driver too old, ...: the backend is unavailable; only an allocation
         * failure keeps its own status. ssl3d_backend_probe gives the reason. */
        return st == SSL3D_ERR_NOMEM ? st : SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ctx->threads = cores > 0 ? (int32_t)cores : 1;
    ctx->grad_enabled = 1;
    *out = ctx;
    return SSL3D_OK;
}

ssl3d_status ssl3d_kernel_failed(ssl3d_ctx *ctx, ssl3d_status st, const char *fn, const char *host_reason) {
    if (ctx->be->sync) {
        ssl3d_status dev = ssl3d_be_sync(ctx, fn);
        if (dev != SSL3D_OK) return dev;
    }
    return ssl3d_set_error(ctx, st, "%s: %s", fn, host_reason);
}

ssl3d_status ssl3d_be_sync(ssl3d_ctx *ctx, const char *fn) {
    if (!ctx->be->sync) return SSL3D_OK;
    char msg[SSL3D_ERRMSG_CAP - 64] = "";
    ssl3d_status st = ctx->be->sync(ctx->be_state, msg, sizeof msg);
    if (st != SSL3D_OK) return ssl3d_set_error(ctx, st, "%s: %s backend: %s", fn, ctx->be->name, msg);
    return SSL3D_OK;
}

void ssl3d_ctx_release(ssl3d_ctx *ctx) {
    if (!ctx) return;
    ssl3d_tape_reset(ctx);
    free(ctx->tape);
    if (ctx->be->shutdown) ctx->be->shutdown(ctx->be_state);
    free(ctx);
}

const char *ssl3d_ctx_backend_name(const ssl3d_ctx *ctx) { return ctx ? ctx->be->name : ""; }

ssl3d_status ssl3d_ctx_set_threads(ssl3d_ctx *ctx, int32_t threads) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, threads >= 1 && threads <= 1024, "ssl3d_ctx_set_threads: threads must be 1..1024, got %d",
                    (int)threads);
    ctx->threads = threads;
    return SSL3D_OK;
}

int32_t ssl3d_ctx_threads(const ssl3d_ctx *ctx) { return ctx ? ctx->threads : 0; }

ssl3d_status ssl3d_ctx_set_seed(ssl3d_ctx *ctx, uint64_t seed) {
    SSL3D_CHECK_CTX(ctx);
    ctx->seed = seed;
    ctx->next_stream = 0;
    return SSL3D_OK;
}

uint64_t ssl3d_ctx_seed(const ssl3d_ctx *ctx) { return ctx ? ctx->seed : 0; }

uint64_t ssl3d_ctx_stream(ssl3d_ctx *ctx) { return ++ctx->next_stream; }

int32_t ssl3d_set_grad_enabled(ssl3d_ctx *ctx, int32_t enabled) {
    if (!ctx) return 0;
    int32_t prev = ctx->grad_enabled;
    ctx->grad_enabled = enabled ? 1 : 0;
    return prev;
}
