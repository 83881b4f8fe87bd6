/* W1: the convolution micro-benchmark, same shapes and steps as
 * ../shared/bench/torch_ref.py w1_convs: x (2,Cin,D,H,W) N(0,1) (requiring a gradient
 * unless Cin = 1), w (Cout,Cin,3,3,3) and b (Cout) requiring gradients, one step =
 * zero the gradients, y = conv(x, w, b, stride 1, pad 1), L = sum(y * g) with a fixed
 * random g, backward. On a device backend the step ends with the device idle
 * (ssl3d_backward waits for the queued kernels), so the wall time is the GPU time. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ssl3d.h"
#include "bench_conv.h"
#include "bench_util.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static ssl3d_status one_step(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *w, ssl3d_tensor *b,
                             ssl3d_tensor *g) {
    ssl3d_status st;
    ssl3d_tensor *y = NULL, *loss = NULL;
    if ((st = ssl3d_tensor_zero_grad(ctx, w)) || (st = ssl3d_tensor_zero_grad(ctx, b))) return st;
    if (ssl3d_tensor_requires_grad(x) && (st = ssl3d_tensor_zero_grad(ctx, x))) return st;
    if ((st = ssl3d_conv(ctx, x, w, b, 1, 1, &y))) return st;
    st = ssl3d_weighted_sum(ctx, y, g, &loss);
    if (!st) st = ssl3d_backward(ctx, loss);
    ssl3d_tensor_release(loss);
    ssl3d_tensor_release(y);
    return st;
}

/* Floating-point operations of one step: forward, weight gradient and (when x requires
 * a gradient) input gradient, 2 flops per multiply-add; the bias terms are negligible. */
static double step_flops(int64_t cin, int64_t cout, int64_t vox) {
    const double one = 2.0 * 2.0 * (double)cin * (double)cout * 27.0 * (double)vox;   /* batch 2 */
    return one * (cin > 1 ? 3.0 : 2.0);
}

typedef struct { ssl3d_ctx *ctx; ssl3d_tensor *x, *w, *b, *g; } conv_arg;
static int conv_cb(void *a) { conv_arg *c = a; return (int)one_step(c->ctx, c->x, c->w, c->b, c->g); }

int bench_w1(int backend, int threads, int repeat, FILE *json_out) {
    static const struct { const char *name; int64_t cin, cout, d, h, w; } wl[] = {
        { "W1a_1to16_48x64x48", 1, 16, 48, 64, 48 },
        { "W1b_16to16_48x64x48", 16, 16, 48, 64, 48 },
        { "W1c_32to32_24x32x24", 32, 32, 24, 32, 24 },
        { "W1d_64to64_12x16x12", 64, 64, 12, 16, 12 },
        { "W1e_128to128_6x8x6", 128, 128, 6, 8, 6 },
    };
    if (repeat < 1) repeat = 1;
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(backend, &ctx) != SSL3D_OK || ssl3d_ctx_set_threads(ctx, threads) != SSL3D_OK) {
        char why[512] = "";
        ssl3d_backend_probe(backend, why, sizeof why);
        fprintf(stderr, "bench W1: cannot create a %s context with %d threads: %s\n",
                backend == SSL3D_BACKEND_CUDA ? "CUDA" : "CPU", threads, ctx ? ssl3d_ctx_last_error(ctx) : why);
        ssl3d_ctx_release(ctx);
        return 1;
    }
    double *ms = malloc((size_t)repeat * sizeof *ms);
    int rc = ms ? 0 : 1;
    for (size_t i = 0; i < sizeof wl / sizeof wl[0] && rc == 0; i++) {
        int64_t xs[5] = { 2, wl[i].cin, wl[i].d, wl[i].h, wl[i].w };
        int64_t ws[5] = { wl[i].cout, wl[i].cin, 3, 3, 3 };
        int64_t bs[1] = { wl[i].cout };
        int64_t gs[1] = { 2 * wl[i].cout * wl[i].d * wl[i].h * wl[i].w };
        ssl3d_tensor *x = NULL, *w = NULL, *b = NULL, *g = NULL;
        ssl3d_status st = ssl3d_tensor_create(ctx, SSL3D_F32, 5, xs, &x);
        if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 5, ws, &w);
        if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 1, bs, &b);
        if (!st) st = ssl3d_tensor_create(ctx, SSL3D_F32, 1, gs, &g);
        if (!st) st = ssl3d_tensor_fill_normal(ctx, x, 0.0f, 1.0f);
        if (!st) st = ssl3d_tensor_fill_normal(ctx, w, 0.0f, 0.05f);
        if (!st) st = ssl3d_tensor_fill_normal(ctx, b, 0.0f, 0.05f);
        if (!st) st = ssl3d_tensor_fill_normal(ctx, g, 0.0f, 1.0f);
        if (!st && wl[i].cin > 1) st = ssl3d_tensor_set_requires_grad(ctx, x, 1);
        if (!st) st = ssl3d_tensor_set_requires_grad(ctx, w, 1);
        if (!st) st = ssl3d_tensor_set_requires_grad(ctx, b, 1);
        conv_arg ca = { ctx, x, w, b, g };
        int warm_runs = 0;
        long warm_faults = 0;
        if (!st) st = (ssl3d_status)bench_warmup(conv_cb, &ca, 1, &warm_runs, &warm_faults);   /* page faults, BLAS init */
        for (int r = 0; r < repeat && !st; r++) {
            double t0 = now_ms();
            st = one_step(ctx, x, w, b, g);
            ms[r] = now_ms() - t0;
        }
        if (st) {
            fprintf(stderr, "bench %s: %s\n", wl[i].name, ssl3d_ctx_last_error(ctx));
            rc = 1;
        } else {
            qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
            double med = repeat % 2 ? ms[repeat / 2] : 0.5 * (ms[repeat / 2 - 1] + ms[repeat / 2]);
            const double gflops = step_flops(wl[i].cin, wl[i].cout, wl[i].d * wl[i].h * wl[i].w) / (med * 1e6);
            printf("%-22s %9.2f ms (min %.2f, max %.2f, %d threads, %s) %8.1f GFLOP/s; %d warm-up runs, "
                   "%ld page faults in the last\n", wl[i].name, med, ms[0], ms[repeat - 1], threads,
                   ssl3d_ctx_backend_name(ctx), gflops, warm_runs, warm_faults);
            if (json_out)
                fprintf(json_out,
                        "%s\"%s\": {\"ms\": %.4f, \"ms_min\": %.4f, \"ms_max\": %.4f, \"gflops\": %.2f, "
                        "\"warmup_runs\": %d, \"warmup_last_faults\": %ld}",
                        i ? ",\n" : "", wl[i].name, med, ms[0], ms[repeat - 1], gflops, warm_runs, warm_faults);
        }
        ssl3d_tensor_release(x); ssl3d_tensor_release(w); ssl3d_tensor_release(b); ssl3d_tensor_release(g);
    }
    free(ms);
    ssl3d_ctx_release(ctx);
    return rc;
}
