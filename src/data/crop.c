/* Crop, pad and bounding boxes: windows of a volume at an offset. */
#include <string.h>
#include "data_internal.h"

void vol_window(const ssl3d_vol *in, const int64_t off[3], ssl3d_vol *out, float fill, int threads) {
    uint32_t fb;
    if (in->is_label) { int32_t f = (int32_t)fill; memcpy(&fb, &f, 4); }
    else memcpy(&fb, &fill, 4);
    const uint32_t *x = in->p;
    uint32_t *y = out->p;
    const int64_t m0 = out->n[0], m1 = out->n[1], m2 = out->n[2];
    const int64_t sin = vol_spatial(in), sout = vol_spatial(out);
    /* Output columns [k_lo, k_hi) read inside x along axis 2. */
    int64_t k_lo = -off[2] > 0 ? -off[2] : 0, k_hi = in->n[2] - off[2];
    if (k_hi > m2) k_hi = m2;
    if (k_lo > m2) k_lo = m2;
    #pragma omp parallel for collapse(3) num_threads(threads) schedule(static)
    for (int64_t c = 0; c < in->c; c++)
        for (int64_t i = 0; i < m0; i++)
            for (int64_t j = 0; j < m1; j++) {
                uint32_t *yr = y + c * sout + (i * m1 + j) * m2;
                const int64_t xi = i + off[0], xj = j + off[1];
                if (xi < 0 || xi >= in->n[0] || xj < 0 || xj >= in->n[1] || k_hi <= k_lo) {
                    for (int64_t k = 0; k < m2; k++) yr[k] = fb;
                    continue;
                }
                const uint32_t *xr = x + c * sin + (xi * in->n[1] + xj) * in->n[2] + off[2] + k_lo;
                for (int64_t k = 0; k < k_lo; k++) yr[k] = fb;
                memcpy(yr + k_lo, xr, (size_t)(k_hi - k_lo) * 4u);
                for (int64_t k = k_hi; k < m2; k++) yr[k] = fb;
            }
}

/* Spatial argument arrays of the public API (dims entries) -> internal 3-vectors. */
static void to3(const ssl3d_vol *v, const int64_t *a, int64_t def, int64_t out[3]) {
    out[0] = def;
    for (int i = 0; i < v->dims; i++) out[vol_axis(v, i)] = a[i];
}

static ssl3d_status window(ssl3d_ctx *ctx, const ssl3d_vol *v, const int64_t off[3], const int64_t n[3],
                           float fill, ssl3d_tensor **out) {
    ssl3d_vol o;
    ssl3d_tensor *t;
    SSL3D_CHECK(vol_new(ctx, v, n, &t, &o));
    vol_window(v, off, &o, fill, ctx->threads);
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_crop(ssl3d_ctx *ctx, const ssl3d_tensor *x, const int64_t *offset, const int64_t *size,
                        float fill, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_crop";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, offset && size && out, "%s: offset, size and out must not be NULL", fn);
    for (int a = 0; a < v.dims; a++)
        SSL3D_CHECK_ARG(ctx, size[a] >= 1 && size[a] <= (INT64_C(1) << 30) && offset[a] > -(INT64_C(1) << 30) &&
                        offset[a] < (INT64_C(1) << 30), "%s: size[%d] = %lld / offset[%d] = %lld out of range",
                        fn, a, (long long)size[a], a, (long long)offset[a]);
    int64_t off[3], n[3];
    to3(&v, offset, 0, off);
    to3(&v, size, 1, n);
    return window(ctx, &v, off, n, fill, out);
}

static int64_t center_offset(int64_t n, int64_t size) {
    return n >= size ? (n - size) / 2 : -((size - n) / 2);
}

ssl3d_status ssl3d_pad_crop_center(ssl3d_ctx *ctx, const ssl3d_tensor *x, const int64_t *size, float fill,
                                   ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_pad_crop_center";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, size && out, "%s: size and out must not be NULL", fn);
    for (int a = 0; a < v.dims; a++)
        SSL3D_CHECK_ARG(ctx, size[a] >= 1 && size[a] <= (INT64_C(1) << 30), "%s: size[%d] = %lld out of range",
                        fn, a, (long long)size[a]);
    int64_t n[3], off[3];
    to3(&v, size, 1, n);
    for (int a = 0; a < 3; a++) off[a] = center_offset(v.n[a], n[a]);
    return window(ctx, &v, off, n, fill, out);
}

ssl3d_status ssl3d_pad_to_multiple(ssl3d_ctx *ctx, const ssl3d_tensor *x, int64_t multiple, float fill,
                                   ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_pad_to_multiple";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, multiple >= 1 && multiple <= 4096, "%s: multiple %lld outside [1, 4096]", fn,
                    (long long)multiple);
    int64_t n[3], off[3];
    for (int a = 0; a < 3; a++) {
        n[a] = a < 3 - v.dims ? 1 : (v.n[a] + multiple - 1) / multiple * multiple;
        off[a] = center_offset(v.n[a], n[a]);
    }
    return window(ctx, &v, off, n, fill, out);
}

