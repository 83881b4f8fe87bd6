/* Every CUDA, cuBLAS and cuDNN status becomes an ssl3d_status with a message naming the
 * call. Nothing here aborts or prints: the first failure is kept in the context's state
 * and handed to the library by the sync slot (backend.h). */
#include <stdarg.h>
#include <stdio.h>
#include "cuda_state.h"

ssl3d_status cuda_fail(cuda_state *s, ssl3d_status st, const char *fmt, ...) {
    if (s && s->err == SSL3D_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
        va_end(ap);
        s->err = st;
    }
    return st;
}

ssl3d_status cuda_status_of(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return SSL3D_OK;
    case cudaErrorMemoryAllocation: return SSL3D_ERR_NOMEM;
    case cudaErrorInvalidValue: return SSL3D_ERR_INVALID_ARG;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorDevicesUnavailable: return SSL3D_ERR_BACKEND_UNAVAILABLE;
    default: return SSL3D_ERR_DEVICE;
    }
}

int cuda_check(cuda_state *s, cudaError_t e, const char *call) {
    if (e == cudaSuccess) return 0;
    cuda_fail(s, cuda_status_of(e), "%s failed: %s (%s)", call, cudaGetErrorString(e), cudaGetErrorName(e));
    return -1;
}

int cublas_check(cuda_state *s, cublasStatus_t e, const char *call) {
    if (e == CUBLAS_STATUS_SUCCESS) return 0;
    cuda_fail(s, e == CUBLAS_STATUS_ALLOC_FAILED ? SSL3D_ERR_NOMEM : SSL3D_ERR_DEVICE, "%s failed: %s (%s)", call,
              cublasGetStatusString(e), cublasGetStatusName(e));
    return -1;
}

int cudnn_check(cuda_state *s, cudnnStatus_t e, const char *call) {
    if (e == CUDNN_STATUS_SUCCESS) return 0;
    /* cuDNN 9 groups its codes by thousands: 3xxx not supported, 4003/4004 allocation. */
    const int code = (int)e;
    ssl3d_status st = (code == 4003 || code == 4004) ? SSL3D_ERR_NOMEM
                    : (code >= 3000 && code < 4000) ? SSL3D_ERR_UNSUPPORTED : SSL3D_ERR_DEVICE;
    cuda_fail(s, st, "%s failed: %s", call, cudnnGetErrorString(e));
    return -1;
}

int cuda_enter(cuda_state *s) {
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    if (prev != s->device) cuda_check(s, cudaSetDevice(s->device), "cudaSetDevice");
    return prev;
}

void cuda_leave(cuda_state *s, int prev) {
    if (prev >= 0 && prev != s->device) cudaSetDevice(prev);
}
