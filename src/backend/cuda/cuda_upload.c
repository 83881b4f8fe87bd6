/* Asynchronous uploads through pinned buffers on a copy stream (cuda_upload.h). */
#include <string.h>
#include "cuda_upload.h"

/* Pinned buffers are sized in 64 KiB steps, so a slightly smaller last batch fits. */
#define UPLOAD_GRAIN ((size_t)1 << 16)

void ssl3d_uploader_init(ssl3d_uploader *u, const ssl3d_uploader_ops *ops, void *user, size_t max_bytes) {
    memset(u, 0, sizeof *u);
    u->ops = *ops;
    u->user = user;
    u->max_bytes = max_bytes ? max_bytes : SSL3D_UPLOAD_MAX_BYTES;
}

/* Buffers whose copy has finished are free again (asked without waiting). -1: a query failed. */
static int reap(ssl3d_uploader *u) {
    for (int i = 0; i < SSL3D_UPLOAD_SLOTS; i++) {
        if (!u->busy[i]) continue;
        int q = u->ops.query(u->user, i);
        if (q < 0) return -1;
        if (q > 0) u->busy[i] = 0;
    }
    return 0;
}

/* The buffer for `bytes`: a free one that fits (the smallest), else a free one to grow
 * (an empty one first, then the largest), else the oldest copy's, after the host waited
 * for it. -1 on a failed wait. */
static int pick_slot(ssl3d_uploader *u, size_t bytes) {
    int fit = -1, grow = -1, oldest = -1;
    for (int i = 0; i < SSL3D_UPLOAD_SLOTS; i++) {
        if (u->busy[i]) {
            if (oldest < 0 || u->ticket[i] < u->ticket[oldest]) oldest = i;
            continue;
        }
        if (u->buf[i] && u->cap[i] >= bytes) {
            if (fit < 0 || u->cap[i] < u->cap[fit]) fit = i;
        } else if (grow < 0 || (u->buf[grow] && (!u->buf[i] || u->cap[i] > u->cap[grow]))) {
            grow = i;
        }
    }
    if (fit >= 0) return fit;
    if (grow >= 0) return grow;
    /* Every buffer feeds a copy: wait for the one queued first. */
    u->host_waits++;
    if (u->ops.host_wait(u->user, oldest) != 0) return -1;
    u->busy[oldest] = 0;
    return oldest;
}

/* The synchronous path: nothing left to wait for. */
static int upload_now(ssl3d_uploader *u, void *dst, const void *src, size_t bytes, int64_t *ticket) {
    *ticket = 0;
    u->sync_bytes += bytes;
    return u->ops.upload_sync(u->user, dst, src, bytes);
}

int ssl3d_uploader_begin(ssl3d_uploader *u, void *dst, const void *src, size_t bytes, int64_t *ticket) {
    *ticket = 0;
    if (!bytes) return 0;
    u->uploads++;
    if (bytes > u->max_bytes || u->broken) return upload_now(u, dst, src, bytes, ticket);
    if (reap(u) != 0) return -1;
    const int slot = pick_slot(u, bytes);
    if (slot < 0) return -1;
    if (u->cap[slot] < bytes) {
        /* Free (its copy is done): give it back and pin a larger one. */
        if (u->buf[slot]) u->ops.host_free(u->user, u->buf[slot]);
        u->pinned_bytes -= u->cap[slot];
        const size_t want = (bytes + UPLOAD_GRAIN - 1) / UPLOAD_GRAIN * UPLOAD_GRAIN;
        u->buf[slot] = u->ops.host_alloc(u->user, want);
        u->cap[slot] = u->buf[slot] ? want : 0;
        u->pinned_bytes += u->cap[slot];
        if (!u->buf[slot]) {
            /* Not an error: synchronous this time, pinning is tried again next time. */
            u->alloc_failures++;
            return upload_now(u, dst, src, bytes, ticket);
        }
    }
    memcpy(u->buf[slot], src, bytes);
    /* dst may be memory the compute stream's queued work still reads. */
    if (u->ops.order_after_compute(u->user) != 0) return -1;
    if (u->ops.copy_async(u->user, dst, u->buf[slot], bytes, slot) != 0) {
        /* Whether the copy was queued is unknown: let none outlive the failure. If even
         * that fails, a copy may still read the buffer: no more copy-stream uploads. */
        if (u->ops.copy_sync(u->user) != 0) u->broken = 1;
        return -1;
    }
    u->busy[slot] = 1;
    u->ticket[slot] = ++u->last_ticket;
    u->async_bytes += bytes;
    *ticket = u->last_ticket;
    return 0;
}

int ssl3d_uploader_wait(ssl3d_uploader *u, int64_t ticket) {
    if (ticket <= 0) return 0;
    for (int i = 0; i < SSL3D_UPLOAD_SLOTS; i++) {
        if (!u->busy[i] || u->ticket[i] != ticket) continue;
        if (u->ops.compute_wait(u->user, i) == 0) return 0;
        /* The compute stream would not wait: the host does, so no later work races the copy. */
        if (u->ops.host_wait(u->user, i) == 0) u->busy[i] = 0;
        else if (u->ops.copy_sync(u->user) != 0) u->broken = 1;
        return -1;
    }
    return 0;   /* finished: its buffer was seen free (or refilled after a host wait) */
}

void ssl3d_uploader_destroy(ssl3d_uploader *u) {
    int any = 0;
    for (int i = 0; i < SSL3D_UPLOAD_SLOTS; i++) any |= u->busy[i];
    if (any) u->ops.copy_sync(u->user);
    for (int i = 0; i < SSL3D_UPLOAD_SLOTS; i++) {
        if (u->buf[i]) u->ops.host_free(u->user, u->buf[i]);
        u->buf[i] = NULL;
        u->cap[i] = 0;
        u->busy[i] = 0;
    }
    u->pinned_bytes = 0;
}
