/* Device-memory communicators (ssl3d/comm.h: SSL3D_COMM_DEVICE_MEMORY, ssl3d_comm_create_nccl)
 * without a GPU, and the NCCL communicator itself where a CUDA device is present.
 *   - The device-bucket path of src/core/comm.c runs on CPU contexts whose backend table
 *     counts host traffic and device copies: a fake world of 3 ranks declaring device
 *     memory must give bit for bit what the host path gives, through the backend's copy and
 *     scale kernels, with no gradient byte crossing to the host.
 *   - ssl3d_comm_create_nccl's errors: not a CUDA context, a plugin built without NCCL, a
 *     rank that cannot load NCCL (every rank stops, none waits), a plugin table that is
 *     incomplete; ssl3d_comm_destroy.
 *   - The real plugin's NCCL slot without a device, through `ssl3d info --backends` (a fresh
 *     process: the suite's other tests load fake plugins): NCCL found and its version, and
 *     a clear reason when $SSL3D_NCCL_LIBRARY names a missing file.
 *   - With a CUDA device: 1 rank of NCCL on device buffers (allreduce = input, broadcast,
 *     barrier); skipped here. tools/gpu-check.sh runs it on a GPU machine. */
#include <math.h>
#include <stdio.h>
#include <unistd.h>
#include "harness.h"
#include "fake_comm.h"
#include "../src/core/internal.h"

#ifndef SSL3D_TEST_NCCL
#define SSL3D_TEST_NCCL 0   /* the Makefile says whether the CUDA plugin was built with NCCL */
#endif

/* ---------------------------------------------------------------- counting backend */

/* The CPU table with host_memory 0 and counters on the memory slots, per rank thread. */
static ssl3d_backend counting;
static const ssl3d_backend *cpu_table;
static _Thread_local int64_t host_bytes, dev_copies, dev_scales;

static void cnt_to_host(void *s, void *d, const void *p, size_t b) { host_bytes += (int64_t)b; cpu_table->to_host(s, d, p, b); }
static void cnt_from_host(void *s, void *d, const void *p, size_t b) {
    host_bytes += (int64_t)b;
    cpu_table->from_host(s, d, p, b);
}
static void cnt_copy(void *s, void *d, const void *p, size_t b) { dev_copies++; cpu_table->copy(s, d, p, b); }
static void cnt_scale_add(const ssl3d_kctx *k, float a, const float *x, float b, const float *y, float *o, int64_t n) {
    dev_scales++;
    cpu_table->scale_add(k, a, x, b, y, o, n);
}

static void counting_init(void) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    cpu_table = ctx->be;
    counting = *ctx->be;
    counting.name = "counting-device";
    counting.host_memory = 0;
    counting.to_host = cnt_to_host;
    counting.from_host = cnt_from_host;
    counting.copy = cnt_copy;
    counting.scale_add = cnt_scale_add;
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- device buckets */

#define WORLD 3   /* the mean is sum * (1/3): rounding that both paths must share */
#define NP 3
static const int64_t SHAPES[NP][2] = { { 3, 5 }, { 7, 1 }, { 2, 2 } };

typedef struct dev_job {
    fake_rank fr;
    ssl3d_status st;
    float grads[NP][16];
    float extra[2];
    float wrap[3];             /* ssl3d_comm_allreduce_sum of host floats */
    unsigned char bytes[6];    /* ssl3d_comm_broadcast of 6 bytes from rank 1 */
    int32_t ints[5];           /* ssl3d_comm_broadcast_tensors of an int32 tensor from rank 2 */
    int64_t host_bytes, copies, scales, allreduces;   /* during ssl3d_comm_average_grads */
} dev_job;

static float grad_value(int r, int k, int64_t i) { return (float)(0.37 * (r + 1) + 1.3 * k - 0.011 * (double)i * (r + 2)); }

