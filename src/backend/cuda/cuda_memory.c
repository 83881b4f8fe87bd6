/* Device memory of a context: the caching allocator (cuda_cache.h) over cudaMalloc, and
 * the copies. Every failed copy is recorded with the call that failed (cuda_error.c); an
 * allocation that fails returns NULL (the library reports SSL3D_ERR_NOMEM), never aborts. */
#include "cuda_plugin.h"

void *cuda_alloc_uninit(void *state, size_t bytes) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    /* Out of memory is NULL, reported by the library as SSL3D_ERR_NOMEM for this call
     * only: it is not a deferred error that would fail the next, unrelated call. */
    void *p = ssl3d_devcache_alloc(&s->cache, bytes);
    cuda_leave(s, prev);
    return p;
}

void *cuda_alloc_zeroed(void *state, size_t bytes) {
    cuda_state *s = state;
    void *p = cuda_alloc_uninit(state, bytes);
    if (p) {
        int prev = cuda_enter(s);
        if (cuda_check(s, cudaMemsetAsync(p, 0, bytes, s->stream), "cudaMemsetAsync")) {
            ssl3d_devcache_free(&s->cache, p);
            p = NULL;
        }
        cuda_leave(s, prev);
    }
    return p;
}

void cuda_free(void *state, void *p) {
    cuda_state *s = state;
    if (!p) return;
    int prev = cuda_enter(s);
    if (ssl3d_devcache_free(&s->cache, p) != 0)
        cuda_fail(s, SSL3D_ERR_INVALID_ARG, "cuda free: pointer %p was not allocated by this context", p);
    cuda_leave(s, prev);
}

void cuda_memset0(void *state, void *p, size_t bytes) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    cuda_check(s, cudaMemsetAsync(p, 0, bytes, s->stream), "cudaMemsetAsync");
    cuda_leave(s, prev);
}

/* Synchronous by contract (backend.h): the host buffer is read or written when we return. */
void cuda_to_host(void *state, void *dst, const void *src, size_t bytes) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    if (!cuda_check(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream),
                    "cudaMemcpyAsync (device to host)"))
        cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (device to host copy)");
    cuda_leave(s, prev);
}

/* ---- the staging callbacks (cuda_staging.h); the caller has entered the device */

static void *staging_alloc(void *user, size_t bytes) {
    (void)user;
    void *p = NULL;
    if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();   /* not sticky: uploads go direct, and the next one tries again */
        return NULL;
    }
    return p;
}

static void staging_free(void *user, void *p) {
    (void)user;
    cudaFreeHost(p);
}

static int staging_copy_async(void *user, void *dst, const void *buf, size_t n, int slot) {
    cuda_state *s = user;
    if (cuda_check(s, cudaMemcpyAsync(dst, buf, n, cudaMemcpyHostToDevice, s->stream),
                   "cudaMemcpyAsync (host to device, pinned staging)"))
        return -1;
    return cuda_check(s, cudaEventRecord(s->staged[slot], s->stream), "cudaEventRecord (upload staging)") ? -1 : 0;
}

static int staging_wait_slot(void *user, int slot) {
    cuda_state *s = user;
    return cuda_check(s, cudaEventSynchronize(s->staged[slot]), "cudaEventSynchronize (upload staging)") ? -1 : 0;
}

static int staging_copy_direct(void *user, void *dst, const void *src, size_t n) {
    cuda_state *s = user;
    if (cuda_check(s, cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s->stream),
                   "cudaMemcpyAsync (host to device)"))
        return -1;
    return cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (host to device copy)") ? -1 : 0;
}

static int staging_finish(void *user) {
    cuda_state *s = user;
    return cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (host to device copy)") ? -1 : 0;
}

const ssl3d_staging_ops cuda_staging_ops = {
    staging_alloc, staging_free, staging_copy_async, staging_wait_slot, staging_copy_direct, staging_finish,
};

/* Synchronous by contract (backend.h): src may be reused when this returns. Failures are
 * recorded by the callbacks and reported by the next sync. */
void cuda_from_host(void *state, void *dst, const void *src, size_t bytes) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    ssl3d_staging_upload(&s->staging, dst, src, bytes);
    cuda_leave(s, prev);
}

void cuda_copy(void *state, void *dst, const void *src, size_t bytes) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    cuda_check(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->stream),
               "cudaMemcpyAsync (device to device)");
    cuda_leave(s, prev);
}

/* ---- asynchronous uploads on the copy stream (cuda_upload.h); the caller has entered the device */

static int upload_order_after_compute(void *user) {
    cuda_state *s = user;
    if (cuda_check(s, cudaEventRecord(s->compute_mark, s->stream), "cudaEventRecord (compute mark for an upload)"))
        return -1;
    return cuda_check(s, cudaStreamWaitEvent(s->copy_stream, s->compute_mark, 0),
                      "cudaStreamWaitEvent (copy stream after compute)") ? -1 : 0;
}

static int upload_copy_async(void *user, void *dst, const void *buf, size_t n, int slot) {
    cuda_state *s = user;
    if (cuda_check(s, cudaMemcpyAsync(dst, buf, n, cudaMemcpyHostToDevice, s->copy_stream),
                   "cudaMemcpyAsync (host to device, asynchronous upload)"))
        return -1;
    return cuda_check(s, cudaEventRecord(s->upload_done[slot], s->copy_stream),
                      "cudaEventRecord (asynchronous upload)") ? -1 : 0;
}

static int upload_compute_wait(void *user, int slot) {
    cuda_state *s = user;
    return cuda_check(s, cudaStreamWaitEvent(s->stream, s->upload_done[slot], 0),
                      "cudaStreamWaitEvent (compute after an upload)") ? -1 : 0;
}

static int upload_query(void *user, int slot) {
    cuda_state *s = user;
    cudaError_t e = cudaEventQuery(s->upload_done[slot]);
    if (e == cudaErrorNotReady) return 0;   /* not an error: the copy is still running */
    return cuda_check(s, e, "cudaEventQuery (asynchronous upload)") ? -1 : 1;
}

static int upload_host_wait(void *user, int slot) {
    cuda_state *s = user;
    return cuda_check(s, cudaEventSynchronize(s->upload_done[slot]), "cudaEventSynchronize (asynchronous upload)")
               ? -1 : 0;
}

static int upload_copy_sync(void *user) {
    cuda_state *s = user;
    return cuda_check(s, cudaStreamSynchronize(s->copy_stream), "cudaStreamSynchronize (copy stream)") ? -1 : 0;
}

static int upload_sync(void *user, void *dst, const void *src, size_t n) {
    cuda_state *s = user;
    return ssl3d_staging_upload(&s->staging, dst, src, n);
}

const ssl3d_uploader_ops cuda_uploader_ops = {
    staging_alloc, staging_free, upload_order_after_compute, upload_copy_async, upload_compute_wait,
    upload_query, upload_host_wait, upload_copy_sync, upload_sync,
};

int64_t cuda_upload_begin(void *state, void *dst, const void *src, size_t bytes) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    int64_t ticket = 0;
    ssl3d_uploader_begin(&s->uploader, dst, src, bytes, &ticket);   /* failures recorded: reported by sync */
    cuda_leave(s, prev);
    return ticket;
}

void cuda_upload_wait(void *state, int64_t ticket) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    ssl3d_uploader_wait(&s->uploader, ticket);
    cuda_leave(s, prev);
}
