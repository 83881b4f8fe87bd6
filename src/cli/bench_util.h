/* Helpers shared by the benchmark workloads: warm-up until the first runs' page faults
 * are gone, and order statistics of the timed runs. */
#ifndef SSL3D_BENCH_UTIL_H
#define SSL3D_BENCH_UTIL_H

typedef int (*bench_fn)(void *arg);   /* one run of a workload; 0 = success */

/* Runs fn at least min_runs and at most 10 times, until a run takes fewer than 64 minor
 * page faults or no fewer than the run before it (the steady state: the allocator's and
 * the library's caches hold every block a run needs, OpenMP and OpenBLAS have their
 * threads and buffers). *runs and *faults (of the last run) say what it took. Returns
 * fn's first non-zero result, else 0. */
int bench_warmup(bench_fn fn, void *arg, int min_runs, int *runs, long *faults);

/* Minor page faults of this process so far. */
long bench_minor_faults(void);

/* Sorts ms[0..n) and returns the median. */
double bench_median(double *ms, int n);
#endif
