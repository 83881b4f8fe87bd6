/* A device context without a device, with asynchronous uploads: the CPU backend's kernels
 * behind a table whose memory is not host-readable (host_memory 0) and whose upload_begin /
 * upload_wait run the CUDA plugin's upload policy (src/backend/cuda/cuda_upload.c) over a
 * copy stream that runs only when made to. Included by the tests of the training loops'
 * prefetched batches (fine-tuning, the proxy tasks). */
#ifndef SSL3D_TEST_EMULATED_DEVICE_H
#define SSL3D_TEST_EMULATED_DEVICE_H
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "../src/core/internal.h"
#include "../src/backend/backend.h"
#include "../src/backend/cuda/cuda_upload.h"

/* The upload policy runs over a device whose kernels run at once (the CPU's) and whose copy stream runs only when
 * made to: a copy lands when the compute stream is made to wait for it (upload_wait) or
 * the host waits for its buffer. Each destination is poisoned with NaN when its upload
 * begins, so a kernel that used a batch before upload_wait, or a pinned buffer refilled
 * before its copy ran, would change the losses. Test-only state: one run at a time. */
typedef struct lazy_copy { void *dst; const void *buf; size_t n; int slot; } lazy_copy;
static struct {
    ssl3d_uploader up;
    lazy_copy q[256];
    int head, tail;
    int64_t begun_at[4096];      /* to_host calls (loss reads) when each ticket was begun */
    int64_t to_host_calls, uploads, overlapped;
} emu_async;

static void lazy_run_through(int last) {   /* run the copy stream through queue entry `last` */
    while (emu_async.head <= last && emu_async.head < emu_async.tail) {
        lazy_copy *c = &emu_async.q[emu_async.head++];
        memcpy(c->dst, c->buf, c->n);
    }
}
static int lazy_last_of(int slot) {
    for (int i = emu_async.tail - 1; i >= emu_async.head; i--)
        if (emu_async.q[i].slot == slot) return i;
    return -1;
}
static void *ea_alloc(void *u, size_t b) { (void)u; return malloc(b); }
static void ea_free(void *u, void *p) { (void)u; free(p); }
static int ea_order(void *u) { (void)u; return 0; }   /* kernels ran already: nothing queued to wait for */
static int ea_copy(void *u, void *dst, const void *buf, size_t n, int slot) {
    (void)u;
    if (emu_async.tail >= 256) return -1;
    emu_async.q[emu_async.tail++] = (lazy_copy){ dst, buf, n, slot };
    return 0;
}
static int ea_compute_wait(void *u, int slot) { (void)u; lazy_run_through(lazy_last_of(slot)); return 0; }
static int ea_query(void *u, int slot) { (void)u; return lazy_last_of(slot) < 0; }
static int ea_host_wait(void *u, int slot) { (void)u; lazy_run_through(lazy_last_of(slot)); return 0; }
static int ea_copy_sync(void *u) { (void)u; lazy_run_through(emu_async.tail - 1); return 0; }
static int ea_upload_sync(void *u, void *dst, const void *src, size_t n) { (void)u; memcpy(dst, src, n); return 0; }
static const ssl3d_uploader_ops EA_OPS = { ea_alloc, ea_free, ea_order, ea_copy, ea_compute_wait,
                                           ea_query, ea_host_wait, ea_copy_sync, ea_upload_sync };

static int64_t ea_upload_begin(void *state, void *dst, const void *src, size_t bytes) {
    (void)state;
    memset(dst, 0xff, bytes);    /* NaN / -1 until the copy lands */
    int64_t ticket = 0;
    if (ssl3d_uploader_begin(&emu_async.up, dst, src, bytes, &ticket) != 0) return 0;
    emu_async.uploads++;
    if (ticket > 0 && ticket < 4096) emu_async.begun_at[ticket] = emu_async.to_host_calls;
    return ticket;
}
static void ea_upload_wait(void *state, int64_t ticket) {
    (void)state;
    /* Begun before a loss was read: during the previous step. */
    if (ticket > 0 && ticket < 4096 && emu_async.begun_at[ticket] < emu_async.to_host_calls) emu_async.overlapped++;
    ssl3d_uploader_wait(&emu_async.up, ticket);
}
static void (*cpu_to_host)(void *, void *, const void *, size_t);
static void ea_to_host(void *state, void *dst, const void *src, size_t bytes) {
    emu_async.to_host_calls++;
    cpu_to_host(state, dst, src, bytes);
}

static ssl3d_backend emulated_async_device;

/* Turn a fresh CPU context into an emulated device one (its tensors so far stay valid: the
 * kernels and memory functions are the CPU's); after its release, emulated_async_done(). */
static void emulated_async_attach(ssl3d_ctx *ctx) {
    emulated_async_device = *ctx->be;
    emulated_async_device.host_memory = 0;
    emulated_async_device.name = "emulated-device-async";
    emulated_async_device.upload_begin = ea_upload_begin;
    emulated_async_device.upload_wait = ea_upload_wait;
    cpu_to_host = ctx->be->to_host;
    emulated_async_device.to_host = ea_to_host;
    ctx->be = &emulated_async_device;
    memset(&emu_async, 0, sizeof emu_async);
    ssl3d_uploader_init(&emu_async.up, &EA_OPS, NULL, 0);
}

static inline ssl3d_ctx *emulated_async_device_ctx(uint64_t seed) {
    ssl3d_ctx *ctx = th_ctx(1, seed);
    emulated_async_attach(ctx);
    return ctx;
}

/* After the context's release: the pinned stand-ins go (copies still queued land first). */
static inline void emulated_async_done(void) { ssl3d_uploader_destroy(&emu_async.up); }
#endif
