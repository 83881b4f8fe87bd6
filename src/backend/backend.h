/*
 * The private backend dispatch table. Every compute kernel the library runs goes
 * through a `ssl3d_backend`; the CPU backend (src/backend/cpu) implements all of it,
 * the CUDA backend (src/backend/cuda, a plugin loaded at run time: plugin.h) fills the
 * same slots. Kernels never allocate tensors and
 * never record on the tape: the ops in src/ops do that and call kernels here.
 *
 * Families of kernels live in sub-tables, each declared in its own header so that
 * one family can grow without touching the others:
 *   conv_kernels.h   convolution, transposed convolution, pooling
 *   layer_kernels.h  norms, activations, dropout, linear/GEMM, elementwise, concat, L2 norm
 *   loss_kernels.h   losses
 *   optim_kernels.h  optimiser updates
 *   rows_kernels.h   row gathers and candidate scores of the contrastive tasks
 * All pointers are to backend memory (host memory for the CPU backend). Kernels that
 * produce gradients ACCUMULATE into them (+=), llm.c style.
 */
#ifndef SSL3D_BACKEND_H
#define SSL3D_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#include "ssl3d.h"

/* Bump when a slot is added, removed or changes meaning. */
#define SSL3D_BACKEND_ABI_VERSION 6

/* Operation families a backend may or may not support (supports_op). */
typedef enum ssl3d_op {
    SSL3D_OP_CONV = 0,
    SSL3D_OP_CONV_TRANSPOSE,
    SSL3D_OP_MAXPOOL,
    SSL3D_OP_GLOBAL_AVGPOOL,
    SSL3D_OP_BATCHNORM,
    SSL3D_OP_GROUPNORM,
    SSL3D_OP_ACTIVATION,
    SSL3D_OP_DROPOUT,
    SSL3D_OP_LINEAR,
    SSL3D_OP_ELEMENTWISE,
    SSL3D_OP_CONCAT,
    SSL3D_OP_L2NORM,
    SSL3D_OP_REDUCE,
    SSL3D_OP_LOSS,
    SSL3D_OP_OPTIM,
    SSL3D_OP_ROWS,            /* row gathers and CPC candidate scores (rows_kernels.h; ABI 4) */
    SSL3D_OP_COUNT
} ssl3d_op;

/* Per-call kernel context: what a kernel may use besides its operands. */
typedef struct ssl3d_kctx {
    int32_t threads;       /* OpenMP / BLAS threads for this call */
    void *backend_state;   /* backend-private (CUDA stream, handles); NULL on CPU */
} ssl3d_kctx;

struct ssl3d_conv_kernels;
struct ssl3d_layer_kernels;
struct ssl3d_loss_kernels;
struct ssl3d_optim_kernels;
struct ssl3d_rows_kernels;

/* A backend's own communicator for its device memory (ABI 5): NCCL in the CUDA plugin
 * (src/backend/cuda/cuda_nccl.c). The library wraps it as ssl3d_comm_create_nccl and
 * ssl3d_comm_probe_nccl (src/core/comm_device.c). */
typedef struct ssl3d_device_comm_ops {
    const char *name;   /* "nccl" */
    /* Whether the communication library can be loaded here; touches no device. SSL3D_OK
     * with "NAME VERSION (file)" in msg, or SSL3D_ERR_BACKEND_UNAVAILABLE with the reason. */
    ssl3d_status (*probe)(char *msg, size_t cap);
    /* On every rank: a communicator over the device of context state `state`, set up
     * through the host-memory communicator `bootstrap` (rank, size, and the broadcast of
     * the library's unique id from rank 0). Fills *out completely (abi SSL3D_COMM_ABI,
     * memory SSL3D_COMM_DEVICE_MEMORY, destroy set). On failure a status and one line in
     * msg naming the call that failed. */
    ssl3d_status (*create)(void *state, const ssl3d_comm *bootstrap, ssl3d_comm *out, char *msg, size_t cap);
} ssl3d_device_comm_ops;

