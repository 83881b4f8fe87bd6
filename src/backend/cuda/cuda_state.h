/* State of one context on the CUDA backend (backend.h: backend_state), and the helpers
 * every file of the plugin uses to report errors. Included by C (gcc) and CUDA C++ (nvcc). */
#ifndef SSL3D_CUDA_STATE_H
#define SSL3D_CUDA_STATE_H
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include "../backend.h"
#include "cuda_cache.h"
#include "cuda_staging.h"
#include "cuda_upload.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cuda_conv_plan;

typedef struct cuda_state {
    int device;                   /* the context's device (ssl3d_ctx_create_on_device) */
    cudaStream_t stream;          /* all of the context's work, in order (the compute stream) */
    cudaStream_t copy_stream;     /* asynchronous batch uploads only (cuda_upload.h) */
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    ssl3d_devcache cache;         /* caching allocator over cudaMalloc */
    double *dscratch;             /* SSL3D_REDUCE_PARTS + SSL3D_REDUCE_FINAL doubles (device) */
    double *hscratch;             /* SSL3D_REDUCE_FINAL doubles, pinned host memory */
    ssl3d_staging staging;        /* pinned double-buffered uploads (cuda_staging.h) */
    cudaEvent_t staged[2];        /* the last copy out of each staging buffer */
    ssl3d_uploader uploader;      /* asynchronous uploads through pinned buffers (cuda_upload.h) */
    cudaEvent_t upload_done[SSL3D_UPLOAD_SLOTS];   /* the last copy out of each upload buffer */
    cudaEvent_t compute_mark;     /* the compute stream's work so far, for the copy stream to wait on */
    void *workspace;              /* cuDNN workspace (device), grown on demand */
    size_t workspace_bytes;
    struct cuda_conv_plan *plans; /* cuDNN descriptors and algorithms per conv shape */
    int32_t n_plans, cap_plans;
    ssl3d_status err;             /* first deferred error (SSL3D_OK: none) */
    char errmsg[384];
} cuda_state;

/* Record the first failure of the context: "call: message (name)". Later ones are kept
 * out: the first is the cause, the rest its consequences. Returns `st`. */
ssl3d_status cuda_fail(cuda_state *s, ssl3d_status st, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Record a failed CUDA runtime call (no-op for cudaSuccess); returns 0 on success. */
int cuda_check(cuda_state *s, cudaError_t e, const char *call);
int cublas_check(cuda_state *s, cublasStatus_t e, const char *call);
int cudnn_check(cuda_state *s, cudnnStatus_t e, const char *call);
/* The ssl3d_status for a CUDA runtime error (out of memory -> NOMEM, ...). */
ssl3d_status cuda_status_of(cudaError_t e);

/* Make the context's device current for this host thread, remembering the previous one;
 * cuda_leave restores it, so the host program's own device choice is left alone. */
int cuda_enter(cuda_state *s);
void cuda_leave(cuda_state *s, int prev);

#ifdef __cplusplus
}
#endif
#endif