static void *dev_rank(void *arg) {
    dev_job *j = arg;
    const int r = j->fr.rank;
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ctx->be = &counting;
    ssl3d_comm c = fake_comm(&j->fr);
    j->st = ssl3d_ctx_set_comm(ctx, &c);
    if (j->st == SSL3D_OK) j->st = ssl3d_ctx_set_comm_bucket_bytes(ctx, 6 * 4);   /* 21 floats -> 4 buckets */
    ssl3d_tensor *p[NP];
    for (int k = 0; k < NP; k++) {
        const int64_t n = SHAPES[k][0] * SHAPES[k][1];
        float v[16];
        for (int64_t i = 0; i < n; i++) v[i] = grad_value(r, k, i);
        ssl3d_tensor_create(ctx, SSL3D_F32, 2, SHAPES[k], &p[k]);
        if (k == 1) continue;   /* frozen */
        ssl3d_tensor_set_requires_grad(ctx, p[k], 1);
        ssl3d_tensor *w = NULL, *s = NULL;   /* grad = v: backward of sum_i p_i * v_i */
        ssl3d_tensor_create(ctx, SSL3D_F32, 2, SHAPES[k], &w);
        ssl3d_tensor_write(ctx, w, v, n * 4);
        ssl3d_weighted_sum(ctx, p[k], w, &s);
        ssl3d_backward(ctx, s);
        ssl3d_tensor_release(w);
        ssl3d_tensor_release(s);
    }
    j->extra[0] = (float)(r + 1) / 7.0f;
    j->extra[1] = -2.5f;
    host_bytes = dev_copies = dev_scales = 0;
    const int before = j->fr.allreduces;
    if (j->st == SSL3D_OK) j->st = ssl3d_comm_average_grads(ctx, p, NP, j->extra, 2);
    j->host_bytes = host_bytes;
    j->copies = dev_copies;
    j->scales = dev_scales;
    j->allreduces = j->fr.allreduces - before;
    for (int k = 0; k < NP; k++) ssl3d_tensor_read_grad(ctx, p[k], j->grads[k], SHAPES[k][0] * SHAPES[k][1]);
    j->wrap[0] = 0.5f + (float)r;
    j->wrap[1] = 1.0f / 3.0f;
    j->wrap[2] = -1.0f;
    if (j->st == SSL3D_OK) j->st = ssl3d_comm_allreduce_sum(ctx, j->wrap, 3);
    for (int i = 0; i < 6; i++) j->bytes[i] = (unsigned char)(r * 10 + i);
    if (j->st == SSL3D_OK) j->st = ssl3d_comm_broadcast(ctx, j->bytes, 6, 1);
    int32_t iv[5];
    for (int i = 0; i < 5; i++) iv[i] = r * 100 + i;
    const int64_t ishape[1] = { 5 };
    ssl3d_tensor *it = NULL;
    ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, ishape, iv, &it);
    if (j->st == SSL3D_OK) j->st = ssl3d_comm_broadcast_tensors(ctx, &it, 1, 2);
    ssl3d_tensor_read(ctx, it, j->ints, sizeof j->ints);
    ssl3d_tensor_release(it);
    for (int k = 0; k < NP; k++) ssl3d_tensor_release(p[k]);
    ssl3d_ctx_release(ctx);
    return NULL;
}

static void run_world(int32_t memory, dev_job *jobs) {
    fake_world w = { 0 };
    w.size = WORLD;
    w.memory = memory;
    pthread_barrier_init(&w.bar, NULL, WORLD);
    memset(jobs, 0, WORLD * sizeof *jobs);
    for (int r = 0; r < WORLD; r++) { jobs[r].fr.w = &w; jobs[r].fr.rank = r; }
    run_n_ranks(dev_rank, jobs, sizeof jobs[0], WORLD);
    pthread_barrier_destroy(&w.bar);
    CHECK(!w.mismatch);
}

