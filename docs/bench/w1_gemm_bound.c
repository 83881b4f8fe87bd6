/* The GEMMs an im2col convolution would hand a BLAS for W1c-W1e (the layers where the GEMM
 * view pays), timed alone: a lower bound on the step of any "im2col + sgemm" design on that
 * BLAS (the im2col / col2im copies come on top). Built against OpenBLAS or against BLIS
 * without installing BLIS (installing libblis switches Debian's libblas.so.3 alternative
 * under NumPy and PyTorch; unpacking its .deb does not):
 *   cc -O2 -I/usr/include/x86_64-linux-gnu/openblas-openmp -o /tmp/gemm_openblas \
 *      docs/bench/w1_gemm_bound.c -lopenblas -fopenmp
 *   apt-get download libblis4-openmp libblis-openmp-dev; for f in *.deb; do dpkg-deb -x $f /tmp/blis; done
 *   B=/tmp/blis/usr; cc -O2 -DGEMM_BLIS -I$B/include/x86_64-linux-gnu/blis-openmp -o /tmp/gemm_blis \
 *      docs/bench/w1_gemm_bound.c -L$B/lib/x86_64-linux-gnu/blis-openmp -Wl,-rpath,$B/lib/x86_64-linux-gnu/blis-openmp -lblis -fopenmp
 *   OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive /tmp/gemm_openblas 7      (repeat; threads from
 *   OMP_NUM_THREADS, which both libraries read)
 * Per layer (batch 2 as one GEMM over both samples' positions P = 2 x D x H x W, K = Cin x 27):
 *   forward   Y[Co,P]  = W[Co,K] Col[K,P]
 *   dx        dCol[K,P] = W^T Dy[Co,P]       (col2im would follow)
 *   dw        dW[Co,K] = Dy[Co,P] Col^T
 * medians (min) of process CPU time and wall time, GFLOP/s, and a 2048^3 sgemm for the peak. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef GEMM_BLIS
#include <blis.h>
#else
#include <cblas.h>
#endif

static double clock_ms(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *random_matrix(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) { fprintf(stderr, "w1_gemm_bound: out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* C[m,n] = op(A) op(B), all row-major; returns median CPU ms and wall ms over `repeat` calls
 * after one warm-up call; *min_cpu the fastest. */
static void time_gemm(int ta, int tb, int m, int n, int k, int repeat, double *cpu_med, double *min_cpu,
                      double *wall_med) {
    float *a = random_matrix((size_t)m * k), *b = random_matrix((size_t)k * n), *c = random_matrix((size_t)m * n);
    double cpu[64], wall[64];
    for (int r = -1; r < repeat; r++) {
        const double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                    ta ? m : k, b, tb ? k : n, 0.0f, c, n);
        if (r >= 0) cpu[r] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0, wall[r] = clock_ms(CLOCK_MONOTONIC) - w0;
    }
    qsort(cpu, (size_t)repeat, sizeof *cpu, cmp_double);
    qsort(wall, (size_t)repeat, sizeof *wall, cmp_double);
    *cpu_med = cpu[repeat / 2], *min_cpu = cpu[0], *wall_med = wall[repeat / 2];
    free(a), free(b), free(c);
}

int main(int argc, char **argv) {
    const int repeat = argc > 1 ? atoi(argv[1]) : 7;
    if (repeat < 1 || repeat > 64) { fprintf(stderr, "usage: w1_gemm_bound [repeat 1..64]\n"); return 2; }
    const char *thr = getenv("OMP_NUM_THREADS");
#ifdef GEMM_BLIS
    printf("# BLIS %s, configuration %s, OMP_NUM_THREADS %s\n", bli_info_get_version_str(),
           bli_arch_string(bli_arch_query_id()), thr ? thr : "unset");
#else
    printf("# OpenBLAS core %s, OMP_NUM_THREADS %s\n", openblas_get_corename(), thr ? thr : "unset");
#endif
    double cm, cmin, wm;
    time_gemm(0, 0, 2048, 2048, 2048, repeat < 5 ? repeat : 5, &cm, &cmin, &wm);
    printf("sgemm 2048^3: cpu-ms %.2f (min %.2f) %.1f GFLOP/s per CPU-second (best %.1f); wall-ms %.2f %.1f GFLOP/s\n",
           cm, cmin, 2.0 * 2048 * 2048 * 2048 / 1e9 / (cm / 1e3), 2.0 * 2048 * 2048 * 2048 / 1e9 / (cmin / 1e3), wm,
           2.0 * 2048 * 2048 * 2048 / 1e9 / (wm / 1e3));
    static const struct { const char *name; int ci, co, vox; } wl[] = {
        { "W1c", 32, 32, 24 * 32 * 24 }, { "W1d", 64, 64, 12 * 16 * 12 }, { "W1e", 128, 128, 6 * 8 * 6 },
    };
    for (int i = 0; i < 3; i++) {
        const int co = wl[i].co, k = wl[i].ci * 27, p = 2 * wl[i].vox;
        const double gflop = 2.0 * co * k * p / 1e9;   /* each of the three */
        double c[3], mn[3], w[3];
        time_gemm(0, 0, co, p, k, repeat, &c[0], &mn[0], &w[0]);   /* forward */
        time_gemm(1, 0, k, p, co, repeat, &c[1], &mn[1], &w[1]);   /* dx: W^T Dy */
        time_gemm(0, 1, co, k, p, repeat, &c[2], &mn[2], &w[2]);   /* dw: Dy Col^T */
        const double csum = c[0] + c[1] + c[2], wsum = w[0] + w[1] + w[2];
        printf("%s gemms cpu-ms %.2f (fwd %.2f, dx %.2f, dw %.2f; mins %.2f %.2f %.2f) %.1f GFLOP/s per CPU-second "
               "(fwd %.1f, dx %.1f, dw %.1f); wall-ms %.2f %.1f GFLOP/s\n",
               wl[i].name, csum, c[0], c[1], c[2], mn[0], mn[1], mn[2], 3 * gflop / (csum / 1e3), gflop / (c[0] / 1e3),
               gflop / (c[1] / 1e3), gflop / (c[2] / 1e3), wsum, 3 * gflop / (wsum / 1e3));
    }
    return 0;
}
