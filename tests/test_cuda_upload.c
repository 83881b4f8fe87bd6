/* The CUDA plugin's asynchronous batch uploads (src/backend/cuda/cuda_upload.c) over a
 * fake device: the same policy the plugin runs over its copy stream, tested without a GPU.
 *
 * The fake has two streams (compute, copy) whose operations — copies, event records,
 * event waits, "kernels" — run in order but only when the schedule lets them: one stream
 * runs as soon as work is queued on it, the other only when the host forces it (an event
 * synchronisation, a stream synchronisation, or a wait the eager stream is blocked on).
 * Run under both schedules, each race the uploader must prevent shows up as wrong data:
 *   - a pinned buffer refilled before its copy ran (copy stream lazy);
 *   - a kernel reading the batch before its copy landed (compute stream eager);
 *   - a copy overwriting a block a queued kernel still reads, after the allocator handed
 *     it back (copy stream eager, compute stream lazy).
 * The mutations at the end switch off each of the uploader's calls in turn and check that
 * the scenario then fails: the test can fail. Failures of every callback are played out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "../src/backend/cuda/cuda_upload.h"

enum { COMPUTE = 0, COPY = 1 };
enum { OP_COPY, OP_RECORD, OP_WAIT, OP_KERNEL };
#define MARK SSL3D_UPLOAD_SLOTS            /* the compute stream's mark event */
#define NEV (SSL3D_UPLOAD_SLOTS + 1)
#define QCAP 4096

typedef struct fop {
    int kind;
    void *dst;
    const void *src;
    size_t n;
    int ev;
    int64_t gen;
} fop;

typedef struct fstream { fop q[QCAP]; int head, tail; } fstream;

typedef struct fdev {
    fstream s[2];
    int64_t recorded[NEV], done[NEV];
    int eager;                 /* the stream that runs as soon as it can; the other runs when forced */
    int both_eager;            /* both run as soon as they can: a device with nothing else to do */
    int deadlock;              /* a forced wait could not be satisfied (a bug in the uploader or the test) */
    /* mutations: the callback does nothing (the tests must then fail) */
    int skip_order, skip_compute_wait, query_lies;
    /* failure injection */
    int allocs_left;           /* -1: all succeed */
    int fail_order, fail_copy, fail_copy_queued, fail_compute_wait, fail_query, fail_host_wait, fail_copy_sync;
    int allocs, frees, host_waits, copy_syncs, sync_uploads;
} fdev;

static void push(fdev *d, int si, fop op) {
    fstream *s = &d->s[si];
    if (s->tail >= QCAP) { d->deadlock = 1; return; }
    s->q[s->tail++] = op;
}

/* Run the head operation of stream si when it can run: 1 ran, 0 empty or blocked. */
static int step(fdev *d, int si) {
    fstream *s = &d->s[si];
    if (s->head == s->tail) return 0;
    fop *op = &s->q[s->head];
    switch (op->kind) {
    case OP_COPY: memcpy(op->dst, op->src, op->n); break;
    case OP_RECORD: d->done[op->ev] = op->gen; break;
    case OP_WAIT: if (d->done[op->ev] < op->gen) return 0; break;
    case OP_KERNEL: memcpy(op->dst, op->src, op->n); break;   /* the kernel reads its input into dst */
    }
    s->head++;
    if (s->head == s->tail) s->head = s->tail = 0;
    return 1;
}

static void run_eager(fdev *d) {
    while (step(d, d->eager) || (d->both_eager && step(d, !d->eager))) {}
}

/* Make progress (the lazy stream first, as a device may) until event ev reached gen. */
static void force_event(fdev *d, int ev, int64_t gen) {
    while (d->done[ev] < gen)
        if (!step(d, !d->eager) && !step(d, d->eager)) { d->deadlock = 1; return; }
}

static void force_stream(fdev *d, int si) {
    while (d->s[si].head != d->s[si].tail)
        if (!step(d, si) && !step(d, !si)) { d->deadlock = 1; return; }
}

static void *f_alloc(void *u, size_t b) {
    fdev *d = u;
    if (d->allocs_left == 0) return NULL;
    if (d->allocs_left > 0) d->allocs_left--;
    d->allocs++;
    return malloc(b);
}
static void f_free(void *u, void *p) { ((fdev *)u)->frees++; free(p); }

