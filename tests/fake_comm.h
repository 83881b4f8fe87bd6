/* A fake in-process communicator for the tests of ssl3d/comm.h: its ranks are threads of
 * this process, each with its own context, meeting at a pthread barrier. The world says
 * which memory the tables declare (SSL3D_COMM_DEVICE_MEMORY on a CPU context runs the
 * device-bucket path of src/core/comm.c with the CPU's kernels). Included by
 * test_comm.c and test_comm_device.c. */
#ifndef SSL3D_TEST_FAKE_COMM_H
#define SSL3D_TEST_FAKE_COMM_H
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "ssl3d.h"

#define RANKS 2       /* the world of most tests here */
#define MAX_RANKS 4

/* ---------------------------------------------------------------- fake communicator */

typedef struct fake_world {
    pthread_barrier_t bar;
    int32_t memory;        /* SSL3D_COMM_*_MEMORY the tables declare */
    const char *error;     /* last_error's text (NULL: none) */
    void *slot[MAX_RANKS];
    int64_t len[MAX_RANKS];
    int mismatch;          /* ranks called a collective with different sizes */
    int fail_code;         /* non-zero: every allreduce returns it */
    int size;              /* ranks (0: RANKS) */
} fake_world;

static inline int world_size(const fake_world *w) { return w->size ? w->size : RANKS; }

typedef struct fake_rank {
    fake_world *w;
    int32_t rank;
    int allreduces, broadcasts;
    int64_t largest;       /* largest allreduce, floats */
    int rooted;            /* broadcasts this rank was the root of */
} fake_rank;

static inline int32_t f_rank(void *u) { return ((fake_rank *)u)->rank; }
static inline int32_t f_size(void *u) { return world_size(((fake_rank *)u)->w); }

static inline int32_t f_allreduce(void *u, float *buf, int64_t n) {
    fake_rank *r = u;
    fake_world *w = r->w;
    r->allreduces++;
    if (n > r->largest) r->largest = n;
    if (w->fail_code) return w->fail_code;
    w->slot[r->rank] = buf;
    w->len[r->rank] = n;
    pthread_barrier_wait(&w->bar);
    for (int k = 0; k < world_size(w); k++) if (w->len[k] != n) w->mismatch = 1;
    float *sum = calloc((size_t)n + 1, sizeof *sum);
    for (int k = 0; k < world_size(w); k++)
        for (int64_t i = 0; i < n && w->len[k] == n; i++) sum[i] += ((float *)w->slot[k])[i];
    pthread_barrier_wait(&w->bar);   /* everyone has read every buffer */
    memcpy(buf, sum, (size_t)n * sizeof *buf);
    free(sum);
    pthread_barrier_wait(&w->bar);
    return 0;
}

static inline int32_t f_broadcast(void *u, void *buf, int64_t bytes, int32_t root) {
    fake_rank *r = u;
    fake_world *w = r->w;
    r->broadcasts++;
    r->rooted += r->rank == root;
    w->slot[r->rank] = buf;
    w->len[r->rank] = bytes;
    pthread_barrier_wait(&w->bar);
    for (int k = 0; k < world_size(w); k++) if (w->len[k] != bytes) w->mismatch = 1;
    if (r->rank != root) memcpy(buf, w->slot[root], (size_t)bytes);
    pthread_barrier_wait(&w->bar);
    return 0;
}

static inline int32_t f_barrier(void *u) {
    pthread_barrier_wait(&((fake_rank *)u)->w->bar);
    return 0;
}

static inline const char *f_last_error(void *u) { return ((fake_rank *)u)->w->error; }

static inline ssl3d_comm fake_comm(fake_rank *r) {
    ssl3d_comm c = { .abi = SSL3D_COMM_ABI, .user = r, .rank = f_rank, .size = f_size, .allreduce_sum_f32 = f_allreduce,
                     .broadcast = f_broadcast, .barrier = f_barrier, .memory = r->w ? r->w->memory : SSL3D_COMM_HOST_MEMORY,
                     .last_error = f_last_error };
    return c;
}

/* Run fn(arg[r]) on n threads. */
static inline void run_n_ranks(void *(*fn)(void *), void *args, size_t arg_size, int n) {
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < n; r++) pthread_create(&th[r], NULL, fn, (char *)args + (size_t)r * arg_size);
    for (int r = 0; r < n; r++) pthread_join(th[r], NULL);
}

static inline void run_ranks(void *(*fn)(void *), void *args, size_t arg_size) { run_n_ranks(fn, args, arg_size, RANKS); }

#endif