/* Non-zero bounding box over all channels, internal axes; full extent if all zero. */
static void bbox3(const ssl3d_vol *v, int64_t lo[3], int64_t hi[3]) {
    const uint32_t *x = v->p;   /* +0.0f and int 0 are all-zero bits; -0.0f counts as 0 too */
    int64_t l[3] = { v->n[0], v->n[1], v->n[2] }, h[3] = { 0, 0, 0 };
    const int64_t S = vol_spatial(v);
    for (int64_t c = 0; c < v->c; c++)
        for (int64_t i = 0; i < v->n[0]; i++)
            for (int64_t j = 0; j < v->n[1]; j++) {
                const uint32_t *r = x + c * S + (i * v->n[1] + j) * v->n[2];
                int64_t k0 = -1, k1 = -1;
                for (int64_t k = 0; k < v->n[2]; k++)
                    if (r[k] & 0x7fffffffu) { if (k0 < 0) k0 = k; k1 = k; }
                if (k0 < 0) continue;
                if (i < l[0]) l[0] = i;
                if (i + 1 > h[0]) h[0] = i + 1;
                if (j < l[1]) l[1] = j;
                if (j + 1 > h[1]) h[1] = j + 1;
                if (k0 < l[2]) l[2] = k0;
                if (k1 + 1 > h[2]) h[2] = k1 + 1;
            }
    if (h[0] == 0) { for (int a = 0; a < 3; a++) { l[a] = 0; h[a] = v->n[a]; } }
    for (int a = 0; a < 3; a++) { lo[a] = l[a]; hi[a] = h[a]; }
}

ssl3d_status ssl3d_nonzero_bbox(ssl3d_ctx *ctx, const ssl3d_tensor *x, int64_t *lo, int64_t *hi) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_vol v;
    SSL3D_CHECK(vol_of(ctx, x, "ssl3d_nonzero_bbox", "x", &v));
    SSL3D_CHECK_ARG(ctx, lo && hi, "ssl3d_nonzero_bbox: lo and hi must not be NULL");
    int64_t l[3], h[3];
    bbox3(&v, l, h);
    for (int a = 0; a < v.dims; a++) { lo[a] = l[vol_axis(&v, a)]; hi[a] = h[vol_axis(&v, a)]; }
    return SSL3D_OK;
}

ssl3d_status ssl3d_crop_to_nonzero(ssl3d_ctx *ctx, const ssl3d_tensor *image, const ssl3d_tensor *label,
                                   ssl3d_tensor **image_out, ssl3d_tensor **label_out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_crop_to_nonzero";
    ssl3d_vol v, lv;
    SSL3D_CHECK(vol_of_image(ctx, image, fn, "image", &v));
    SSL3D_CHECK_ARG(ctx, image_out, "%s: image_out is NULL", fn);
    if (label) {
        SSL3D_CHECK(ssl3d_check_i32(ctx, label, fn, "label"));
        SSL3D_CHECK(vol_of(ctx, label, fn, "label", &lv));
        SSL3D_CHECK_ARG(ctx, label_out, "%s: label_out is NULL", fn);
        SSL3D_CHECK_SHAPE(ctx, lv.dims == v.dims && !memcmp(lv.n, v.n, sizeof v.n),
                          "%s: label spatial size differs from the image's", fn);
    }
    int64_t lo[3], hi[3], n[3];
    bbox3(&v, lo, hi);
    for (int a = 0; a < 3; a++) n[a] = hi[a] - lo[a];
    ssl3d_tensor *ti, *tl = NULL;
    SSL3D_CHECK(window(ctx, &v, lo, n, 0.0f, &ti));
    if (label) {
        ssl3d_status st = window(ctx, &lv, lo, n, 0.0f, &tl);
        if (st != SSL3D_OK) { ssl3d_tensor_release(ti); return st; }
        *label_out = tl;
    }
    *image_out = ti;
    return SSL3D_OK;
}