TEST(comm_device_memory_buckets_match_host_path) {
    counting_init();
    dev_job host[WORLD], dev[WORLD];
    run_world(SSL3D_COMM_HOST_MEMORY, host);
    run_world(SSL3D_COMM_DEVICE_MEMORY, dev);
    for (int r = 0; r < WORLD; r++) {
        CHECK_MSG(host[r].st == SSL3D_OK && dev[r].st == SSL3D_OK, "rank %d: host %s, device %s", r,
                  ssl3d_status_string(host[r].st), ssl3d_status_string(dev[r].st));
        /* Same buckets: 15 + 4 trainable floats and 2 extras, 6 per bucket. */
        CHECK_MSG(host[r].allreduces == 4 && dev[r].allreduces == 4, "rank %d: %lld and %lld allreduces", r,
                  (long long)host[r].allreduces, (long long)dev[r].allreduces);
        /* Host path: every gradient byte goes to the host and back; no device kernel. */
        CHECK_MSG(host[r].host_bytes == 2 * 19 * 4 && host[r].copies == 0 && host[r].scales == 0,
                  "rank %d host path: %lld host bytes, %lld copies, %lld scales", r, (long long)host[r].host_bytes,
                  (long long)host[r].copies, (long long)host[r].scales);
        /* Device path: only the 2 host extras cross; gradients are packed, scaled (once per
         * bucket) and unpacked by the backend. */
        CHECK_MSG(dev[r].host_bytes == 2 * 2 * 4 && dev[r].copies >= 2 * 3 && dev[r].scales == 4,
                  "rank %d device path: %lld host bytes, %lld copies, %lld scales", r, (long long)dev[r].host_bytes,
                  (long long)dev[r].copies, (long long)dev[r].scales);
        /* Bit for bit the host path's values (== also equates -0 and +0, which differ
         * only in sign when every rank's gradient is -0). */
        for (int k = 0; k < NP; k++)
            for (int64_t i = 0; i < SHAPES[k][0] * SHAPES[k][1]; i++) {
                CHECK_MSG(dev[r].grads[k][i] == host[r].grads[k][i], "rank %d grad %d[%lld]: device %.9g host %.9g", r,
                          k, (long long)i, dev[r].grads[k][i], host[r].grads[k][i]);
                double mean = 0;
                for (int q = 0; q < WORLD; q++) mean += k == 1 ? 0.0 : (double)grad_value(q, k, i);
                CHECK_NEAR(dev[r].grads[k][i], mean / WORLD, 1e-6 * (1 + fabs(mean)));
            }
        CHECK(dev[r].extra[0] == host[r].extra[0] && dev[r].extra[1] == host[r].extra[1]);
        CHECK_NEAR(dev[r].extra[0], (1 + 2 + 3) / 7.0 / 3, 1e-7);
        CHECK(!memcmp(dev[r].wrap, host[r].wrap, sizeof dev[r].wrap));
        CHECK_NEAR(dev[r].wrap[0], 0.5 + 1.5 + 2.5, 1e-6);
        CHECK_NEAR(dev[r].wrap[2], -3, 0);
        for (int i = 0; i < 6; i++) CHECK(dev[r].bytes[i] == 10 + i && host[r].bytes[i] == 10 + i);
        for (int i = 0; i < 5; i++) CHECK(dev[r].ints[i] == 200 + i && host[r].ints[i] == 200 + i);
    }
}

/* ---------------------------------------------------------------- ssl3d_comm_create_nccl */

/* A stand-in for the CUDA plugin's table: the CPU kernels, kind cuda, and fake NCCL ops
 * whose probe fails on the ranks listed in probe_fails. */
static ssl3d_backend fake_cuda;
static int probe_fails[WORLD], creates, destroys, create_host_table;
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int this_rank;

