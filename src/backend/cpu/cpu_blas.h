/* OpenBLAS use on the CPU backend, without touching the host program's OpenMP or
 * OpenBLAS state, and with the context's thread count.
 *
 * The library links the OpenMP build of OpenBLAS (Debian libopenblas0-openmp). What that
 * build does with a call (0.3.21, measured: docs/performance.md, "Fourth session"):
 *  - inside an *active* OpenMP parallel region: runs single-threaded, changes nothing;
 *  - outside one, with M*N*K <= 262144 (its GEMM_MULTITHREAD_THRESHOLD x 65536): runs
 *    single-threaded, changes nothing;
 *  - outside one, larger: sizes the call from the calling thread's omp_get_max_threads()
 *    and, when that differs from its own count, calls goto_set_num_threads(), which sets
 *    OpenBLAS's process-wide thread count (and the caller's OpenMP nthreads) — a host at 3
 *    OpenMP threads finds OpenBLAS at 3 afterwards, and the call runs 3 threads whatever
 *    the context's count.
 * and: outside one, larger, with the caller's omp_get_max_threads() at 1: single-threaded,
 * nothing changed. The library calls OpenBLAS only in these single-threaded ways:
 *  - cpu_sgemm(): a whole GEMM; with a multi-thread context, from inside an active
 *    region of its own: C is cut into k->threads slices (fixed by the thread count, so
 *    results are reproducible), one serial SGEMM each;
 *  - cpu_sgemm_tile(): one serial SGEMM on the calling thread (tiles inside the library's
 *    own `omp parallel` loops).
 * A serial SGEMM outside an active region (a 1-thread context) is called straight when it
 * is small or the host runs 1 OpenMP thread (so such a context starts no thread), and
 * otherwise from thread 0 of a 2-thread region of ours, so that OpenBLAS sees
 * omp_in_parallel(); before, every such call opened that region, and a 1-thread context
 * in a 1-thread host started and woke a second OpenMP thread. If OpenMP cannot give a
 * second thread (OMP_THREAD_LIMIT=1), a plain C GEMM runs instead. Nothing here calls
 * omp_set_num_threads() or openblas_set_num_threads(). */
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
