/* Axis permutations with reversal: flips, 90-degree rotations, transposes. Pure copies
 * of 4-byte elements (images and labels alike). */
#include "data_internal.h"

#define KB 16          /* output columns per block: one cache line of floats */
#define QC 256         /* input row chunk held in the block buffer */
#define QS (QC + 8)    /* buffer row stride, padded against cache-set aliasing */

#if defined(__AVX2__)
#include <immintrin.h>
/* In-register transpose of 8 rows of 8 floats (bit-exact moves: int32 labels too). */
static inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif

/* out (C, m0, m1, m2) with m_o = in->n[src[o]]; out[c, o] = in[c, x] where
 * x[src[o]] = flip[o] ? n - 1 - o_o : o_o. When the input's contiguous axis (2) lands on
 * an output axis q != 2, the copy is a tiled transpose (below). */
void vol_permute(const ssl3d_vol *in, const int src[3], const int flip[3], ssl3d_vol *out, int threads) {
    const uint32_t *x = in->p;
    uint32_t *y = out->p;
    const int64_t is[3] = { in->n[1] * in->n[2], in->n[2], 1 };
    const int64_t sin = vol_spatial(in), sout = vol_spatial(out);
    const int64_t m0 = out->n[0], m1 = out->n[1], m2 = out->n[2];
    int64_t step[3], base = 0;
    int q = 2;
    for (int o = 0; o < 3; o++) {
        step[o] = flip[o] ? -is[src[o]] : is[src[o]];
        if (flip[o]) base += (in->n[src[o]] - 1) * is[src[o]];
        if (src[o] == 2) q = o;
    }
    const int64_t C = in->c;
    if (q == 2) {
        /* Rows stay rows: contiguous (possibly reversed) copies. */
        #pragma omp parallel for collapse(3) num_threads(threads) schedule(static)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < m0; i++)
                for (int64_t j = 0; j < m1; j++) {
                    const uint32_t *xr = x + c * sin + base + i * step[0] + j * step[1];
                    uint32_t *yr = y + c * sout + (i * m1 + j) * m2;
                    if (step[2] == 1) {
                        for (int64_t k = 0; k < m2; k++) yr[k] = xr[k];
                    } else {
                        for (int64_t k = 0; k < m2; k++) yr[k] = xr[-k];
                    }
                }
        return;
    }
    /* The input's rows (axis 2) become output axis q: a transpose of the (q, 2) plane.
     * Power-of-two strides make direct strided access thrash the caches, so per block
     * of KB output columns (= KB input rows) the rows are first streamed into a small
     * contiguous buffer, then transposed from it in 8 x 8 tiles (in registers with
     * AVX2); each output cache line is written whole. */
    const int r = q == 0 ? 1 : 0;   /* the output axis that is neither q nor 2 */
    const int64_t mr = out->n[r], mq = out->n[q];
    const int64_t ys[3] = { m1 * m2, m2, 1 };
    const int64_t sq = step[q], s2 = step[2], nkb = (m2 + KB - 1) / KB;
    #pragma omp parallel for collapse(3) num_threads(threads) schedule(static)
    for (int64_t c = 0; c < C; c++)
        for (int64_t a = 0; a < mr; a++)
            for (int64_t kb = 0; kb < nkb; kb++) {
                uint32_t buf[KB * QS];
                const int64_t k0 = kb * KB, kn = k0 + KB <= m2 ? KB : m2 - k0;
                const uint32_t *xa = x + c * sin + base + a * step[r] + k0 * s2;
                uint32_t *ya = y + c * sout + a * ys[r] + k0;
                for (int64_t q0 = 0; q0 < mq; q0 += QC) {
                    const int64_t bn = q0 + QC <= mq ? QC : mq - q0;
                    for (int64_t kk = 0; kk < kn; kk++) {
                        const uint32_t *xr = xa + kk * s2 + q0 * sq;
                        uint32_t *br = buf + kk * QS;
                        if (sq == 1) for (int64_t b = 0; b < bn; b++) br[b] = xr[b];
                        else for (int64_t b = 0; b < bn; b++) br[b] = xr[-b];
                    }
                    for (int64_t b0 = 0; b0 < bn; b0 += 8)
                        for (int64_t kh = 0; kh < kn; kh += 8) {
#if defined(__AVX2__)
                            if (kh + 8 <= kn && b0 + 8 <= bn) {
                                __m256 t[8];
                                for (int kk = 0; kk < 8; kk++)
                                    t[kk] = _mm256_loadu_ps((const float *)(buf + (kh + kk) * QS + b0));
                                transpose8(t);
                                for (int bb = 0; bb < 8; bb++)
                                    _mm256_storeu_ps((float *)(ya + (q0 + b0 + bb) * ys[q] + kh), t[bb]);
                                continue;
                            }
#endif
                            const int64_t tk = kh + 8 <= kn ? 8 : kn - kh, tb = b0 + 8 <= bn ? 8 : bn - b0;
                            for (int64_t bb = 0; bb < tb; bb++) {
                                uint32_t *yr = ya + (q0 + b0 + bb) * ys[q] + kh;
                                for (int64_t kk = 0; kk < tk; kk++) yr[kk] = buf[(kh + kk) * QS + b0 + bb];
                            }
                        }
                }
            }
}

