/* Affine resampling (rotation, zoom, spacing): trilinear for images, nearest for labels.
 * 2D volumes are D = 1 with the identity along axis 0, so one kernel serves both. The
 * kernels optionally add a displacement field before the affine map (vol_warp: elastic
 * deformation), so a deformed patch is still one resampling, and the image and its label
 * map read the very same source point. */
#include <math.h>
#include <string.h>
#include "data_internal.h"


/* Adds A d(o) to the source point of output voxel v: d is (3, out spatial), component c
 * along internal axis c, in output voxels. Shared by both kernels so that an image and its
 * label map sample the same point. */
static inline void displace(const double A[3][3], const float *disp, int64_t sout, int64_t v, double *p0,
                            double *p1, double *p2) {
    const double d0 = disp[v], d1 = disp[sout + v], d2 = disp[2 * sout + v];
    *p0 += A[0][0] * d0 + A[0][1] * d1 + A[0][2] * d2;
    *p1 += A[1][0] * d0 + A[1][1] * d1 + A[1][2] * d2;
    *p2 += A[2][0] * d0 + A[2][1] * d1 + A[2][2] * d2;
}

/* Nearest neighbour: idx = floor(p + 0.5). */
static void affine_nearest(const ssl3d_vol *in, ssl3d_vol *out, const double A[3][3], const double t[3],
                           const float *disp, int border, int threads) {
    const uint32_t *x = in->p;
    uint32_t *y = out->p;
    const int64_t n0 = in->n[0], n1 = in->n[1], n2 = in->n[2];
    const int64_t m0 = out->n[0], m1 = out->n[1], m2 = out->n[2];
    const int64_t sin = vol_spatial(in), sout = vol_spatial(out), C = in->c;
    #pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t i = 0; i < m0; i++)
        for (int64_t j = 0; j < m1; j++) {
            const double r0 = A[0][0] * i + A[0][1] * j + t[0];
            const double r1 = A[1][0] * i + A[1][1] * j + t[1];
            const double r2 = A[2][0] * i + A[2][1] * j + t[2];
            for (int64_t k = 0; k < m2; k++) {
                double p0 = r0 + A[0][2] * k, p1 = r1 + A[1][2] * k, p2 = r2 + A[2][2] * k;
                if (disp) displace(A, disp, sout, (i * m1 + j) * m2 + k, &p0, &p1, &p2);
                int64_t a = (int64_t)floor(p0 + 0.5);
                int64_t b = (int64_t)floor(p1 + 0.5);
                int64_t e = (int64_t)floor(p2 + 0.5);
                uint32_t *yv = y + (i * m1 + j) * m2 + k;
                if (border) {
                    a = a < 0 ? 0 : a >= n0 ? n0 - 1 : a;
                    b = b < 0 ? 0 : b >= n1 ? n1 - 1 : b;
                    e = e < 0 ? 0 : e >= n2 ? n2 - 1 : e;
                } else if (a < 0 || a >= n0 || b < 0 || b >= n1 || e < 0 || e >= n2) {
                    for (int64_t c = 0; c < C; c++) yv[c * sout] = 0u;
                    continue;
                }
                const uint32_t *xv = x + (a * n1 + b) * n2 + e;
                for (int64_t c = 0; c < C; c++) yv[c * sout] = xv[c * sin];
            }
        }
}

/* One axis of linear interpolation: lower index, upper index (= lower when the weight
 * of the upper one is 0, so integer coordinates never touch a neighbour), weight. */
static inline void lin_axis(double p, int64_t *i0, int64_t *i1, float *w) {
    double f = floor(p);
    *i0 = (int64_t)f;
    *w = (float)(p - f);
    *i1 = *i0 + (*w > 0.0f);
}

