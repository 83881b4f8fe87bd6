/* OpenBLAS use on the CPU backend, without touching the host program's OpenMP or
 * OpenBLAS state.
 *
 * The library links the OpenMP build of OpenBLAS (Debian libopenblas0-openmp). Called
 * from inside an *active* OpenMP parallel region it runs single-threaded and changes no
 * global state. Called from outside one, it sizes the call from the calling thread's
 * omp_get_max_threads() and, when that differs from its own count, calls
 * goto_set_num_threads(), which sets OpenBLAS's process-wide thread count and the
 * caller's OpenMP nthreads (and a count of 1 then sticks for every later call of the
 * host program). So the library only ever calls OpenBLAS from inside an active region of
 * its own, with the context's thread count:
 *  - cpu_sgemm(): a whole GEMM called from serial code; C is cut into k->threads slices
 *    (fixed by the thread count, so results are reproducible), one serial SGEMM each;
 *  - cpu_sgemm_tile(): one serial SGEMM from inside our own `omp parallel` loops (one
 *    tile per thread). When that loop's region is inactive (1 thread), it opens a
 *    2-thread region in which thread 0 does the work, so OpenBLAS still sees
 *    omp_in_parallel() and stays serial.
 * If OpenMP cannot give a second thread at all (OMP_THREAD_LIMIT=1), a plain C GEMM runs
 * instead. Nothing here calls omp_set_num_threads() or openblas_set_num_threads(). */
#ifndef SSL3D_CPU_BLAS_H
#define SSL3D_CPU_BLAS_H
#include <cblas.h>
#include <omp.h>
#include "../backend.h"

/* C (M,N) = alpha op(A) op(B) + beta C, row-major, as cblas_sgemm; k->threads threads. */
void cpu_sgemm(const ssl3d_kctx *k, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K,
               float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
               int64_t ldc);

/* The same on the calling thread only (for tiles inside the library's parallel loops). */
void cpu_sgemm_tile(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
#endif
