/* SGEMM wrappers that keep OpenBLAS single-threaded inside the library's own parallel
 * regions and away from the host's OpenMP and OpenBLAS state (see cpu_blas.h). */
#include "cpu_blas.h"

/* Plain C GEMM for when no active parallel region can be opened (OMP_THREAD_LIMIT=1). */
static void naive_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                        int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < K; p++) {
                const float a = ta == CblasNoTrans ? A[i * lda + p] : A[p * lda + i];
                const float b = tb == CblasNoTrans ? B[p * ldb + j] : B[j * ldb + p];
                s += a * b;
            }
            float *c = C + i * ldc + j;
            *c = alpha * s + (beta == 0.0f ? 0.0f : beta * *c);
        }
}

/* Largest M*N*K that OpenBLAS runs single-threaded when called outside a parallel region
 * (65536 x GEMM_MULTITHREAD_THRESHOLD = 4), without looking at any thread count. */
#define SERIAL_MNK 262144.0

/* One single-threaded SGEMM on the calling thread. OpenBLAS runs it serially by itself,
 * reading and changing nothing, inside an active region, for M*N*K <= SERIAL_MNK, or when
 * the calling thread's OpenMP count is 1; in those cases it is called straight (and a
 * 1-thread context starts no thread). Otherwise it would size itself from the host's
 * OpenMP count and set its own process-wide count, so it is called from thread 0 of a
 * 2-thread region of ours, where it sees omp_in_parallel(). All of these run the same
 * single-threaded OpenBLAS code, so the result does not depend on which. Blocking the
 * call into M*N*K <= SERIAL_MNK pieces instead would avoid the region too, but changes
 * the sums (OpenBLAS picks other kernels for small products): CLI and Python pretraining
 * then disagreed in the last bit (tried in the fourth session, docs/performance.md). */
static void serial_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                         int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (omp_in_parallel() || (double)M * (double)N * (double)K <= SERIAL_MNK || omp_get_max_threads() == 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B,
                    (blasint)ldb, beta, C, (blasint)ldc);
        return;
    }
    int done = 0;
    #pragma omp parallel num_threads(2)
    if (omp_get_thread_num() == 0 && omp_in_parallel()) {
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B,
                    (blasint)ldb, beta, C, (blasint)ldc);
        done = 1;
    }
    if (!done) naive_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);   /* no second thread */
}

void cpu_sgemm_tile(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    serial_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Slices of C: along N when it is the wider side, else along M, in multiples of 16 so
 * every slice keeps whole micro-kernel panels. */
void cpu_sgemm(const ssl3d_kctx *k, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K,
               float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
               int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    const int32_t T = (double)M * (double)N * (double)K <= SERIAL_MNK ? 1 : k->threads;
    if (T <= 1 || omp_in_parallel()) {
        serial_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int split_n = N >= M;
    const int64_t len = split_n ? N : M;
    const int64_t chunk = ((len + T - 1) / T + 15) / 16 * 16;
    #pragma omp parallel num_threads(T)
    {
        const int64_t tid = omp_get_thread_num(), nt = omp_get_num_threads();
        /* a smaller team than asked for: thread 0 takes the slices of the missing threads */
        for (int64_t s = tid; s < T; s += nt) {
            const int64_t lo = s * chunk, hi = lo + chunk < len ? lo + chunk : len;
            if (lo >= hi) continue;
            if (split_n)
                serial_sgemm(ta, tb, M, hi - lo, K, alpha, A, lda, tb == CblasNoTrans ? B + lo : B + lo * ldb, ldb,
                             beta, C + lo, ldc);
            else
                serial_sgemm(ta, tb, hi - lo, N, K, alpha, ta == CblasNoTrans ? A + lo * lda : A + lo, lda, B, ldb,
                             beta, C + lo * ldc, ldc);
        }
    }
}
