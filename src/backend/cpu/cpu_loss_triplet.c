/* CPU triplet losses with squared L2 distances: explicit (anchor, positive, negative)
 * rows, and the batch-hard variant that mines the closest in-batch negative. */
#include <math.h>
#include "cpu_loss_impl.h"

static inline double sqdist(const float *x, const float *y, int64_t D) {
    double s = 0.0;
    for (int64_t d = 0; d < D; d++) { double t = (double)x[d] - y[d]; s += t * t; }
    return s;
}

/* The hinge of one row; forward and backward call the same code so they agree on
 * which rows are active. */
static inline double hinge(const float *a, const float *p, const float *n, int64_t D, float margin) {
    return sqdist(a, p, D) - sqdist(a, n, D) + margin;
}

double cpu_loss_triplet_forward(const ssl3d_kctx *k, const float *a, const float *p, const float *n,
                                int64_t N, int64_t D, float margin) {
    double part[SSL3D_LOSS_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (N * D > 16384) schedule(static)
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) {
        double acc = 0.0;
        for (int64_t i = cpu_loss_chunk_lo(N, c); i < cpu_loss_chunk_lo(N, c + 1); i++) {
            double h = hinge(a + i * D, p + i * D, n + i * D, D, margin);
            acc += h > 0 ? h : 0.0;
        }
        part[c] = acc;
    }
    double sum = 0.0;
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) sum += part[c];
    return sum;
}

/* Rows are independent, so a parallel loop over rows is race-free even when da, dp
 * and dn alias (the same thread owns row i of each). Values are read before the
 * accumulation of a row starts. */
void cpu_loss_triplet_backward(const ssl3d_kctx *k, const float *a, const float *p, const float *n,
                               int64_t N, int64_t D, float margin, float scale, float *da, float *dp,
                               float *dn) {
    #pragma omp parallel for num_threads(k->threads) if (N * D > 16384) schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const float *ai = a + i * D, *pi = p + i * D, *ni = n + i * D;
        if (!(hinge(ai, pi, ni, D, margin) > 0)) continue;
        for (int64_t d = 0; d < D; d++) {
            float av = ai[d], pv = pi[d], nv = ni[d];
            if (da) da[i * D + d] += scale * 2.0f * (nv - pv);
            if (dp) dp[i * D + d] += scale * 2.0f * (pv - av);
            if (dn) dn[i * D + d] += scale * 2.0f * (av - nv);
        }
    }
}

double cpu_loss_triplet_hard_forward(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D, float margin,
                                     int32_t *neg) {
    const int64_t B = N / 2;
    double part[SSL3D_LOSS_CHUNKS];
    #pragma omp parallel for num_threads(k->threads) if (N * N * D > 65536) schedule(static)
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) {
        double acc = 0.0;
        for (int64_t i = cpu_loss_chunk_lo(N, c); i < cpu_loss_chunk_lo(N, c + 1); i++) {
            int64_t ip = (i + B) % N, best = -1;
            double dbest = INFINITY;
            for (int64_t j = 0; j < N; j++) {
                if (j == i || j == ip) continue;
                double d = sqdist(z + i * D, z + j * D, D);
                if (best < 0 || d < dbest) { dbest = d; best = j; }
            }
            neg[i] = (int32_t)best;
            double h = sqdist(z + i * D, z + ip * D, D) - dbest + margin;
            acc += h > 0 ? h : 0.0;
        }
        part[c] = acc;
    }
    double sum = 0.0;
    for (int c = 0; c < SSL3D_LOSS_CHUNKS; c++) sum += part[c];
    return sum;
}

/* One anchor touches three rows (itself, its positive, its negative), and a row is
 * the negative of any number of anchors: accumulate serially in anchor order so the
 * result is deterministic. O(N*D), negligible next to the forward's O(N^2 * D). */
void cpu_loss_triplet_hard_backward(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D, float margin,
                                    const int32_t *neg, float scale, float *dz) {
    (void)k;
    const int64_t B = N / 2;
    for (int64_t i = 0; i < N; i++) {
        int64_t ip = (i + B) % N, in = neg[i];
        const float *zi = z + i * D, *zp = z + ip * D, *zn = z + in * D;
        if (!(hinge(zi, zp, zn, D, margin) > 0)) continue;
        for (int64_t d = 0; d < D; d++) {
            float av = zi[d], pv = zp[d], nv = zn[d];
            dz[i * D + d] += scale * 2.0f * (nv - pv);
            dz[ip * D + d] += scale * 2.0f * (pv - av);
            dz[in * D + d] += scale * 2.0f * (av - nv);
        }
    }
}