static int f_order(void *u) {
    fdev *d = u;
    if (d->fail_order) return -1;
    if (d->skip_order) return 0;
    int64_t g = ++d->recorded[MARK];
    push(d, COMPUTE, (fop){ .kind = OP_RECORD, .ev = MARK, .gen = g });
    push(d, COPY, (fop){ .kind = OP_WAIT, .ev = MARK, .gen = g });
    run_eager(d);
    return 0;
}

static int f_copy(void *u, void *dst, const void *buf, size_t n, int slot) {
    fdev *d = u;
    if (d->fail_copy) return -1;
    push(d, COPY, (fop){ .kind = OP_COPY, .dst = dst, .src = buf, .n = n });
    if (d->fail_copy_queued) { run_eager(d); return -1; }   /* queued, then the record failed */
    push(d, COPY, (fop){ .kind = OP_RECORD, .ev = slot, .gen = ++d->recorded[slot] });
    run_eager(d);
    return 0;
}

static int f_compute_wait(void *u, int slot) {
    fdev *d = u;
    if (d->fail_compute_wait) return -1;
    if (d->skip_compute_wait) return 0;
    push(d, COMPUTE, (fop){ .kind = OP_WAIT, .ev = slot, .gen = d->recorded[slot] });
    run_eager(d);
    return 0;
}

static int f_query(void *u, int slot) {
    fdev *d = u;
    if (d->fail_query) return -1;
    if (d->query_lies) return 1;   /* "done" while the copy may still read the buffer */
    return d->done[slot] >= d->recorded[slot];
}

static int f_host_wait(void *u, int slot) {
    fdev *d = u;
    d->host_waits++;
    if (d->fail_host_wait) return -1;
    force_event(d, slot, d->recorded[slot]);
    return 0;
}

static int f_copy_sync(void *u) {
    fdev *d = u;
    d->copy_syncs++;
    if (d->fail_copy_sync) return -1;
    force_stream(d, COPY);
    return 0;
}

/* The staging path: a copy on the compute stream, waited for. */
static int f_upload_sync(void *u, void *dst, const void *src, size_t n) {
    fdev *d = u;
    d->sync_uploads++;
    push(d, COMPUTE, (fop){ .kind = OP_COPY, .dst = dst, .src = src, .n = n });
    force_stream(d, COMPUTE);
    return 0;
}

static const ssl3d_uploader_ops OPS = { f_alloc, f_free, f_order, f_copy, f_compute_wait,
                                        f_query, f_host_wait, f_copy_sync, f_upload_sync };

static fdev *fdev_new(int eager) {
    fdev *d = calloc(1, sizeof *d);
    d->eager = eager;
    d->allocs_left = -1;
    return d;
}

/* A kernel of step k: reads the batch from device block `blk` into out. */
static void kernel(fdev *d, float *out, const float *blk, size_t n) {
    push(d, COMPUTE, (fop){ .kind = OP_KERNEL, .dst = out, .src = blk, .n = n * sizeof(float) });
    run_eager(d);
}

static float value(int step, size_t i) { return (float)(step * 1000 + (int)(i % 997)) + 0.25f; }

/* A training loop over the fake device: batch k+1 is begun while step k's kernel may still
 * be queued, from one host buffer reused for every batch, into one of two device blocks
 * (the block step k-1 read, as a caching allocator hands it back). `ahead`: begin batch
 * k+1 after step k's kernel was queued (1) or before (0). `tensors` per step. Returns the
 * number of wrong values the kernels read (0: no race). */
static long train_loop(fdev *d, ssl3d_uploader *u, int steps, int tensors, int ahead, size_t base) {
    size_t maxn = base + 64;
    float *host = malloc(maxn * sizeof *host);
    float *blocks[2][4], *out = calloc((size_t)steps * 4 * maxn, sizeof *out);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < tensors; t++) blocks[b][t] = calloc(maxn, sizeof(float));
    int64_t tick[2][4] = { { 0 } };
    long wrong = 0;
    /* Sizes vary by step and tensor: buffers are picked, grown and reused. */
