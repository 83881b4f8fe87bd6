/* Batch norm, group norm and row L2 normalisation kernels of the CUDA backend, with the
 * semantics of layer_kernels.h. Statistics are reduced deterministically in two passes
 * (fixed chunks summed in double, then the chunks in order), and variances on data
 * shifted by the first element of each set, as the CPU does against cancellation.
 * Common C/CUDA subset (kernel_defs.h): tests run them on the CPU.
 *
 * Partial-sum kernels write TWO doubles per (set, chunk) to part[2t], part[2t+1]; the
 * *_final kernels fold the chunks of each set in order into out0[set], out1[set]. */
#ifndef SSL3D_CUDA_KERNELS_NORM_H
#define SSL3D_CUDA_KERNELS_NORM_H
#include "kernel_defs.h"

/* Chunks per set so that 2 * sets * chunks partials fit the reduction scratch. */
SSL3D_HD int64_t ssl3d_pair_chunks(int64_t sets, int64_t len) {
    int64_t chunks = SSL3D_REDUCE_PARTS / 2 / (sets > 0 ? sets : 1);
    if (chunks > 64) chunks = 64;
    if (chunks > len) chunks = len;
    return chunks < 1 ? 1 : chunks;
}

/* Per-channel pairs over the N*S elements of channel c of (N,C,S), n-major order:
 *   mode 0 (batch-norm statistics): a = x - x[c*S]:                sum a, sum a^2
 *   mode 1 (batch-norm gradients):  with aux0 = mean (C):           sum dy, sum dy*(x - mean[c])
 *   mode 2 (group-norm gamma/beta): aux0 = mean, aux1 = invstd (N*G): sum dy, sum dy*(x - mean)*invstd */
SSL3D_KERNEL k_chan_pairs(int32_t mode, const float *x, const float *dy, const float *aux0, const float *aux1,
                          int64_t N, int64_t C, int64_t S, int64_t G, int64_t chunks, double *part) {
    const int64_t NS = N * S;
    for (int64_t t = SSL3D_TID; t < C * chunks; t += SSL3D_NTHREADS) {
        const int64_t c = t / chunks, k = t % chunks;
        const int64_t lo = k * NS / chunks, hi = (k + 1) * NS / chunks;
        const float shift = x[c * S];
        double a0 = 0.0, a1 = 0.0;
        for (int64_t j = lo; j < hi; j++) {
            const int64_t n = j / S, idx = (n * C + c) * S + j % S;
            if (mode == 0) {
                const double a = (double)x[idx] - (double)shift;
                a0 += a; a1 += a * a;
            } else if (mode == 1) {
                a0 += dy[idx]; a1 += (double)dy[idx] * ((double)x[idx] - (double)aux0[c]);
            } else {
                const int64_t ng = n * G + c / (C / G);
                a0 += dy[idx]; a1 += (double)dy[idx] * ((double)x[idx] - (double)aux0[ng]) * (double)aux1[ng];
            }
        }
        part[2 * t] = a0;
        part[2 * t + 1] = a1;
    }
}

/* Per-row pairs over rows of M contiguous elements (a group of a sample in (N,C,S): row
 * r = n*G + g, M = (C/G)*S):
 *   mode 0 (group-norm statistics): a = x - x[r*M]:                         sum a, sum a^2
 *   mode 1 (group-norm dx sums): gd = gamma[c]*dy, c = (r%G)*(C/G) + j/S:  sum gd, sum gd*(x - mean[r]) */
