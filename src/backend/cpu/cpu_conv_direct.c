/* Direct AVX2/FMA convolution kernels (no im2col, no BLAS) for layers with enough
 * channels; cpu_conv.c falls back to tiled im2col + SGEMM elsewhere.
 *
 * The input is copied once per call into a zero-padded channels-last volume
 * xp (N, D+2pd, H+2ph, W+2pw, Cin), so every tap of every output position is a
 * contiguous run of Cin floats at a fixed offset and no bounds checks remain. Weights
 * are packed as wp (ceil(Cout/16), kvol, Cin, 16) with zero-padded output channels.
 *
 * Forward micro-kernel: 6 output positions along W x 16 output channels held in 12 ymm
 * accumulators; per (tap, ci) it loads 16 weights (2 ymm) and broadcasts 6 inputs, i.e.
 * 12 FMAs per 8 loads (the BLIS 6x16 shape, FMA-bound on AVX2 cores).
 * Weight-gradient micro-kernel: 6 input channels x 16 output channels for one tap,
 * reducing over the output positions of a task: per position 2 ymm of dY (channels-last)
 * and 6 broadcast inputs -> 12 FMAs. Per-thread partials are summed in thread order.
 *
 * Samples are processed one after the other (so the padded copy is one sample's worth of
 * scratch); inside a sample the work is split into tasks of (output plane, block of rows)
 * and every task walks all 16-channel output blocks, so that one packed weight panel
 * (kvol*Cin*16 floats) stays in L2 while it is used across the task's positions. */
#include <stdlib.h>
#include <string.h>
#include "cpu_blas.h"
#include "cpu_conv_impl.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

int cpu_conv_direct_available(void) { return 1; }

typedef struct dgeom {
    int64_t n, cin, cout, cb;          /* cb = ceil(cout/16) output blocks */
    int64_t D, H, W, Dp, Hp, Wp;       /* input and padded extents */
    int64_t Do, Ho, Wo, P;
    int64_t kd, kh, kw, kvol;
    int64_t sd, sh, sw;
} dgeom;

static dgeom dgeom_of(const ssl3d_conv_geom *g) {
    dgeom d;
    d.n = g->n; d.cin = g->cin; d.cout = g->cout; d.cb = (g->cout + 15) / 16;
    d.D = g->in[0]; d.H = g->in[1]; d.W = g->in[2];
    d.Dp = d.D + 2 * g->pad[0]; d.Hp = d.H + 2 * g->pad[1]; d.Wp = d.W + 2 * g->pad[2];
    d.Do = g->out[0]; d.Ho = g->out[1]; d.Wo = g->out[2]; d.P = d.Do * d.Ho * d.Wo;
    d.kd = g->k[0]; d.kh = g->k[1]; d.kw = g->k[2]; d.kvol = d.kd * d.kh * d.kw;
    d.sd = g->stride[0]; d.sh = g->stride[1]; d.sw = g->stride[2];
    return d;
}

/* xp (N, Dp, Hp, Wp, C) <- x (N, C, D, H, W) with zero borders; parallel over (n, d). */
static void pad_channels_last(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const dgeom *d, const float *x,
                              float *xp) {
    const int64_t C = d->cin, pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
    const int64_t plane = d->Hp * d->Wp * C;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < d->n * d->Dp; t++) {
        const int64_t ni = t / d->Dp, dp = t % d->Dp, id = dp - pd;
        float *o = xp + t * plane;
        if (id < 0 || id >= d->D) { memset(o, 0, (size_t)plane * sizeof *o); continue; }
        /* zero the border rows/columns, then transpose the interior row by row */
        for (int64_t hp = 0; hp < d->Hp; hp++) {
            const int64_t ih = hp - ph;
            float *orow = o + hp * d->Wp * C;
            if (ih < 0 || ih >= d->H) { memset(orow, 0, (size_t)(d->Wp * C) * sizeof *o); continue; }
            memset(orow, 0, (size_t)(pw * C) * sizeof *o);
            memset(orow + (pw + d->W) * C, 0, (size_t)((d->Wp - pw - d->W) * C) * sizeof *o);
            const float *xs = x + ((ni * C) * d->D + id) * d->H * d->W + ih * d->W;
            const int64_t cstride = d->D * d->H * d->W;
            float *oi = orow + pw * C;
            for (int64_t c = 0; c < C; c++) {
                const float *r = xs + c * cstride;
                for (int64_t iw = 0; iw < d->W; iw++) oi[iw * C + c] = r[iw];
            }
        }
    }
}

