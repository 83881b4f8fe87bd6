/* Contrastive predictive coding: the patch grid (non-overlapping or overlapping),
 * inverted-pyramid contexts, targets and InfoNCE negative index tables. */
#include <math.h>
#include "sample_internal.h"
#include "ssl3d/tasks.h"

#define CPC_MAX_G 64

int32_t ssl3d_cpc_grid(int64_t size, int32_t G, double overlap, int64_t *stride, int64_t *side, int64_t *offset) {
    if (G < 1 || G > CPC_MAX_G || size < 1 || !(overlap >= 0.0 && overlap <= SSL3D_CPC_MAX_OVERLAP)) return -1;
    /* p = s / (1 - f) and (G - 1) s + p <= size. f = 0.5 gives the old s = size / (G + 1),
     * p = 2 s exactly; f = 0 gives s = p = size / G. The tiny slack absorbs rounding when
     * a quotient is an integer (40 / (2 + 4/3) is 11.999...). */
    const double q = 1.0 / (1.0 - overlap);
    int64_t s = (int64_t)floor((double)size / ((double)(G - 1) + q) + 1e-9), p = 0;
    for (; s >= 1; s--) {   /* at most one step back, when the slack rounded up */
        p = (int64_t)floor((double)s * q + 1e-9);
        if (p < s) p = s;
        if ((G - 1) * s + p <= size) break;
    }
    if (s < 1) return -1;
    if (stride) *stride = s;
    if (side) *side = p;
    if (offset) *offset = (size - ((G - 1) * s + p)) / 2;
    return 0;
}

ssl3d_status ssl3d_cpc_patches_overlap(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t G, double overlap,
                                       ssl3d_tensor **out, int64_t *origins) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_cpc_patches";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of_image(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, G >= 1 && G <= CPC_MAX_G, "%s: G = %d outside [1, %d]", fn, (int)G, CPC_MAX_G);
    SSL3D_CHECK_ARG(ctx, overlap >= 0.0 && overlap <= SSL3D_CPC_MAX_OVERLAP, "%s: overlap = %g outside [0, %g]", fn,
                    overlap, SSL3D_CPC_MAX_OVERLAP);
    int64_t smin = INT64_MAX;
    for (int a = 3 - v.dims; a < 3; a++) smin = v.n[a] < smin ? v.n[a] : smin;
    int64_t s = 0, p = 0;
    SSL3D_CHECK_SHAPE(ctx, ssl3d_cpc_grid(smin, G, overlap, &s, &p, NULL) == 0,
                      "%s: spatial size %lld is too small for a %d-patch grid", fn, (long long)smin, (int)G);
    /* The grid is centred along every axis (longer axes have a larger margin). */
    int64_t base[3];
    for (int a = 0; a < 3; a++) base[a] = a < 3 - v.dims ? 0 : (v.n[a] - ((G - 1) * s + p)) / 2;
    const int64_t K = v.dims == 3 ? (int64_t)G * G * G : (int64_t)G * G;
    ssl3d_tensor *t;
    SSL3D_CHECK(patches_new(ctx, &v, K, p, &t));
    #pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t q = 0; q < K; q++) {
        int64_t o[3] = { 0, 0, 0 }, rest = q;
        for (int a = 2; a >= 3 - v.dims; a--) { o[a] = base[a] + (rest % G) * s; rest /= G; }
        patch_copy(&v, o, p, t, q);
    }
    if (origins)
        for (int64_t q = 0; q < K; q++) {
            int64_t rest = q;
            for (int a = 2; a >= 3 - v.dims; a--) {
                origins[q * v.dims + (a - (3 - v.dims))] = base[a] + (rest % G) * s;
                rest /= G;
            }
        }
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_cpc_patches(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t G, ssl3d_tensor **out) {
    return ssl3d_cpc_patches_overlap(ctx, x, G, 0.5, out, NULL);
}

/* Symmetric mirroring into [0, G): -1 -> 0, G -> G - 1. */
static int32_t mirror(int32_t i, int32_t G) {
    if (i < 0) i = -i - 1;
    if (i >= G) i = 2 * G - 1 - i;
    return i < 0 ? 0 : i >= G ? G - 1 : i;
}

