// Launch helpers shared by the plugin's .cu files: device guard on entry, error check
// (naming the kernel) after the launch.
#ifndef SSL3D_CUDA_LAUNCH_H
#define SSL3D_CUDA_LAUNCH_H
#include "cuda_plugin.h"
#include "kernel_defs.h"

static inline cuda_state *state_of(const ssl3d_kctx *k) { return (cuda_state *)k->backend_state; }

// One grid-stride launch over n items on the context's stream.
#define LAUNCH_N(s, kernel, n, ...)                                                             \
    do {                                                                                        \
        int prev_ = cuda_enter(s);                                                              \
        SSL3D_LAUNCH(kernel, ssl3d_grid_for((n), SSL3D_BLOCK), SSL3D_BLOCK, (s)->stream, __VA_ARGS__); \
        cuda_check((s), cudaGetLastError(), "kernel " #kernel);                                 \
        cuda_leave((s), prev_);                                                                 \
    } while (0)

#endif
