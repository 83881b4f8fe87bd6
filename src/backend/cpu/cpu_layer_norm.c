/* CPU batch norm and group norm kernels, x viewed as (N,C,S) with S = D*H*W (3D) or
 * H*W (2D). Statistics are reduced per channel (batch norm) or per (sample, group)
 * (group norm) by ONE thread each, in a fixed order: chunks of CPU_LAYER_CHUNK
 * elements summed in float (SIMD), folded into double accumulators. So the result is
 * the same for any thread count. Variances are computed on data shifted by the first
 * element of the set, which avoids cancellation when |mean| >> std. */
#include <math.h>
#include "cpu_layer_impl.h"

/* s += sum(p - shift), ss += sum((p - shift)^2) over n elements. */
static inline void shifted_sums(const float *p, int64_t n, float shift, double *s, double *ss) {
    for (int64_t i0 = 0; i0 < n; i0 += CPU_LAYER_CHUNK) {
        int64_t i1 = i0 + CPU_LAYER_CHUNK < n ? i0 + CPU_LAYER_CHUNK : n;
        float fs = 0.0f, fss = 0.0f;
        #pragma omp simd reduction(+:fs, fss)
        for (int64_t i = i0; i < i1; i++) { float d = p[i] - shift; fs += d; fss += d * d; }
        *s += fs; *ss += fss;
    }
}

/* s += sum(dz), sdx += sum(dz * (x - mean)) over n elements, with dz = dy, or when `relu`,
 * dy masked by the ReLU that followed the norm: dz = (y > 0 ? dy : 0) (y > 0 exactly where
 * the norm's output was > 0; y is not read otherwise). Every call passes a constant `relu`
 * and is inlined, so each call site gets its own vectorised loop and the unmasked sums are
 * the same float operations in the same order as without the mask (the same bits). */
static inline void grad_sums(const float *dy, const float *y, const float *x, int64_t n, float mean,
                             const int relu, double *s, double *sdx) {
    for (int64_t i0 = 0; i0 < n; i0 += CPU_LAYER_CHUNK) {
        int64_t i1 = i0 + CPU_LAYER_CHUNK < n ? i0 + CPU_LAYER_CHUNK : n;
        float fs = 0.0f, fsx = 0.0f;
        #pragma omp simd reduction(+:fs, fsx)
        for (int64_t i = i0; i < i1; i++) {
            const float d = dy[i], dz = relu ? (y[i] > 0.0f ? d : 0.0f) : d;
            fs += dz; fsx += dz * (x[i] - mean);
        }
        *s += fs; *sdx += fsx;
    }
}

/* gp[i] += a * (gm*dz - mdy - (x - mu)*proj) over n elements, dz as in grad_sums (inlined
 * with a constant `relu` the same way). Batch norm passes gm = 1 (exact: the same bits as
 * without the product). */
static inline void norm_dx_row(float *gp, const float *xp, const float *dp, const float *yp, int64_t n,
                               float a, float gm, float mu, float mdy, float proj, const int relu) {
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float d = dp[i], dz = relu ? (yp[i] > 0.0f ? d : 0.0f) : d;
        gp[i] += a * (gm * dz - mdy - (xp[i] - mu) * proj);
    }
}

/* ---------------------------------------------------------------- batch norm */

/* mean[c], var[c] (biased) over the N*S elements of channel c of x (N,C,S). */
void cpu_batchnorm_stats(const ssl3d_kctx *k, const float *x, int64_t N, int64_t C, int64_t S,
                         float *mean, float *var) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const float shift = x[c * S];
        double s = 0.0, ss = 0.0;
        for (int64_t n = 0; n < N; n++) shifted_sums(x + (n * C + c) * S, S, shift, &s, &ss);
        const double M = (double)N * (double)S;
        double m = s / M, v = ss / M - m * m;
        mean[c] = (float)(shift + m);
        var[c] = (float)(v > 0.0 ? v : 0.0);
    }
}

/* y (N,C,S) = (x - mean[c]) * a[c] + beta[c] with a = invstd*gamma, then max(y, 0) when
 * `relu`. Subtracting the mean first (rather than folding it into the offset) keeps
 * precision when |mean| >> std. Inlined with a constant `relu` into both kernels below, so
 * the fused one does the same float operations in the same order (the same bits). */
static inline void batchnorm_apply(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                                   int64_t S, const float *mean, const float *invstd, const float *gamma,
                                   const float *beta, const int relu) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t nc = 0; nc < N * C; nc++) {
        const int64_t c = nc % C;
        const float a = invstd[c] * gamma[c], b = beta[c], mu = mean[c];
        const float *xp = x + nc * S;
        float *yp = y + nc * S;
        #pragma omp simd
        for (int64_t i = 0; i < S; i++) {
            const float v = (xp[i] - mu) * a + b;
            yp[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
        }
    }
}

