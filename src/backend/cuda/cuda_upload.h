/* Asynchronous uploads on a second (copy) stream, one uploader per context: the training
 * loops' batches (backend.h: upload_begin / upload_wait). The next batch is copied from
 * pinned memory while the current step computes:
 *
 *   begin  the host copies the data into a pinned buffer (so the caller's memory may be
 *          reused at once), the copy stream waits for the compute stream's work queued so
 *          far (the destination may be a block that work still reads, handed back to the
 *          caching allocator, which reuses in compute-stream order), queues the copy and
 *          records the buffer's event after it;
 *   wait   the compute stream waits for that event: work queued from then on sees the
 *          data; the host does not wait.
 *
 * A pinned buffer is refilled only after its event says its copy is done (an event per
 * buffer), so nothing is overwritten under a running copy, and no host synchronisation
 * happens per batch. Which buffer: a free one that fits (the smallest), else a free one
 * grown, else the host waits for the oldest copy. Without pinned memory, or for an upload
 * too large to pin, the upload is synchronous (the staging path, cuda_staging.h) and there
 * is nothing to wait for. Every failure is recorded by the callbacks (the call named) and
 * leaves nothing racing: after a failed begin no copy reads a buffer that may be refilled,
 * and after a failed wait the host has waited for the copy itself.
 *
 * Like cuda_staging.h this knows nothing of CUDA: the plugin passes cudaHostAlloc,
 * cudaEventRecord / cudaStreamWaitEvent / cudaMemcpyAsync on its two streams, and
 * cudaEventQuery / cudaEventSynchronize as callbacks (cuda_memory.c); the tests pass a fake
 * device with two asynchronous streams and events (tests/test_cuda_upload.c). No state
 * outside the struct. */
#ifndef SSL3D_CUDA_UPLOAD_H
#define SSL3D_CUDA_UPLOAD_H
#include <stddef.h>
#include <stdint.h>

/* Pinned buffers per context: one per tensor in flight (a fine-tuning batch with deep
 * supervision uploads up to six tensors per step). */
#define SSL3D_UPLOAD_SLOTS 8
/* Larger uploads are not pinned (synchronous staging instead). */
#define SSL3D_UPLOAD_MAX_BYTES ((size_t)64 << 20)

typedef struct ssl3d_uploader_ops {
    /* Pinned host memory of `bytes`; NULL when it cannot be had (then uploads are synchronous). */
    void *(*host_alloc)(void *user, size_t bytes);
    void (*host_free)(void *user, void *p);
    /* Make the copy stream wait for the compute stream's work queued so far. 0, or -1 (recorded). */
    int (*order_after_compute)(void *user);
    /* On the copy stream: copy n bytes from pinned buffer `slot` to dst, then record the
     * slot's event. 0, or -1 (recorded; the copy may or may not have been queued). */
    int (*copy_async)(void *user, void *dst, const void *buf, size_t n, int slot);
    /* The compute stream waits for the slot's event (no host wait). 0, or -1 (recorded). */
    int (*compute_wait)(void *user, int slot);
    /* Whether the slot's last copy is done: 1 done, 0 not yet, -1 failure (recorded). */
    int (*query)(void *user, int slot);
    /* The host waits for the slot's last copy. 0, or -1 (recorded). */
    int (*host_wait)(void *user, int slot);
    /* The host waits for everything queued on the copy stream. 0, or -1 (recorded). */
    int (*copy_sync)(void *user);
    /* Synchronous upload, complete on the device when it returns (the staging path). 0, or -1. */
    int (*upload_sync)(void *user, void *dst, const void *src, size_t n);
} ssl3d_uploader_ops;

typedef struct ssl3d_uploader {
    ssl3d_uploader_ops ops;
    void *user;
    size_t max_bytes;                     /* larger uploads go synchronously */
    void *buf[SSL3D_UPLOAD_SLOTS];        /* pinned, grown on demand (NULL: none yet) */
    size_t cap[SSL3D_UPLOAD_SLOTS];
    int busy[SSL3D_UPLOAD_SLOTS];         /* a copy from this buffer may still be running */
    int64_t ticket[SSL3D_UPLOAD_SLOTS];   /* the upload whose copy the buffer last fed */
    int64_t last_ticket;
    int broken;                           /* a failed copy could not be waited for: synchronous from now on */
    /* totals, for the tests and stats */
    size_t async_bytes, sync_bytes, pinned_bytes;
    int64_t uploads, host_waits, alloc_failures;
} ssl3d_uploader;

/* No allocation yet: buffers come with the uploads. max_bytes 0: SSL3D_UPLOAD_MAX_BYTES. */
void ssl3d_uploader_init(ssl3d_uploader *u, const ssl3d_uploader_ops *ops, void *user, size_t max_bytes);
/* Start copying `bytes` from host memory src to dst (device); src may be reused when this
 * returns. *ticket: what ssl3d_uploader_wait takes (0: the copy is complete already, the
 * synchronous path). 0, or -1 when a callback failed (it recorded why; *ticket is 0 and no
 * copy is left running from a buffer). */
int ssl3d_uploader_begin(ssl3d_uploader *u, void *dst, const void *src, size_t bytes, int64_t *ticket);
/* Work queued on the compute stream from now on waits for upload `ticket`. Tickets whose
 * buffer was refilled since are complete (the host waited for them), so this is a no-op
 * for them, as for ticket 0. 0, or -1 (recorded; the host then waited for the copy). */
int ssl3d_uploader_wait(ssl3d_uploader *u, int64_t ticket);
/* Wait for every copy, then free the buffers. */
void ssl3d_uploader_destroy(ssl3d_uploader *u);
#endif
