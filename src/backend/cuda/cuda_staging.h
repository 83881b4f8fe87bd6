/* Uploads from host memory through pinned staging buffers, one staging per context.
 * A copy from pageable memory makes the driver stage it itself, synchronously and at a
 * fraction of the bus speed; from pinned (page-locked) memory the copy is true DMA. The
 * upload path (from_host: ssl3d_tensor_from_data, ssl3d_tensor_write, ssl3d_tensor_copy_to
 * from a CPU context, every batch) copies the data chunk by chunk into two pinned buffers,
 * alternately: while the device reads one chunk, the host fills the other.
 *
 * Like the caching allocator (cuda_cache.h), this knows nothing of CUDA: the plugin
 * passes cudaHostAlloc / cudaFreeHost, cudaMemcpyAsync with an event per buffer and
 * cudaMemcpy as callbacks (cuda_memory.c); the tests pass malloc and memcpy and play out
 * the failures (tests/test_cuda_staging.c). No state outside the struct. */
#ifndef SSL3D_CUDA_STAGING_H
#define SSL3D_CUDA_STAGING_H
#include <stddef.h>

typedef struct ssl3d_staging_ops {
    /* Pinned host memory of `bytes`, NULL when it cannot be had (then uploads go direct). */
    void *(*host_alloc)(void *user, size_t bytes);
    void (*host_free)(void *user, void *p);
    /* Queue the copy of n bytes from staging buffer `slot` (0 or 1) to dst, and mark the
     * slot busy until it is done. 0, or -1 after recording the failure. */
    int (*copy_async)(void *user, void *dst, const void *buf, size_t n, int slot);
    /* Wait until the last copy queued from `slot` is done. 0, or -1 (recorded). */
    int (*wait_slot)(void *user, int slot);
    /* Synchronous copy from pageable memory: the path without staging. 0, or -1. */
    int (*copy_direct)(void *user, void *dst, const void *src, size_t n);
    /* Wait for every queued copy (the upload has finished when it returns). 0, or -1. */
    int (*finish)(void *user);
} ssl3d_staging_ops;

typedef struct ssl3d_staging {
    ssl3d_staging_ops ops;
    void *user;
    size_t chunk;                 /* bytes per staging buffer */
    void *buf[2];                 /* pinned, allocated on the first upload (NULL: not yet / failed) */
    int busy[2];                  /* a copy from this buffer may still be running */
    size_t staged_bytes, direct_bytes, chunks;   /* totals, for the tests and stats */
    int alloc_failures;           /* pinned allocations that failed (uploads then went direct) */
} ssl3d_staging;

/* Default bytes per staging buffer. */
#define SSL3D_STAGING_CHUNK ((size_t)4 << 20)

/* No allocation yet: buffers come with the first upload. */
void ssl3d_staging_init(ssl3d_staging *s, const ssl3d_staging_ops *ops, void *user, size_t chunk);
/* Copy `bytes` from host memory src to dst (device) and wait for it. Through the pinned
 * buffers when they can be had, directly otherwise (a pinned allocation that fails is not
 * an error: it is tried again on the next upload). 0, or -1 when a copy failed (the
 * callbacks recorded why); src may be reused as soon as this returns, either way. */
int ssl3d_staging_upload(ssl3d_staging *s, void *dst, const void *src, size_t bytes);
/* Wait for the buffers' copies, then free them. */
void ssl3d_staging_destroy(ssl3d_staging *s);
#endif
