/* CPU layer kernels: activations, dropout, elementwise add/mul, block copies, and the
 * table that gathers these with the norm (cpu_layer_norm.c) and linear / L2 norm
 * (cpu_layer_linear.c) kernels. Element-wise loops are split statically across
 * threads; each element's result does not depend on how the loop is split. */
#include <math.h>
#include <string.h>
#include "../../core/rng.h"
#include "cpu_layer_impl.h"

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN 32768

/* ---------------------------------------------------------------- activations */

static void activation_forward(const ssl3d_kctx *k, int32_t kind, float slope, const float *x, float *y,
                               int64_t n) {
    switch (kind) {
    case SSL3D_ACT_RELU:
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case SSL3D_ACT_LEAKY_RELU:
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
        break;
    case SSL3D_ACT_SIGMOID:
        /* expf(-x) overflows to inf for x < -88: 1/(1+inf) = 0, the right limit. */
        #pragma omp parallel for num_threads(k->threads) schedule(static) if (n > PAR_MIN / 8)
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case SSL3D_ACT_TANH:
        #pragma omp parallel for num_threads(k->threads) schedule(static) if (n > PAR_MIN / 8)
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    default: break;
    }
}

/* relu/leaky: the slope is chosen by the sign of x; sigmoid: y(1-y); tanh: 1-y^2. dy is
 * loaded before the select so that the compiler vectorises it (a conditional load compiled
 * to a scalar loop with an unpredictable branch: 9% of a W3 step). */
static void activation_backward(const ssl3d_kctx *k, int32_t kind, float slope, const float *x,
                                const float *y, const float *dy, float *dx, int64_t n) {
    switch (kind) {
    case SSL3D_ACT_RELU:
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) { const float d = dy[i]; dx[i] += x[i] > 0.0f ? d : 0.0f; }
        break;
    case SSL3D_ACT_LEAKY_RELU:
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) { const float d = dy[i]; dx[i] += x[i] > 0.0f ? d : slope * d; }
        break;
    case SSL3D_ACT_SIGMOID:
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case SSL3D_ACT_TANH:
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    default: break;
    }
}

/* ---------------------------------------------------------------- dropout */

/* One Philox block (4 x 32 bits) serves elements 4b..4b+3; the draw for element i is
 * a pure function of (seed, stream, i), independent of the thread split. */
static void dropout_apply(const ssl3d_kctx *k, const float *src, float *dst, int64_t n, float p,
                          uint64_t seed, uint64_t stream, int accumulate) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const int64_t nb = (n + 3) / 4;
    #pragma omp parallel for num_threads(k->threads) schedule(static) if (n > PAR_MIN / 8)
    for (int64_t b = 0; b < nb; b++) {
        uint32_t w[4];
        ssl3d_philox(seed, stream, (uint64_t)b, w);
        for (int j = 0; j < 4; j++) {
            const int64_t i = 4 * b + j;
            if (i >= n) break;
            const float u = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
            const float v = u < p ? 0.0f : src[i] * scale;
            if (accumulate) dst[i] += v; else dst[i] = v;
        }
    }
}

static void dropout_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t n, float p, uint64_t seed,
                            uint64_t stream) {
    dropout_apply(k, x, y, n, p, seed, stream, 0);
}

static void dropout_backward(const ssl3d_kctx *k, const float *dy, float *dx, int64_t n, float p,
                             uint64_t seed, uint64_t stream) {
    dropout_apply(k, dy, dx, n, p, seed, stream, 1);
}

/* ---------------------------------------------------------------- elementwise */

/* a (N,C,S) + b, b (N,C,S) or b (C) broadcast over n and s. */
static void add_forward(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t N, int64_t C,
                        int64_t S, int32_t per_channel) {
    const int64_t n = N * C * S;
    if (!per_channel) {
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
        return;
    }
    #pragma omp parallel for num_threads(k->threads) schedule(static) if (n > PAR_MIN)
    for (int64_t nc = 0; nc < N * C; nc++) {
        const float bc = b[nc % C];
        #pragma omp simd
        for (int64_t i = 0; i < S; i++) y[nc * S + i] = a[nc * S + i] + bc;
    }
}