void cpu_batchnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                           int64_t S, const float *mean, const float *invstd, const float *gamma,
                           const float *beta) {
    batchnorm_apply(k, x, y, N, C, S, mean, invstd, gamma, beta, 0);
}

/* y = relu(batchnorm_forward(x)) in one pass. */
void cpu_batchnorm_relu_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                                int64_t S, const float *mean, const float *invstd, const float *gamma,
                                const float *beta) {
    batchnorm_apply(k, x, y, N, C, S, mean, invstd, gamma, beta, 1);
}

/* With xhat = (x - mean)*invstd and M = N*S:
 *   dbeta  += sum dz,   dgamma += sum dz*xhat
 *   training: dx += gamma*invstd * (dz - sum(dz)/M - xhat * sum(dz*xhat)/M)
 *   eval:     dx += gamma*invstd * dz  (mean and invstd are constants)
 * with dz = dy, or where y (the fused ReLU's output) is given, dy masked by y > 0 without
 * materialising dz (one pass less over the activation, and no ReLU gradient buffer). */
static void batchnorm_grad(const ssl3d_kctx *k, const float *x, const float *y, const float *dy, int64_t N,
                           int64_t C, int64_t S, const float *mean, const float *invstd, const float *gamma,
                           int32_t training, float *dx, float *dgamma, float *dbeta) {
    const int need_sums = dgamma || dbeta || (dx && training);
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const float mu = mean[c], is = invstd[c];
        double s = 0.0, sdx = 0.0;
        if (need_sums)
            for (int64_t n = 0; n < N; n++) {
                const int64_t o = (n * C + c) * S;
                if (y) grad_sums(dy + o, y + o, x + o, S, mu, 1, &s, &sdx);
                else grad_sums(dy + o, NULL, x + o, S, mu, 0, &s, &sdx);
            }
        if (dbeta) dbeta[c] += (float)s;
        if (dgamma) dgamma[c] += (float)(sdx * is);
        if (!dx) continue;
        const double M = (double)N * (double)S;
        const float g = gamma[c] * is;
        const float mdy = training ? (float)(s / M) : 0.0f;
        const float proj = training ? (float)(sdx / M * is * is) : 0.0f;
        for (int64_t n = 0; n < N; n++) {
            const int64_t o = (n * C + c) * S;
            if (y) norm_dx_row(dx + o, x + o, dy + o, y + o, S, g, 1.0f, mu, mdy, proj, 1);
            else norm_dx_row(dx + o, x + o, dy + o, NULL, S, g, 1.0f, mu, mdy, proj, 0);
        }
    }
}

void cpu_batchnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N,
                            int64_t C, int64_t S, const float *mean, const float *invstd,
                            const float *gamma, int32_t training, float *dx, float *dgamma,
                            float *dbeta) {
    batchnorm_grad(k, x, NULL, dy, N, C, S, mean, invstd, gamma, training, dx, dgamma, dbeta);
}

/* The backward of y = relu(batchnorm(x)), dy masked by y > 0 on the fly. */
void cpu_batchnorm_relu_backward(const ssl3d_kctx *k, const float *x, const float *y, const float *dy,
                                 int64_t N, int64_t C, int64_t S, const float *mean, const float *invstd,
                                 const float *gamma, int32_t training, float *dx, float *dgamma,
                                 float *dbeta) {
    batchnorm_grad(k, x, y, dy, N, C, S, mean, invstd, gamma, training, dx, dgamma, dbeta);
}

/* ---------------------------------------------------------------- group norm */

/* Group g of sample n is the contiguous block of (C/G)*S elements starting at
 * (n*C + g*C/G)*S: mean and invstd of each, and y = (x - mean) * invstd*gamma[c] + beta[c],
 * then max(y, 0) when `relu`. Inlined with a constant `relu` into both kernels below, so
 * the fused one does the same float operations in the same order (the same bits). */
static inline void groupnorm_apply(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                                   int64_t S, int64_t G, float eps, const float *gamma, const float *beta,
                                   float *mean, float *invstd, const int relu) {
    const int64_t cg = C / G, M = cg * S;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t ng = 0; ng < N * G; ng++) {
        const float *xp = x + ng * M;
        float *yp = y + ng * M;
        const float shift = xp[0];
        double s = 0.0, ss = 0.0;
        shifted_sums(xp, M, shift, &s, &ss);
        double m = s / (double)M, v = ss / (double)M - m * m;
        if (v < 0.0) v = 0.0;
        const float mu = (float)(shift + m), is = (float)(1.0 / sqrt(v + (double)eps));
        mean[ng] = mu; invstd[ng] = is;
        const int64_t c0 = (ng % G) * cg;
        for (int64_t j = 0; j < cg; j++) {
            const float a = is * gamma[c0 + j], b = beta[c0 + j];
            const float *xq = xp + j * S;
            float *yq = yp + j * S;
            #pragma omp simd
            for (int64_t i = 0; i < S; i++) {
                const float z = (xq[i] - mu) * a + b;
                yq[i] = relu ? (z > 0.0f ? z : 0.0f) : z;
            }
        }
    }
}