static ssl3d_status fake_probe(char *msg, size_t cap) {
    if (probe_fails[this_rank]) {
        snprintf(msg, cap, "NCCL not loadable: fake libnccl missing on rank %d", this_rank);
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    snprintf(msg, cap, "NCCL 2.99.0 (fake)");
    return SSL3D_OK;
}
static void fake_destroy(void *user) {
    pthread_mutex_lock(&fake_lock);
    destroys++;
    pthread_mutex_unlock(&fake_lock);
    free(user);
}
static ssl3d_status fake_create(void *state, const ssl3d_comm *boot, ssl3d_comm *out, char *msg, size_t cap) {
    (void)state; (void)msg; (void)cap;
    pthread_mutex_lock(&fake_lock);
    creates++;
    pthread_mutex_unlock(&fake_lock);
    *out = *boot;   /* the bootstrap's collectives on "device" (here: CPU) memory */
    out->memory = create_host_table ? SSL3D_COMM_HOST_MEMORY : SSL3D_COMM_DEVICE_MEMORY;
    out->destroy = fake_destroy;
    out->user = malloc(sizeof(fake_rank));
    memcpy(out->user, boot->user, sizeof(fake_rank));
    return SSL3D_OK;
}
static const ssl3d_device_comm_ops fake_nccl = { "nccl", fake_probe, fake_create };

typedef struct create_job {
    fake_rank fr;
    ssl3d_status st;
    char err[SSL3D_ERRMSG_CAP];
    int32_t memory;
} create_job;

static void *create_rank(void *arg) {
    create_job *j = arg;
    this_rank = j->fr.rank;
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ctx->be = &fake_cuda;
    ssl3d_comm boot = fake_comm(&j->fr);
    ssl3d_comm *c = NULL;
    j->st = ssl3d_comm_create_nccl(ctx, &boot, &c);
    snprintf(j->err, sizeof j->err, "%s", ssl3d_ctx_last_error(ctx));
    j->memory = c ? c->memory : -1;
    if (c && j->st == SSL3D_OK) j->st = ssl3d_ctx_set_comm(ctx, c);
    ssl3d_ctx_set_comm(ctx, NULL);
    ssl3d_comm_destroy(c);
    ssl3d_ctx_release(ctx);
    return NULL;
}

static void run_create(create_job *jobs, int size) {
    fake_world w = { 0 };
    w.size = size;
    pthread_barrier_init(&w.bar, NULL, (unsigned)size);
    memset(jobs, 0, (size_t)size * sizeof *jobs);
    for (int r = 0; r < size; r++) { jobs[r].fr.w = &w; jobs[r].fr.rank = r; }
    run_n_ranks(create_rank, jobs, sizeof jobs[0], size);
    pthread_barrier_destroy(&w.bar);
}

TEST(comm_create_nccl_errors_without_a_gpu) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    fake_world w = { 0 };
    fake_rank fr = { 0 };
    fr.w = &w;
    ssl3d_comm boot = fake_comm(&fr), *c = &boot;   /* must come back NULL on failure */
    /* A CPU context: NCCL needs a cuda one. */
    CHECK_ST(ctx, ssl3d_comm_create_nccl(ctx, &boot, &c), SSL3D_ERR_UNSUPPORTED);
    CHECK(c == NULL);
    CHECK_MSG(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_comm_create_nccl: the context's backend is cpu; NCCL works on "
                     "the device memory of a cuda context"), "%s", ssl3d_ctx_last_error(ctx));
    CHECK_ST(ctx, ssl3d_comm_create_nccl(ctx, NULL, &c), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "bootstrap is NULL"));
    boot.memory = SSL3D_COMM_DEVICE_MEMORY;
    CHECK_ST(ctx, ssl3d_comm_create_nccl(ctx, &boot, &c), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "host-memory communicator"));
    boot.memory = SSL3D_COMM_HOST_MEMORY;
    /* A CUDA table without the NCCL slot: a plugin built without NCCL. */
    fake_cuda = *ctx->be;
    fake_cuda.kind = SSL3D_BACKEND_CUDA;
    fake_cuda.name = "cuda";
    fake_cuda.device_comm = NULL;
    const ssl3d_backend *cpu = ctx->be;
    ctx->be = &fake_cuda;
    CHECK_ST(ctx, ssl3d_comm_create_nccl(ctx, &boot, &c), SSL3D_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(ssl3d_ctx_last_error(ctx), "the CUDA plugin was built without NCCL"), "%s",
              ssl3d_ctx_last_error(ctx));
    ctx->be = cpu;
    ssl3d_comm_destroy(NULL);   /* accepted */
    ssl3d_ctx_release(ctx);

    /* Rank 1 of 3 cannot load NCCL: every rank returns (none waits in the id broadcast),
     * rank 1 with its reason, the others saying how many ranks could not. */
    fake_cuda.device_comm = &fake_nccl;
    create_job jobs[WORLD];
    memset(probe_fails, 0, sizeof probe_fails);
    probe_fails[1] = 1;
    creates = destroys = 0;
    run_create(jobs, WORLD);
    CHECK(creates == 0);
    CHECK_MSG(jobs[1].st == SSL3D_ERR_BACKEND_UNAVAILABLE &&
              strstr(jobs[1].err, "on rank 1: NCCL not loadable: fake libnccl missing on rank 1"), "%s", jobs[1].err);
    for (int r = 0; r < WORLD; r += 2)
        CHECK_MSG(jobs[r].st == SSL3D_ERR_BACKEND_UNAVAILABLE && strstr(jobs[r].err, "NCCL not loadable on 1 of the 3 "
                  "ranks"), "rank %d: %s", r, jobs[r].err);
    /* Every rank can: the plugin's create runs on each, its table declares device memory,
     * registers, and ssl3d_comm_destroy calls its destroy. */
    probe_fails[1] = 0;
    run_create(jobs, WORLD);
    CHECK(creates == WORLD && destroys == WORLD);
    for (int r = 0; r < WORLD; r++)
        CHECK_MSG(jobs[r].st == SSL3D_OK && jobs[r].memory == SSL3D_COMM_DEVICE_MEMORY, "rank %d: %s", r, jobs[r].err);
    /* A plugin whose table does not declare device memory is refused, and freed. */
    create_host_table = 1;
    creates = destroys = 0;
    run_create(jobs, 1);
    create_host_table = 0;
    CHECK(creates == 1 && destroys == 1);
    CHECK_MSG(jobs[0].st == SSL3D_ERR_BACKEND_UNAVAILABLE && strstr(jobs[0].err, "table is incomplete"), "%s",
              jobs[0].err);
}

