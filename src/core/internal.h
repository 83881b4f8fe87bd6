/*
 * Private definitions shared by all of the library: the context, tensor and tape
 * structures, error reporting, argument-check macros.
 */
#ifndef SSL3D_INTERNAL_H
#define SSL3D_INTERNAL_H
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include "ssl3d.h"
#include "../backend/backend.h"
#include "rng.h"

#define SSL3D_ERRMSG_CAP 512
#define SSL3D_NODE_MAX_IN 6

typedef struct ssl3d_node ssl3d_node;
/* Backward of one recorded op: reads n->out->grad and accumulates into the grads of the
 * inputs that require them (use ssl3d_grad_of). */
typedef ssl3d_status (*ssl3d_backward_fn)(ssl3d_ctx *ctx, ssl3d_node *n);

struct ssl3d_node {
    const char *name;                  /* op name for error messages */
    ssl3d_backward_fn backward;
    ssl3d_tensor *out;                 /* retained */
    ssl3d_tensor *in[SSL3D_NODE_MAX_IN]; /* retained; may contain NULL */
    int32_t n_in;
    int64_t iarg[12];                  /* op integer arguments (stride, pad, ...) */
    float farg[4];                     /* op float arguments (slope, eps, ...) */
    void *saved;                       /* op-private buffers (argmax, mean/invstd, ...) */
    void (*free_saved)(ssl3d_ctx *ctx, void *saved);
};

struct ssl3d_ctx {
    const ssl3d_backend *be;
    void *be_state;
    int32_t threads;
    uint64_t seed;
    uint64_t next_stream;              /* RNG streams handed out since the last seed */
    int32_t grad_enabled;
    ssl3d_node *tape;                  /* recorded ops, in execution order */
    int64_t tape_len, tape_cap;
    int64_t live_tensors;              /* leak check for tests */
    ssl3d_comm comm;                   /* data-parallel communicator (comm.c); comm_size 0: none */
    int32_t comm_rank, comm_size;
    int64_t comm_bucket_bytes;         /* 0: the default */
    int32_t sync_batch_norm;           /* batch norm statistics over all ranks (ops/norm_sync.c) */
    char err[SSL3D_ERRMSG_CAP];
};

struct ssl3d_tensor {
    ssl3d_ctx *ctx;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[SSL3D_MAX_DIMS];
    int64_t numel;
    void *data;                        /* backend memory, numel * 4 bytes */
    float *grad;                       /* backend memory or NULL until first accumulation */
    int32_t requires_grad;             /* leaf flag, or output of a recorded op */
    int32_t refcount;
};