typedef struct ssl3d_backend {
    uint32_t abi_version;      /* SSL3D_BACKEND_ABI_VERSION the table was built for */
    const char *name;          /* "cpu", "cuda" */
    int32_t kind;              /* ssl3d_backend_kind */
    int32_t host_memory;       /* 1 if tensor memory is directly readable by the host */

    /* Whether op family `op` is implemented; ops check before dispatching and report
     * SSL3D_ERR_UNSUPPORTED instead of falling back to another backend. */
    int (*supports_op)(int32_t op);

    /* Backend state: create / destroy per context (CUDA: device, stream, handles) on
     * device `device` (0 .. device_count-1; ABI 5). */
    ssl3d_status (*init)(void **state, int32_t device, char *msg, size_t cap);
    void (*shutdown)(void *state);

    /* Memory. alloc returns zeroed memory or NULL; alloc_uninit leaves the contents
     * undefined (for outputs a kernel overwrites completely). Backends may keep freed
     * blocks in a per-context cache (state), never in process-wide state.
     * to_host and from_host have finished when they return (the host buffer may be read
     * or reused at once); memset0, copy and the kernels may still be queued on a device
     * backend, in order. Failures of these void slots surface through sync. */
    void *(*alloc)(void *state, size_t bytes);
    void *(*alloc_uninit)(void *state, size_t bytes);
    void (*free)(void *state, void *p);
    void (*memset0)(void *state, void *p, size_t bytes);
    void (*to_host)(void *state, void *dst, const void *src, size_t bytes);
    void (*from_host)(void *state, void *dst, const void *src, size_t bytes);
    void (*copy)(void *state, void *dst, const void *src, size_t bytes);

    /* Basic float kernels used by the core (reductions, fills, gradient seeding). */
    void (*fill)(const ssl3d_kctx *k, float *x, int64_t n, float value);
    void (*axpy)(const ssl3d_kctx *k, float a, const float *x, float *y, int64_t n); /* y += a*x */
    void (*add_scalar)(const ssl3d_kctx *k, float a, float *y, int64_t n);           /* y += a   */
    void (*scale_add)(const ssl3d_kctx *k, float a, const float *x, float b, const float *y,
                      float *out, int64_t n);   /* out = a*x + b*y; b == 0: out = a*x and y is
                                                   * not read (inf/NaN in y do not leak), as
                                                   * BLAS's beta = 0 */
    double (*dot)(const ssl3d_kctx *k, const float *x, const float *w, int64_t n); /* w NULL: sum */

    const struct ssl3d_conv_kernels *conv;
    const struct ssl3d_layer_kernels *layer;
    const struct ssl3d_loss_kernels *loss;
    const struct ssl3d_optim_kernels *optim;

    /* Asynchronous backends (CUDA) queue work and cannot return an error from the void
     * slots above (memory copies, most kernels): they keep the FIRST failure of a context
     * (status and a message naming the failing call) in their state. sync waits for the
     * queued work, then returns that failure with its message and clears it. NULL for a
     * synchronous backend that has no deferred errors (CPU). (ABI 3) */
    ssl3d_status (*sync)(void *state, char *msg, size_t cap);

    const struct ssl3d_rows_kernels *rows;   /* (ABI 4) */

    /* Devices this process can use (CUDA: cudaGetDeviceCount, no context made); on
     * failure the reason in msg. NULL: one device (CPU). (ABI 5) */
    ssl3d_status (*device_count)(int32_t *count, char *msg, size_t cap);
    /* The backend's device-memory communicator; NULL when it has none (the CPU backend,
     * or the CUDA plugin built without NCCL). (ABI 5) */
    const ssl3d_device_comm_ops *device_comm;

    /* Asynchronous uploads (ABI 6): the training loops' next batch copied while the
     * current step computes. Both NULL on a backend without them (the CPU: the library
     * then uses from_host). upload_begin starts copying `bytes` from host memory src to dst
     * and returns a ticket (0: the copy is complete already); src may be reused as soon as
     * it returns, but dst must not be read, written or freed before upload_wait(ticket),
     * after which the work the context queues sees the data (the host does not wait).
     * Failures surface through sync. */
    int64_t (*upload_begin)(void *state, void *dst, const void *src, size_t bytes);
    void (*upload_wait)(void *state, int64_t ticket);
} ssl3d_backend;

/* The table for `kind`: built in (CPU) or loaded from its plugin on first use (CUDA,
 * plugin.h). On failure returns SSL3D_ERR_BACKEND_UNAVAILABLE with the reason in msg
 * (may be NULL). A table it returns stays valid for the life of the process. */
ssl3d_status ssl3d_backend_acquire(int32_t kind, const ssl3d_backend **out, char *msg, size_t cap);

/* Whether `be` is a usable table for `kind`: right ABI version and kind, a name, every
 * basic slot set, and every slot of each op family that supports_op claims. On failure
 * returns SSL3D_ERR_BACKEND_UNAVAILABLE and names the missing slot in msg. */
ssl3d_status ssl3d_backend_validate(const ssl3d_backend *be, int32_t kind, char *msg, size_t cap);

#endif