static void affine_linear(const ssl3d_vol *in, ssl3d_vol *out, const double A[3][3], const double t[3],
                          const float *disp, int border, int threads) {
    const float *x = in->p;
    float *y = out->p;
    const int64_t n0 = in->n[0], n1 = in->n[1], n2 = in->n[2];
    const int64_t m0 = out->n[0], m1 = out->n[1], m2 = out->n[2];
    const int64_t sin = vol_spatial(in), sout = vol_spatial(out), C = in->c;
    const int64_t s0 = n1 * n2, s1 = n2;
    #pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t i = 0; i < m0; i++)
        for (int64_t j = 0; j < m1; j++) {
            const double r0 = A[0][0] * i + A[0][1] * j + t[0];
            const double r1 = A[1][0] * i + A[1][1] * j + t[1];
            const double r2 = A[2][0] * i + A[2][1] * j + t[2];
            float *yr = y + (i * m1 + j) * m2;
            for (int64_t k = 0; k < m2; k++) {
                double p0 = r0 + A[0][2] * k, p1 = r1 + A[1][2] * k, p2 = r2 + A[2][2] * k;
                if (disp) displace(A, disp, sout, (i * m1 + j) * m2 + k, &p0, &p1, &p2);
                if (border) {
                    p0 = p0 < 0 ? 0 : p0 > n0 - 1 ? (double)(n0 - 1) : p0;
                    p1 = p1 < 0 ? 0 : p1 > n1 - 1 ? (double)(n1 - 1) : p1;
                    p2 = p2 < 0 ? 0 : p2 > n2 - 1 ? (double)(n2 - 1) : p2;
                } else if (p0 <= -1.0 || p0 >= (double)n0 || p1 <= -1.0 || p1 >= (double)n1 ||
                           p2 <= -1.0 || p2 >= (double)n2) {
                    for (int64_t c = 0; c < C; c++) yr[c * sout + k] = 0.0f;
                    continue;
                }
                int64_t a0, a1, b0, b1, e0, e1;
                float wa, wb, we;
                lin_axis(p0, &a0, &a1, &wa);
                lin_axis(p1, &b0, &b1, &wb);
                lin_axis(p2, &e0, &e1, &we);
                if (a0 >= 0 && a1 < n0 && b0 >= 0 && b1 < n1 && e0 >= 0 && e1 < n2) {
                    /* All 8 corners inside: three rounds of lerps (exact at integer
                     * coordinates, where the upper corner equals the lower one). */
                    const int64_t o = a0 * s0 + b0 * s1 + e0, da = (a1 - a0) * s0, db = (b1 - b0) * s1, de = e1 - e0;
                    for (int64_t c = 0; c < C; c++) {
                        const float *q = x + c * sin + o;
                        const float c00 = q[0] + we * (q[de] - q[0]), c01 = q[db] + we * (q[db + de] - q[db]);
                        const float c10 = q[da] + we * (q[da + de] - q[da]);
                        const float c11 = q[da + db] + we * (q[da + db + de] - q[da + db]);
                        const float c0 = c00 + wb * (c01 - c00), c1 = c10 + wb * (c11 - c10);
                        yr[c * sout + k] = c0 + wa * (c1 - c0);
                    }
                    continue;
                }
                /* Near the border: corner weights, a corner outside reads 0. */
                float w[8] = {
                    (1 - wa) * (1 - wb) * (1 - we), (1 - wa) * (1 - wb) * we,
                    (1 - wa) * wb * (1 - we),       (1 - wa) * wb * we,
                    wa * (1 - wb) * (1 - we),       wa * (1 - wb) * we,
                    wa * wb * (1 - we),             wa * wb * we };
                int64_t off[8];
                const int64_t ia[2] = { a0, a1 }, ib[2] = { b0, b1 }, ie[2] = { e0, e1 };
                for (int q = 0; q < 8; q++) {
                    int64_t a = ia[q >> 2], b = ib[(q >> 1) & 1], e = ie[q & 1];
                    if (a < 0 || a >= n0 || b < 0 || b >= n1 || e < 0 || e >= n2) { w[q] = 0.0f; off[q] = 0; }
                    else off[q] = a * s0 + b * s1 + e;
                }
                for (int64_t c = 0; c < C; c++) {
                    const float *xc = x + c * sin;
                    float v = 0.0f;
                    for (int q = 0; q < 8; q++) v += w[q] * xc[off[q]];
                    yr[c * sout + k] = v;
                }
            }
        }
}

void vol_affine(const ssl3d_vol *in, ssl3d_vol *out, const double A[3][3], const double t[3], int border,
                int threads) {
    if (in->is_label) affine_nearest(in, out, A, t, NULL, border, threads);
    else affine_linear(in, out, A, t, NULL, border, threads);
}

void vol_warp(const ssl3d_vol *in, ssl3d_vol *out, const double A[3][3], const double t[3], const float *disp,
              int threads) {
    if (in->is_label) affine_nearest(in, out, A, t, disp, 0, threads);
    else affine_linear(in, out, A, t, disp, 0, threads);
}

/* cos/sin of a rotation in degrees, exact at multiples of 90. */
void rot_cos_sin(double degrees, double *c, double *s) {
    double q = degrees / 90.0;
    if (q == floor(q)) {
        static const double cs[4][2] = { { 1, 0 }, { 0, 1 }, { -1, 0 }, { 0, -1 } };
        int k = (int)fmod(fmod(q, 4.0) + 4.0, 4.0);
        *c = cs[k][0]; *s = cs[k][1];
        return;
    }
    double r = degrees * (3.14159265358979323846 / 180.0);
    *c = cos(r); *s = sin(r);
}

