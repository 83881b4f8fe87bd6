/* How the CUDA backend's custom kernels are written so that the same source runs on the
 * GPU and, sequentially, on the CPU in `make test` (tests/test_cuda_kernels.c).
 *
 * A kernel is an SSL3D_KERNEL function in the common subset of C11 and CUDA C++: it reads
 * its position from blockIdx.x / threadIdx.x / blockDim.x / gridDim.x (through SSL3D_TID
 * and SSL3D_NTHREADS) and uses no shared memory, no barriers and no atomics, so every
 * thread's work is independent and running the threads one after another is exact.
 * Helpers it calls are SSL3D_HD functions.
 *
 *   nvcc:      SSL3D_KERNEL is __global__, SSL3D_HD is __host__ __device__; launches go
 *              through SSL3D_LAUNCH(kernel, grid, block, stream, args...).
 *   host C:    kernels are plain static functions; SSL3D_EMU_LAUNCH(kernel, grid, block,
 *              args...) runs every (block, thread) pair in order. */
#ifndef SSL3D_CUDA_KERNEL_DEFS_H
#define SSL3D_CUDA_KERNEL_DEFS_H
#include <stdint.h>
#include <math.h>

#ifdef __CUDACC__
#define SSL3D_KERNEL static __global__ void
#define SSL3D_HD static __host__ __device__ __forceinline__
#define SSL3D_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#else
#define SSL3D_KERNEL static void
#define SSL3D_HD static inline
typedef struct ssl3d_emu_dim { unsigned x; } ssl3d_emu_dim;
/* The emulated built-ins: one set per translation unit that includes the kernels. */
static ssl3d_emu_dim blockIdx __attribute__((unused)), threadIdx __attribute__((unused)),
    blockDim __attribute__((unused)), gridDim __attribute__((unused));
#define SSL3D_EMU_LAUNCH(kernel, grid, block, ...) do {                                     \
        gridDim.x = (unsigned)(grid); blockDim.x = (unsigned)(block);                       \
        for (blockIdx.x = 0; blockIdx.x < gridDim.x; blockIdx.x++)                          \
            for (threadIdx.x = 0; threadIdx.x < blockDim.x; threadIdx.x++) kernel(__VA_ARGS__); \
    } while (0)
#endif

/* Global thread index and thread count of a 1-D launch (grid-stride loops). */
#define SSL3D_TID ((int64_t)blockIdx.x * (int64_t)blockDim.x + (int64_t)threadIdx.x)
#define SSL3D_NTHREADS ((int64_t)gridDim.x * (int64_t)blockDim.x)

/* Threads per block of elementwise launches, and the grid cap: grid-stride loops cover
 * any n with at most SSL3D_MAX_GRID blocks (enough to fill an H100 several times over). */
#define SSL3D_BLOCK 256
#define SSL3D_MAX_GRID 8192

/* Blocks for n independent items: ceil(n / block), at least 1, at most SSL3D_MAX_GRID. */
SSL3D_HD unsigned ssl3d_grid_for(int64_t n, int block) {
    int64_t g = (n + block - 1) / block;
    if (g < 1) g = 1;
    if (g > SSL3D_MAX_GRID) g = SSL3D_MAX_GRID;
    return (unsigned)g;
}

/* Fixed partition of long reductions: REDUCE_PARTS partial sums (each thread of a fixed
 * REDUCE_GRID x SSL3D_BLOCK launch strides over the input), then REDUCE_FINAL sums of
 * contiguous runs of partials, then the host adds those in order. The partition depends
 * only on n, never on the device, so results are the same on every run and every GPU. */
#define SSL3D_REDUCE_GRID 256
#define SSL3D_REDUCE_PARTS (SSL3D_REDUCE_GRID * SSL3D_BLOCK)
#define SSL3D_REDUCE_FINAL 256

#endif
