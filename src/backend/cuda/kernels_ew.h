/* Element-wise CUDA kernels of the backend: basic float ops, activations, dropout,
 * add/mul, block copies, pooling, optimiser steps. Each has the semantics of the CPU
 * kernel of the same slot (backend.h and the *_kernels.h headers); gradients ACCUMULATE.
 * Written in the common C/CUDA subset of kernel_defs.h so tests run them on the CPU. */
#ifndef SSL3D_CUDA_KERNELS_EW_H
#define SSL3D_CUDA_KERNELS_EW_H
#include "kernel_defs.h"

/* ---------------------------------------------------------------- basic */

SSL3D_KERNEL k_fill(float *x, int64_t n, float v) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) x[i] = v;
}

SSL3D_KERNEL k_axpy(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) y[i] += a * x[i];
}

SSL3D_KERNEL k_add_scalar(float a, float *y, int64_t n) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) y[i] += a;
}

SSL3D_KERNEL k_scale_add(float a, const float *x, float b, const float *y, float *out, int64_t n) {
    /* b == 0: y is not read, out = a*x (backend.h) */
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) out[i] = b == 0.0f ? a * x[i] : a * x[i] + b * y[i];
}

SSL3D_KERNEL k_scale(float *x, int64_t n, float a) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) x[i] *= a;
}

/* ---------------------------------------------------------------- activations */

/* kind: ssl3d_act_kind (0 relu, 1 leaky relu, 2 sigmoid, 3 tanh). */
SSL3D_HD float act_fwd(int32_t kind, float slope, float x) {
    switch (kind) {
    case 0: return x > 0.0f ? x : 0.0f;
    case 1: return x > 0.0f ? x : slope * x;
    case 2: return 1.0f / (1.0f + expf(-x));
    default: return tanhf(x);
    }
}

SSL3D_HD float act_bwd(int32_t kind, float slope, float x, float y, float dy) {
    switch (kind) {
    case 0: return x > 0.0f ? dy : 0.0f;
    case 1: return x > 0.0f ? dy : slope * dy;
    case 2: return dy * y * (1.0f - y);
    default: return dy * (1.0f - y * y);
    }
}

SSL3D_KERNEL k_act_forward(int32_t kind, float slope, const float *x, float *y, int64_t n) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) y[i] = act_fwd(kind, slope, x[i]);
}

/* y may be NULL for relu / leaky relu (they read x only). */
SSL3D_KERNEL k_act_backward(int32_t kind, float slope, const float *x, const float *y, const float *dy,
                            float *dx, int64_t n) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS)
        dx[i] += act_bwd(kind, slope, x ? x[i] : 0.0f, y ? y[i] : 0.0f, dy[i]);
}

/* ---------------------------------------------------------------- dropout */

/* Philox-4x32-10 with the counter/key layout of src/core/rng.c (ssl3d_philox): the same
 * (seed, stream, block) gives the same four words on the GPU as on the CPU, so dropout
 * masks agree across backends. */
SSL3D_HD void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* One thread per Philox block of 4 elements (as the CPU): element i is dropped iff
 * u = (word >> 8) / 2^24 < p; kept ones scaled by 1/(1-p). accumulate: dst += value. */
SSL3D_KERNEL k_dropout(const float *src, float *dst, int64_t n, float p, uint64_t seed, uint64_t stream,
                       int32_t accumulate) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const int64_t nb = (n + 3) / 4;
    for (int64_t b = SSL3D_TID; b < nb; b += SSL3D_NTHREADS) {
        uint32_t w[4];
        philox4x32(seed, stream, (uint64_t)b, w);
        for (int j = 0; j < 4; j++) {
            const int64_t i = 4 * b + j;
            if (i >= n) break;
            const float u = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
            const float v = u < p ? 0.0f : src[i] * scale;
            if (accumulate) dst[i] += v; else dst[i] = v;
        }
    }
}

/* ---------------------------------------------------------------- elementwise */

/* y = a + b: b the size of a, or (per_channel) b (C) over a (N,C,S). */
SSL3D_KERNEL k_add(const float *a, const float *b, float *y, int64_t n, int64_t C, int64_t S, int32_t per_channel) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) y[i] = a[i] + (per_channel ? b[(i / S) % C] : b[i]);
}

SSL3D_KERNEL k_mul(const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) y[i] = a[i] * b[i];
}