/* wp (cb, kvol, Cin, 16) <- w (Cout, Cin, kvol), zero for padded output channels. */
static void pack_weights(const dgeom *d, const float *w, float *wp) {
    memset(wp, 0, (size_t)(d->cb * d->kvol * d->cin * 16) * sizeof *wp);
    for (int64_t co = 0; co < d->cout; co++)
        for (int64_t ci = 0; ci < d->cin; ci++)
            for (int64_t t = 0; t < d->kvol; t++)
                wp[(((co / 16) * d->kvol + t) * d->cin + ci) * 16 + co % 16] = w[(co * d->cin + ci) * d->kvol + t];
}

/* Offsets (floats) of each tap inside xp relative to the tap (0,0,0) of a position. */
static void tap_offsets(const dgeom *d, int64_t *off) {
    int64_t t = 0;
    for (int64_t a = 0; a < d->kd; a++)
        for (int64_t b = 0; b < d->kh; b++)
            for (int64_t c = 0; c < d->kw; c++) off[t++] = ((a * d->Hp + b) * d->Wp + c) * d->cin;
}

/* acc (6 positions x 16 channels) = sum over taps and ci of x_r[off[t] + ci] * wpanel[t][ci][0..15],
 * x_r = xb[r] the tap-(0,0,0) pointer of position r. */
/* Store the 6x16 accumulator tile c00..c51 of a micro-kernel to six 16-float rows. */
#define STORE_6X16(out) do {                                                          \
        _mm256_storeu_ps((out)[0], c00); _mm256_storeu_ps((out)[0] + 8, c01);        \
        _mm256_storeu_ps((out)[1], c10); _mm256_storeu_ps((out)[1] + 8, c11);        \
        _mm256_storeu_ps((out)[2], c20); _mm256_storeu_ps((out)[2] + 8, c21);        \
        _mm256_storeu_ps((out)[3], c30); _mm256_storeu_ps((out)[3] + 8, c31);        \
        _mm256_storeu_ps((out)[4], c40); _mm256_storeu_ps((out)[4] + 8, c41);        \
        _mm256_storeu_ps((out)[5], c50); _mm256_storeu_ps((out)[5] + 8, c51);        \
    } while (0)

static void fwd_micro(const float *const xb[6], const int64_t *off, int64_t kvol, int64_t cin,
                      const float *wpanel, float out[6][16]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
           c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
           c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
           c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int64_t t = 0; t < kvol; t++) {
        const float *p0 = xb[0] + off[t], *p1 = xb[1] + off[t], *p2 = xb[2] + off[t];
        const float *p3 = xb[3] + off[t], *p4 = xb[4] + off[t], *p5 = xb[5] + off[t];
        const float *wt = wpanel + t * cin * 16;
        for (int64_t ci = 0; ci < cin; ci++) {
            const __m256 b0 = _mm256_load_ps(wt + ci * 16), b1 = _mm256_load_ps(wt + ci * 16 + 8);
            __m256 a;
            a = _mm256_broadcast_ss(p0 + ci); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
            a = _mm256_broadcast_ss(p1 + ci); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
            a = _mm256_broadcast_ss(p2 + ci); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
            a = _mm256_broadcast_ss(p3 + ci); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
            a = _mm256_broadcast_ss(p4 + ci); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
            a = _mm256_broadcast_ss(p5 + ci); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        }
    }
    STORE_6X16(out);
}

/* Tasks of one sample: (output plane, block of rb rows), at least ~4 per thread. */
static void task_split(const dgeom *d, int32_t threads, int64_t *rb, int64_t *nrb) {
    int64_t want = (4 * (int64_t)threads + d->n * d->Do - 1) / (d->n * d->Do);   /* row blocks per plane */
    want = max64(1, min64(want, d->Ho));
    *rb = (d->Ho + want - 1) / want;
    *nrb = (d->Ho + *rb - 1) / *rb;
}

