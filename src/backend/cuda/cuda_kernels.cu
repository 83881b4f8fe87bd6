// The CUDA backend's custom kernels (bodies in kernels_ew.h and kernels_reduce.h, which
// the tests also run on the CPU) and the table slots that launch them. Every launch is
// on the context's stream and checked with cudaGetLastError; a failure is recorded with
// the kernel's name (cuda_error.c) and reported by the next sync.
#include "cuda_launch.h"
#include "kernels_ew.h"
#include "kernels_reduce.h"

extern "C" {

// ---------------------------------------------------------------- basic

void cuda_fill(const ssl3d_kctx *k, float *x, int64_t n, float v) { LAUNCH_N(state_of(k), k_fill, n, x, n, v); }

void cuda_axpy(const ssl3d_kctx *k, float a, const float *x, float *y, int64_t n) {
    LAUNCH_N(state_of(k), k_axpy, n, a, x, y, n);
}

void cuda_add_scalar(const ssl3d_kctx *k, float a, float *y, int64_t n) {
    LAUNCH_N(state_of(k), k_add_scalar, n, a, y, n);
}

void cuda_scale_add(const ssl3d_kctx *k, float a, const float *x, float b, const float *y, float *out, int64_t n) {
    LAUNCH_N(state_of(k), k_scale_add, n, a, x, b, y, out, n);
}

// Sum (mode 0), dot (1) or sum of squares (2) through the fixed partition; waits for the
// result. NaN when a call failed (the error is recorded).
static double reduce_sum(cuda_state *s, const float *x, const float *w, int64_t n, int32_t mode, const char *what) {
    int prev = cuda_enter(s);
    double *part = s->dscratch, *fin = s->dscratch + SSL3D_REDUCE_PARTS, r = NAN;
    SSL3D_LAUNCH(k_partial_sum, SSL3D_REDUCE_GRID, SSL3D_BLOCK, s->stream, x, w, n, mode, part);
    SSL3D_LAUNCH(k_final_sum, 1, SSL3D_REDUCE_FINAL, s->stream, part, (int64_t)SSL3D_REDUCE_PARTS, fin,
                 (int64_t)SSL3D_REDUCE_FINAL);
    if (!cuda_check(s, cudaGetLastError(), what) &&
        !cuda_check(s, cudaMemcpyAsync(s->hscratch, fin, SSL3D_REDUCE_FINAL * sizeof(double), cudaMemcpyDeviceToHost,
                                       s->stream), "cudaMemcpyAsync (reduction result)") &&
        !cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (reduction result)")) {
        r = 0.0;
        for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) r += s->hscratch[i];
    }
    cuda_leave(s, prev);
    return r;
}

double cuda_dot(const ssl3d_kctx *k, const float *x, const float *w, int64_t n) {
    return reduce_sum(state_of(k), x, w, n, w ? 1 : 0, "kernel k_partial_sum (dot)");
}

void cuda_channel_sum(cuda_state *s, const float *x, int64_t N, int64_t C, int64_t S, float *out) {
    if (C > SSL3D_REDUCE_PARTS) {
        cuda_fail(s, SSL3D_ERR_UNSUPPORTED, "channel sum: %lld channels exceed the %d the CUDA backend reduces",
                  (long long)C, SSL3D_REDUCE_PARTS);
        return;
    }
    const int64_t chunks = ssl3d_channel_chunks(C, N * S);
    int prev = cuda_enter(s);
    SSL3D_LAUNCH(k_channel_partial, ssl3d_grid_for(C * chunks, SSL3D_BLOCK), SSL3D_BLOCK, s->stream, x, N, C, S,
                 chunks, s->dscratch);
    SSL3D_LAUNCH(k_channel_final, ssl3d_grid_for(C, SSL3D_BLOCK), SSL3D_BLOCK, s->stream, s->dscratch, C, chunks,
                 out);
    cuda_check(s, cudaGetLastError(), "kernel k_channel_partial/k_channel_final");
    cuda_leave(s, prev);
}