/* da += dy * b and/or db += dy * a. da and db may be one buffer (y = x*x): each element
 * is touched by one thread only, which adds both terms, so aliasing stays right. */
SSL3D_KERNEL k_mul_backward(const float *a, const float *b, const float *dy, float *da, float *db, int64_t n) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        const float g = dy[i];
        if (da) da[i] += g * b[i];
        if (db) db[i] += g * a[i];
    }
}

/* dst[r*ds + j] (= or +=) src[r*ss + j], r < rows, j < len: one thread per element. */
SSL3D_KERNEL k_block_copy(const float *src, int64_t ss, float *dst, int64_t ds, int64_t rows, int64_t len,
                          int32_t accumulate) {
    const int64_t n = rows * len;
    for (int64_t t = SSL3D_TID; t < n; t += SSL3D_NTHREADS) {
        const int64_t r = t / len, j = t % len;
        if (accumulate) dst[r * ds + j] += src[r * ss + j];
        else dst[r * ds + j] = src[r * ss + j];
    }
}

/* ---------------------------------------------------------------- pooling */

/* Max pool 2 (x2 in D when kd == 2), floor; one thread per output element of (NC,Do,Ho,Wo).
 * argmax: offset inside the (D,H,W) input plane; the first maximum wins, a NaN wins over
 * numbers (as the CPU kernel). */
SSL3D_KERNEL k_maxpool2(const float *x, float *y, int32_t *argmax, int64_t nc, int64_t D, int64_t H, int64_t W,
                        int64_t kd) {
    const int64_t Do = D / kd, Ho = H / 2, Wo = W / 2, ovol = Do * Ho * Wo, n = nc * ovol;
    for (int64_t t = SSL3D_TID; t < n; t += SSL3D_NTHREADS) {
        const int64_t c = t / ovol, o = t % ovol;
        const int64_t od = o / (Ho * Wo), oh = (o / Wo) % Ho, ow = o % Wo;
        const float *xc = x + c * D * H * W;
        int64_t bi = ((od * kd) * H + 2 * oh) * W + 2 * ow;
        float best = xc[bi];
        for (int64_t a = 0; a < kd; a++)
            for (int64_t b = 0; b < 2; b++)
                for (int64_t e = 0; e < 2; e++) {
                    const int64_t i = ((od * kd + a) * H + 2 * oh + b) * W + 2 * ow + e;
                    const float v = xc[i];
                    if (v > best || (v != v && best == best)) { best = v; bi = i; }
                }
        y[t] = best;
        argmax[t] = (int32_t)bi;
    }
}

/* dx += dy routed through argmax: windows do not overlap, so no two threads write the
 * same dx element. */
SSL3D_KERNEL k_maxpool2_backward(const float *dy, const int32_t *argmax, float *dx, int64_t nc, int64_t ivol,
                                 int64_t ovol) {
    const int64_t n = nc * ovol;
    for (int64_t t = SSL3D_TID; t < n; t += SSL3D_NTHREADS) dx[(t / ovol) * ivol + argmax[t]] += dy[t];
}

/* dx (NC,S) += dy[c] / S. */
SSL3D_KERNEL k_avgpool_backward(const float *dy, float *dx, int64_t nc, int64_t s) {
    const int64_t n = nc * s;
    for (int64_t t = SSL3D_TID; t < n; t += SSL3D_NTHREADS) dx[t] += dy[t / s] / (float)s;
}

/* ---------------------------------------------------------------- optimiser steps */

SSL3D_KERNEL k_sgd(float *p, const float *g, float *buf, int64_t n, float lr, float momentum, float wd,
                   int32_t nesterov) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        float d = g[i] + wd * p[i];
        if (buf) {
            const float b = momentum * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] -= lr * d;
    }
}

SSL3D_KERNEL k_adam(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                    float eps, float wd, int32_t decoupled, float bc1, float bc2) {
    const float step = lr / bc1, sqrt_bc2 = sqrtf(bc2), decay = 1.0f - lr * wd;
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        float pi = p[i], d = g[i];
        if (decoupled) pi *= decay;
        else d += wd * pi;
        const float mi = b1 * m[i] + (1.0f - b1) * d;
        const float vi = b2 * v[i] + (1.0f - b2) * d * d;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * (mi / (sqrtf(vi) / sqrt_bc2 + eps));
    }
}

#endif
