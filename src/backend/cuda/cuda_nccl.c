/* NCCL communicator of the CUDA backend (backend.h: ssl3d_device_comm_ops; the library's
 * ssl3d_comm_create_nccl). Compiled only when the Makefile finds nccl.h (NCCL=auto|1).
 *
 * libnccl.so.2 is dlopen()ed on first use, not linked: the plugin keeps loading, and
 * single-GPU training keeps working, on a machine without NCCL; only the types and
 * prototypes come from nccl.h. Where it is looked for: $SSL3D_NCCL_LIBRARY (that file
 * only), else libnccl.so.2 on the loader's path (the plugin's RUNPATH, LD_LIBRARY_PATH,
 * ldconfig), else the directory NCCL was found in at build time (SSL3D_NCCL_LIBDIR).
 *
 * Every collective runs on the context's stream, so it is ordered with the kernels that
 * pack and unpack the gradient buckets (src/core/comm.c) without a host synchronisation.
 * Failures return the ncclResult_t and keep "call: ncclGetErrorString" for last_error;
 * nothing here aborts or prints. Not yet run on a GPU (docs/distributed.md). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nccl.h>
#include "cuda_plugin.h"

#ifndef SSL3D_NCCL_LIBDIR
#define SSL3D_NCCL_LIBDIR ""
#endif

/* The entry points used, resolved from the loaded library. */
typedef struct nccl_lib {
    void *handle;
    char file[512];
    int version;   /* ncclGetVersion: major * 10000 + minor * 100 + patch */
    __typeof__(ncclGetVersion) *get_version;
    __typeof__(ncclGetUniqueId) *get_unique_id;
    __typeof__(ncclCommInitRank) *comm_init_rank;
    __typeof__(ncclCommDestroy) *comm_destroy;
    __typeof__(ncclCommAbort) *comm_abort;
    __typeof__(ncclCommGetAsyncError) *comm_get_async_error;
    __typeof__(ncclAllReduce) *all_reduce;
    __typeof__(ncclBroadcast) *broadcast;
    __typeof__(ncclGetErrorString) *get_error_string;
} nccl_lib;

/* Loaded once per process and kept (like the plugin itself); a failed attempt is not
 * remembered, so a fixed environment is seen by the next call. */
static nccl_lib g_lib;
static int g_loaded;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void *open_lib(const char *file, nccl_lib *l, char *msg, size_t cap) {
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(msg, cap, "NCCL not loadable: %s", e ? e : file);
        return NULL;
    }
    snprintf(l->file, sizeof l->file, "%s", file);
    return h;
}

#define RESOLVE(field, sym) \
    do { \
        void *p_ = dlsym(l->handle, sym); \
        memcpy(&l->field, &p_, sizeof p_); \
        if (!p_) { snprintf(msg, cap, "NCCL not loadable: %s has no %s", l->file, sym); goto bad; } \
    } while (0)

static ssl3d_status load_locked(char *msg, size_t cap) {
    nccl_lib *l = &g_lib;
    memset(l, 0, sizeof *l);
    const char *env = getenv("SSL3D_NCCL_LIBRARY");
    if (env && *env) {
        l->handle = open_lib(env, l, msg, cap);   /* an explicit choice: no other copy */
    } else {
        l->handle = open_lib("libnccl.so.2", l, msg, cap);
        if (!l->handle && SSL3D_NCCL_LIBDIR[0]) {
            char path[512], first[256];
            snprintf(first, sizeof first, "%s", msg);
            snprintf(path, sizeof path, "%s/libnccl.so.2", SSL3D_NCCL_LIBDIR);
            l->handle = open_lib(path, l, msg, cap);
            if (!l->handle)
                snprintf(msg, cap, "NCCL not loadable: libnccl.so.2 is not on the loader path (%s) nor in %s "
                         "(set SSL3D_NCCL_LIBRARY or LD_LIBRARY_PATH)", first + strlen("NCCL not loadable: "),
                         SSL3D_NCCL_LIBDIR);
        }
    }
    if (!l->handle) return SSL3D_ERR_BACKEND_UNAVAILABLE;
    RESOLVE(get_version, "ncclGetVersion");
    RESOLVE(get_unique_id, "ncclGetUniqueId");
    RESOLVE(comm_init_rank, "ncclCommInitRank");
    RESOLVE(comm_destroy, "ncclCommDestroy");
    RESOLVE(comm_abort, "ncclCommAbort");
    RESOLVE(comm_get_async_error, "ncclCommGetAsyncError");
    RESOLVE(all_reduce, "ncclAllReduce");
    RESOLVE(broadcast, "ncclBroadcast");
    RESOLVE(get_error_string, "ncclGetErrorString");
    if (l->get_version(&l->version) != ncclSuccess) l->version = 0;
    /* The ABI used here (ncclUniqueId, enums, signatures) is NCCL 2's. */
    if (l->version / 10000 != NCCL_MAJOR) {
        snprintf(msg, cap, "NCCL not loadable: %s is NCCL %d.%d.%d, the plugin was built against NCCL %d", l->file,
                 l->version / 10000, l->version % 10000 / 100, l->version % 100, NCCL_MAJOR);
        goto bad;
    }
    return SSL3D_OK;
bad:
    dlclose(l->handle);
    memset(l, 0, sizeof *l);
    return SSL3D_ERR_BACKEND_UNAVAILABLE;
}

