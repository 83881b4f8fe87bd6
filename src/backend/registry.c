#include "backend.h"

extern const ssl3d_backend ssl3d_cpu_backend;
#ifdef SSL3D_WITH_CUDA
extern const ssl3d_backend ssl3d_cuda_backend;
#endif

const ssl3d_backend *ssl3d_backend_get(int32_t kind) {
    switch (kind) {
    case SSL3D_BACKEND_CPU: return &ssl3d_cpu_backend;
#ifdef SSL3D_WITH_CUDA
    case SSL3D_BACKEND_CUDA: return &ssl3d_cuda_backend;
#endif
    default: return NULL;
    }
}