#define SIZE(k, t) (base / (size_t)(1 + (t)) + (size_t)((k) % 3) * 16)
    for (int t = 0; t < tensors; t++) {
        for (size_t i = 0; i < SIZE(0, t); i++) host[i] = value(0, i) + (float)t;
        if (ssl3d_uploader_begin(u, blocks[0][t], host, SIZE(0, t) * sizeof(float), &tick[0][t]) != 0) wrong++;
        memset(host, 0xff, maxn * sizeof *host);   /* the caller may reuse its memory at once */
    }
    for (int k = 0; k < steps; k++) {
        const int cur = k % 2, nxt = !cur;
        if (!ahead && k + 1 < steps)
            for (int t = 0; t < tensors; t++) {
                for (size_t i = 0; i < SIZE(k + 1, t); i++) host[i] = value(k + 1, i) + (float)t;
                if (ssl3d_uploader_begin(u, blocks[nxt][t], host, SIZE(k + 1, t) * sizeof(float), &tick[nxt][t]))
                    wrong++;
                memset(host, 0xff, maxn * sizeof *host);
            }
        for (int t = 0; t < tensors; t++) {
            if (ssl3d_uploader_wait(u, tick[cur][t]) != 0) wrong++;
            kernel(d, out + ((size_t)k * 4 + (size_t)t) * maxn, blocks[cur][t], SIZE(k, t));
        }
        if (ahead && k + 1 < steps)
            for (int t = 0; t < tensors; t++) {
                for (size_t i = 0; i < SIZE(k + 1, t); i++) host[i] = value(k + 1, i) + (float)t;
                if (ssl3d_uploader_begin(u, blocks[nxt][t], host, SIZE(k + 1, t) * sizeof(float), &tick[nxt][t]))
                    wrong++;
                memset(host, 0xff, maxn * sizeof *host);
            }
        if (k % 4 == 3) force_stream(d, COMPUTE);   /* now and then the host reads a loss */
    }
    force_stream(d, COMPUTE);
    force_stream(d, COPY);
    for (int k = 0; k < steps; k++)
        for (int t = 0; t < tensors; t++)
            for (size_t i = 0; i < SIZE(k, t); i++)
                wrong += out[((size_t)k * 4 + (size_t)t) * maxn + i] != value(k, i) + (float)t;
#undef SIZE
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < tensors; t++) free(blocks[b][t]);
    free(host);
    free(out);
    return wrong + d->deadlock;
}

/* Every schedule, prefetch position and tensor count: the kernels read every batch intact. */
TEST(cuda_upload_overlapped_batches_arrive_intact_under_every_schedule) {
    for (int eager = 0; eager < 2; eager++)
        for (int ahead = 0; ahead < 2; ahead++)
            for (int tensors = 1; tensors <= 4; tensors += 3) {
                fdev *d = fdev_new(eager);
                ssl3d_uploader u;
                ssl3d_uploader_init(&u, &OPS, d, 0);
                const long wrong = train_loop(d, &u, 23, tensors, ahead, 3000);
                CHECK_MSG(wrong == 0, "%s stream eager, batch begun %s the step's kernels, %d tensors: %ld wrong",
                          eager == COPY ? "copy" : "compute", ahead ? "after" : "before", tensors, wrong);
                CHECK(d->sync_uploads == 0 && u.sync_bytes == 0);   /* all went through the copy stream */
                CHECK(u.uploads == 23 * tensors && u.async_bytes > 0);
                /* No more buffers than tensors in flight, and each pinned once per size step. */
                CHECK_MSG(d->allocs <= SSL3D_UPLOAD_SLOTS && u.pinned_bytes <= (size_t)SSL3D_UPLOAD_SLOTS * (64u << 10),
                          "%d pinned allocations, %zu bytes", d->allocs, u.pinned_bytes);
                ssl3d_uploader_destroy(&u);
                CHECK(d->allocs == d->frees);
                free(d);
            }
}

/* Buffers whose copy is done are reused, the smallest that fits; a larger upload grows an
 * empty one first. */