/* ---------------------------------------------------------------- the real plugin */

/* `ssl3d info --backends` in a fresh process (env: extra environment, may be ""). */
static int info_backends(const char *env, char *out, size_t cap) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "env -u SSL3D_CUDA_PLUGIN %s ./bin/ssl3d info --backends", env);
    return th_run(cmd, out, cap);
}

TEST(comm_nccl_probe_of_the_plugin_built_here) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
    if (access("./lib/libssl3d-cuda.so.0", F_OK) != 0) SKIP("CUDA plugin not built (no nvcc, or make CUDA=0)");
    char out[4096];
    info_backends("", out, sizeof out);
    if (!SSL3D_TEST_NCCL) {
        CHECK_MSG(strstr(out, "nccl  unavailable: the CUDA plugin was built without NCCL"), "%s", out);
        return;
    }
    /* Found without a device: loaded with dlopen, version read, nothing else touched. */
    CHECK_MSG(strstr(out, "nccl  available: NCCL 2.") && strstr(out, "libnccl.so.2)"), "%s", out);
    info_backends("SSL3D_NCCL_LIBRARY=/nonexistent/libnccl.so.2", out, sizeof out);
    CHECK_MSG(strstr(out, "nccl  unavailable: NCCL not loadable: /nonexistent/libnccl.so.2: "), "%s", out);
    /* A library that is not NCCL is named as such. */
    info_backends("SSL3D_NCCL_LIBRARY=libz.so.1", out, sizeof out);
    CHECK_MSG(strstr(out, "nccl  unavailable: NCCL not loadable: libz.so.1 has no ncclGetVersion"), "%s", out);
}

/* A host "bootstrap" of one rank. */
static int32_t one_rank(void *u) { (void)u; return 0; }
static int32_t one_size(void *u) { (void)u; return 1; }
static int32_t one_allreduce(void *u, float *b, int64_t n) { (void)u; (void)b; (void)n; return 0; }
static int32_t one_broadcast(void *u, void *b, int64_t n, int32_t r) { (void)u; (void)b; (void)n; (void)r; return 0; }
static int32_t one_barrier(void *u) { (void)u; return 0; }