SSL3D_KERNEL k_row_pairs(int32_t mode, const float *x, const float *dy, const float *gamma, const float *mean,
                         int64_t rows, int64_t M, int64_t S, int64_t C, int64_t G, int64_t chunks, double *part) {
    for (int64_t t = SSL3D_TID; t < rows * chunks; t += SSL3D_NTHREADS) {
        const int64_t r = t / chunks, k = t % chunks;
        const int64_t lo = k * M / chunks, hi = (k + 1) * M / chunks;
        const float *xr = x + r * M;
        double a0 = 0.0, a1 = 0.0;
        for (int64_t j = lo; j < hi; j++) {
            if (mode == 0) {
                const double a = (double)xr[j] - (double)xr[0];
                a0 += a; a1 += a * a;
            } else {
                const int64_t c = (r % G) * (C / G) + j / S;
                const double gd = (double)gamma[c] * (double)dy[r * M + j];
                a0 += gd; a1 += gd * ((double)xr[j] - (double)mean[r]);
            }
        }
        part[2 * t] = a0;
        part[2 * t + 1] = a1;
    }
}

/* out0[s] = sum of part[2*(s*chunks + k)], out1[s] likewise, k in order. */
SSL3D_KERNEL k_pairs_final(const double *part, int64_t sets, int64_t chunks, double *out0, double *out1) {
    for (int64_t s = SSL3D_TID; s < sets; s += SSL3D_NTHREADS) {
        double a0 = 0.0, a1 = 0.0;
        for (int64_t k = 0; k < chunks; k++) { a0 += part[2 * (s * chunks + k)]; a1 += part[2 * (s * chunks + k) + 1]; }
        out0[s] = a0;
        out1[s] = a1;
    }
}

/* Batch-norm statistics from the shifted sums of k_chan_pairs mode 0 (M = N*S). */
SSL3D_KERNEL k_bn_stats_finish(const double *s, const double *ss, const float *x, int64_t C, int64_t S, double M,
                               float *mean, float *var) {
    for (int64_t c = SSL3D_TID; c < C; c += SSL3D_NTHREADS) {
        const double m = s[c] / M, v = ss[c] / M - m * m;
        mean[c] = (float)((double)x[c * S] + m);
        var[c] = (float)(v > 0.0 ? v : 0.0);
    }
}

/* y = (x - mean[c]) * (invstd[c]*gamma[c]) + beta[c]. */
SSL3D_KERNEL k_bn_forward(const float *x, float *y, int64_t n, int64_t C, int64_t S, const float *mean,
                          const float *invstd, const float *gamma, const float *beta) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        const int64_t c = (i / S) % C;
        y[i] = (x[i] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];
    }
}

/* dbeta[c] += s[c]; dgamma[c] += sdx[c] * invstd[c] (either may be NULL). */
SSL3D_KERNEL k_bn_param_grads(const double *s, const double *sdx, const float *invstd, int64_t C, float *dgamma,
                              float *dbeta) {
    for (int64_t c = SSL3D_TID; c < C; c += SSL3D_NTHREADS) {
        if (dbeta) dbeta[c] += (float)s[c];
        if (dgamma) dgamma[c] += (float)(sdx[c] * (double)invstd[c]);
    }
}

/* dx += gamma*invstd * (dy - mdy - (x - mean)*proj), mdy = s/M and proj = sdx/M*invstd^2
 * in training, both 0 in evaluation (s, sdx may then be NULL). */
SSL3D_KERNEL k_bn_dx(const float *x, const float *dy, float *dx, int64_t n, int64_t C, int64_t S,
                     const float *mean, const float *invstd, const float *gamma, const double *s, const double *sdx,
                     double M, int32_t training) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        const int64_t c = (i / S) % C;
        const float is = invstd[c];
        const float mdy = training ? (float)(s[c] / M) : 0.0f;
        const float proj = training ? (float)(sdx[c] / M * is * is) : 0.0f;
        dx[i] += gamma[c] * is * (dy[i] - mdy - (x[i] - mean[c]) * proj);
    }
}