static ssl3d_status load(const nccl_lib **out, char *msg, size_t cap) {
    pthread_mutex_lock(&g_lock);
    ssl3d_status st = g_loaded ? SSL3D_OK : load_locked(msg, cap);
    if (st == SSL3D_OK) g_loaded = 1;
    pthread_mutex_unlock(&g_lock);
    *out = st == SSL3D_OK ? &g_lib : NULL;
    return st;
}

static ssl3d_status nccl_probe(char *msg, size_t cap) {
    const nccl_lib *l;
    ssl3d_status st = load(&l, msg, cap);
    if (st == SSL3D_OK)
        snprintf(msg, cap, "NCCL %d.%d.%d (%s)", l->version / 10000, l->version % 10000 / 100, l->version % 100,
                 l->file);
    return st;
}

/* ---------------------------------------------------------------- one communicator */

typedef struct nccl_comm {
    cuda_state *s;          /* the context's device and stream */
    const nccl_lib *lib;
    ncclComm_t comm;
    int32_t rank, size;
    float *token;           /* one device float: the barrier's allreduce */
    char err[320];          /* last failure, for last_error */
} nccl_comm;

static int32_t nc_rank(void *user) { return ((nccl_comm *)user)->rank; }
static int32_t nc_size(void *user) { return ((nccl_comm *)user)->size; }
static const char *nc_last_error(void *user) {
    nccl_comm *c = user;
    return c->err[0] ? c->err : NULL;
}

/* A call's result, then any asynchronous failure of the communicator (a peer gone, a
 * network error): 0, or the ncclResult_t with the message kept. */
static int32_t nc_result(nccl_comm *c, ncclResult_t r, const char *call) {
    if (r == ncclSuccess) {
        ncclResult_t a = ncclSuccess;
        if (c->lib->comm_get_async_error(c->comm, &a) == ncclSuccess && a != ncclSuccess && a != ncclInProgress) {
            r = a;
            call = "ncclCommGetAsyncError (an earlier collective)";
        }
    }
    if (r == ncclSuccess) return 0;
    snprintf(c->err, sizeof c->err, "%s (rank %d of %d, device %d) failed: %s", call, (int)c->rank, (int)c->size,
             c->s->device, c->lib->get_error_string(r));
    return (int32_t)r;
}

static int32_t nc_allreduce(void *user, float *buf, int64_t n) {
    nccl_comm *c = user;
    int prev = cuda_enter(c->s);
    int32_t rc = nc_result(c, c->lib->all_reduce(buf, buf, (size_t)n, ncclFloat32, ncclSum, c->comm, c->s->stream),
                           "ncclAllReduce");
    cuda_leave(c->s, prev);
    return rc;
}

static int32_t nc_broadcast(void *user, void *buf, int64_t bytes, int32_t root) {
    nccl_comm *c = user;
    int prev = cuda_enter(c->s);
    int32_t rc = nc_result(c, c->lib->broadcast(buf, buf, (size_t)bytes, ncclInt8, (int)root, c->comm, c->s->stream),
                           "ncclBroadcast");
    cuda_leave(c->s, prev);
    return rc;
}

/* NCCL has no barrier: an allreduce of one float, then wait for it on the host. */
static int32_t nc_barrier(void *user) {
    nccl_comm *c = user;
    int prev = cuda_enter(c->s);
    int32_t rc = nc_result(c, c->lib->all_reduce(c->token, c->token, 1, ncclFloat32, ncclSum, c->comm, c->s->stream),
                           "ncclAllReduce (barrier)");
    if (rc == 0) {
        cudaError_t e = cudaStreamSynchronize(c->s->stream);
        if (e != cudaSuccess) {
            snprintf(c->err, sizeof c->err, "cudaStreamSynchronize after the barrier's ncclAllReduce (rank %d): %s",
                     (int)c->rank, cudaGetErrorString(e));
            rc = -1;
        }
    }
    cuda_leave(c->s, prev);
    return rc;
}

