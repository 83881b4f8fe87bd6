/* Creating and destroying a context's CUDA state, and saying exactly why it cannot be
 * created: no driver, driver too old, no device, compute capability too old, a CUDA
 * library that fails to initialise. The reasons start with the categories listed in
 * include/ssl3d/core.h (ssl3d_backend_probe). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_state.h"
#include "kernel_defs.h"
#include "cuda_plugin.h"

#ifndef SSL3D_CUDA_MIN_CC
#error "SSL3D_CUDA_MIN_CC (oldest compute capability compiled for, e.g. 80) comes from the Makefile"
#endif

static void *raw_alloc(void *user, size_t bytes) {
    (void)user;
    void *p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        cudaGetLastError();   /* an OOM is not sticky: clear it, the allocator may retry */
        return NULL;
    }
    return p;
}

static void raw_free(void *user, void *p) {
    (void)user;
    cudaFree(p);
}

/* The driver and the number of devices it shows this process. */
static ssl3d_status count_devices(int *n, char *msg, size_t cap) {
    int drv = 0, rt = 0;
    *n = 0;
    cudaError_t e = cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (e != cudaSuccess || drv == 0) {
        snprintf(msg, cap, "no NVIDIA driver: libcuda.so.1 is not loadable (cudaDriverGetVersion: %s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "no driver installed");
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    e = cudaGetDeviceCount(n);
    if (e == cudaErrorInsufficientDriver) {
        snprintf(msg, cap, "driver too old: it supports CUDA %d.%d, the plugin's runtime is CUDA %d.%d",
                 drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    if (e != cudaSuccess || *n == 0) {
        snprintf(msg, cap, "no CUDA device: cudaGetDeviceCount: %s (CUDA_VISIBLE_DEVICES=%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices", getenv("CUDA_VISIBLE_DEVICES")
                 ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
        cudaGetLastError();
        *n = 0;
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    return SSL3D_OK;
}

ssl3d_status cuda_device_count(int32_t *count, char *msg, size_t cap) {
    int n = 0;
    ssl3d_status st = count_devices(&n, msg, cap);
    *count = (int32_t)n;
    return st;
}

/* The hardware side: driver, device `*device`, compute capability. */
static ssl3d_status check_device(int *device, struct cudaDeviceProp *prop, char *msg, size_t cap) {
    int n = 0;
    ssl3d_status st = count_devices(&n, msg, cap);
    if (st != SSL3D_OK) return st;
    if (*device < 0 || *device >= n) {
        snprintf(msg, cap, "no CUDA device: device %d asked for, %d visible (CUDA_VISIBLE_DEVICES=%s)", *device, n,
                 getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    cudaError_t e = cudaGetDeviceProperties(prop, *device);
    if (e != cudaSuccess) {
        snprintf(msg, cap, "no CUDA device: cudaGetDeviceProperties(%d): %s", *device, cudaGetErrorString(e));
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    if (prop->major * 10 + prop->minor < SSL3D_CUDA_MIN_CC) {
        snprintf(msg, cap, "compute capability too old: device %d (%s) has %d.%d, the plugin was built for "
                 ">= %d.%d (rebuild with CUDA_ARCHS=%d%d)", *device, prop->name, prop->major, prop->minor,
                 SSL3D_CUDA_MIN_CC / 10, SSL3D_CUDA_MIN_CC % 10, prop->major, prop->minor);
        return SSL3D_ERR_BACKEND_UNAVAILABLE;
    }
    return SSL3D_OK;
}

void cuda_state_shutdown(void *state) {
    cuda_state *s = state;
    if (!s) return;
    int prev = cuda_enter(s);
    if (s->stream) cudaStreamSynchronize(s->stream);
    if (s->copy_stream) cudaStreamSynchronize(s->copy_stream);
    if (s->uploader.ops.host_free) ssl3d_uploader_destroy(&s->uploader);
    for (int i = 0; i < SSL3D_UPLOAD_SLOTS; i++)
        if (s->upload_done[i]) cudaEventDestroy(s->upload_done[i]);
    if (s->compute_mark) cudaEventDestroy(s->compute_mark);
    if (s->staging.ops.host_free) ssl3d_staging_destroy(&s->staging);
    for (int i = 0; i < 2; i++)
        if (s->staged[i]) cudaEventDestroy(s->staged[i]);
    cuda_conv_plans_free(s);
    if (s->workspace) cudaFree(s->workspace);
    if (s->dscratch) cudaFree(s->dscratch);
    if (s->hscratch) cudaFreeHost(s->hscratch);
    if (s->cache.raw_alloc) ssl3d_devcache_destroy(&s->cache);
    if (s->dnn) cudnnDestroy(s->dnn);
    if (s->blas) cublasDestroy(s->blas);
    if (s->copy_stream) cudaStreamDestroy(s->copy_stream);
    if (s->stream) cudaStreamDestroy(s->stream);
    cuda_leave(s, prev);
    free(s);
}

/* Failure after the device was found: a library call that should not fail. */
#define INIT_TRY(ok, ...) do { if (!(ok)) { snprintf(msg, cap, __VA_ARGS__); goto fail; } } while (0)

ssl3d_status cuda_state_init(void **state, int32_t device_index, char *msg, size_t cap) {
    *state = NULL;
    int device = (int)device_index;
    struct cudaDeviceProp prop;
    ssl3d_status st = check_device(&device, &prop, msg, cap);
    if (st != SSL3D_OK) return st;
    cuda_state *s = calloc(1, sizeof *s);
    if (!s) { snprintf(msg, cap, "out of host memory"); return SSL3D_ERR_NOMEM; }
    s->device = device;
    int prev = cuda_enter(s);
    cudaError_t e;
    cublasStatus_t be;
    cudnnStatus_t de;
    st = SSL3D_ERR_BACKEND_UNAVAILABLE;
    /* cuDNN and cuBLAS loaded (the dlopen of the plugin proved it); check the versions. */
    size_t dnn_v = cudnnGetVersion();
    INIT_TRY(dnn_v / 10000 == CUDNN_MAJOR, "CUDA libraries not loadable: cuDNN %zu.%zu found, the plugin was "
             "built against cuDNN %d", dnn_v / 10000, dnn_v % 10000 / 100, CUDNN_MAJOR);
    e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    INIT_TRY(e == cudaSuccess, "CUDA library failed: cudaStreamCreateWithFlags: %s", cudaGetErrorString(e));
    be = cublasCreate(&s->blas);
    INIT_TRY(be == CUBLAS_STATUS_SUCCESS, "CUDA library failed: cublasCreate: %s", cublasGetStatusString(be));
    be = cublasSetStream(s->blas, s->stream);
    INIT_TRY(be == CUBLAS_STATUS_SUCCESS, "CUDA library failed: cublasSetStream: %s", cublasGetStatusString(be));
    de = cudnnCreate(&s->dnn);
    INIT_TRY(de == CUDNN_STATUS_SUCCESS, "CUDA library failed: cudnnCreate: %s", cudnnGetErrorString(de));
    de = cudnnSetStream(s->dnn, s->stream);
    INIT_TRY(de == CUDNN_STATUS_SUCCESS, "CUDA library failed: cudnnSetStream: %s", cudnnGetErrorString(de));
    /* Cache at most half the device memory in freed blocks (another context or program
     * may share the device). */
    INIT_TRY(ssl3d_devcache_init(&s->cache, raw_alloc, raw_free, s, prop.totalGlobalMem / 2) == 0,
             "out of host memory");
    e = cudaMalloc((void **)&s->dscratch, (SSL3D_REDUCE_PARTS + SSL3D_REDUCE_FINAL) * sizeof(double));
    INIT_TRY(e == cudaSuccess, "CUDA library failed: cudaMalloc (reduction scratch): %s", cudaGetErrorString(e));
    e = cudaMallocHost((void **)&s->hscratch, SSL3D_REDUCE_FINAL * sizeof(double));
    INIT_TRY(e == cudaSuccess, "CUDA library failed: cudaMallocHost (reduction scratch): %s", cudaGetErrorString(e));
    for (int i = 0; i < 2; i++) {
        e = cudaEventCreateWithFlags(&s->staged[i], cudaEventDisableTiming);
        INIT_TRY(e == cudaSuccess, "CUDA library failed: cudaEventCreateWithFlags (upload staging): %s",
                 cudaGetErrorString(e));
    }
    /* The pinned buffers themselves come with the first upload. */
    ssl3d_staging_init(&s->staging, &cuda_staging_ops, s, SSL3D_STAGING_CHUNK);
    /* Asynchronous uploads: their own stream, so a batch is copied while kernels run. */
    e = cudaStreamCreateWithFlags(&s->copy_stream, cudaStreamNonBlocking);
    INIT_TRY(e == cudaSuccess, "CUDA library failed: cudaStreamCreateWithFlags (copy stream): %s",
             cudaGetErrorString(e));
    for (int i = 0; i < SSL3D_UPLOAD_SLOTS; i++) {
        e = cudaEventCreateWithFlags(&s->upload_done[i], cudaEventDisableTiming);
        INIT_TRY(e == cudaSuccess, "CUDA library failed: cudaEventCreateWithFlags (asynchronous upload): %s",
                 cudaGetErrorString(e));
    }
    e = cudaEventCreateWithFlags(&s->compute_mark, cudaEventDisableTiming);
    INIT_TRY(e == cudaSuccess, "CUDA library failed: cudaEventCreateWithFlags (compute mark): %s", cudaGetErrorString(e));
    ssl3d_uploader_init(&s->uploader, &cuda_uploader_ops, s, 0);
    int blas_v = 0;
    cublasGetVersion(s->blas, &blas_v);
    int drv = 0;
    cudaDriverGetVersion(&drv);
    snprintf(msg, cap, "device %d: %s, compute capability %d.%d, %.1f GiB, driver CUDA %d.%d, cuDNN %zu.%zu.%zu, "
             "cuBLAS %d.%d.%d", device, prop.name, prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30),
             drv / 1000, drv % 1000 / 10, dnn_v / 10000, dnn_v % 10000 / 100, dnn_v % 100, blas_v / 10000,
             blas_v % 10000 / 100, blas_v % 100);
    cuda_leave(s, prev);
    *state = s;
    return SSL3D_OK;
fail:
    if (strstr(msg, "out of host memory")) st = SSL3D_ERR_NOMEM;
    cuda_leave(s, prev);
    cuda_state_shutdown(s);
    return st;
}

ssl3d_status cuda_sync(void *state, char *msg, size_t cap) {
    cuda_state *s = state;
    int prev = cuda_enter(s);
    cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (an earlier queued kernel or copy)");
    cuda_leave(s, prev);
    ssl3d_status st = s->err;
    if (st != SSL3D_OK) {
        snprintf(msg, cap, "%s", s->errmsg);
        s->err = SSL3D_OK;
        s->errmsg[0] = '\0';
    }
    return st;
}
