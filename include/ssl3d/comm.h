/*
 * ssl3d/comm.h — data-parallel training across processes through a communicator that the
 * host program provides (MPI, NCCL, or anything else). Included by <ssl3d.h>.
 *
 * The library has no MPI or NCCL dependency: a host registers a table of callbacks on a
 * context (ssl3d_ctx_set_comm) and the calls below use it to average gradients across
 * ranks (bucketed into a few large buffers, not one call per tensor) and to start every
 * rank from rank 0's weights. `ssl3d` (the CLI) registers an MPI communicator when it is
 * launched by mpirun or srun (docs/distributed.md); ssl3d_ft_train uses the context's
 * communicator to split each global batch across ranks.
 *
 * Every collective below must be called by every rank in the same order with the same
 * tensor shapes, as with MPI. Without a communicator (or with size 1) they do nothing and
 * return SSL3D_OK, so single-process code needs no special case.
 *
 * Normalisation layers: batch norm uses each rank's own batch statistics by default
 * (running statistics then differ between ranks; checkpoints written by rank 0 carry rank
 * 0's), or the global batch's with ssl3d_ctx_set_sync_batch_norm. With synchronised batch
 * norm, group, instance or no normalisation, N ranks x batch B/N compute the gradients of
 * one process with batch B (up to rounding).
 */
#ifndef SSL3D_COMM_H
#define SSL3D_COMM_H
#include "core.h"
#include "nn.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Version of the ssl3d_comm table layout; put it in ssl3d_comm.abi. Version 2 added the
 * fields after `barrier`; a table that says 1 ends at `barrier` and is still accepted
 * (host memory, no error text, no destroy). */
#define SSL3D_COMM_ABI 2

/* ssl3d_comm.memory: where the buffers handed to allreduce_sum_f32 and broadcast live. */
#define SSL3D_COMM_HOST_MEMORY 0     /* host memory: the library stages backend memory */
#define SSL3D_COMM_DEVICE_MEMORY 1   /* backend memory of the context the table is set on */

/* A communicator: plain C callbacks. Each returns 0 on success, any other value on
 * failure (the library then returns SSL3D_ERR_IO naming the collective, the code and
 * last_error's text). `user` is passed back unchanged. With SSL3D_COMM_HOST_MEMORY (the
 * MPI communicator of the CLI) buffers are host memory and the library stages backend
 * memory through them. With SSL3D_COMM_DEVICE_MEMORY (the NCCL communicator of the CUDA
 * plugin, ssl3d_comm_create_nccl) buffers are memory of the context's backend: gradients
 * are packed into buckets on the device, never copied to the host, and the collectives may
 * still be queued, in order with the backend's own work, when the callbacks return. The
 * callbacks are called from the thread that calls the library, never concurrently for one
 * context. */
typedef struct ssl3d_comm {
    uint32_t abi;                                               /* SSL3D_COMM_ABI */
    void *user;
    int32_t (*rank)(void *user);                                /* 0 .. size-1 */
    int32_t (*size)(void *user);                                /* >= 1 */
    /* In-place elementwise sum over all ranks of buf[0..n): every rank gets the sum. */
    int32_t (*allreduce_sum_f32)(void *user, float *buf, int64_t n);
    /* buf[0..bytes) of rank `root` copied into buf on every other rank. */
    int32_t (*broadcast)(void *user, void *buf, int64_t bytes, int32_t root);
    /* Returns on a rank once every rank has called it. */
    int32_t (*barrier)(void *user);
    /* ---- ABI 2 */
    int32_t memory;                                             /* SSL3D_COMM_*_MEMORY */
    /* Text of the last failed callback (naming the call that failed), or NULL. May be NULL. */
    const char *(*last_error)(void *user);
    /* Frees `user`; called by ssl3d_comm_destroy. NULL when the host owns `user`. */
    void (*destroy)(void *user);
} ssl3d_comm;

/* Register `comm` (copied; `comm->user` must outlive its use) on ctx, or NULL to return to
 * single-process. Calls comm->rank and comm->size once. SSL3D_ERR_INVALID_ARG when a
 * callback is NULL, abi is neither 1 nor SSL3D_COMM_ABI, memory is not one of
 * SSL3D_COMM_*_MEMORY or rank/size are inconsistent. */
SSL3D_API ssl3d_status ssl3d_ctx_set_comm(ssl3d_ctx *ctx, const ssl3d_comm *comm);
/* This process's rank (0 without a communicator) and the number of ranks (1 without). */
SSL3D_API int32_t ssl3d_ctx_comm_rank(const ssl3d_ctx *ctx);
SSL3D_API int32_t ssl3d_ctx_comm_size(const ssl3d_ctx *ctx);
/* Largest buffer, in bytes, of one allreduce or broadcast made by the calls below
 * (default 32 MiB; at least 4). Fewer, larger buffers cost fewer latencies. */
SSL3D_API ssl3d_status ssl3d_ctx_set_comm_bucket_bytes(ssl3d_ctx *ctx, int64_t bytes);