static void add_backward(const ssl3d_kctx *k, const float *dy, int64_t N, int64_t C, int64_t S,
                         int32_t per_channel, float *da, float *db) {
    const int64_t n = N * C * S;
    if (da) {
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] += dy[i];
    }
    if (!db) return;
    if (!per_channel) {
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) db[i] += dy[i];
        return;
    }
    /* one thread per channel, fixed order over (n, s) */
    #pragma omp parallel for num_threads(k->threads) schedule(static) if (n > PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        double s = 0.0;
        for (int64_t j = 0; j < N; j++) {
            const float *p = dy + (j * C + c) * S;
            for (int64_t i0 = 0; i0 < S; i0 += CPU_LAYER_CHUNK) {
                const int64_t i1 = i0 + CPU_LAYER_CHUNK < S ? i0 + CPU_LAYER_CHUNK : S;
                float fs = 0.0f;
                #pragma omp simd reduction(+:fs)
                for (int64_t i = i0; i < i1; i++) fs += p[i];
                s += fs;
            }
        }
        db[c] += (float)s;
    }
}

static void mul_forward(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t n) {
    #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

static void mul_backward(const ssl3d_kctx *k, const float *a, const float *b, const float *dy, float *da,
                         float *db, int64_t n) {
    /* da and db may be the same buffer (y = x*x): two separate passes keep that right. */
    if (da) {
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] += dy[i] * b[i];
    }
    if (db) {
        #pragma omp parallel for simd num_threads(k->threads) schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) db[i] += dy[i] * a[i];
    }
}

/* ---------------------------------------------------------------- block copy */

/* Rows are split into segments of SEG elements so that a copy of a few long rows
 * (concat of N = 2 feature maps) still uses every thread. */
#define SEG 16384
static void block_copy(const ssl3d_kctx *k, const float *src, int64_t src_stride, float *dst,
                       int64_t dst_stride, int64_t rows, int64_t len, int32_t accumulate) {
    const int64_t segs = (len + SEG - 1) / SEG, total = rows * segs;
    #pragma omp parallel for num_threads(k->threads) schedule(static) if (rows * len > PAR_MIN)
    for (int64_t t = 0; t < total; t++) {
        const int64_t r = t / segs, j0 = (t % segs) * SEG;
        const int64_t m = len - j0 < SEG ? len - j0 : SEG;
        const float *s = src + r * src_stride + j0;
        float *d = dst + r * dst_stride + j0;
        if (accumulate) {
            #pragma omp simd
            for (int64_t j = 0; j < m; j++) d[j] += s[j];
        } else {
            memcpy(d, s, (size_t)m * sizeof *d);
        }
    }
}

const struct ssl3d_layer_kernels ssl3d_cpu_layer_kernels = {
    .batchnorm_stats = cpu_batchnorm_stats,
    .batchnorm_forward = cpu_batchnorm_forward,
    .batchnorm_backward = cpu_batchnorm_backward,
    .groupnorm_forward = cpu_groupnorm_forward,
    .groupnorm_backward = cpu_groupnorm_backward,
    .batchnorm_relu_forward = cpu_batchnorm_relu_forward,
    .batchnorm_relu_backward = cpu_batchnorm_relu_backward,
    .groupnorm_relu_forward = cpu_groupnorm_relu_forward,
    .groupnorm_relu_backward = cpu_groupnorm_relu_backward,
    .activation_forward = activation_forward,
    .activation_backward = activation_backward,
    .dropout_forward = dropout_forward,
    .dropout_backward = dropout_backward,
    .linear_forward = cpu_linear_forward,
    .linear_backward = cpu_linear_backward,
    .add_forward = add_forward,
    .add_backward = add_backward,
    .mul_forward = mul_forward,
    .mul_backward = mul_backward,
    .block_copy = block_copy,
    .l2norm_forward = cpu_l2norm_forward,
    .l2norm_backward = cpu_l2norm_backward,
};
