/* SGEMM wrappers that keep OpenBLAS on the calling thread and away from the host's
 * OpenMP and OpenBLAS state (see cpu_blas.h for why and how). */
#include "cpu_blas.h"

/* Largest M*N*K that OpenBLAS runs single-threaded when called outside a parallel region
 * (65536 x GEMM_MULTITHREAD_THRESHOLD = 4), without looking at any thread count. */
#define SERIAL_MNK 262144
#define BLK 64   /* 64^3 = SERIAL_MNK */

/* C = alpha op(A) op(B) + beta C from outside an active region: blocks of at most
 * SERIAL_MNK, K blocks in increasing order (the first with beta, the rest add). */
static void blocked_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc) {
    const int64_t kb = K < BLK ? (K > 0 ? K : 1) : BLK, mb = M < BLK ? M : BLK;
    int64_t nb = SERIAL_MNK / (kb * mb);
    if (nb > N) nb = N;
    for (int64_t k0 = 0; k0 == 0 || k0 < K; k0 += kb) {
        const int64_t kk = K - k0 < kb ? K - k0 : kb;
        const float bk = k0 == 0 ? beta : 1.0f;
        for (int64_t i = 0; i < M; i += mb) {
            const int64_t mm = M - i < mb ? M - i : mb;
            const float *a = ta == CblasNoTrans ? A + i * lda + k0 : A + k0 * lda + i;
            for (int64_t j = 0; j < N; j += nb) {
                const int64_t nn = N - j < nb ? N - j : nb;
                const float *b = tb == CblasNoTrans ? B + k0 * ldb + j : B + j * ldb + k0;
                cblas_sgemm(CblasRowMajor, ta, tb, (blasint)mm, (blasint)nn, (blasint)kk, alpha, a, (blasint)lda, b,
                            (blasint)ldb, bk, C + i * ldc + j, (blasint)ldc);
            }
        }
    }
}

static void serial_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                         int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (omp_in_parallel() || (double)M * (double)N * (double)K <= SERIAL_MNK)
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B,
                    (blasint)ldb, beta, C, (blasint)ldc);
    else
        blocked_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
        /* a smaller team than asked for: thread 0 takes the slices of the missing threads
         * (a team of one is not an active region: its calls are blocked, see above) */
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