/* Synchronised batch norm (default off): training-mode batch norms of ctx use the mean and
 * variance of the global batch (two allreduces of C+1 and C floats per layer in forward, one
 * of 2C in backward) and update the running statistics with them, so every rank keeps the
 * same running statistics. Without a communicator it changes nothing. CPU backend only for
 * now (a device backend returns SSL3D_ERR_UNSUPPORTED from backward). */
SSL3D_API ssl3d_status ssl3d_ctx_set_sync_batch_norm(ssl3d_ctx *ctx, int32_t on);
SSL3D_API int32_t ssl3d_ctx_sync_batch_norm(const ssl3d_ctx *ctx);

/* Thin wrappers over the callbacks on host buffers (no-ops without a communicator). With a
 * device-memory communicator the buffer is staged through backend memory. */
SSL3D_API ssl3d_status ssl3d_comm_allreduce_sum(ssl3d_ctx *ctx, float *buf, int64_t n);
SSL3D_API ssl3d_status ssl3d_comm_broadcast(ssl3d_ctx *ctx, void *buf, int64_t bytes, int32_t root);
SSL3D_API ssl3d_status ssl3d_comm_barrier(ssl3d_ctx *ctx);

/* Replace the gradient of every tensor of params[0..n) that requires a gradient by its
 * mean over the ranks (a parameter without an accumulated gradient counts as zeros and
 * receives one). `extra`[0..n_extra) (host floats, may be NULL) is averaged in the same
 * buffers: e.g. the step's loss, so that every rank logs the global batch's. The
 * gradients are packed, in order, into buffers of at most the bucket size. Call after
 * backward and before the optimiser step. */
SSL3D_API ssl3d_status ssl3d_comm_average_grads(ssl3d_ctx *ctx, ssl3d_tensor *const *params, int32_t n,
                                                float *extra, int32_t n_extra);
/* The same over the trainable parameters of modules[0..n_modules), in module order. */
SSL3D_API ssl3d_status ssl3d_comm_average_module_grads(ssl3d_ctx *ctx, ssl3d_module *const *modules,
                                                       int32_t n_modules, float *extra, int32_t n_extra);
/* Copy the values of tensors[0..n) (float32 or int32) from rank `root` to every rank,
 * bucketed like the gradients. */
SSL3D_API ssl3d_status ssl3d_comm_broadcast_tensors(ssl3d_ctx *ctx, ssl3d_tensor *const *tensors, int32_t n,
                                                    int32_t root);
/* Every tensor (parameters and buffers such as running statistics) of
 * modules[0..n_modules) from rank `root`: all ranks start from the same weights. */
SSL3D_API ssl3d_status ssl3d_comm_broadcast_modules(ssl3d_ctx *ctx, ssl3d_module *const *modules,
                                                    int32_t n_modules, int32_t root);

/* NCCL on the CUDA backend: a communicator whose collectives run on the devices of a CUDA
 * context `ctx` (on its stream, over NVLink/PCIe/InfiniBand), for ssl3d_ctx_set_comm on
 * that same context. `bootstrap` is a host-memory communicator (the host's MPI one) over
 * the same ranks: it gives rank and size, lets the ranks agree that every one of them can
 * use NCCL, and carries the ncclUniqueId from rank 0 to the others; it is not kept. Call it
 * on every rank (a collective). The CUDA plugin loads libnccl.so.2 at run time
 * ($SSL3D_NCCL_LIBRARY names the file explicitly), so single-GPU use never needs NCCL.
 * Errors (message in ssl3d_ctx_last_error): SSL3D_ERR_UNSUPPORTED when ctx is not a CUDA
 * context or the CUDA plugin was built without NCCL; SSL3D_ERR_BACKEND_UNAVAILABLE when
 * libnccl cannot be loaded on this rank or another ("NCCL not loadable on rank R: ...");
 * SSL3D_ERR_DEVICE naming the NCCL call and ncclGetErrorString's text when NCCL fails. On
 * success *out is a table for ssl3d_ctx_set_comm, freed by ssl3d_comm_destroy once no
 * context uses it and before ctx is released. */
SSL3D_API ssl3d_status ssl3d_comm_create_nccl(ssl3d_ctx *ctx, const ssl3d_comm *bootstrap, ssl3d_comm **out);
/* Whether NCCL can be used from the CUDA backend here, without touching a device:
 * SSL3D_OK with the library and its version in msg ("NCCL 2.28.9 (libnccl.so.2)"), else
 * SSL3D_ERR_BACKEND_UNAVAILABLE or SSL3D_ERR_UNSUPPORTED with the reason (CUDA plugin
 * missing, built without NCCL, libnccl not loadable). msg may be NULL. */
SSL3D_API ssl3d_status ssl3d_comm_probe_nccl(char *msg, size_t cap);
/* Free a communicator made by ssl3d_comm_create_nccl (calls its destroy). NULL is accepted.
 * Only for tables the library made: a host's own table is the host's to free. */
SSL3D_API void ssl3d_comm_destroy(ssl3d_comm *comm);

/* Rank `rank` of `size`'s share of a global batch of B items: items [*first, *first +
 * *count). Shares differ by at most one item; the first B % size ranks take one more. */
SSL3D_API ssl3d_status ssl3d_comm_shard(int64_t B, int32_t rank, int32_t size, int64_t *first, int64_t *count);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_COMM_H */
