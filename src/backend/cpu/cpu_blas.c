/* SGEMM wrappers that keep OpenBLAS serial inside the library's own parallel regions
 * (see cpu_blas.h for why). */
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

static void serial_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                         int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (omp_in_parallel())
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B,
                    (blasint)ldb, beta, C, (blasint)ldc);
    else
        naive_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void cpu_sgemm_tile(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (omp_in_parallel()) {
        serial_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    #pragma omp parallel num_threads(2)
    if (omp_get_thread_num() == 0) serial_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Slices of C: along N when it is the wider side, else along M, in multiples of 16 so
 * every slice keeps whole micro-kernel panels. */
void cpu_sgemm(const ssl3d_kctx *k, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K,
               float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
               int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (omp_in_parallel()) {
        serial_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* small products: one slice (the region still has 2 threads, see cpu_sgemm_tile) */
    const int32_t T = (double)M * (double)N * (double)K < 262144.0 ? 1 : (k->threads > 1 ? k->threads : 1);
    const int split_n = N >= M;
    const int64_t len = split_n ? N : M;
    const int64_t chunk = ((len + T - 1) / T + 15) / 16 * 16;
    #pragma omp parallel num_threads(T > 1 ? T : 2)
    {
        const int64_t tid = omp_get_thread_num(), nt = omp_get_num_threads();
        /* a smaller team than asked for: thread 0 takes the slices of the missing threads */
        for (int64_t s = tid; s < T; s += (nt < T ? nt : T)) {
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
