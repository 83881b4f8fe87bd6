/* Intensity transforms: z-score, percentile clipping, min-max, brightness/contrast,
 * Gaussian noise. Reductions run over fixed-size chunks combined in order, so results do
 * not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "data_internal.h"

#define CHUNK 65536

static ssl3d_status image_in_out(ssl3d_ctx *ctx, const ssl3d_tensor *x, const char *fn, ssl3d_tensor **out,
                                 ssl3d_vol *v, ssl3d_tensor **y) {
    SSL3D_CHECK(vol_of_image(ctx, x, fn, "x", v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(ssl3d_tensor_new_like(ctx, x, y));
    return SSL3D_OK;
}

/* Count, sum and sum of squared deviations from `mean` of the non-zero values of x[0..n),
 * per CHUNK, combined in chunk order. */
static void nonzero_moments(const float *x, int64_t n, double mean, int threads, double *cnt, double *sum,
                            double *ssd) {
    const int64_t nch = (n + CHUNK - 1) / CHUNK;
    double c = 0, s = 0, q = 0;
    double *part = malloc((size_t)nch * 3 * sizeof(double));
    if (!part) { /* fall back to a serial pass: same chunk order, no buffer */
        for (int64_t b = 0; b < nch; b++) {
            double pc = 0, ps = 0, pq = 0;
            for (int64_t i = b * CHUNK; i < n && i < (b + 1) * CHUNK; i++)
                if (x[i] != 0.0f) { pc += 1; ps += x[i]; pq += (x[i] - mean) * (x[i] - mean); }
            c += pc; s += ps; q += pq;
        }
        *cnt = c; *sum = s; *ssd = q;
        return;
    }
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < nch; b++) {
        double pc = 0, ps = 0, pq = 0;
        const int64_t e = (b + 1) * CHUNK < n ? (b + 1) * CHUNK : n;
        for (int64_t i = b * CHUNK; i < e; i++)
            if (x[i] != 0.0f) { pc += 1; ps += x[i]; pq += (x[i] - mean) * (x[i] - mean); }
        part[3 * b] = pc; part[3 * b + 1] = ps; part[3 * b + 2] = pq;
    }
    for (int64_t b = 0; b < nch; b++) { c += part[3 * b]; s += part[3 * b + 1]; q += part[3 * b + 2]; }
    free(part);
    *cnt = c; *sum = s; *ssd = q;
}

ssl3d_status ssl3d_normalize_zscore(ssl3d_ctx *ctx, const ssl3d_tensor *x, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_vol v;
    ssl3d_tensor *y;
    SSL3D_CHECK(image_in_out(ctx, x, "ssl3d_normalize_zscore", out, &v, &y));
    const int64_t S = vol_spatial(&v);
    for (int64_t c = 0; c < v.c; c++) {
        const float *xc = ssl3d_f32(x) + c * S;
        float *yc = ssl3d_f32(y) + c * S;
        double cnt, sum, ssd;
        nonzero_moments(xc, S, 0.0, ctx->threads, &cnt, &sum, &ssd);
        if (cnt == 0) { memcpy(yc, xc, (size_t)S * 4u); continue; }
        double mean = sum / cnt;
        nonzero_moments(xc, S, mean, ctx->threads, &cnt, &sum, &ssd);
        double sd = sqrt(ssd / cnt);
        if (sd < 1e-8) sd = 1.0;
        const float m = (float)mean, inv = (float)(1.0 / sd);
        #pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t i = 0; i < S; i++) yc[i] = xc[i] != 0.0f ? (xc[i] - m) * inv : 0.0f;
    }
    *out = y;
    return SSL3D_OK;
}

