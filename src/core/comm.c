/* The communicator of a context (ssl3d/comm.h): registration, the collective wrappers,
 * bucketed gradient averaging and parameter broadcast.
 *
 * Gradients and tensors are streamed through one host bucket: the tensors, in order, are
 * seen as one concatenated array that is cut into bucket-sized pieces, so a model costs
 * ceil(total / bucket) collectives however many tensors it has. Staging through host
 * memory keeps this backend-independent (a device communicator such as NCCL would reduce
 * device buffers in place; docs/distributed.md). */
#include <stdio.h>
#include <string.h>
#include "internal.h"

#define DEFAULT_BUCKET_BYTES (INT64_C(32) << 20)

static int32_t comm_on(const ssl3d_ctx *ctx) { return ctx->comm_size > 1; }

ssl3d_status ssl3d_ctx_set_comm(ssl3d_ctx *ctx, const ssl3d_comm *comm) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_ctx_set_comm";
    if (!comm) {
        memset(&ctx->comm, 0, sizeof ctx->comm);
        ctx->comm_rank = 0;
        ctx->comm_size = 0;
        return SSL3D_OK;
    }
    SSL3D_CHECK_ARG(ctx, comm->abi == SSL3D_COMM_ABI, "%s: comm->abi is %u, this library expects %u", fn,
                    (unsigned)comm->abi, (unsigned)SSL3D_COMM_ABI);
    SSL3D_CHECK_ARG(ctx, comm->rank && comm->size && comm->allreduce_sum_f32 && comm->broadcast && comm->barrier,
                    "%s: the %s callback is NULL", fn,
                    !comm->rank ? "rank" : !comm->size ? "size" : !comm->allreduce_sum_f32 ? "allreduce_sum_f32"
                    : !comm->broadcast ? "broadcast" : "barrier");
    const int32_t rank = comm->rank(comm->user), size = comm->size(comm->user);
    SSL3D_CHECK_ARG(ctx, size >= 1 && rank >= 0 && rank < size, "%s: rank %d of size %d is not a valid rank", fn,
                    (int)rank, (int)size);
    ctx->comm = *comm;
    ctx->comm_rank = rank;
    ctx->comm_size = size;
    return SSL3D_OK;
}

int32_t ssl3d_ctx_comm_rank(const ssl3d_ctx *ctx) { return ctx && ctx->comm_size > 0 ? ctx->comm_rank : 0; }
int32_t ssl3d_ctx_comm_size(const ssl3d_ctx *ctx) { return ctx && ctx->comm_size > 0 ? ctx->comm_size : 1; }

ssl3d_status ssl3d_ctx_set_comm_bucket_bytes(ssl3d_ctx *ctx, int64_t bytes) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, bytes >= 4, "ssl3d_ctx_set_comm_bucket_bytes: bytes must be >= 4, got %lld", (long long)bytes);
    ctx->comm_bucket_bytes = bytes;
    return SSL3D_OK;
}

ssl3d_status ssl3d_ctx_set_sync_batch_norm(ssl3d_ctx *ctx, int32_t on) {
    SSL3D_CHECK_CTX(ctx);
    ctx->sync_batch_norm = on ? 1 : 0;
    return SSL3D_OK;
}

int32_t ssl3d_ctx_sync_batch_norm(const ssl3d_ctx *ctx) { return ctx ? ctx->sync_batch_norm : 0; }

static int64_t bucket_floats(const ssl3d_ctx *ctx) {
    return (ctx->comm_bucket_bytes > 0 ? ctx->comm_bucket_bytes : DEFAULT_BUCKET_BYTES) / 4;
}

static ssl3d_status failed(ssl3d_ctx *ctx, const char *what, int32_t code) {
    return ssl3d_set_error(ctx, SSL3D_ERR_IO, "communicator %s failed on rank %d of %d (code %d)", what,
                           (int)ctx->comm_rank, (int)ctx->comm_size, (int)code);
}

ssl3d_status ssl3d_comm_allreduce_sum(ssl3d_ctx *ctx, float *buf, int64_t n) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, n >= 0 && (buf || n == 0), "ssl3d_comm_allreduce_sum: buf is NULL or n < 0");
    if (!comm_on(ctx) || n == 0) return SSL3D_OK;
    int32_t rc = ctx->comm.allreduce_sum_f32(ctx->comm.user, buf, n);
    return rc ? failed(ctx, "allreduce", rc) : SSL3D_OK;
}

ssl3d_status ssl3d_comm_broadcast(ssl3d_ctx *ctx, void *buf, int64_t bytes, int32_t root) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, bytes >= 0 && (buf || bytes == 0), "ssl3d_comm_broadcast: buf is NULL or bytes < 0");
    SSL3D_CHECK_ARG(ctx, root >= 0 && root < ssl3d_ctx_comm_size(ctx), "ssl3d_comm_broadcast: root %d is not a rank "
                    "of %d", (int)root, (int)ssl3d_ctx_comm_size(ctx));
    if (!comm_on(ctx) || bytes == 0) return SSL3D_OK;
    int32_t rc = ctx->comm.broadcast(ctx->comm.user, buf, bytes, root);
    return rc ? failed(ctx, "broadcast", rc) : SSL3D_OK;
}

