/* CPU optimiser kernels: SGD and Adam/AdamW elementwise updates, the chunked sum of
 * squares for gradient clipping, scaling and the non-finite check. */
#include <math.h>
#include "../optim_kernels.h"

static inline int64_t chunk_lo(int64_t n, int c) { return n * c / SSL3D_OPTIM_CHUNKS; }

static void cpu_sgd_update(const ssl3d_kctx *k, float *p, const float *g, float *buf, int64_t n, float lr,
                           float momentum, float wd, int32_t nesterov) {
    #pragma omp parallel for simd num_threads(k->threads) if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (buf) {
            float b = momentum * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] -= lr * d;
    }
}

static void cpu_adam_update(const ssl3d_kctx *k, float *p, const float *g, float *m, float *v, int64_t n,
                            float lr, float b1, float b2, float eps, float wd, int32_t decoupled, float bc1,
                            float bc2) {
    const float step = lr / bc1, sqrt_bc2 = sqrtf(bc2), decay = 1.0f - lr * wd;
    #pragma omp parallel for simd num_threads(k->threads) if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i], d = g[i];
        if (decoupled) pi *= decay;
        else d += wd * pi;
        float mi = b1 * m[i] + (1.0f - b1) * d;
        float vi = b2 * v[i] + (1.0f - b2) * d * d;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * (mi / (sqrtf(vi) / sqrt_bc2 + eps));
    }
}

static double cpu_sumsq(const ssl3d_kctx *k, const float *x, int64_t n) {
    double part[SSL3D_OPTIM_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int c = 0; c < SSL3D_OPTIM_CHUNKS; c++) {
        double acc = 0.0;
        for (int64_t i = chunk_lo(n, c); i < chunk_lo(n, c + 1); i++) acc += (double)x[i] * x[i];
        part[c] = acc;
    }
    double s = 0.0;
    for (int c = 0; c < SSL3D_OPTIM_CHUNKS; c++) s += part[c];
    return s;
}

static void cpu_scale(const ssl3d_kctx *k, float *x, int64_t n, float a) {
    #pragma omp parallel for simd num_threads(k->threads) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] *= a;
}

static int64_t cpu_first_nonfinite(const ssl3d_kctx *k, const float *x, int64_t n) {
    int64_t first[SSL3D_OPTIM_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (n > 65536) schedule(static)
    for (int c = 0; c < SSL3D_OPTIM_CHUNKS; c++) {
        first[c] = -1;
        for (int64_t i = chunk_lo(n, c); i < chunk_lo(n, c + 1); i++)
            if (!isfinite(x[i])) { first[c] = i; break; }
    }
    for (int c = 0; c < SSL3D_OPTIM_CHUNKS; c++)
        if (first[c] >= 0) return first[c];
    return -1;
}

const struct ssl3d_optim_kernels ssl3d_cpu_optim_kernels = {
    .sgd_update = cpu_sgd_update,
    .adam_update = cpu_adam_update,
    .sumsq = cpu_sumsq,
    .scale = cpu_scale,
    .first_nonfinite = cpu_first_nonfinite,
};
