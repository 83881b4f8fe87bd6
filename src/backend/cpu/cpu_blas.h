/* OpenBLAS use on the CPU backend. The library links the OpenMP build of OpenBLAS
 * (Debian libopenblas0-openmp), which sizes each call from the calling thread's
 * omp_get_max_threads() and runs single-threaded inside a parallel region. So:
 *  - a GEMM called from outside a parallel region: call cpu_blas_threads(k) first, so
 *    the context's thread count (not a process-wide setting) applies;
 *  - GEMMs inside our own `omp parallel` loops (one tile per thread) run serially,
 *    without oversubscription. */
#ifndef SSL3D_CPU_BLAS_H
#define SSL3D_CPU_BLAS_H
#include <cblas.h>
#include <omp.h>
#include "../backend.h"

static inline void cpu_blas_threads(const ssl3d_kctx *k) { omp_set_num_threads(k->threads); }
#endif
