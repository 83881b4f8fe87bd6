/* What OpenBLAS's OpenMP build (Debian 0.3.21) does with an SGEMM called from serial code,
 * and what a 1-thread SGEMM costs inside a 2-thread region (the old cpu_blas.c) versus as
 * calls of M*N*K <= 262144 (the current one). Fourth session of docs/performance.md.
 *   cc -O2 -fopenmp -o /tmp/blas_serial docs/bench/blas_serial.c -lopenblas
 *   /tmp/blas_serial M N K HOST_THREADS     e.g. 512 512 512 3, then 64 64 64 3
 * prints the host's OpenMP count, OpenBLAS's count and the process's threads before and
 * after one serial call, then (HOST_THREADS = 1) best-of-7 times of the two 1-thread ways. */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>

static int threads_now(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static double ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void blocked(int M, int N, int K, const float *A, const float *B, float *C) {
    const int kb = K < 64 ? K : 64, mb = M < 64 ? M : 64, nb0 = 262144 / (kb * mb), nb = nb0 < N ? nb0 : N;
    for (int k0 = 0; k0 < K; k0 += kb)
        for (int i = 0; i < M; i += mb)
            for (int j = 0; j < N; j += nb)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M - i < mb ? M - i : mb, N - j < nb ? N - j : nb,
                            K - k0 < kb ? K - k0 : kb, 1.0f, A + (size_t)i * K + k0, K, B + (size_t)k0 * N + j, N,
                            k0 ? 1.0f : 0.0f, C + (size_t)i * N + j, N);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: blas_serial M N K HOST_THREADS\n"); return 2; }
    const int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), host = atoi(argv[4]);
    float *a = malloc((size_t)M * K * 4), *b = malloc((size_t)K * N * 4), *c = malloc((size_t)M * N * 4);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = 1.0f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = 1.0f;
    omp_set_num_threads(host);
    printf("before: host OpenMP %d, OpenBLAS %d, process threads %d\n", omp_get_max_threads(),
           openblas_get_num_threads(), threads_now());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    printf("after one serial call of M*N*K = %.0f: host OpenMP %d, OpenBLAS %d, process threads %d\n",
           (double)M * N * K, omp_get_max_threads(), openblas_get_num_threads(), threads_now());
    if (host != 1) return 0;
    double region = 1e30, blk = 1e30;
    for (int r = 0; r < 7; r++) {
        double t = ms();
        #pragma omp parallel num_threads(2)
        if (omp_get_thread_num() == 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        t = ms() - t;
        if (t < region) region = t;
        t = ms();
        blocked(M, N, K, a, b, c);
        t = ms() - t;
        if (t < blk) blk = t;
    }
    printf("1 thread: inside a 2-thread region %.3f ms (%.1f GFLOP/s), blocks of 64^3 %.3f ms (%.1f GFLOP/s)\n",
           region, 2.0 * M * N * K / region / 1e6, blk, 2.0 * M * N * K / blk / 1e6);
    return 0;
}