static void nc_destroy(void *user) {
    nccl_comm *c = user;
    if (!c) return;
    int prev = cuda_enter(c->s);
    if (c->comm) {
        /* Queued collectives finish first; a communicator in error is aborted instead of
         * destroyed (destroy would wait for peers that may be gone). */
        ncclResult_t a = ncclSuccess;
        cudaStreamSynchronize(c->s->stream);
        if (c->lib->comm_get_async_error(c->comm, &a) == ncclSuccess && a == ncclSuccess) c->lib->comm_destroy(c->comm);
        else c->lib->comm_abort(c->comm);
    }
    if (c->token) cudaFree(c->token);
    cuda_leave(c->s, prev);
    free(c);
}

/* Rank 0's ncclUniqueId, and whether rank 0 could make one, travel together in one host
 * broadcast of the bootstrap communicator. */
typedef struct id_message {
    int32_t ok;
    ncclUniqueId id;
} id_message;

static ssl3d_status nccl_create(void *state, const ssl3d_comm *bootstrap, ssl3d_comm *out, char *msg, size_t cap) {
    cuda_state *s = state;
    const nccl_lib *l;
    ssl3d_status st = load(&l, msg, cap);
    if (st != SSL3D_OK) return st;
    const int32_t rank = bootstrap->rank(bootstrap->user), size = bootstrap->size(bootstrap->user);
    id_message m;
    memset(&m, 0, sizeof m);
    ncclResult_t r = ncclSuccess;
    if (rank == 0) {
        r = l->get_unique_id(&m.id);
        m.ok = r == ncclSuccess;
    }
    int32_t rc = bootstrap->broadcast(bootstrap->user, &m, (int64_t)sizeof m, 0);
    if (rc != 0) {
        snprintf(msg, cap, "broadcast of the ncclUniqueId over the bootstrap communicator failed (code %d)", (int)rc);
        return SSL3D_ERR_IO;
    }
    if (!m.ok) {
        if (rank == 0) snprintf(msg, cap, "ncclGetUniqueId failed: %s", l->get_error_string(r));
        else snprintf(msg, cap, "ncclGetUniqueId failed on rank 0 (see its message)");
        return SSL3D_ERR_DEVICE;
    }
    nccl_comm *c = calloc(1, sizeof *c);
    if (!c) { snprintf(msg, cap, "out of host memory"); return SSL3D_ERR_NOMEM; }
    c->s = s;
    c->lib = l;
    c->rank = rank;
    c->size = size;
    int prev = cuda_enter(s);
    r = l->comm_init_rank(&c->comm, (int)size, m.id, (int)rank);
    if (r != ncclSuccess) {
        snprintf(msg, cap, "ncclCommInitRank (rank %d of %d, device %d) failed: %s", (int)rank, (int)size, s->device,
                 l->get_error_string(r));
        c->comm = NULL;
        st = SSL3D_ERR_DEVICE;
    }
    cudaError_t e = cudaSuccess;
    if (st == SSL3D_OK && (e = cudaMalloc((void **)&c->token, sizeof *c->token)) != cudaSuccess) {
        snprintf(msg, cap, "cudaMalloc (NCCL barrier token) failed: %s", cudaGetErrorString(e));
        c->token = NULL;
        st = cuda_status_of(e);
    }
    cuda_leave(s, prev);
    if (st != SSL3D_OK) {
        nc_destroy(c);
        return st;
    }
    memset(out, 0, sizeof *out);
    out->abi = SSL3D_COMM_ABI;
    out->user = c;
    out->rank = nc_rank;
    out->size = nc_size;
    out->allreduce_sum_f32 = nc_allreduce;
    out->broadcast = nc_broadcast;
    out->barrier = nc_barrier;
    out->memory = SSL3D_COMM_DEVICE_MEMORY;
    out->last_error = nc_last_error;
    out->destroy = nc_destroy;
    snprintf(msg, cap, "NCCL %d.%d.%d, rank %d of %d on device %d", l->version / 10000, l->version % 10000 / 100,
             l->version % 100, (int)rank, (int)size, s->device);
    return SSL3D_OK;
}

const ssl3d_device_comm_ops cuda_nccl_ops = {
    .name = "nccl",
    .probe = nccl_probe,
    .create = nccl_create,
};