/* Samples are processed one after the other (tasks inside a sample run in parallel), so
 * the padded copy is one sample's worth of scratch, reused. */
ssl3d_status cpu_conv_direct_forward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                     const float *w, const float *b, float *y, int accumulate) {
    ssl3d_conv_geom g1 = *g;
    g1.n = 1;
    const dgeom d = dgeom_of(&g1);
    const int64_t xpn = d.Dp * d.Hp * d.Wp * d.cin, inv = d.D * d.H * d.W;
    float *xp = malloc((size_t)xpn * sizeof *xp);
    float *wp = aligned_alloc(64, (size_t)((d.cb * d.kvol * d.cin * 16 * 4 + 63) / 64 * 64));
    int64_t *off = malloc((size_t)d.kvol * sizeof *off);
    if (!xp || !wp || !off) { free(xp); free(wp); free(off); return SSL3D_ERR_NOMEM; }
    pack_weights(&d, w, wp);
    tap_offsets(&d, off);
    int64_t rb, nrb;
    task_split(&d, k->threads, &rb, &nrb);
    const int64_t tasks = d.Do * nrb, ps = d.sw * d.cin;
    for (int64_t ni = 0; ni < g->n; ni++) {
        pad_channels_last(k, &g1, &d, x + ni * d.cin * inv, xp);
        #pragma omp parallel for num_threads(k->threads) schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            const int64_t od = t / nrb, r0 = (t % nrb) * rb;
            const int64_t r1 = min64(r0 + rb, d.Ho);
            float out[6][16];
            for (int64_t cb = 0; cb < d.cb; cb++) {
                const float *panel = wp + cb * d.kvol * d.cin * 16;
                const int64_t nco = min64(16, d.cout - cb * 16);
                for (int64_t oh = r0; oh < r1; oh++) {
                    const float *xrow = xp + ((od * d.sd) * d.Hp + oh * d.sh) * d.Wp * d.cin;
                    float *yrow = y + (ni * d.cout + cb * 16) * d.P + (od * d.Ho + oh) * d.Wo;
                    for (int64_t ow = 0; ow < d.Wo; ow += 6) {
                        const int64_t nr = min64(6, d.Wo - ow);
                        /* a short last tile recomputes its last position in the unused rows */
                        const float *xb[6];
                        for (int64_t r = 0; r < 6; r++) xb[r] = xrow + (ow + min64(r, nr - 1)) * ps;
                        fwd_micro(xb, off, d.kvol, d.cin, panel, out);
                        for (int64_t j = 0; j < nco; j++) {
                            float *yo = yrow + j * d.P + ow;
                            const float bv = b ? b[cb * 16 + j] : 0.0f;
                            if (accumulate) for (int64_t r = 0; r < nr; r++) yo[r] += out[r][j] + bv;
                            else for (int64_t r = 0; r < nr; r++) yo[r] = out[r][j] + bv;
                        }
                    }
                }
            }
        }
    }
    free(xp); free(wp); free(off);
    return SSL3D_OK;
}

/* acc (6 input channels x 16 output channels) = sum over the output rows rr0..rr1-1
 * (rows of all planes, flattened: rr = od*Ho + oh) of x[pos + tapoff][ci0 + r] * dycl[pos][16]. */