/* Inverse map of a rotation by `degrees` from axis a towards axis b (internal axes)
 * composed into M (in = M * out, centred coordinates): M = M * R^-1. */
void affine_rotate(double M[3][3], double degrees, int a, int b) {
    double c, s;
    rot_cos_sin(degrees, &c, &s);
    /* R^-1 on (a, b): in_a = c*out_a + s*out_b, in_b = -s*out_a + c*out_b. */
    double Ri[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
    Ri[a][a] = c; Ri[a][b] = s; Ri[b][a] = -s; Ri[b][b] = c;
    double T[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) T[i][j] = M[i][0] * Ri[0][j] + M[i][1] * Ri[1][j] + M[i][2] * Ri[2][j];
    memcpy(M, T, sizeof T);
}

/* t so that the centre of out maps onto the centre of in: in = M (o - c_out) + c_in. */
void affine_center(const double M[3][3], const ssl3d_vol *in, const ssl3d_vol *out, double t[3]) {
    double ci[3], co[3];
    for (int a = 0; a < 3; a++) { ci[a] = (in->n[a] - 1) * 0.5; co[a] = (out->n[a] - 1) * 0.5; }
    for (int a = 0; a < 3; a++) t[a] = ci[a] - (M[a][0] * co[0] + M[a][1] * co[1] + M[a][2] * co[2]);
}

ssl3d_status ssl3d_rotate(ssl3d_ctx *ctx, const ssl3d_tensor *x, double degrees, int32_t axis_a, int32_t axis_b,
                          ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_rotate";
    ssl3d_vol v, o;
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, axis_a >= 0 && axis_a < v.dims && axis_b >= 0 && axis_b < v.dims && axis_a != axis_b,
                    "%s: axes (%d, %d) must be two different axes in [0, %d)", fn, (int)axis_a, (int)axis_b, v.dims);
    SSL3D_CHECK_ARG(ctx, isfinite(degrees) && fabs(degrees) <= 1e6, "%s: degrees must be finite", fn);
    double M[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, t[3];
    affine_rotate(M, degrees, vol_axis(&v, axis_a), vol_axis(&v, axis_b));
    ssl3d_tensor *r;
    SSL3D_CHECK(vol_new(ctx, &v, v.n, &r, &o));
    affine_center(M, &v, &o, t);
    vol_affine(&v, &o, M, t, 0, ctx->threads);
    *out = r;
    return SSL3D_OK;
}

ssl3d_status ssl3d_zoom(ssl3d_ctx *ctx, const ssl3d_tensor *x, double factor, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_zoom";
    ssl3d_vol v, o;
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, isfinite(factor) && factor >= 1e-3 && factor <= 1e3, "%s: factor %g outside [0.001, 1000]",
                    fn, factor);
    double M[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, t[3];
    for (int a = 3 - v.dims; a < 3; a++) M[a][a] = 1.0 / factor;
    ssl3d_tensor *r;
    SSL3D_CHECK(vol_new(ctx, &v, v.n, &r, &o));
    affine_center(M, &v, &o, t);
    vol_affine(&v, &o, M, t, 0, ctx->threads);
    *out = r;
    return SSL3D_OK;
}

ssl3d_status ssl3d_resample_spacing(ssl3d_ctx *ctx, const ssl3d_tensor *x, const double *spacing_in,
                                    const double *spacing_out, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_resample_spacing";
    ssl3d_vol v, o;
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, spacing_in && spacing_out && out, "%s: spacing_in, spacing_out and out must not be NULL", fn);
    double M[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, t[3] = { 0, 0, 0 };
    int64_t n[3] = { 1, v.n[1], v.n[2] };
    for (int a = 0; a < v.dims; a++) {
        double si = spacing_in[a], so = spacing_out[a];
        SSL3D_CHECK_ARG(ctx, isfinite(si) && isfinite(so) && si > 0 && so > 0,
                        "%s: spacing of axis %d must be finite and > 0 (got %g -> %g)", fn, a, si, so);
        int ax = vol_axis(&v, a);
        double nn = round((double)v.n[ax] * si / so);
        SSL3D_CHECK_ARG(ctx, nn <= (double)(INT64_C(1) << 20), "%s: axis %d would have %g voxels", fn, a, nn);
        n[ax] = nn < 1 ? 1 : (int64_t)nn;
        double scale = (double)v.n[ax] / (double)n[ax];
        M[ax][ax] = scale;
        t[ax] = 0.5 * scale - 0.5;
    }
    ssl3d_tensor *r;
    SSL3D_CHECK(vol_new(ctx, &v, n, &r, &o));
    vol_affine(&v, &o, M, t, 1, ctx->threads);
    *out = r;
    return SSL3D_OK;
}
