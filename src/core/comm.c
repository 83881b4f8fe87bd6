/* The communicator of a context (ssl3d/comm.h): registration, the collective wrappers,
 * bucketed gradient averaging and parameter broadcast.
 *
 * Gradients and tensors are streamed through one bucket: the tensors, in order, are seen
 * as one concatenated array that is cut into bucket-sized pieces, so a model costs
 * ceil(total / bucket) collectives however many tensors it has. The bucket is host memory
 * for a host-memory communicator (MPI: backend memory is staged through it, whatever the
 * backend) and backend memory for a device-memory one (NCCL: packed and unpacked with the
 * backend's copy kernel, scaled on the device, no host round trip). Both cut the stream
 * into the same buckets and compute each average as sum * (1 / size) in float, so they
 * give the same values for the same sums. The NCCL communicator itself: comm_device.c. */
#include <stddef.h>
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
    SSL3D_CHECK_ARG(ctx, comm->abi == 1 || comm->abi == SSL3D_COMM_ABI, "%s: comm->abi is %u, this library "
                    "expects %u (or 1)", fn, (unsigned)comm->abi, (unsigned)SSL3D_COMM_ABI);
    /* An ABI 1 table ends at `barrier`: read no further (host memory, no extras). */
    ssl3d_comm c;
    memset(&c, 0, sizeof c);
    memcpy(&c, comm, comm->abi == 1 ? offsetof(ssl3d_comm, memory) : sizeof c);
    comm = &c;
    SSL3D_CHECK_ARG(ctx, c.memory == SSL3D_COMM_HOST_MEMORY || c.memory == SSL3D_COMM_DEVICE_MEMORY,
                    "%s: comm->memory is %d, expected SSL3D_COMM_HOST_MEMORY (0) or SSL3D_COMM_DEVICE_MEMORY (1)", fn,
                    (int)c.memory);
    SSL3D_CHECK_ARG(ctx, comm->rank && comm->size && comm->allreduce_sum_f32 && comm->broadcast && comm->barrier,
                    "%s: the %s callback is NULL", fn,
                    !comm->rank ? "rank" : !comm->size ? "size" : !comm->allreduce_sum_f32 ? "allreduce_sum_f32"
                    : !comm->broadcast ? "broadcast" : "barrier");
    const int32_t rank = comm->rank(comm->user), size = comm->size(comm->user);
    SSL3D_CHECK_ARG(ctx, size >= 1 && rank >= 0 && rank < size, "%s: rank %d of size %d is not a valid rank", fn,
                    (int)rank, (int)size);
    ctx->comm = c;
    ctx->comm.abi = SSL3D_COMM_ABI;
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

static int32_t on_device(const ssl3d_ctx *ctx) { return ctx->comm.memory == SSL3D_COMM_DEVICE_MEMORY; }

static ssl3d_status failed(ssl3d_ctx *ctx, const char *what, int32_t code) {
    const char *why = ctx->comm.last_error ? ctx->comm.last_error(ctx->comm.user) : NULL;
    return ssl3d_set_error(ctx, SSL3D_ERR_IO, "communicator %s failed on rank %d of %d (code %d)%s%s", what,
                           (int)ctx->comm_rank, (int)ctx->comm_size, (int)code, why ? ": " : "", why ? why : "");
}

/* A device-memory communicator given host memory (the wrappers below): the bytes go
 * through one backend buffer. */
static ssl3d_status staged(ssl3d_ctx *ctx, const char *what, void *buf, int64_t bytes, int32_t root, int reduce) {
    const ssl3d_backend *be = ctx->be;
    void *dev = be->alloc_uninit(ctx->be_state, (size_t)bytes);
    if (!dev) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of %s memory staging %lld bytes", what, be->name,
                                     (long long)bytes);
    be->from_host(ctx->be_state, dev, buf, (size_t)bytes);
    int32_t rc = reduce ? ctx->comm.allreduce_sum_f32(ctx->comm.user, dev, bytes / 4)
                        : ctx->comm.broadcast(ctx->comm.user, dev, bytes, root);
    if (!rc) be->to_host(ctx->be_state, buf, dev, (size_t)bytes);
    be->free(ctx->be_state, dev);
    if (rc) return failed(ctx, reduce ? "allreduce" : "broadcast", rc);
    return ssl3d_be_sync(ctx, what);
}

ssl3d_status ssl3d_comm_allreduce_sum(ssl3d_ctx *ctx, float *buf, int64_t n) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, n >= 0 && (buf || n == 0), "ssl3d_comm_allreduce_sum: buf is NULL or n < 0");
    if (!comm_on(ctx) || n == 0) return SSL3D_OK;
    if (on_device(ctx)) return staged(ctx, "ssl3d_comm_allreduce_sum", buf, n * 4, 0, 1);
    int32_t rc = ctx->comm.allreduce_sum_f32(ctx->comm.user, buf, n);
    return rc ? failed(ctx, "allreduce", rc) : SSL3D_OK;
}