/* ---- errors: set the context message and return the status. */
ssl3d_status ssl3d_set_error(ssl3d_ctx *ctx, ssl3d_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SSL3D_CHECK(expr) do { ssl3d_status st_ = (expr); if (st_ != SSL3D_OK) return st_; } while (0)
/* Argument checks for public entry points. */
#define SSL3D_CHECK_CTX(ctx) do { if (!(ctx)) return SSL3D_ERR_INVALID_ARG; } while (0)
#define SSL3D_CHECK_ARG(ctx, cond, ...) \
    do { if (!(cond)) return ssl3d_set_error((ctx), SSL3D_ERR_INVALID_ARG, __VA_ARGS__); } while (0)
#define SSL3D_CHECK_SHAPE(ctx, cond, ...) \
    do { if (!(cond)) return ssl3d_set_error((ctx), SSL3D_ERR_SHAPE, __VA_ARGS__); } while (0)

/* Checks that `t` is non-NULL, belongs to ctx and is float32; `what` names it. */
ssl3d_status ssl3d_check_f32(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *op, const char *what);
ssl3d_status ssl3d_check_i32(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *op, const char *what);
/* Checks support of an op family by the context's backend. */
ssl3d_status ssl3d_check_supported(ssl3d_ctx *ctx, int32_t op, const char *opname);

/* ---- tensors */
/* New uninitialised-to-zero tensor; shape validated, size overflow checked. */
ssl3d_status ssl3d_tensor_new(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape,
                              ssl3d_tensor **out);
/* Same, contents undefined: for op outputs that kernels overwrite completely. */
ssl3d_status ssl3d_tensor_new_uninit(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim, const int64_t *shape,
                                     ssl3d_tensor **out);
ssl3d_status ssl3d_tensor_new_uninit_like(ssl3d_ctx *ctx, const ssl3d_tensor *like, ssl3d_tensor **out);
/* Same shape/dtype as `like`. */
ssl3d_status ssl3d_tensor_new_like(ssl3d_ctx *ctx, const ssl3d_tensor *like, ssl3d_tensor **out);
/* Gradient buffer of t, allocated zeroed on first use; NULL with error set on OOM. */
float *ssl3d_grad_of(ssl3d_ctx *ctx, ssl3d_tensor *t);
/* Shape string "(2,16,48,64,48)" into buf for messages. */
const char *ssl3d_shape_str(const ssl3d_tensor *t, char *buf, size_t cap);
static inline float *ssl3d_f32(const ssl3d_tensor *t) { return (float *)t->data; }
static inline int32_t *ssl3d_i32(const ssl3d_tensor *t) { return (int32_t *)t->data; }
/* Backend-memory helpers. */
void *ssl3d_be_alloc(ssl3d_ctx *ctx, size_t bytes);   /* zeroed; sets error on failure */
void *ssl3d_be_alloc_uninit(ssl3d_ctx *ctx, size_t bytes);   /* contents undefined; same errors */
void ssl3d_be_free(ssl3d_ctx *ctx, void *p);
/* Wait for the backend's queued work and turn its first deferred error (backend.h, sync)
 * into this context's error, "fn: cuda backend: cudaMemcpy ...". SSL3D_OK on CPU. */
ssl3d_status ssl3d_be_sync(ssl3d_ctx *ctx, const char *fn);
/* A kernel slot returned `st`: report the backend's recorded reason when it has one (a
 * device backend names the failed cuDNN/cuBLAS/CUDA call), else "fn: host_reason". */
ssl3d_status ssl3d_kernel_failed(ssl3d_ctx *ctx, ssl3d_status st, const char *fn, const char *host_reason);
/* Kernel context for this ctx. */
static inline ssl3d_kctx ssl3d_kctx_of(const ssl3d_ctx *ctx) {
    ssl3d_kctx k = { ctx->threads, ctx->be_state };
    return k;
}

/* ---- uploads begun ahead of use (tensor_copy.c): the training loops' next batch */
/* A host-memory tensor on its way to a context. On a backend with asynchronous uploads
 * (backend.h, upload_begin: CUDA's copy stream) the copy runs while the context's queued
 * work computes; elsewhere it is complete when begun. Nothing may use the tensor before
 * ssl3d_upload_take hands it out. */
typedef struct ssl3d_upload ssl3d_upload;
/* Start copying src (a tensor of a host-memory context, or of ctx itself: then nothing is
 * copied) into a new tensor of ctx. src may be changed or released as soon as this
 * returns. Errors: NULL src, src in a device context, out of memory (all reported now);
 * a failing device copy is deferred (reported by the next sync: ssl3d_backward, a read). */
ssl3d_status ssl3d_upload_begin(ssl3d_ctx *ctx, const ssl3d_tensor *src, ssl3d_upload **out);
/* The uploaded tensor (the caller owns it; u is freed): the work ctx queues from now on
 * sees its values — on a device the compute stream waits for the copy, the host does not. */
ssl3d_tensor *ssl3d_upload_take(ssl3d_ctx *ctx, ssl3d_upload *u);
/* Drop an upload never taken (NULL: nothing): its memory goes back only after its copy. */
void ssl3d_upload_drop(ssl3d_ctx *ctx, ssl3d_upload *u);

/* ---- tape */
/* Whether an op with these inputs must be recorded. */
int ssl3d_tape_wants(const ssl3d_ctx *ctx, ssl3d_tensor *const *in, int32_t n_in);
/* Record an op whose output is `out`: retains out and inputs, marks out as requiring
 * grad. *node receives the node so the op can store arguments and saved buffers.
 * Call only when ssl3d_tape_wants() said yes. */
ssl3d_status ssl3d_tape_record(ssl3d_ctx *ctx, const char *name, ssl3d_backward_fn bw,
                               ssl3d_tensor *out, ssl3d_tensor *const *in, int32_t n_in,
                               ssl3d_node **node);

/* ---- RNG: a fresh deterministic stream id from the context. */
uint64_t ssl3d_ctx_stream(ssl3d_ctx *ctx);

#endif