void cpu_groupnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                           int64_t S, int64_t G, float eps, const float *gamma, const float *beta,
                           float *mean, float *invstd) {
    groupnorm_apply(k, x, y, N, C, S, G, eps, gamma, beta, mean, invstd, 0);
}

/* y = relu(groupnorm_forward(x)) in one pass. */
void cpu_groupnorm_relu_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                                int64_t S, int64_t G, float eps, const float *gamma, const float *beta,
                                float *mean, float *invstd) {
    groupnorm_apply(k, x, y, N, C, S, G, eps, gamma, beta, mean, invstd, 1);
}

/* dx: per (n, g), with dxhat = dz*gamma[c] and M = (C/G)*S:
 *   dx += invstd * (dxhat - sum(dxhat)/M - xhat * sum(dxhat*xhat)/M)
 * dgamma[c] += sum_{n,s} dz*xhat, dbeta[c] += sum_{n,s} dz: a second loop over
 * channels so that each channel's sum is owned by one thread. dz = dy, or where y (the
 * fused ReLU's output) is given, dy masked by y > 0. */
static void groupnorm_grad(const ssl3d_kctx *k, const float *x, const float *y, const float *dy,
                           int64_t N, int64_t C, int64_t S, int64_t G, const float *mean,
                           const float *invstd, const float *gamma, float *dx, float *dgamma,
                           float *dbeta) {
    const int64_t cg = C / G, M = cg * S;
    if (dx) {
        #pragma omp parallel for num_threads(k->threads) schedule(static)
        for (int64_t ng = 0; ng < N * G; ng++) {
            const float mu = mean[ng], is = invstd[ng];
            const int64_t c0 = (ng % G) * cg;
            /* sum dxhat and sum dxhat*(x - mu), channel by channel */
            double s = 0.0, sdx = 0.0;
            for (int64_t j = 0; j < cg; j++) {
                double sj = 0.0, sdxj = 0.0;
                const int64_t o = ng * M + j * S;
                if (y) grad_sums(dy + o, y + o, x + o, S, mu, 1, &sj, &sdxj);
                else grad_sums(dy + o, NULL, x + o, S, mu, 0, &sj, &sdxj);
                s += sj * gamma[c0 + j]; sdx += sdxj * gamma[c0 + j];
            }
            const float mdy = (float)(s / (double)M);
            const float proj = (float)(sdx / (double)M * is * is);
            for (int64_t j = 0; j < cg; j++) {
                const int64_t o = ng * M + j * S;
                if (y) norm_dx_row(dx + o, x + o, dy + o, y + o, S, is, gamma[c0 + j], mu, mdy, proj, 1);
                else norm_dx_row(dx + o, x + o, dy + o, NULL, S, is, gamma[c0 + j], mu, mdy, proj, 0);
            }
        }
    }
    if (dgamma || dbeta) {
        #pragma omp parallel for num_threads(k->threads) schedule(static)
        for (int64_t c = 0; c < C; c++) {
            double sb = 0.0, sg = 0.0;
            for (int64_t n = 0; n < N; n++) {
                const int64_t ng = n * G + c / cg;
                double s = 0.0, sdx = 0.0;
                const int64_t o = (n * C + c) * S;
                if (y) grad_sums(dy + o, y + o, x + o, S, mean[ng], 1, &s, &sdx);
                else grad_sums(dy + o, NULL, x + o, S, mean[ng], 0, &s, &sdx);
                sb += s; sg += sdx * invstd[ng];
            }
            if (dbeta) dbeta[c] += (float)sb;
            if (dgamma) dgamma[c] += (float)sg;
        }
    }
}

void cpu_groupnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N,
                            int64_t C, int64_t S, int64_t G, const float *mean,
                            const float *invstd, const float *gamma, float *dx, float *dgamma,
                            float *dbeta) {
    groupnorm_grad(k, x, NULL, dy, N, C, S, G, mean, invstd, gamma, dx, dgamma, dbeta);
}

/* The backward of y = relu(groupnorm(x)), dy masked by y > 0 on the fly. */
void cpu_groupnorm_relu_backward(const ssl3d_kctx *k, const float *x, const float *y, const float *dy,
                                 int64_t N, int64_t C, int64_t S, int64_t G, const float *mean,
                                 const float *invstd, const float *gamma, float *dx, float *dgamma,
                                 float *dbeta) {
    groupnorm_grad(k, x, y, dy, N, C, S, G, mean, invstd, gamma, dx, dgamma, dbeta);
}