static void wgrad_rows(const dgeom *d, const float *xs, const float *dys, int64_t rr0, int64_t rr1,
                       int64_t tapoff, int64_t ci0, int64_t cb, float out[6][16]) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
           c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
           c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
           c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    const int64_t C = d->cin, CP = d->cb * 16, ps = d->sw * C;
    /* channels beyond Cin in the last group read channel Cin-1 again (results dropped) */
    const int64_t o1 = min64(1, C - 1 - ci0), o2 = min64(2, C - 1 - ci0), o3 = min64(3, C - 1 - ci0),
                  o4 = min64(4, C - 1 - ci0), o5 = min64(5, C - 1 - ci0);
    for (int64_t rr = rr0; rr < rr1; rr++) {
        const int64_t od = rr / d->Ho, oh = rr - od * d->Ho;
        const float *xr = xs + ((od * d->sd) * d->Hp + oh * d->sh) * d->Wp * C + tapoff + ci0;
        const float *dr = dys + ((od * d->Ho + oh) * d->Wo) * CP + cb * 16;
        for (int64_t ow = 0; ow < d->Wo; ow++) {
            const float *xq = xr + ow * ps;
            const __m256 b0 = _mm256_load_ps(dr + ow * CP), b1 = _mm256_load_ps(dr + ow * CP + 8);
            __m256 a;
            a = _mm256_broadcast_ss(xq);      c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
            a = _mm256_broadcast_ss(xq + o1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
            a = _mm256_broadcast_ss(xq + o2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
            a = _mm256_broadcast_ss(xq + o3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
            a = _mm256_broadcast_ss(xq + o4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
            a = _mm256_broadcast_ss(xq + o5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        }
    }
    STORE_6X16(out);
}

/* dycl (N, P, cb*16) <- dy (N, Cout, P), zero for padded channels; parallel over position blocks. */
static void dy_channels_last(const ssl3d_kctx *k, const dgeom *d, const float *dy, float *dycl) {
    const int64_t CP = d->cb * 16, vb = 64, nb = (d->P + vb - 1) / vb;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < d->n * nb; t++) {
        const int64_t ni = t / nb, p0 = (t % nb) * vb, p1 = min64(p0 + vb, d->P);
        float *o = dycl + ni * d->P * CP;
        if (CP != d->cout)
            for (int64_t p = p0; p < p1; p++) memset(o + p * CP + d->cout, 0, (size_t)(CP - d->cout) * sizeof *o);
        for (int64_t co = 0; co < d->cout; co++) {
            const float *r = dy + (ni * d->cout + co) * d->P;
            for (int64_t p = p0; p < p1; p++) o[p * CP + co] = r[p];
        }
    }
}

ssl3d_status cpu_conv_direct_backward_weights(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                              const float *dy, float *dw) {
    ssl3d_conv_geom g1 = *g;
    g1.n = 1;
    const dgeom d = dgeom_of(&g1);
    const int32_t T = k->threads;
    const int64_t xpn = d.Dp * d.Hp * d.Wp * d.cin, CP = d.cb * 16, inv = d.D * d.H * d.W;
    const int64_t wlen = d.cb * d.kvol * d.cin * 16;        /* packed (cb, tap, ci, 16) */
    float *xp = malloc((size_t)xpn * sizeof *xp);
    float *dycl = aligned_alloc(64, (size_t)((d.P * CP * 4 + 63) / 64 * 64));
    float *part = calloc((size_t)T * (size_t)wlen, sizeof *part);
    int64_t *off = malloc((size_t)d.kvol * sizeof *off);
    if (!xp || !dycl || !part || !off) { free(xp); free(dycl); free(part); free(off); return SSL3D_ERR_NOMEM; }
    tap_offsets(&d, off);
    /* The reduction runs over positions, so a sample's output rows are simply cut into one
     * contiguous range per thread; each range is swept in chunks of ~128 positions whose
     * input rows and dY stay in L1/L2 while every (block, tap, channel group) reads them. */
    const int64_t rows = d.Do * d.Ho, per = (rows + T - 1) / T, ngrp = (d.cin + 5) / 6;
    const int64_t chunk_rows = max64(1, (128 + d.Wo - 1) / d.Wo);
    for (int64_t ni = 0; ni < g->n; ni++) {
        pad_channels_last(k, &g1, &d, x + ni * d.cin * inv, xp);
        dy_channels_last(k, &d, dy + ni * d.cout * d.P, dycl);
        #pragma omp parallel for num_threads(T) schedule(static)
        for (int64_t t = 0; t < T; t++) {
            const int64_t r0 = t * per, r1 = min64(r0 + per, rows);
            float *pt = part + (int64_t)omp_get_thread_num() * wlen;
            float out[6][16];
            for (int64_t c0 = r0; c0 < r1; c0 += chunk_rows) {
                const int64_t c1 = min64(c0 + chunk_rows, r1);
                for (int64_t cb = 0; cb < d.cb; cb++)
                    for (int64_t tap = 0; tap < d.kvol; tap++)
                        for (int64_t gi = 0; gi < ngrp; gi++) {
                            const int64_t ci0 = gi * 6, nci = min64(6, d.cin - ci0);
                            wgrad_rows(&d, xp, dycl, c0, c1, off[tap], ci0, cb, out);
                            float *dst = pt + ((cb * d.kvol + tap) * d.cin + ci0) * 16;
                            for (int64_t r = 0; r < nci; r++)
                                for (int64_t j = 0; j < 16; j++) dst[r * 16 + j] += out[r][j];
                        }
            }
        }
    }
    /* dw (Cout, Cin, kvol) += sum over threads, in order, of the packed partials */
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t co = 0; co < d.cout; co++)
        for (int64_t ci = 0; ci < d.cin; ci++)
            for (int64_t tap = 0; tap < d.kvol; tap++) {
                const int64_t src = (((co / 16) * d.kvol + tap) * d.cin + ci) * 16 + co % 16;
                float acc = 0.0f;
                for (int32_t th = 0; th < T; th++) acc += part[(int64_t)th * wlen + src];
                dw[(co * d.cin + ci) * d.kvol + tap] += acc;
            }
    free(xp); free(dycl); free(part); free(off);
    return SSL3D_OK;
}

/* ---- weight gradient for few input channels (the first layer, Cin = 1..3), stride 1
 * along W: vectorise along W instead of channels. The input is zero-padded in NCDHW
 * order, xq (N, Cin, Dp, Hp, Wp), plus a slack of 32 floats so that 8-wide loads near the
 * end of the last row stay inside the buffer (masked lanes are never used). */

static float *pad_ncdhw(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const dgeom *d, const float *x) {
    const int64_t pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
    const int64_t plane = d->Hp * d->Wp, vol = d->Dp * plane;
    float *xq = malloc((size_t)(d->n * d->cin * vol + 32) * sizeof *xq);
    if (!xq) return NULL;
    memset(xq + d->n * d->cin * vol, 0, 32 * sizeof *xq);
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < d->n * d->cin * d->Dp; t++) {
        const int64_t nc = t / d->Dp, dp = t % d->Dp, id = dp - pd;
        float *o = xq + nc * vol + dp * plane;
        if (id < 0 || id >= d->D) { memset(o, 0, (size_t)plane * sizeof *o); continue; }
        for (int64_t hp = 0; hp < d->Hp; hp++) {
            const int64_t ih = hp - ph;
            float *orow = o + hp * d->Wp;
            if (ih < 0 || ih >= d->H) { memset(orow, 0, (size_t)d->Wp * sizeof *o); continue; }
            memset(orow, 0, (size_t)pw * sizeof *o);
            memcpy(orow + pw, x + (nc * d->D + id) * d->H * d->W + ih * d->W, (size_t)d->W * sizeof *o);
            memset(orow + pw + d->W, 0, (size_t)(d->Wp - pw - d->W) * sizeof *o);
        }
    }
    return xq;
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* dw[co][ci][a,b,c] += sum over positions of dy[co][pos] * xq[ci][pos + tap]: per output
 * plane, blocks of 4 output channels x the kw taps of one (ci, a, b) (kw <= 3 at a time),
 * 8 positions per step, masked at the end of each row. */
ssl3d_status cpu_conv_small_backward_weights(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                             const float *dy, float *dw) {
    const dgeom d = dgeom_of(g);
    const int32_t T = k->threads;
    const int64_t wlen = d.cout * d.cin * d.kvol;
    float *xq = pad_ncdhw(k, g, &d, x);
    float *part = calloc((size_t)T * (size_t)wlen, sizeof *part);
    if (!xq || !part) { free(xq); free(part); return SSL3D_ERR_NOMEM; }
    const int64_t vol = d.Dp * d.Hp * d.Wp, ncb = (d.cout + 3) / 4, tasks = d.n * d.Do;
    const int64_t tail = d.Wo % 8;
    int32_t mi[8];
    for (int l = 0; l < 8; l++) mi[l] = l < tail ? -1 : 0;
    const __m256i mask = _mm256_loadu_si256((const __m256i *)mi);
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t ni = t / d.Do, od = t % d.Do;
        float *pt = part + (int64_t)omp_get_thread_num() * wlen;
        for (int64_t cb = 0; cb < ncb; cb++) {
            const int64_t co0 = cb * 4, nco = min64(4, d.cout - co0);
            const float *dyp[4];
            for (int j = 0; j < 4; j++)
                dyp[j] = dy + (ni * d.cout + min64(co0 + j, d.cout - 1)) * d.P + od * d.Ho * d.Wo;
            for (int64_t ci = 0; ci < d.cin; ci++)
            for (int64_t a = 0; a < d.kd; a++)
            for (int64_t bb = 0; bb < d.kh; bb++)
            for (int64_t c0 = 0; c0 < d.kw; c0 += 3) {
                const int64_t nc = min64(3, d.kw - c0);
                __m256 s[4][3];
                for (int j = 0; j < 4; j++) for (int c = 0; c < 3; c++) s[j][c] = _mm256_setzero_ps();
                for (int64_t oh = 0; oh < d.Ho; oh++) {
                    const float *xr = xq + (ni * d.cin + ci) * vol + ((od * d.sd + a) * d.Hp + oh * d.sh + bb) * d.Wp + c0;
                    const int64_t ro = oh * d.Wo;
                    int64_t ow = 0;
                    for (; ow + 8 <= d.Wo; ow += 8) {
                        const __m256 x0 = _mm256_loadu_ps(xr + ow), x1 = _mm256_loadu_ps(xr + ow + 1),
                                     x2 = _mm256_loadu_ps(xr + ow + 2);
                        for (int j = 0; j < 4; j++) {
                            const __m256 g0 = _mm256_loadu_ps(dyp[j] + ro + ow);
                            s[j][0] = _mm256_fmadd_ps(g0, x0, s[j][0]);
                            s[j][1] = _mm256_fmadd_ps(g0, x1, s[j][1]);
                            s[j][2] = _mm256_fmadd_ps(g0, x2, s[j][2]);
                        }
                    }
                    if (tail) {
                        const __m256 x0 = _mm256_maskload_ps(xr + ow, mask), x1 = _mm256_maskload_ps(xr + ow + 1, mask),
                                     x2 = _mm256_maskload_ps(xr + ow + 2, mask);
                        for (int j = 0; j < 4; j++) {
                            const __m256 g0 = _mm256_maskload_ps(dyp[j] + ro + ow, mask);
                            s[j][0] = _mm256_fmadd_ps(g0, x0, s[j][0]);
                            s[j][1] = _mm256_fmadd_ps(g0, x1, s[j][1]);
                            s[j][2] = _mm256_fmadd_ps(g0, x2, s[j][2]);
                        }
                    }
                }
                for (int64_t j = 0; j < nco; j++)
                    for (int64_t c = 0; c < nc; c++)
                        pt[((co0 + j) * d.cin + ci) * d.kvol + (a * d.kh + bb) * d.kw + c0 + c] += hsum256(s[j][c]);
            }
        }
    }
    cpu_conv_reduce_partials(k, part, T, wlen, dw);
    free(xq); free(part);
    return SSL3D_OK;
}

#else   /* no AVX2/FMA at compile time: the im2col + SGEMM paths are used */
int cpu_conv_direct_available(void) { return 0; }
ssl3d_status cpu_conv_direct_forward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                     const float *w, const float *b, float *y, int accumulate) {
    (void)k; (void)g; (void)x; (void)w; (void)b; (void)y; (void)accumulate;
    return SSL3D_ERR_UNSUPPORTED;
}
ssl3d_status cpu_conv_direct_backward_weights(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                              const float *dy, float *dw) {
    (void)k; (void)g; (void)x; (void)dy; (void)dw;
    return SSL3D_ERR_UNSUPPORTED;
}
ssl3d_status cpu_conv_small_backward_weights(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                             const float *dy, float *dw) {
    (void)k; (void)g; (void)x; (void)dy; (void)dw;
    return SSL3D_ERR_UNSUPPORTED;
}
#endif