/* Group-norm statistics per row from k_row_pairs mode 0: mean, invstd = 1/sqrt(var+eps). */
SSL3D_KERNEL k_gn_stats_finish(const double *s, const double *ss, const float *x, int64_t rows, int64_t M,
                               float eps, float *mean, float *invstd) {
    for (int64_t r = SSL3D_TID; r < rows; r += SSL3D_NTHREADS) {
        const double m = s[r] / (double)M;
        double v = ss[r] / (double)M - m * m;
        if (v < 0.0) v = 0.0;
        mean[r] = (float)((double)x[r * M] + m);
        invstd[r] = (float)(1.0 / sqrt(v + (double)eps));
    }
}

/* y = (x - mean[r]) * (invstd[r]*gamma[c]) + beta[c], r = n*G + c/(C/G). */
SSL3D_KERNEL k_gn_forward(const float *x, float *y, int64_t n, int64_t C, int64_t S, int64_t G, const float *mean,
                          const float *invstd, const float *gamma, const float *beta) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        const int64_t nc = i / S, c = nc % C, r = (nc / C) * G + c / (C / G);
        y[i] = (x[i] - mean[r]) * (invstd[r] * gamma[c]) + beta[c];
    }
}

/* dx += invstd * (gamma*dy - s/M - (x - mean)*sdx/M*invstd^2), per row r (M = (C/G)*S). */
SSL3D_KERNEL k_gn_dx(const float *x, const float *dy, float *dx, int64_t n, int64_t C, int64_t S, int64_t G,
                     const float *mean, const float *invstd, const float *gamma, const double *s, const double *sdx) {
    const double M = (double)(C / G) * (double)S;
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        const int64_t nc = i / S, c = nc % C, r = (nc / C) * G + c / (C / G);
        const float is = invstd[r];
        const float mdy = (float)(s[r] / M), proj = (float)(sdx[r] / M * is * is);
        dx[i] += is * (gamma[c] * dy[i] - mdy - (x[i] - mean[r]) * proj);
    }
}

/* dbeta[c] += s[c]; dgamma[c] += sg[c] (from k_chan_pairs mode 2). */
SSL3D_KERNEL k_gn_param_grads(const double *s, const double *sg, int64_t C, float *dgamma, float *dbeta) {
    for (int64_t c = SSL3D_TID; c < C; c += SSL3D_NTHREADS) {
        if (dbeta) dbeta[c] += (float)s[c];
        if (dgamma) dgamma[c] += (float)sg[c];
    }
}

/* L2 normalisation of rows (M,D): one thread per row (embedding rows are short). */
SSL3D_KERNEL k_l2norm_forward(const float *x, float *y, float *norm, int64_t M, int64_t D, float eps) {
    for (int64_t m = SSL3D_TID; m < M; m += SSL3D_NTHREADS) {
        double ss = 0.0;
        for (int64_t j = 0; j < D; j++) ss += (double)x[m * D + j] * (double)x[m * D + j];
        const double nr = sqrt(ss);
        norm[m] = (float)nr;
        const float inv = (float)(1.0 / (nr > eps ? nr : (double)eps));
        for (int64_t j = 0; j < D; j++) y[m * D + j] = x[m * D + j] * inv;
    }
}

/* Where ||x|| > eps: dx += (dy - y (y.dy)) / ||x||; otherwise dx += dy / eps. */
SSL3D_KERNEL k_l2norm_backward(const float *y, const float *norm, const float *dy, float *dx, int64_t M, int64_t D,
                               float eps) {
    for (int64_t m = SSL3D_TID; m < M; m += SSL3D_NTHREADS) {
        const float *yr = y + m * D, *gr = dy + m * D;
        float *dr = dx + m * D;
        if (norm[m] > eps) {
            double s = 0.0;
            for (int64_t j = 0; j < D; j++) s += (double)yr[j] * gr[j];
            const float inv = 1.0f / norm[m], p = (float)s;
            for (int64_t j = 0; j < D; j++) dr[j] += (gr[j] - yr[j] * p) * inv;
        } else {
            const float inv = 1.0f / eps;
            for (int64_t j = 0; j < D; j++) dr[j] += gr[j] * inv;
        }
    }
}

#endif