TEST(cuda_upload_reuses_free_buffers_smallest_fit_first) {
    fdev *d = fdev_new(COPY);
    d->both_eager = 1;          /* copies complete at once: every buffer is free again */
    ssl3d_uploader u;
    ssl3d_uploader_init(&u, &OPS, d, 0);
    const size_t A = 200000, B = 70000, C = 300000;
    char *src = calloc(C, 1), *dst = calloc(C, 1);
    int64_t tk;
    for (int i = 0; i < 6; i++) {
        src[0] = (char)i;
        CHECK(ssl3d_uploader_begin(&u, dst, src, i % 2 ? B : A, &tk) == 0 && tk > 0);
        CHECK(ssl3d_uploader_wait(&u, tk) == 0);
        CHECK(dst[0] == (char)i);
    }
    CHECK(d->allocs == 1 && u.pinned_bytes == 256u << 10);      /* A's buffer (64 KiB steps) served B too */
    CHECK(ssl3d_uploader_begin(&u, dst, src, C, &tk) == 0);
    CHECK(d->allocs == 2 && d->frees == 0);                     /* an empty slot, the first kept */
    CHECK(ssl3d_uploader_begin(&u, dst, src, B, &tk) == 0);
    CHECK(d->allocs == 2);                                      /* the smaller one fits B */
    CHECK(u.buf[0] && u.cap[0] == 256u << 10 && u.ticket[0] == tk);
    ssl3d_uploader_destroy(&u);
    CHECK(d->frees == 2);
    free(src); free(dst); free(d);
}

/* Without pinned memory, or above max_bytes, uploads are synchronous (ticket 0, nothing
 * to wait for) and correct; pinning is tried again on the next upload. */
TEST(cuda_upload_without_pinned_memory_or_too_large_is_synchronous) {
    fdev *d = fdev_new(COMPUTE);
    ssl3d_uploader u;
    ssl3d_uploader_init(&u, &OPS, d, 1000);
    d->allocs_left = 0;
    float src[300], dst[300] = { 0 };
    for (int i = 0; i < 300; i++) src[i] = (float)i;
    int64_t tk = -5;
    CHECK(ssl3d_uploader_begin(&u, dst, src, 200 * sizeof(float), &tk) == 0);
    CHECK(tk == 0 && d->sync_uploads == 1 && u.alloc_failures == 1 && !memcmp(dst, src, 200 * sizeof(float)));
    CHECK(ssl3d_uploader_wait(&u, tk) == 0);
    d->allocs_left = -1;                                         /* memory again */
    CHECK(ssl3d_uploader_begin(&u, dst, src, 100 * sizeof(float), &tk) == 0 && tk > 0 && d->allocs == 1);
    CHECK(ssl3d_uploader_wait(&u, tk) == 0);
    CHECK(ssl3d_uploader_begin(&u, dst, src, 300 * sizeof(float), &tk) == 0);   /* 1200 > max_bytes 1000 */
    CHECK(tk == 0 && d->sync_uploads == 2 && u.sync_bytes == 500 * sizeof(float));
    force_stream(d, COPY);
    CHECK(!memcmp(dst, src, sizeof src));
    CHECK(ssl3d_uploader_begin(&u, dst, src, 0, &tk) == 0 && tk == 0);        /* nothing at all */
    ssl3d_uploader_destroy(&u);
    CHECK(d->allocs == d->frees && !d->deadlock);
    free(d);
}

/* Each failing callback makes begin / wait fail (-1, ticket 0) and leaves nothing racing:
 * no buffer refilled under a copy, no kernel ahead of its data. The uploader works again
 * afterwards. */
