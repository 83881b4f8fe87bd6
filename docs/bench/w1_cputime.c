/* W1 (conv forward + weighted sum + backward, the steps of `ssl3d bench` W1a-e) timed in
 * process CPU time rather than wall time: on a machine shared with other jobs, CPU time
 * per step with 1 thread is what stays comparable between runs. Pair with w1_cputime.py.
 *   cc -O2 -Iinclude -o /tmp/w1_cputime docs/bench/w1_cputime.c lib/libssl3d.a -fopenmp \
 *      -lopenblas -lcjson -lnifti2 -lznz -lpng -lz -lm
 *   SSL3D_CPU_ISA=avx512 OMP_WAIT_POLICY=passive /tmp/w1_cputime 7 1     (repeat, threads)
 *   W1_ONLY=W1c,W1d,W1e picks workloads (both programs). Prints median (min, max) of the CPU
 *   time and of the wall time per step (the median is the middle value: use an odd repeat),
 *   in the format of onednn_w1.c (oneDNN called directly). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include "ssl3d.h"

static double clock_ms(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 7, threads = argc > 2 ? atoi(argv[2]) : 1;
    static const struct { const char *name; int64_t ci, co, d, h, w; } wl[] = {
        { "W1a", 1, 16, 48, 64, 48 }, { "W1b", 16, 16, 48, 64, 48 }, { "W1c", 32, 32, 24, 32, 24 },
        { "W1d", 64, 64, 12, 16, 12 }, { "W1e", 128, 128, 6, 8, 6 },
    };
    if (reps < 1 || reps > 64) { fprintf(stderr, "repeat must be 1..64\n"); return 2; }
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) || ssl3d_ctx_set_threads(ctx, threads)) {
        char why[512];
        ssl3d_backend_probe(SSL3D_BACKEND_CPU, why, sizeof why);
        fprintf(stderr, "no CPU context: %s\n", why);
        return 1;
    }
    char kernels[512] = "";
    ssl3d_backend_probe(SSL3D_BACKEND_CPU, kernels, sizeof kernels);
    printf("# libssl3d %s; %d threads, medians of %d steps\n", kernels, threads, reps);
    const char *only = getenv("W1_ONLY");
    for (int i = 0; i < 5; i++) {
        if (only && !strstr(only, wl[i].name)) continue;
        const int64_t xs[5] = { 2, wl[i].ci, wl[i].d, wl[i].h, wl[i].w }, ws[5] = { wl[i].co, wl[i].ci, 3, 3, 3 };
        const int64_t bs[1] = { wl[i].co }, gs[1] = { 2 * wl[i].co * wl[i].d * wl[i].h * wl[i].w };
        ssl3d_tensor *x = NULL, *w = NULL, *b = NULL, *g = NULL;
        if (ssl3d_tensor_create(ctx, SSL3D_F32, 5, xs, &x) || ssl3d_tensor_create(ctx, SSL3D_F32, 5, ws, &w) ||
            ssl3d_tensor_create(ctx, SSL3D_F32, 1, bs, &b) || ssl3d_tensor_create(ctx, SSL3D_F32, 1, gs, &g))
            return 1;
        ssl3d_tensor_fill_normal(ctx, x, 0, 1);
        ssl3d_tensor_fill_normal(ctx, w, 0, 0.05f);
        ssl3d_tensor_fill_normal(ctx, g, 0, 1);
        if (wl[i].ci > 1) ssl3d_tensor_set_requires_grad(ctx, x, 1);
        ssl3d_tensor_set_requires_grad(ctx, w, 1);
        ssl3d_tensor_set_requires_grad(ctx, b, 1);
        double t[64], wall[64];
        for (int r = 0; r < reps + 2; r++) {   /* 2 warm-up steps */
            const double t0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
            ssl3d_tensor_zero_grad(ctx, w);
            ssl3d_tensor_zero_grad(ctx, b);
            if (wl[i].ci > 1) ssl3d_tensor_zero_grad(ctx, x);
            ssl3d_tensor *y = NULL, *L = NULL;
            if (ssl3d_conv(ctx, x, w, b, 1, 1, &y) || ssl3d_weighted_sum(ctx, y, g, &L) || ssl3d_backward(ctx, L)) {
                fprintf(stderr, "%s: %s\n", wl[i].name, ssl3d_ctx_last_error(ctx));
                return 1;
            }
            ssl3d_tensor_release(L);
            ssl3d_tensor_release(y);
            if (r >= 2) {
                t[r - 2] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - t0;
                wall[r - 2] = clock_ms(CLOCK_MONOTONIC) - w0;
            }
        }
        qsort(t, (size_t)reps, sizeof *t, cmp);
        qsort(wall, (size_t)reps, sizeof *wall, cmp);
        const double gflop = (wl[i].ci > 1 ? 3 : 2) * 2.0 * 2 * wl[i].d * wl[i].h * wl[i].w * wl[i].ci * wl[i].co * 27 / 1e9;
        printf("%s ours cpu-ms %.2f (min %.2f, max %.2f) %.1f GFLOP/s per CPU-second; wall-ms %.2f (min %.2f, "
               "max %.2f) %.1f GFLOP/s; %d threads\n", wl[i].name, t[reps / 2], t[0], t[reps - 1],
               gflop / (t[reps / 2] / 1e3), wall[reps / 2], wall[0], wall[reps - 1], gflop / (wall[reps / 2] / 1e3),
               threads);
        ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b); ssl3d_tensor_release(g);
    }
    ssl3d_ctx_release(ctx);
    return 0;
}