void cuda_add_channel_bias(cuda_state *s, float *y, const float *b, int64_t N, int64_t C, int64_t S) {
    const int64_t n = N * C * S;
    LAUNCH_N(s, k_add, n, y, b, y, n, C, S, 1);
}

void cuda_fill_rows(cuda_state *s, float *y, const float *b, int64_t M, int64_t Out) {
    // y (M,Out) = 0 + b broadcast: k_add over (1, M*Out) with b per "channel" of size 1
    // would not fit; rows are (N = M, C = Out, S = 1), so per-channel add of b onto zeros.
    const int64_t n = M * Out;
    int prev = cuda_enter(s);
    SSL3D_LAUNCH(k_fill, ssl3d_grid_for(n, SSL3D_BLOCK), SSL3D_BLOCK, s->stream, y, n, 0.0f);
    SSL3D_LAUNCH(k_add, ssl3d_grid_for(n, SSL3D_BLOCK), SSL3D_BLOCK, s->stream, y, b, y, n, Out, (int64_t)1, 1);
    cuda_check(s, cudaGetLastError(), "kernel k_fill/k_add (linear bias)");
    cuda_leave(s, prev);
}

// ---------------------------------------------------------------- layer kernels

void cuda_activation_forward(const ssl3d_kctx *k, int32_t kind, float slope, const float *x, float *y, int64_t n) {
    LAUNCH_N(state_of(k), k_act_forward, n, kind, slope, x, y, n);
}

void cuda_activation_backward(const ssl3d_kctx *k, int32_t kind, float slope, const float *x, const float *y,
                              const float *dy, float *dx, int64_t n) {
    LAUNCH_N(state_of(k), k_act_backward, n, kind, slope, x, y, dy, dx, n);
}

void cuda_dropout_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t n, float p, uint64_t seed,
                          uint64_t stream) {
    LAUNCH_N(state_of(k), k_dropout, (n + 3) / 4, x, y, n, p, seed, stream, 0);
}

void cuda_dropout_backward(const ssl3d_kctx *k, const float *dy, float *dx, int64_t n, float p, uint64_t seed,
                           uint64_t stream) {
    LAUNCH_N(state_of(k), k_dropout, (n + 3) / 4, dy, dx, n, p, seed, stream, 1);
}

void cuda_add_forward(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t N, int64_t C, int64_t S,
                      int32_t per_channel) {
    const int64_t n = N * C * S;
    LAUNCH_N(state_of(k), k_add, n, a, b, y, n, C, S, per_channel);
}

void cuda_add_backward(const ssl3d_kctx *k, const float *dy, int64_t N, int64_t C, int64_t S, int32_t per_channel,
                       float *da, float *db) {
    cuda_state *s = state_of(k);
    const int64_t n = N * C * S;
    if (da) LAUNCH_N(s, k_axpy, n, 1.0f, dy, da, n);
    if (!db) return;
    if (per_channel) cuda_channel_sum(s, dy, N, C, S, db);
    else LAUNCH_N(s, k_axpy, n, 1.0f, dy, db, n);
}

void cuda_mul_forward(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t n) {
    LAUNCH_N(state_of(k), k_mul, n, a, b, y, n);
}

void cuda_mul_backward(const ssl3d_kctx *k, const float *a, const float *b, const float *dy, float *da, float *db,
                       int64_t n) {
    LAUNCH_N(state_of(k), k_mul_backward, n, a, b, dy, da, db, n);
}

void cuda_block_copy(const ssl3d_kctx *k, const float *src, int64_t src_stride, float *dst, int64_t dst_stride,
                     int64_t rows, int64_t len, int32_t accumulate) {
    LAUNCH_N(state_of(k), k_block_copy, rows * len, src, src_stride, dst, dst_stride, rows, len, accumulate);
}

// ---------------------------------------------------------------- pooling

