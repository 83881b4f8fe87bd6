/* W1 benchmark workloads (SPEC "Benchmark workloads"): one 3x3x3 convolution, pad 1,
 * bias, batch 2, forward + input and weight gradients, through the public API. */
#ifndef SSL3D_BENCH_CONV_H
#define SSL3D_BENCH_CONV_H
#include <stdio.h>

/* Times W1a..W1e on `backend` (ssl3d_backend_kind) with `threads` threads, `repeat`
 * timed runs each (after one warm-up), prints "name  median ms ... GFLOP/s" lines to
 * stdout and, when json_out is not NULL, writes the entries
 * `"W1a_1to16_48x64x48": {"ms": m, "ms_min": m, "ms_max": m, "gflops": g}` separated by
 * commas (no enclosing braces, so the caller can embed them in its "workloads"
 * object). GFLOP/s counts forward, weight and input gradients (2 flops per multiply-add).
 * Returns 0 on success, 1 on a library error (message on stderr). */
int bench_w1(int backend, int threads, int repeat, FILE *json_out);
#endif
