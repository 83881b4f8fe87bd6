/* Loss kernels of the CUDA backend, with the semantics of loss_kernels.h (the CPU's
 * float/double choices are kept so values agree closely). Sums over many positions are
 * written as per-thread partials (the fixed reduction of kernel_defs.h); per-row kernels
 * give one thread a row. Common C/CUDA subset: tests run them on the CPU. */
#ifndef SSL3D_CUDA_KERNELS_LOSS_H
#define SSL3D_CUDA_KERNELS_LOSS_H
#include "kernel_defs.h"
#include "../loss_kernels.h"

/* part[t] = first i of thread t's stride failing the check, or n:
 * mode 0: labels[i] outside [0,K);  mode 1: x[i] outside [lo,hi] or NaN. */
SSL3D_KERNEL k_first_bad(int32_t mode, const int32_t *labels, const float *x, int64_t n, int64_t K, float lo,
                         float hi, int64_t *part) {
    const int64_t t = SSL3D_TID, T = SSL3D_NTHREADS;
    int64_t first = n;
    for (int64_t i = t; i < n; i += T) {
        const int bad = mode == 0 ? (labels[i] < 0 || labels[i] >= K) : !(x[i] >= lo && x[i] <= hi);
        if (bad) { first = i; break; }
    }
    part[t] = first;
}

/* Max and 1/sum(exp(x - max)) of K scores strided by S (float math, as the CPU). */
SSL3D_HD void softmax_norm_strided(const float *x, int64_t K, int64_t S, float *mx_out, float *inv_out) {
    float mx = x[0];
    for (int64_t c = 1; c < K; c++) mx = x[c * S] > mx ? x[c * S] : mx;
    float s = 0.0f;
    for (int64_t c = 0; c < K; c++) s += expf(x[c * S] - mx);
    *mx_out = mx;
    *inv_out = 1.0f / s;
}

SSL3D_HD float lse_strided_f(const float *x, int64_t K, int64_t S) {
    float mx = x[0];
    for (int64_t c = 1; c < K; c++) mx = x[c * S] > mx ? x[c * S] : mx;
    float s = 0.0f;
    for (int64_t c = 0; c < K; c++) s += expf(x[c * S] - mx);
    return mx + logf(s);
}

/* part[t] = sum over thread t's positions of lse - logit[label] (logits (N,K,S)). */
SSL3D_KERNEL k_ce_partial(const float *logits, const int32_t *labels, int64_t N, int64_t K, int64_t S,
                          double *part) {
    const int64_t t = SSL3D_TID, T = SSL3D_NTHREADS, P = N * S;
    double acc = 0.0;
    for (int64_t i = t; i < P; i += T) {
        const float *x = logits + (i / S) * K * S + i % S;
        acc += (double)(lse_strided_f(x, K, S) - x[(int64_t)labels[i] * S]);
    }
    part[t] = acc;
}

SSL3D_KERNEL k_ce_backward(const float *logits, const int32_t *labels, int64_t N, int64_t K, int64_t S, float scale,
                           float *dlogits) {
    const int64_t P = N * S;
    for (int64_t i = SSL3D_TID; i < P; i += SSL3D_NTHREADS) {
        const int64_t off = (i / S) * K * S + i % S;
        const float *x = logits + off;
        const float lse = lse_strided_f(x, K, S);
        for (int64_t c = 0; c < K; c++)
            dlogits[off + c * S] += scale * (expf(x[c * S] - lse) - (c == labels[i] ? 1.0f : 0.0f));
    }
}

SSL3D_KERNEL k_bce_partial(const float *x, const float *tg, int64_t n, double *part) {
    const int64_t t = SSL3D_TID, T = SSL3D_NTHREADS;
    double acc = 0.0;
    for (int64_t i = t; i < n; i += T) {
        const double xi = x[i];
        acc += (xi > 0 ? xi : 0.0) - xi * tg[i] + log1p(exp(-fabs(xi)));
    }
    part[t] = acc;
}

SSL3D_KERNEL k_bce_backward(const float *x, const float *tg, int64_t n, float scale, float *dx) {
    for (int64_t i = SSL3D_TID; i < n; i += SSL3D_NTHREADS) {
        const double e = exp(-fabs((double)x[i]));
        const double sig = x[i] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        dx[i] += scale * (float)(sig - tg[i]);
    }
}

/* out (N,S) = argmax over k (lowest k on ties; NaN never wins over a number). */
SSL3D_KERNEL k_argmax(const float *logits, int64_t N, int64_t K, int64_t S, int32_t *out) {
    const int64_t P = N * S;
    for (int64_t i = SSL3D_TID; i < P; i += SSL3D_NTHREADS) {
        const float *x = logits + (i / S) * K * S + i % S;
        int64_t best = 0;
        float bv = x[0];
        for (int64_t c = 1; c < K; c++)
            if (x[c * S] > bv || (bv != bv && x[c * S] == x[c * S])) { bv = x[c * S]; best = c; }
        out[i] = (int32_t)best;
    }
}