void cuda_maxpool2_forward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3], const float *x,
                           float *y, int32_t *argmax) {
    const int64_t kd = dims == 3 ? 2 : 1;
    const int64_t n = nc * (in[0] / kd) * (in[1] / 2) * (in[2] / 2);
    LAUNCH_N(state_of(k), k_maxpool2, n, x, y, argmax, nc, in[0], in[1], in[2], kd);
}

void cuda_maxpool2_backward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3], const float *dy,
                            const int32_t *argmax, float *dx) {
    const int64_t kd = dims == 3 ? 2 : 1;
    const int64_t ivol = in[0] * in[1] * in[2], ovol = (in[0] / kd) * (in[1] / 2) * (in[2] / 2);
    LAUNCH_N(state_of(k), k_maxpool2_backward, nc * ovol, dy, argmax, dx, nc, ivol, ovol);
}

void cuda_global_avgpool_forward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *x, float *y) {
    LAUNCH_N(state_of(k), k_row_mean, nc, x, nc, s, y);
}

void cuda_global_avgpool_backward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *dy, float *dx) {
    LAUNCH_N(state_of(k), k_avgpool_backward, nc * s, dy, dx, nc, s);
}

// ---------------------------------------------------------------- optimiser

static void sgd_update(const ssl3d_kctx *k, float *p, const float *g, float *buf, int64_t n, float lr, float momentum,
                       float wd, int32_t nesterov) {
    LAUNCH_N(state_of(k), k_sgd, n, p, g, buf, n, lr, momentum, wd, nesterov);
}

static void adam_update(const ssl3d_kctx *k, float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1,
                        float b2, float eps, float wd, int32_t decoupled, float bc1, float bc2) {
    LAUNCH_N(state_of(k), k_adam, n, p, g, m, v, n, lr, b1, b2, eps, wd, decoupled, bc1, bc2);
}

static double sumsq(const ssl3d_kctx *k, const float *x, int64_t n) {
    return reduce_sum(state_of(k), x, NULL, n, 2, "kernel k_partial_sum (sum of squares)");
}

static void scale(const ssl3d_kctx *k, float *x, int64_t n, float a) { LAUNCH_N(state_of(k), k_scale, n, x, n, a); }

// First non-finite index or -1; -1 too when a call failed (recorded: the next sync
// reports the device error rather than a made-up index).
static int64_t first_nonfinite(const ssl3d_kctx *k, const float *x, int64_t n) {
    cuda_state *s = state_of(k);
    int prev = cuda_enter(s);
    int64_t *part = (int64_t *)s->dscratch, *fin = (int64_t *)(s->dscratch + SSL3D_REDUCE_PARTS), r = -1;
    SSL3D_LAUNCH(k_partial_first_nonfinite, SSL3D_REDUCE_GRID, SSL3D_BLOCK, s->stream, x, n, part);
    SSL3D_LAUNCH(k_final_min, 1, SSL3D_REDUCE_FINAL, s->stream, part, (int64_t)SSL3D_REDUCE_PARTS, fin,
                 (int64_t)SSL3D_REDUCE_FINAL);
    int64_t *host = (int64_t *)s->hscratch;
    if (!cuda_check(s, cudaGetLastError(), "kernel k_partial_first_nonfinite") &&
        !cuda_check(s, cudaMemcpyAsync(host, fin, SSL3D_REDUCE_FINAL * sizeof(int64_t), cudaMemcpyDeviceToHost,
                                       s->stream), "cudaMemcpyAsync (non-finite check)") &&
        !cuda_check(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (non-finite check)")) {
        int64_t m = n;
        for (int i = 0; i < SSL3D_REDUCE_FINAL; i++) m = host[i] < m ? host[i] : m;
        r = m < n ? m : -1;
    }
    cuda_leave(s, prev);
    return r;
}

const struct ssl3d_optim_kernels cuda_optim_kernels = {
    sgd_update, adam_update, sumsq, scale, first_nonfinite,
};

}  // extern "C"