TEST(cuda_upload_failures_are_errors_and_leave_no_race) {
    float src[64], dst[64];
    for (int i = 0; i < 64; i++) src[i] = (float)i + 0.5f;
    int64_t tk;
    fdev *d = fdev_new(COMPUTE);
    ssl3d_uploader u;
    ssl3d_uploader_init(&u, &OPS, d, 0);
    /* The copy stream cannot be ordered after compute: nothing queued. */
    d->fail_order = 1;
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == -1 && tk == 0);
    CHECK(d->s[COPY].head == d->s[COPY].tail && !u.busy[0]);
    d->fail_order = 0;
    /* The copy was queued but its event not recorded: the copy stream is drained. */
    d->fail_copy_queued = 1;
    memset(dst, 0, sizeof dst);
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == -1 && tk == 0);
    CHECK(d->copy_syncs == 1 && d->s[COPY].head == d->s[COPY].tail && !memcmp(dst, src, sizeof src));
    CHECK(!u.busy[0] && !u.busy[1] && !u.broken);
    d->fail_copy_queued = 0;
    /* ... and when even the drain fails, copy-stream uploads stop: synchronous from now on. */
    d->fail_copy_queued = 1;
    d->fail_copy_sync = 1;
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == -1 && u.broken);
    d->fail_copy_queued = 0;
    d->fail_copy_sync = 0;
    memset(dst, 0, sizeof dst);
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == 0 && tk == 0 && !memcmp(dst, src, sizeof src));
    ssl3d_uploader_destroy(&u);
    free(d);

    /* The compute stream cannot be made to wait: the host waits for the copy instead. */
    d = fdev_new(COMPUTE);
    ssl3d_uploader_init(&u, &OPS, d, 0);
    memset(dst, 0, sizeof dst);
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == 0 && tk > 0);
    CHECK(dst[5] == 0.0f);                                       /* lazy copy: not yet */
    d->fail_compute_wait = 1;
    CHECK(ssl3d_uploader_wait(&u, tk) == -1);
    CHECK(!memcmp(dst, src, sizeof src) && !u.busy[0]);         /* landed before wait returned */
    d->fail_compute_wait = 0;
    /* A failed query or host wait: begin fails, and the busy buffer is not refilled. */
    int64_t first = 0;
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &first) == 0 && u.busy[0] && u.ticket[0] == first);
    d->fail_query = 1;
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == -1 && tk == 0);
    d->fail_query = 0;
    float other[64];
    for (int i = 0; i < 64; i++) other[i] = -1.0f - (float)i;
    for (int i = 1; i < SSL3D_UPLOAD_SLOTS; i++)                 /* every buffer busy (lazy copies) */
        CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == 0);
    d->fail_host_wait = 1;
    CHECK(ssl3d_uploader_begin(&u, dst, other, sizeof other, &tk) == -1 && tk == 0);
    d->fail_host_wait = 0;
    CHECK(u.busy[0] && u.ticket[0] == first);
    force_stream(d, COPY);
    CHECK(!memcmp(dst, src, sizeof src));                        /* no buffer was overwritten with `other` */
    ssl3d_uploader_destroy(&u);
    CHECK(d->allocs == d->frees && !d->deadlock);
    free(d);
}

/* destroy waits for the copies still running before the buffers go. */
TEST(cuda_upload_destroy_waits_for_running_copies) {
    fdev *d = fdev_new(COMPUTE);
    ssl3d_uploader u;
    ssl3d_uploader_init(&u, &OPS, d, 0);
    float src[32], dst[32] = { 0 };
    for (int i = 0; i < 32; i++) src[i] = (float)(3 * i);
    int64_t tk;
    CHECK(ssl3d_uploader_begin(&u, dst, src, sizeof src, &tk) == 0);
    CHECK(dst[1] == 0.0f);
    ssl3d_uploader_destroy(&u);
    CHECK(d->copy_syncs == 1 && !memcmp(dst, src, sizeof src) && d->frees == 1);
    free(d);
}

/* The scenario catches each race: without the copy stream's wait for compute (copy eager,
 * compute lazy), without the compute stream's wait for the copy (compute eager), or with
 * a buffer refilled while its copy has not run (a query that lies), the kernels read
 * wrong data. */
TEST(cuda_upload_races_are_caught_when_a_wait_is_left_out) {
    static const char *const what[3] = { "order_after_compute", "compute_wait", "waiting for a buffer's copy" };
    for (int m = 0; m < 3; m++) {
        fdev *d = fdev_new(m == 0 ? COPY : COMPUTE);
        if (m == 0) d->skip_order = 1;
        else if (m == 1) d->skip_compute_wait = 1;
        else d->query_lies = 1;
        ssl3d_uploader u;
        ssl3d_uploader_init(&u, &OPS, d, 0);
        const long wrong = train_loop(d, &u, 12, 1, 1, 500);
        CHECK_MSG(wrong > 0, "without %s the loop still read every batch intact: the test cannot fail", what[m]);
        ssl3d_uploader_destroy(&u);
        free(d);
    }
}
