/* The CUDA plugin's pinned upload staging (src/backend/cuda/cuda_staging.c) over fake
 * callbacks: the same code the plugin runs over cudaHostAlloc / cudaMemcpyAsync / events,
 * tested without a GPU. The fake device is asynchronous for real: a queued copy happens
 * only when its slot is waited for or everything is finished, so a buffer overwritten
 * before its copy ran shows up as corrupted data. Its failures are played out too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "../src/backend/cuda/cuda_staging.h"

typedef struct pending { void *dst; const void *buf; size_t n; int live; } pending;

typedef struct fake {
    int allocs_left;          /* pinned allocations that succeed (-1: all) */
    int allocs, frees;
    int fail_copy_at;         /* copy_async number that fails (-1: none) */
    int fail_wait;            /* wait_slot fails */
    int copies, waits, directs, finishes;
    pending q[2][64];         /* queued copies per slot, in order */
    int nq[2];
} fake;

static void *f_alloc(void *u, size_t b) {
    fake *f = u;
    if (f->allocs_left == 0) return NULL;
    if (f->allocs_left > 0) f->allocs_left--;
    f->allocs++;
    return malloc(b);
}
static void f_free(void *u, void *p) { ((fake *)u)->frees++; free(p); }

static void run_slot(fake *f, int slot) {
    for (int i = 0; i < f->nq[slot]; i++) memcpy(f->q[slot][i].dst, f->q[slot][i].buf, f->q[slot][i].n);
    f->nq[slot] = 0;
}
static int f_copy_async(void *u, void *dst, const void *buf, size_t n, int slot) {
    fake *f = u;
    if (f->copies++ == f->fail_copy_at) return -1;
    if (f->nq[slot] >= 64) return -1;
    f->q[slot][f->nq[slot]++] = (pending){ dst, buf, n, 1 };
    return 0;
}
static int f_wait(void *u, int slot) {
    fake *f = u;
    f->waits++;
    if (f->fail_wait) return -1;
    run_slot(f, slot);
    return 0;
}
static int f_direct(void *u, void *dst, const void *src, size_t n) {
    ((fake *)u)->directs++;
    memcpy(dst, src, n);
    return 0;
}
static int f_finish(void *u) {
    fake *f = u;
    f->finishes++;
    run_slot(f, 0);
    run_slot(f, 1);
    return 0;
}
static const ssl3d_staging_ops OPS = { f_alloc, f_free, f_copy_async, f_wait, f_direct, f_finish };

static void fake_init(fake *f) {
    memset(f, 0, sizeof *f);
    f->allocs_left = -1;
    f->fail_copy_at = -1;
}

static unsigned char *pattern(size_t n, unsigned seed) {
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((i * 131u + seed * 7u) >> 2);
    return p;
}

TEST(cuda_staging_uploads_every_size_intact_through_both_buffers) {
    const size_t chunk = 64;
    const size_t sizes[] = { 0, 1, 63, 64, 65, 160, 64 * 5, 64 * 7 + 3 };
    fake f;
    fake_init(&f);
    ssl3d_staging s;
    ssl3d_staging_init(&s, &OPS, &f, chunk);
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n = sizes[i];
        unsigned char *src = pattern(n, (unsigned)i), *dst = calloc(n + 8, 1);
        CHECK(ssl3d_staging_upload(&s, dst, src, n) == 0);
        CHECK_MSG(n == 0 || !memcmp(dst, src, n), "size %zu corrupted", n);
        CHECK_MSG(dst[n] == 0, "size %zu wrote past the end", n);
        CHECK(f.nq[0] == 0 && f.nq[1] == 0);   /* synchronous: nothing left queued */
        total += n;
        free(src); free(dst);
    }
    CHECK(f.allocs == 2);                      /* two buffers, once, kept */
    CHECK(f.directs == 0);
    CHECK(s.staged_bytes == total);
    CHECK(s.chunks == (size_t)f.copies);
    CHECK(f.waits > 0);                        /* buffers were reused only after their copy */
    ssl3d_staging_destroy(&s);
    CHECK(f.frees == 2);
}

/* Without pinned memory an upload goes direct (not an error) and staging is tried again
 * on the next one; half a pair is given back. */
TEST(cuda_staging_without_pinned_memory_copies_directly_and_retries) {
    fake f;
    fake_init(&f);
    f.allocs_left = 1;                         /* the second buffer fails */
    ssl3d_staging s;
    ssl3d_staging_init(&s, &OPS, &f, 32);
    unsigned char *src = pattern(100, 3), *dst = calloc(100, 1);
    CHECK(ssl3d_staging_upload(&s, dst, src, 100) == 0);
    CHECK(!memcmp(dst, src, 100));
    CHECK(f.directs == 1 && s.direct_bytes == 100 && s.staged_bytes == 0);
    CHECK(s.alloc_failures == 1);
    CHECK(f.allocs == 1 && f.frees == 1);      /* the one buffer that was had is given back */
    CHECK(s.buf[0] == NULL && s.buf[1] == NULL);
    f.allocs_left = -1;                        /* memory again: the next upload is staged */
    memset(dst, 0, 100);
    CHECK(ssl3d_staging_upload(&s, dst, src, 100) == 0);
    CHECK(!memcmp(dst, src, 100));
    CHECK(s.staged_bytes == 100 && f.directs == 1);
    ssl3d_staging_destroy(&s);
    CHECK(f.allocs == f.frees);
    free(src); free(dst);
}

/* A failed copy or wait is an error of the upload; it still waits for what was queued,
 * so no copy outlives the call (the caller may free src at once). */
TEST(cuda_staging_copy_and_wait_failures_are_errors_and_drain_the_queue) {
    fake f;
    fake_init(&f);
    f.fail_copy_at = 2;                        /* third chunk */
    ssl3d_staging s;
    ssl3d_staging_init(&s, &OPS, &f, 16);
    unsigned char *src = pattern(100, 5), *dst = calloc(100, 1);
    CHECK(ssl3d_staging_upload(&s, dst, src, 100) == -1);
    CHECK(f.finishes == 1 && f.nq[0] == 0 && f.nq[1] == 0);
    CHECK(!memcmp(dst, src, 32));              /* the chunks queued before the failure landed */
    CHECK(s.busy[0] == 0 && s.busy[1] == 0);
    fake_init(&f);
    f.fail_wait = 1;
    CHECK(ssl3d_staging_upload(&s, dst, src, 100) == -1);   /* the third chunk waits for slot 0 */
    CHECK(f.waits == 1 && f.nq[0] == 0 && f.nq[1] == 0);
    fake_init(&f);                             /* and the staging still works afterwards */
    memset(dst, 0, 100);
    CHECK(ssl3d_staging_upload(&s, dst, src, 100) == 0);
    CHECK(!memcmp(dst, src, 100));
    ssl3d_staging_destroy(&s);
    CHECK(f.frees == 2);
    free(src); free(dst);
}