TEST(comm_nccl_one_rank_on_a_cuda_device) {
    ssl3d_ctx *ctx = NULL;
    static char why[1100];
    char msg[1024] = "";
    if (ssl3d_ctx_create(SSL3D_BACKEND_CUDA, &ctx) != SSL3D_OK) {
        ssl3d_backend_probe(SSL3D_BACKEND_CUDA, msg, sizeof msg);
        snprintf(why, sizeof why, "no CUDA context: %s", msg);
        SKIP(why);
    }
    if (!SSL3D_TEST_NCCL) {
        ssl3d_ctx_release(ctx);
        SKIP("CUDA plugin built without NCCL");
    }
    ssl3d_comm boot = { .abi = SSL3D_COMM_ABI, .rank = one_rank, .size = one_size, .allreduce_sum_f32 = one_allreduce,
                        .broadcast = one_broadcast, .barrier = one_barrier };
    ssl3d_comm *c = NULL;
    REQUIRE_OK(ctx, ssl3d_comm_create_nccl(ctx, &boot, &c));
    CHECK(c->memory == SSL3D_COMM_DEVICE_MEMORY && c->rank(c->user) == 0 && c->size(c->user) == 1);
    /* One rank: the sum is the input, the broadcast leaves it, on device memory. */
    enum { N = 1000 };
    float v[N], back[N];
    for (int i = 0; i < N; i++) v[i] = (float)i * 0.25f - 7.0f;
    const int64_t shape[1] = { N };
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, 1, shape, v, &t));
    CHECK_MSG(c->allreduce_sum_f32(c->user, t->data, N) == 0, "%s", c->last_error(c->user));
    CHECK_MSG(c->broadcast(c->user, t->data, N * 4, 0) == 0, "%s", c->last_error(c->user));
    CHECK_MSG(c->barrier(c->user) == 0, "%s", c->last_error(c->user));
    CHECK_OK(ctx, ssl3d_tensor_read(ctx, t, back, sizeof back));
    CHECK(!memcmp(v, back, sizeof v));
    /* Registered on its context; the wrappers stage host memory through it. */
    CHECK_OK(ctx, ssl3d_ctx_set_comm(ctx, c));
    CHECK_OK(ctx, ssl3d_comm_barrier(ctx));
    CHECK_OK(ctx, ssl3d_ctx_set_comm(ctx, NULL));
    ssl3d_tensor_release(t);
    ssl3d_comm_destroy(c);
    ssl3d_ctx_release(ctx);
}

/* Device choice for ranks (ssl3d_ctx_create_on_device, ssl3d_backend_device_count): the CPU
 * is one device; out of range is refused and leaves *out alone. */
TEST(ctx_create_on_device_and_device_count) {
    int32_t n = -1;
    char msg[256];
    CHECK(ssl3d_backend_device_count(SSL3D_BACKEND_CPU, &n, msg, sizeof msg) == SSL3D_OK && n == 1);
    CHECK(ssl3d_backend_device_count(7, &n, msg, sizeof msg) == SSL3D_ERR_BACKEND_UNAVAILABLE && n == 0);
    CHECK_MSG(strstr(msg, "unknown backend kind 7"), "%s", msg);
    CHECK(ssl3d_backend_device_count(SSL3D_BACKEND_CPU, NULL, msg, sizeof msg) == SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx *ctx = (ssl3d_ctx *)0x1;
    CHECK(ssl3d_ctx_create_on_device(SSL3D_BACKEND_CPU, 1, &ctx) == SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_ctx_create_on_device(SSL3D_BACKEND_CPU, -1, &ctx) == SSL3D_ERR_INVALID_ARG);
    CHECK(ctx == (ssl3d_ctx *)0x1);
    REQUIRE(ssl3d_ctx_create_on_device(SSL3D_BACKEND_CPU, 0, &ctx) == SSL3D_OK);
    CHECK(!strcmp(ssl3d_ctx_backend_name(ctx), "cpu"));
    ssl3d_ctx_release(ctx);
}
