/* Axis permutations with reversal: flips, 90-degree rotations, transposes. Pure copies
 * of 4-byte elements (images and labels alike). */
#include "data_internal.h"

#define TILE 32

/* out (C, m0, m1, m2) with m_o = in->n[src[o]]; out[c, o] = in[c, x] where
 * x[src[o]] = flip[o] ? n - 1 - o_o : o_o. When the input's contiguous axis (2) lands on
 * an output axis q != 2, the (q, 2) plane is copied in TILE x TILE tiles so both the
 * strided reads and the writes stay in cache. */
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
    /* r: the output axis that is neither q nor 2 (outer loop). */
    const int r = q == 0 ? 1 : 0;
    const int64_t mr = out->n[r], mq = out->n[q];
    const int64_t ys[3] = { m1 * m2, m2, 1 };
    const int64_t nqb = (mq + TILE - 1) / TILE;
    #pragma omp parallel for collapse(3) num_threads(threads) schedule(static)
    for (int64_t c = 0; c < C; c++)
        for (int64_t a = 0; a < mr; a++)
            for (int64_t qb = 0; qb < nqb; qb++) {
                const int64_t q0 = qb * TILE, q1 = q0 + TILE < mq ? q0 + TILE : mq;
                const uint32_t *xa = x + c * sin + base + a * step[r];
                uint32_t *ya = y + c * sout + a * ys[r];
                for (int64_t k0 = 0; k0 < m2; k0 += TILE) {
                    const int64_t k1 = k0 + TILE < m2 ? k0 + TILE : m2;
                    for (int64_t b = q0; b < q1; b++) {
                        const uint32_t *xb = xa + b * step[q];
                        uint32_t *yb = ya + b * ys[q];
                        for (int64_t k = k0; k < k1; k++) yb[k] = xb[k * step[2]];
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