/* Similarity cross-entropy, per row of the logits (N,M) already in probs: mask the
 * diagonal when asked, softmax in double, rowloss[i] = lse - logit[pos[i]]. */
SSL3D_KERNEL k_simce_rows(float *probs, int64_t N, int64_t M, const int32_t *pos, int32_t mask_diag,
                          double *rowloss) {
    for (int64_t i = SSL3D_TID; i < N; i += SSL3D_NTHREADS) {
        float *row = probs + i * M;
        if (mask_diag) row[i] = -INFINITY;
        float mx = -INFINITY;
        for (int64_t j = 0; j < M; j++) mx = row[j] > mx ? row[j] : mx;
        double s = 0.0;
        for (int64_t j = 0; j < M; j++) s += exp((double)row[j] - mx);
        const double lse = mx + log(s);
        rowloss[i] = lse - row[pos[i]];
        for (int64_t j = 0; j < M; j++) row[j] = (float)exp((double)row[j] - lse);
    }
}

/* G = scale * (probs - onehot(pos)), in place, per row. */
SSL3D_KERNEL k_simce_grad(float *probs, const int32_t *pos, int64_t N, int64_t M, float scale) {
    for (int64_t i = SSL3D_TID; i < N; i += SSL3D_NTHREADS) {
        float *row = probs + i * M;
        row[pos[i]] -= 1.0f;
        for (int64_t j = 0; j < M; j++) row[j] *= scale;
    }
}

SSL3D_HD double sqdist_d(const float *x, const float *y, int64_t D) {
    double s = 0.0;
    for (int64_t d = 0; d < D; d++) { const double t = (double)x[d] - y[d]; s += t * t; }
    return s;
}

/* rowloss[i] = max(0, |a-p|^2 - |a-n|^2 + margin). */
SSL3D_KERNEL k_triplet_rows(const float *a, const float *p, const float *n, int64_t N, int64_t D, float margin,
                            double *rowloss) {
    for (int64_t i = SSL3D_TID; i < N; i += SSL3D_NTHREADS) {
        const double h = sqdist_d(a + i * D, p + i * D, D) - sqdist_d(a + i * D, n + i * D, D) + margin;
        rowloss[i] = h > 0 ? h : 0.0;
    }
}

/* Rows with a positive hinge: da += s*2(n-p), dp += s*2(p-a), dn += s*2(a-n). One thread
 * owns row i of all three, so aliasing among da/dp/dn stays right. */
SSL3D_KERNEL k_triplet_backward(const float *a, const float *p, const float *n, int64_t N, int64_t D, float margin,
                                float scale, float *da, float *dp, float *dn) {
    for (int64_t i = SSL3D_TID; i < N; i += SSL3D_NTHREADS) {
        const float *ai = a + i * D, *pi = p + i * D, *ni = n + i * D;
        if (!(sqdist_d(ai, pi, D) - sqdist_d(ai, ni, D) + margin > 0)) continue;
        for (int64_t d = 0; d < D; d++) {
            const float av = ai[d], pv = pi[d], nv = ni[d];
            if (da) da[i * D + d] += scale * 2.0f * (nv - pv);
            if (dp) dp[i * D + d] += scale * 2.0f * (pv - av);
            if (dn) dn[i * D + d] += scale * 2.0f * (av - nv);
        }
    }
}

/* Batch-hard: anchor i, positive (i+B) mod N, negative the closest other row (lowest j on
 * ties): neg[i], rowloss[i] = hinge. */
SSL3D_KERNEL k_hard_rows(const float *z, int64_t N, int64_t D, float margin, int32_t *neg, double *rowloss) {
    const int64_t B = N / 2;
    for (int64_t i = SSL3D_TID; i < N; i += SSL3D_NTHREADS) {
        const int64_t ip = (i + B) % N;
        int64_t best = -1;
        double dbest = INFINITY;
        for (int64_t j = 0; j < N; j++) {
            if (j == i || j == ip) continue;
            const double d = sqdist_d(z + i * D, z + j * D, D);
            if (best < 0 || d < dbest) { dbest = d; best = j; }
        }
        neg[i] = (int32_t)best;
        const double h = sqdist_d(z + i * D, z + ip * D, D) - dbest + margin;
        rowloss[i] = h > 0 ? h : 0.0;
    }
}

/* active[i] = whether anchor i's hinge (negatives fixed to neg) is positive. */
SSL3D_KERNEL k_hard_active(const float *z, int64_t N, int64_t D, float margin, const int32_t *neg, int32_t *active) {
    const int64_t B = N / 2;
    for (int64_t i = SSL3D_TID; i < N; i += SSL3D_NTHREADS) {
        const float *zi = z + i * D, *zp = z + ((i + B) % N) * D, *zn = z + (int64_t)neg[i] * D;
        active[i] = sqdist_d(zi, zp, D) - sqdist_d(zi, zn, D) + margin > 0;
    }
}