/* k-th smallest of a[0..n) (partially reorders a: a[k] is it, a[0..k) <= a[k] <= a(k..n)). */
static float select_kth(float *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        /* median of three as pivot */
        float x = a[lo], y = a[mid], z = a[hi];
        float piv = (x < y) ? ((y < z) ? y : (x < z ? z : x)) : ((x < z) ? x : (y < z ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i <= j) { float t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return a[k];
}

/* numpy.percentile (linear) of a[0..n), n >= 1; reorders a. */
static float percentile(float *a, int64_t n, double pct) {
    double rank = pct / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(rank);
    if (lo >= n - 1) return select_kth(a, n, n - 1);
    float v0 = select_kth(a, n, lo);
    float v1 = a[lo + 1];
    for (int64_t i = lo + 2; i < n; i++) if (a[i] < v1) v1 = a[i];
    return (float)(v0 + (v1 - v0) * (rank - (double)lo));
}

ssl3d_status ssl3d_clip_percentile(ssl3d_ctx *ctx, const ssl3d_tensor *x, float lo_pct, float hi_pct,
                                   int32_t nonzero_only, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_clip_percentile";
    SSL3D_CHECK_ARG(ctx, lo_pct >= 0 && lo_pct < hi_pct && hi_pct <= 100,
                    "%s: need 0 <= lo_pct < hi_pct <= 100, got %g, %g", fn, (double)lo_pct, (double)hi_pct);
    ssl3d_vol v;
    ssl3d_tensor *y;
    SSL3D_CHECK(image_in_out(ctx, x, fn, out, &v, &y));
    const int64_t S = vol_spatial(&v);
    float *buf = malloc((size_t)S * 4u);
    if (!buf) { ssl3d_tensor_release(y); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    for (int64_t c = 0; c < v.c; c++) {
        const float *xc = ssl3d_f32(x) + c * S;
        float *yc = ssl3d_f32(y) + c * S;
        int64_t n = 0;
        for (int64_t i = 0; i < S; i++)
            if (!nonzero_only || xc[i] != 0.0f) buf[n++] = xc[i];
        if (n == 0) { memcpy(yc, xc, (size_t)S * 4u); continue; }
        const float lo = percentile(buf, n, lo_pct), hi = percentile(buf, n, hi_pct);
        #pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t i = 0; i < S; i++) {
            float e = xc[i];
            yc[i] = (nonzero_only && e == 0.0f) ? 0.0f : e < lo ? lo : e > hi ? hi : e;
        }
    }
    free(buf);
    *out = y;
    return SSL3D_OK;
}

ssl3d_status ssl3d_normalize_minmax(ssl3d_ctx *ctx, const ssl3d_tensor *x, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_vol v;
    ssl3d_tensor *y;
    SSL3D_CHECK(image_in_out(ctx, x, "ssl3d_normalize_minmax", out, &v, &y));
    const int64_t S = vol_spatial(&v);
    for (int64_t c = 0; c < v.c; c++) {
        const float *xc = ssl3d_f32(x) + c * S;
        float *yc = ssl3d_f32(y) + c * S;
        float lo = xc[0], hi = xc[0];
        for (int64_t i = 1; i < S; i++) { lo = xc[i] < lo ? xc[i] : lo; hi = xc[i] > hi ? xc[i] : hi; }
        const float scale = hi > lo ? 1.0f / (hi - lo) : 0.0f;
        #pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t i = 0; i < S; i++) yc[i] = (xc[i] - lo) * scale;
    }
    *out = y;
    return SSL3D_OK;
}

/* In place: x = x * contrast + brightness, then + N(0, std^2) when std > 0. */
void intensity_apply(float *x, int64_t n, float contrast, float brightness, float std, uint64_t seed,
                     uint64_t stream, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float e = x[i] * contrast + brightness;
        if (std > 0.0f) e += std * ssl3d_rng_normal_at(seed, stream, (uint64_t)i);
        x[i] = e;
    }
}

ssl3d_status ssl3d_brightness_contrast(ssl3d_ctx *ctx, const ssl3d_tensor *x, float contrast, float brightness,
                                       ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_brightness_contrast";
    SSL3D_CHECK_ARG(ctx, isfinite(contrast) && isfinite(brightness), "%s: contrast and brightness must be finite", fn);
    ssl3d_vol v;
    ssl3d_tensor *y;
    SSL3D_CHECK(image_in_out(ctx, x, fn, out, &v, &y));
    memcpy(y->data, x->data, (size_t)x->numel * 4u);
    intensity_apply(ssl3d_f32(y), y->numel, contrast, brightness, 0.0f, 0, 0, ctx->threads);
    *out = y;
    return SSL3D_OK;
}

ssl3d_status ssl3d_gaussian_noise(ssl3d_ctx *ctx, const ssl3d_tensor *x, float std, uint64_t seed, uint64_t index,
                                  ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_gaussian_noise";
    SSL3D_CHECK_ARG(ctx, isfinite(std) && std >= 0, "%s: std must be finite and >= 0", fn);
    ssl3d_vol v;
    ssl3d_tensor *y;
    SSL3D_CHECK(image_in_out(ctx, x, fn, out, &v, &y));
    memcpy(y->data, x->data, (size_t)x->numel * 4u);
    intensity_apply(ssl3d_f32(y), y->numel, 1.0f, 0.0f, std, seed, data_stream(SSL3D_STREAM_NOISE, index),
                    ctx->threads);
    *out = y;
    return SSL3D_OK;
}
