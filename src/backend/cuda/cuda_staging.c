/* Pinned double-buffered uploads (cuda_staging.h). */
#include <string.h>
#include "cuda_staging.h"

void ssl3d_staging_init(ssl3d_staging *s, const ssl3d_staging_ops *ops, void *user, size_t chunk) {
    memset(s, 0, sizeof *s);
    s->ops = *ops;
    s->user = user;
    s->chunk = chunk ? chunk : SSL3D_STAGING_CHUNK;
}

/* Both buffers, or neither (one buffer would serialise host and device again). */
static int have_buffers(ssl3d_staging *s) {
    if (s->buf[0] && s->buf[1]) return 1;
    for (int i = 0; i < 2; i++)
        if (!s->buf[i]) s->buf[i] = s->ops.host_alloc(s->user, s->chunk);
    if (s->buf[0] && s->buf[1]) return 1;
    for (int i = 0; i < 2; i++) {
        if (s->buf[i]) s->ops.host_free(s->user, s->buf[i]);
        s->buf[i] = NULL;
    }
    s->alloc_failures++;
    return 0;
}

int ssl3d_staging_upload(ssl3d_staging *s, void *dst, const void *src, size_t bytes) {
    if (!bytes) return 0;
    if (!have_buffers(s)) {
        s->direct_bytes += bytes;
        return s->ops.copy_direct(s->user, dst, src, bytes);
    }
    int rc = 0, slot = 0;
    for (size_t off = 0; off < bytes && rc == 0; off += s->chunk, slot ^= 1) {
        const size_t n = bytes - off < s->chunk ? bytes - off : s->chunk;
        /* The device may still be reading this buffer's previous chunk. */
        if (s->busy[slot] && s->ops.wait_slot(s->user, slot) != 0) { rc = -1; break; }
        s->busy[slot] = 0;
        memcpy(s->buf[slot], (const char *)src + off, n);
        if (s->ops.copy_async(s->user, (char *)dst + off, s->buf[slot], n, slot) != 0) { rc = -1; break; }
        s->busy[slot] = 1;
        s->staged_bytes += n;
        s->chunks++;
    }
    /* Synchronous by contract: wait also after a failure, so no copy outlives the call. */
    if (s->ops.finish(s->user) != 0) rc = -1;
    s->busy[0] = s->busy[1] = 0;
    return rc;
}

void ssl3d_staging_destroy(ssl3d_staging *s) {
    if (s->busy[0] || s->busy[1]) s->ops.finish(s->user);
    for (int i = 0; i < 2; i++)
        if (s->buf[i]) s->ops.host_free(s->user, s->buf[i]);
    s->buf[0] = s->buf[1] = NULL;
    s->busy[0] = s->busy[1] = 0;
}