int32_t ssl3d_cpc_context(int32_t dims, int32_t G, int32_t pos, int32_t *idx, int32_t cap) {
    if ((dims != 2 && dims != 3) || G < 1 || G > CPC_MAX_G || !idx) return -1;
    const int32_t K = dims == 3 ? G * G * G : G * G, need = dims == 3 ? 10 : 4;
    if (pos < 0 || pos >= K || cap < need) return -1;
    int32_t n = 0;
    if (dims == 3) {
        const int32_t i = pos / (G * G), j = (pos / G) % G, k = pos % G, r = mirror(i - 1, G);
        for (int32_t dj = -1; dj <= 1; dj++)
            for (int32_t dk = -1; dk <= 1; dk++) idx[n++] = (r * G + mirror(j + dj, G)) * G + mirror(k + dk, G);
    } else {
        const int32_t i = pos / G, j = pos % G, r = mirror(i - 1, G);
        for (int32_t dj = -1; dj <= 1; dj++) idx[n++] = r * G + mirror(j + dj, G);
    }
    idx[n++] = pos;
    return n;
}

int32_t ssl3d_cpc_target(int32_t dims, int32_t G, int32_t pos, int32_t step) {
    if ((dims != 2 && dims != 3) || G < 1 || G > CPC_MAX_G || step < 1) return -1;
    const int32_t row = dims == 3 ? G * G : G, K = row * G;
    if (pos < 0 || pos >= K) return -1;
    const int32_t i = pos / row;
    if (step >= G - i) return -1;   /* i + step >= G */
    return pos + step * row;
}

ssl3d_status ssl3d_cpc_negatives(ssl3d_ctx *ctx, int32_t dims, int32_t G, int32_t B, int32_t n_steps,
                                 int32_t n_neg, uint64_t seed, uint64_t index, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_cpc_negatives";
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, dims == 2 || dims == 3, "%s: dims must be 2 or 3, got %d", fn, (int)dims);
    SSL3D_CHECK_ARG(ctx, G >= 2 && G <= CPC_MAX_G, "%s: G = %d outside [2, %d]", fn, (int)G, CPC_MAX_G);
    SSL3D_CHECK_ARG(ctx, B >= 1 && B <= 65536, "%s: B = %d outside [1, 65536]", fn, (int)B);
    SSL3D_CHECK_ARG(ctx, n_steps >= 1 && n_steps < G, "%s: n_steps = %d outside [1, G)", fn, (int)n_steps);
    const int64_t K = dims == 3 ? (int64_t)G * G * G : (int64_t)G * G, T = (int64_t)B * K;
    SSL3D_CHECK_ARG(ctx, T <= INT32_MAX, "%s: B * G^dims too large", fn);
    SSL3D_CHECK_ARG(ctx, n_neg >= 1 && n_neg < T, "%s: n_neg = %d outside [1, B * G^dims = %lld)", fn, (int)n_neg,
                    (long long)T);
    int64_t rows = 0;
    for (int64_t pos = 0; pos < K; pos++)
        for (int32_t l = 1; l <= n_steps; l++) rows += ssl3d_cpc_target(dims, G, (int32_t)pos, l) >= 0;
    rows *= B;
    int32_t *cand = malloc((size_t)T * sizeof(int32_t));
    if (!cand) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    int64_t shape[2] = { rows, 4 + n_neg };
    /* Built on the host and copied in: ctx may keep tensors in device memory. */
    int32_t *table = malloc((size_t)(rows * (4 + n_neg)) * sizeof(int32_t));
    if (!table) { free(cand); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, data_stream(SSL3D_STREAM_CPC, index));
    int32_t *y = table;
    for (int32_t b = 0; b < B; b++)
        for (int32_t pos = 0; pos < K; pos++)
            for (int32_t l = 1; l <= n_steps; l++) {
                int32_t tgt = ssl3d_cpc_target(dims, G, pos, l);
                if (tgt < 0) continue;
                const int32_t positive = (int32_t)(b * K + tgt);
                y[0] = b; y[1] = pos; y[2] = l; y[3] = positive;
                /* Partial Fisher-Yates over every latent but the positive. */
                int64_t m = 0;
                for (int64_t q = 0; q < T; q++) if (q != positive) cand[m++] = (int32_t)q;
                for (int32_t e = 0; e < n_neg; e++) {
                    int64_t pick = e + (int64_t)ssl3d_rng_below(&r, (uint32_t)(m - e));
                    int32_t tmp = cand[e]; cand[e] = cand[pick]; cand[pick] = tmp;
                    y[4 + e] = cand[e];
                }
                y += 4 + n_neg;
            }
    free(cand);
    ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, shape, table, out);
    free(table);
    return st;
}
