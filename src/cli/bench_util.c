/* Warm-up and statistics for the benchmark workloads (see bench_util.h). */
#include <stdlib.h>
#include <sys/resource.h>
#include "bench_util.h"

long bench_minor_faults(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

int bench_warmup(bench_fn fn, void *arg, int min_runs, int *runs, long *faults) {
    long prev = -1, f = 0;
    int r = 0;
    for (; r < 10; r++) {
        const long f0 = bench_minor_faults();
        const int st = fn(arg);
        if (st) { *runs = r + 1; *faults = 0; return st; }
        f = bench_minor_faults() - f0;
        if (r + 1 >= min_runs && (f < 64 || (prev >= 0 && f >= prev))) { r++; break; }
        prev = f;
    }
    *runs = r;
    *faults = f;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *ms, int n) {
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}