ssl3d_status ssl3d_comm_barrier(ssl3d_ctx *ctx) {
    SSL3D_CHECK_CTX(ctx);
    if (!comm_on(ctx)) return SSL3D_OK;
    int32_t rc = ctx->comm.barrier(ctx->comm.user);
    return rc ? failed(ctx, "barrier", rc) : SSL3D_OK;
}

ssl3d_status ssl3d_comm_shard(int64_t B, int32_t rank, int32_t size, int64_t *first, int64_t *count) {
    if (B < 0 || size < 1 || rank < 0 || rank >= size || !first || !count) return SSL3D_ERR_INVALID_ARG;
    const int64_t q = B / size, r = B % size;
    *first = (int64_t)rank * q + (rank < r ? rank : r);
    *count = q + (rank < r ? 1 : 0);
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- bucketed streams */

/* One segment of the concatenated stream: n floats at backend memory `dev`, or host
 * memory `host` (the extra values). */
typedef struct segment { void *dev; float *host; int64_t n; } segment;

typedef enum { STREAM_ALLREDUCE, STREAM_BROADCAST } stream_op;

/* Push segs[0..n_seg) through the collective in buckets of at most bucket_floats(ctx).
 * Allreduce: each element ends up as its sum over ranks times `scale`. Broadcast: root's
 * values everywhere. */
static ssl3d_status stream(ssl3d_ctx *ctx, const char *fn, const segment *segs, int32_t n_seg, stream_op op,
                           int32_t root, float scale) {
    int64_t total = 0;
    for (int32_t i = 0; i < n_seg; i++) total += segs[i].n;
    if (total == 0) return SSL3D_OK;
    const int64_t cap = bucket_floats(ctx) < total ? bucket_floats(ctx) : total;
    float *buf = malloc((size_t)cap * sizeof *buf);
    if (!buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory (bucket of %lld floats)", fn,
                                     (long long)cap);
    const ssl3d_backend *be = ctx->be;
    ssl3d_status st = SSL3D_OK;
    int32_t seg = 0;
    int64_t off = 0;   /* position inside segs[seg] */
    while (st == SSL3D_OK && seg < n_seg) {
        /* Fill the bucket from (seg, off) onwards. */
        int64_t fill = 0;
        int32_t s = seg;
        int64_t o = off;
        while (fill < cap && s < n_seg) {
            int64_t take = segs[s].n - o < cap - fill ? segs[s].n - o : cap - fill;
            if (take > 0) {
                if (segs[s].host) memcpy(buf + fill, segs[s].host + o, (size_t)take * 4);
                else be->to_host(ctx->be_state, buf + fill, (char *)segs[s].dev + o * 4, (size_t)take * 4);
            }
            fill += take;
            o += take;
            if (o == segs[s].n) { s++; o = 0; }
        }
        int32_t rc = op == STREAM_ALLREDUCE ? ctx->comm.allreduce_sum_f32(ctx->comm.user, buf, fill)
                                            : ctx->comm.broadcast(ctx->comm.user, buf, fill * 4, root);
        if (rc) { st = failed(ctx, op == STREAM_ALLREDUCE ? "allreduce" : "broadcast", rc); break; }
        if (op == STREAM_ALLREDUCE)
            for (int64_t i = 0; i < fill; i++) buf[i] *= scale;
        /* Scatter the bucket back over the same segments. */
        int64_t done = 0;
        while (done < fill) {
            int64_t take = segs[seg].n - off < fill - done ? segs[seg].n - off : fill - done;
            if (take > 0) {
                if (segs[seg].host) memcpy(segs[seg].host + off, buf + done, (size_t)take * 4);
                else be->from_host(ctx->be_state, (char *)segs[seg].dev + off * 4, buf + done, (size_t)take * 4);
            }
            done += take;
            off += take;
            if (off == segs[seg].n) { seg++; off = 0; }
        }
        while (seg < n_seg && segs[seg].n == 0) seg++;
    }
    free(buf);
    return st;
}

ssl3d_status ssl3d_comm_average_grads(ssl3d_ctx *ctx, ssl3d_tensor *const *params, int32_t n, float *extra,
                                      int32_t n_extra) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_comm_average_grads";
    SSL3D_CHECK_ARG(ctx, n >= 0 && (params || n == 0), "%s: params is NULL or n < 0", fn);
    SSL3D_CHECK_ARG(ctx, n_extra >= 0 && (extra || n_extra == 0), "%s: extra is NULL or n_extra < 0", fn);
    for (int32_t i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "params[%d]", (int)i);
        SSL3D_CHECK(ssl3d_check_f32(ctx, params[i], fn, what));
    }
    if (!comm_on(ctx)) return SSL3D_OK;
    segment *segs = calloc((size_t)n + 1, sizeof *segs);
    if (!segs) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    int32_t k = 0;
    ssl3d_status st = SSL3D_OK;
    for (int32_t i = 0; i < n && st == SSL3D_OK; i++) {
        if (!params[i]->requires_grad) continue;   /* frozen: the same on every rank */
        float *g = ssl3d_grad_of(ctx, params[i]);
        if (!g) { st = SSL3D_ERR_NOMEM; break; }
        segs[k].dev = g;
        segs[k].n = params[i]->numel;
        k++;
    }
    if (st == SSL3D_OK && n_extra > 0) { segs[k].host = extra; segs[k].n = n_extra; k++; }
    if (st == SSL3D_OK) st = stream(ctx, fn, segs, k, STREAM_ALLREDUCE, 0, 1.0f / (float)ctx->comm_size);
    free(segs);
    return st;
}