/* A row is touched by many anchors, so each thread owns one row r and gathers the
 * contributions of every active anchor in anchor order (as itself, its positive, its
 * negative): the same additions in the same order as the CPU's serial loop. */
SSL3D_KERNEL k_hard_backward(const float *z, int64_t N, int64_t D, const int32_t *neg, const int32_t *active,
                             float scale, float *dz) {
    const int64_t B = N / 2;
    for (int64_t r = SSL3D_TID; r < N; r += SSL3D_NTHREADS) {
        for (int64_t i = 0; i < N; i++) {
            if (!active[i]) continue;
            const int64_t ip = (i + B) % N, in = neg[i];
            if (i != r && ip != r && in != r) continue;
            const float *zi = z + i * D, *zp = z + ip * D, *zn = z + in * D;
            for (int64_t d = 0; d < D; d++) {
                const float av = zi[d], pv = zp[d], nv = zn[d];
                if (i == r) dz[r * D + d] += scale * 2.0f * (nv - pv);
                if (ip == r) dz[r * D + d] += scale * 2.0f * (pv - av);
                if (in == r) dz[r * D + d] += scale * 2.0f * (av - nv);
            }
        }
    }
}

/* Soft Dice statistics: item (n, c) of N*SSL3D_LOSS_CHUNKS sums chunk c of sample n's
 * positions into work[item*K*3 ...] = {p*onehot, p, onehot} per class ... */
SSL3D_KERNEL k_dice_work(const float *logits, const int32_t *labels, int64_t N, int64_t K, int64_t S, double *work) {
    for (int64_t it = SSL3D_TID; it < N * SSL3D_LOSS_CHUNKS; it += SSL3D_NTHREADS) {
        const int64_t n = it / SSL3D_LOSS_CHUNKS, c = it % SSL3D_LOSS_CHUNKS;
        double *w = work + it * K * 3;
        for (int64_t j = 0; j < K * 3; j++) w[j] = 0.0;
        for (int64_t s = S * c / SSL3D_LOSS_CHUNKS; s < S * (c + 1) / SSL3D_LOSS_CHUNKS; s++) {
            const float *x = logits + n * K * S + s;
            const int32_t y = labels[n * S + s];
            float mx, inv;
            softmax_norm_strided(x, K, S, &mx, &inv);
            for (int64_t kk = 0; kk < K; kk++) {
                const double p = expf(x[kk * S] - mx) * inv;
                w[kk * 3 + 1] += p;
                if (kk == y) { w[kk * 3 + 0] += p; w[kk * 3 + 2] += 1.0; }
            }
        }
    }
}

/* ... then stats[n*K*3 + j] = the chunks of sample n added in order. */
SSL3D_KERNEL k_dice_fold(const double *work, int64_t N, int64_t K, double *stats) {
    for (int64_t t = SSL3D_TID; t < N * K * 3; t += SSL3D_NTHREADS) {
        const int64_t n = t / (K * 3), j = t % (K * 3);
        double s = 0.0;
        for (int64_t c = 0; c < SSL3D_LOSS_CHUNKS; c++) s += work[(n * SSL3D_LOSS_CHUNKS + c) * K * 3 + j];
        stats[t] = s;
    }
}

SSL3D_HD float dice_grad_d(const double *st, float eps, int is_label) {
    const double den = st[1] + st[2] + eps, num = 2.0 * st[0] + eps;
    return (float)((is_label ? 2.0 / den : 0.0) - num / (den * den));
}

/* dlogits += scale * p_k (G_k - sum_j p_j G_j) per position (see cpu_loss_dice.c). */
SSL3D_KERNEL k_dice_backward(const float *logits, const int32_t *labels, int64_t N, int64_t K, int64_t S,
                             const double *stats, float eps, float scale, float *dlogits) {
    const int64_t P = N * S;
    for (int64_t i = SSL3D_TID; i < P; i += SSL3D_NTHREADS) {
        const int64_t n = i / S, off = n * K * S + i % S;
        const float *x = logits + off;
        const double *st = stats + n * K * 3;
        const int32_t y = labels[i];
        float mx, inv;
        softmax_norm_strided(x, K, S, &mx, &inv);
        float pg = 0.0f;
        for (int64_t kk = 0; kk < K; kk++) pg += expf(x[kk * S] - mx) * inv * dice_grad_d(st + kk * 3, eps, kk == y);
        for (int64_t kk = 0; kk < K; kk++) {
            const float g = dice_grad_d(st + kk * 3, eps, kk == y), p = expf(x[kk * S] - mx) * inv;
            dlogits[off + kk * S] += scale * (p * (g - pg));
        }
    }
}

#endif