ssl3d_status ssl3d_flip(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t axis, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_vol v, o;
    SSL3D_CHECK(vol_of(ctx, x, "ssl3d_flip", "x", &v));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_flip: out is NULL");
    SSL3D_CHECK_ARG(ctx, axis >= 0 && axis < v.dims, "ssl3d_flip: axis %d outside [0, %d)", (int)axis, v.dims);
    int src[3] = { 0, 1, 2 }, fl[3] = { 0, 0, 0 };
    fl[vol_axis(&v, axis)] = 1;
    ssl3d_tensor *t;
    SSL3D_CHECK(vol_new(ctx, &v, v.n, &t, &o));
    vol_permute(&v, src, fl, &o, ctx->threads);
    *out = t;
    return SSL3D_OK;
}

/* rot90 by k in plane (a, b) (internal axes) as a permutation: numpy.rot90 —
 * k = 1: swap a, b and reverse the new a; k = 2: reverse a and b; k = 3: swap, reverse
 * the new b. */
void rot90_perm(int k, int a, int b, int src[3], int flip[3]) {
    for (int i = 0; i < 3; i++) { src[i] = i; flip[i] = 0; }
    k = ((k % 4) + 4) % 4;
    if (k == 1) { src[a] = b; src[b] = a; flip[a] = 1; }
    else if (k == 2) { flip[a] = 1; flip[b] = 1; }
    else if (k == 3) { src[a] = b; src[b] = a; flip[b] = 1; }
}

ssl3d_status ssl3d_rot90(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t k, int32_t axis_a, int32_t axis_b,
                         ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_vol v, o;
    SSL3D_CHECK(vol_of(ctx, x, "ssl3d_rot90", "x", &v));
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_rot90: out is NULL");
    SSL3D_CHECK_ARG(ctx, axis_a >= 0 && axis_a < v.dims && axis_b >= 0 && axis_b < v.dims && axis_a != axis_b,
                    "ssl3d_rot90: axes (%d, %d) must be two different axes in [0, %d)", (int)axis_a,
                    (int)axis_b, v.dims);
    int src[3], fl[3];
    rot90_perm((int)(k % 4), vol_axis(&v, axis_a), vol_axis(&v, axis_b), src, fl);
    int64_t n[3] = { v.n[src[0]], v.n[src[1]], v.n[src[2]] };
    ssl3d_tensor *t;
    SSL3D_CHECK(vol_new(ctx, &v, n, &t, &o));
    vol_permute(&v, src, fl, &o, ctx->threads);
    *out = t;
    return SSL3D_OK;
}