/* All tensors of the modules (trainable ones only when `trainable_only`), in order; the
 * caller frees *out. */
static ssl3d_status module_tensors(ssl3d_ctx *ctx, const char *fn, ssl3d_module *const *modules, int32_t n_modules,
                                   int trainable_only, ssl3d_tensor ***out, int32_t *count) {
    SSL3D_CHECK_ARG(ctx, n_modules >= 0 && (modules || n_modules == 0), "%s: modules is NULL or n_modules < 0", fn);
    int64_t total = 0;
    for (int32_t m = 0; m < n_modules; m++) {
        SSL3D_CHECK_ARG(ctx, modules[m], "%s: modules[%d] is NULL", fn, (int)m);
        total += ssl3d_module_tensor_count(modules[m]);
    }
    ssl3d_tensor **t = calloc((size_t)total + 1, sizeof *t);
    if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    int32_t k = 0;
    for (int32_t m = 0; m < n_modules; m++)
        for (int32_t i = 0; i < ssl3d_module_tensor_count(modules[m]); i++)
            if (!trainable_only || ssl3d_module_tensor_trainable(modules[m], i))
                t[k++] = ssl3d_module_tensor(modules[m], i);
    *out = t;
    *count = k;
    return SSL3D_OK;
}

ssl3d_status ssl3d_comm_average_module_grads(ssl3d_ctx *ctx, ssl3d_module *const *modules, int32_t n_modules,
                                             float *extra, int32_t n_extra) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_tensor **t = NULL;
    int32_t n = 0;
    SSL3D_CHECK(module_tensors(ctx, "ssl3d_comm_average_module_grads", modules, n_modules, 1, &t, &n));
    ssl3d_status st = ssl3d_comm_average_grads(ctx, t, n, extra, n_extra);
    free(t);
    return st;
}

ssl3d_status ssl3d_comm_broadcast_tensors(ssl3d_ctx *ctx, ssl3d_tensor *const *tensors, int32_t n, int32_t root) {
    SSL3D_CHECK_CTX(ctx);
    static const char fn[] = "ssl3d_comm_broadcast_tensors";
    SSL3D_CHECK_ARG(ctx, n >= 0 && (tensors || n == 0), "%s: tensors is NULL or n < 0", fn);
    SSL3D_CHECK_ARG(ctx, root >= 0 && root < ssl3d_ctx_comm_size(ctx), "%s: root %d is not a rank of %d", fn,
                    (int)root, (int)ssl3d_ctx_comm_size(ctx));
    for (int32_t i = 0; i < n; i++) {
        SSL3D_CHECK_ARG(ctx, tensors[i], "%s: tensors[%d] is NULL", fn, (int)i);
        SSL3D_CHECK_ARG(ctx, tensors[i]->ctx == ctx, "%s: tensors[%d] belongs to another context", fn, (int)i);
    }
    if (!comm_on(ctx)) return SSL3D_OK;
    segment *segs = calloc((size_t)n + 1, sizeof *segs);
    if (!segs) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    for (int32_t i = 0; i < n; i++) { segs[i].dev = tensors[i]->data; segs[i].n = tensors[i]->numel; }
    /* float32 and int32 are both 4-byte words: the broadcast moves bits, never converts. */
    ssl3d_status st = stream(ctx, fn, segs, n, STREAM_BROADCAST, root, 1.0f);
    free(segs);
    return st;
}

ssl3d_status ssl3d_comm_broadcast_modules(ssl3d_ctx *ctx, ssl3d_module *const *modules, int32_t n_modules,
                                          int32_t root) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_tensor **t = NULL;
    int32_t n = 0;
    SSL3D_CHECK(module_tensors(ctx, "ssl3d_comm_broadcast_modules", modules, n_modules, 0, &t, &n));
    ssl3d_status st = ssl3d_comm_broadcast_tensors(ctx, t, n, root);
    free(t);
    return st;
}