ssl3d_status ssl3d_comm_broadcast(ssl3d_ctx *ctx, void *buf, int64_t bytes, int32_t root) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, bytes >= 0 && (buf || bytes == 0), "ssl3d_comm_broadcast: buf is NULL or bytes < 0");
    SSL3D_CHECK_ARG(ctx, root >= 0 && root < ssl3d_ctx_comm_size(ctx), "ssl3d_comm_broadcast: root %d is not a rank "
                    "of %d", (int)root, (int)ssl3d_ctx_comm_size(ctx));
    if (!comm_on(ctx) || bytes == 0) return SSL3D_OK;
    if (on_device(ctx)) return staged(ctx, "ssl3d_comm_broadcast", buf, bytes, root, 0);
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

/* Where the bucket lives and how segments move in and out of it: host memory with the
 * backend's to_host/from_host (host-memory communicator), or backend memory with its copy
 * kernel and from_host/to_host for the host segments (device-memory communicator). */
typedef struct bucket { ssl3d_ctx *ctx; int device; float *buf; } bucket;

static void bucket_fill(const bucket *b, int64_t at, const segment *sg, int64_t o, int64_t n) {
    const ssl3d_backend *be = b->ctx->be;
    void *st = b->ctx->be_state;
    float *dst = b->buf + at;
    const size_t bytes = (size_t)n * 4;
    if (sg->host && !b->device) memcpy(dst, sg->host + o, bytes);
    else if (sg->host) be->from_host(st, dst, sg->host + o, bytes);
    else if (!b->device) be->to_host(st, dst, (const char *)sg->dev + o * 4, bytes);
    else be->copy(st, dst, (const char *)sg->dev + o * 4, bytes);
}

static void bucket_drain(const bucket *b, int64_t at, const segment *sg, int64_t o, int64_t n) {
    const ssl3d_backend *be = b->ctx->be;
    void *st = b->ctx->be_state;
    const float *src = b->buf + at;
    const size_t bytes = (size_t)n * 4;
    if (sg->host && !b->device) memcpy(sg->host + o, src, bytes);
    else if (sg->host) be->to_host(st, sg->host + o, src, bytes);
    else if (!b->device) be->from_host(st, (char *)sg->dev + o * 4, src, bytes);
    else be->copy(st, (char *)sg->dev + o * 4, src, bytes);
}

/* bucket[0..n) *= scale, in float, as the host loop does: on the device with scale_add,
 * whose b = 0 is scale * x alone (backend.h). */
static void bucket_scale(const bucket *b, int64_t n, float scale) {
    if (!b->device) {
        for (int64_t i = 0; i < n; i++) b->buf[i] *= scale;
        return;
    }
    ssl3d_kctx k = ssl3d_kctx_of(b->ctx);
    b->ctx->be->scale_add(&k, scale, b->buf, 0.0f, b->buf, b->buf, n);
}

/* Push segs[0..n_seg) through the collective in buckets of at most bucket_floats(ctx).
 * Allreduce: each element ends up as its sum over ranks times `scale`. Broadcast: root's
 * values everywhere. */
static ssl3d_status stream(ssl3d_ctx *ctx, const char *fn, const segment *segs, int32_t n_seg, stream_op op,
                           int32_t root, float scale) {
    int64_t total = 0;
    for (int32_t i = 0; i < n_seg; i++) total += segs[i].n;
    if (total == 0) return SSL3D_OK;
    const int64_t cap = bucket_floats(ctx) < total ? bucket_floats(ctx) : total;
    bucket b = { ctx, on_device(ctx), NULL };
    b.buf = b.device ? ctx->be->alloc_uninit(ctx->be_state, (size_t)cap * 4) : malloc((size_t)cap * 4);
    if (!b.buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of %s memory (bucket of %lld floats)", fn,
                                       b.device ? ctx->be->name : "host", (long long)cap);
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
            if (take > 0) bucket_fill(&b, fill, &segs[s], o, take);
            fill += take;
            o += take;
            if (o == segs[s].n) { s++; o = 0; }
        }
        int32_t rc = op == STREAM_ALLREDUCE ? ctx->comm.allreduce_sum_f32(ctx->comm.user, b.buf, fill)
                                            : ctx->comm.broadcast(ctx->comm.user, b.buf, fill * 4, root);
        if (rc) { st = failed(ctx, op == STREAM_ALLREDUCE ? "allreduce" : "broadcast", rc); break; }
        if (op == STREAM_ALLREDUCE && scale != 1.0f) bucket_scale(&b, fill, scale);
        /* Scatter the bucket back over the same segments. */
        int64_t done = 0;
        while (done < fill) {
            int64_t take = segs[seg].n - off < fill - done ? segs[seg].n - off : fill - done;
            if (take > 0) bucket_drain(&b, done, &segs[seg], off, take);
            done += take;
            off += take;
            if (off == segs[seg].n) { seg++; off = 0; }
        }
        while (seg < n_seg && segs[seg].n == 0) seg++;
    }
    /* Device bucket: freed into the context's cache, whose reuse is ordered after the
     * queued copies; their failures, if any, surface at the backend's next sync. */
    if (b.device) ctx->be->free(ctx->be_state, b.buf);
    else free(b.buf);
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
