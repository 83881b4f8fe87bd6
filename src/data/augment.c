/* Random augmentation of an image and its label with one shared geometric draw. */
#include <math.h>
#include <string.h>
#include "data_internal.h"

void augment_defaults(struct ssl3d_augment *a) {
    a->flip_prob = 0.5f; a->rot90_prob = 0.5f; a->rotate_prob = 1.0f; a->max_degrees = 180.0f;
    a->zoom_lo = 0.8f; a->zoom_hi = 1.2f;
    a->c_lo = 0.5f; a->c_hi = 1.5f; a->b_lo = -0.125f; a->b_hi = 0.125f; a->noise_std = 0.0f;
}

ssl3d_status ssl3d_augment_create(ssl3d_ctx *ctx, ssl3d_augment **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_augment_create: out is NULL");
    ssl3d_augment *a = malloc(sizeof *a);
    if (!a) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_augment_create: out of memory");
    augment_defaults(a);
    *out = a;
    return SSL3D_OK;
}

void ssl3d_augment_release(ssl3d_augment *aug) { free(aug); }

static int prob_ok(float p) { return p >= 0.0f && p <= 1.0f; }

ssl3d_status ssl3d_augment_set_geometry(ssl3d_ctx *ctx, ssl3d_augment *aug, float flip_prob, float rot90_prob,
                                        float rotate_prob, float max_degrees) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_augment_set_geometry";
    SSL3D_CHECK_ARG(ctx, aug, "%s: aug is NULL", fn);
    SSL3D_CHECK_ARG(ctx, prob_ok(flip_prob) && prob_ok(rot90_prob) && prob_ok(rotate_prob),
                    "%s: probabilities must lie in [0, 1]", fn);
    SSL3D_CHECK_ARG(ctx, max_degrees >= 0.0f && max_degrees <= 360.0f, "%s: max_degrees %g outside [0, 360]", fn,
                    (double)max_degrees);
    aug->flip_prob = flip_prob; aug->rot90_prob = rot90_prob;
    aug->rotate_prob = rotate_prob; aug->max_degrees = max_degrees;
    return SSL3D_OK;
}

ssl3d_status ssl3d_augment_set_zoom(ssl3d_ctx *ctx, ssl3d_augment *aug, float zoom_lo, float zoom_hi) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_augment_set_zoom";
    SSL3D_CHECK_ARG(ctx, aug, "%s: aug is NULL", fn);
    SSL3D_CHECK_ARG(ctx, zoom_lo > 0.01f && zoom_lo <= zoom_hi && zoom_hi <= 100.0f,
                    "%s: need 0.01 < zoom_lo <= zoom_hi <= 100, got %g, %g", fn, (double)zoom_lo, (double)zoom_hi);
    aug->zoom_lo = zoom_lo; aug->zoom_hi = zoom_hi;
    return SSL3D_OK;
}

ssl3d_status ssl3d_augment_set_intensity(ssl3d_ctx *ctx, ssl3d_augment *aug, float c_lo, float c_hi, float b_lo,
                                         float b_hi, float noise_std) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_augment_set_intensity";
    SSL3D_CHECK_ARG(ctx, aug, "%s: aug is NULL", fn);
    SSL3D_CHECK_ARG(ctx, isfinite(c_lo) && isfinite(c_hi) && isfinite(b_lo) && isfinite(b_hi) && c_lo <= c_hi &&
                    b_lo <= b_hi, "%s: need finite c_lo <= c_hi and b_lo <= b_hi", fn);
    SSL3D_CHECK_ARG(ctx, isfinite(noise_std) && noise_std >= 0.0f, "%s: noise_std must be finite and >= 0", fn);
    aug->c_lo = c_lo; aug->c_hi = c_hi; aug->b_lo = b_lo; aug->b_hi = b_hi; aug->noise_std = noise_std;
    return SSL3D_OK;
}

/* Public plane p of a volume with `dims` spatial axes -> internal axes (a, b): 3D plane
 * p is the rotation about axis p (the two other axes, ascending); 2D has plane 0 only. */
static void plane_axes(const ssl3d_vol *v, int p, int *a, int *b) {
    static const int pl[3][2] = { { 1, 2 }, { 0, 2 }, { 0, 1 } };
    if (v->dims == 2) { *a = 1; *b = 2; return; }
    *a = pl[p][0]; *b = pl[p][1];
}

ssl3d_status ssl3d_augment_apply(ssl3d_ctx *ctx, const ssl3d_augment *aug, const ssl3d_tensor *image,
                                 const ssl3d_tensor *label, uint64_t seed, uint64_t index,
                                 ssl3d_tensor **image_out, ssl3d_tensor **label_out) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_augment_apply";
    SSL3D_CHECK_ARG(ctx, aug, "%s: aug is NULL", fn);
    ssl3d_vol v, lv, o, lo;
    SSL3D_CHECK(vol_of_image(ctx, image, fn, "image", &v));
    SSL3D_CHECK_ARG(ctx, image_out, "%s: image_out is NULL", fn);
    if (label) {
        SSL3D_CHECK(ssl3d_check_i32(ctx, label, fn, "label"));
        SSL3D_CHECK(vol_of(ctx, label, fn, "label", &lv));
        SSL3D_CHECK_ARG(ctx, label_out, "%s: label_out is NULL", fn);
        SSL3D_CHECK_SHAPE(ctx, lv.dims == v.dims && !memcmp(lv.n, v.n, sizeof v.n),
                          "%s: label spatial size differs from the image's", fn);
    }
    /* The draw: a fixed number of values per step whatever the probabilities, so one
     * setting never shifts the draws of the next. */
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, data_stream(SSL3D_STREAM_AUGMENT, index));
    double M[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, t[3];
    for (int a = 0; a < 3; a++) {                                   /* 1. flips */
        int f = ssl3d_rng_uniform(&r) < aug->flip_prob;
        if (a < v.dims && f) {
            int ax = vol_axis(&v, a);
            for (int i = 0; i < 3; i++) M[i][ax] = -M[i][ax];
        }
    }
    {                                                               /* 2. rot90 */
        int on = ssl3d_rng_uniform(&r) < aug->rot90_prob;
        int p = (int)ssl3d_rng_below(&r, 3), k = 1 + (int)ssl3d_rng_below(&r, 3), a, b;
        plane_axes(&v, p, &a, &b);
        if (on) affine_rotate(M, 90.0 * k, a, b);
    }
    {                                                               /* 3. arbitrary angle */
        int on = ssl3d_rng_uniform(&r) < aug->rotate_prob;
        int p = (int)ssl3d_rng_below(&r, 3), a, b;
        double deg = (2.0 * ssl3d_rng_uniform(&r) - 1.0) * aug->max_degrees;
        plane_axes(&v, p, &a, &b);
        if (on && deg != 0.0) affine_rotate(M, deg, a, b);
    }
    {                                                               /* 4. zoom */
        double z = aug->zoom_lo + (aug->zoom_hi - aug->zoom_lo) * (double)ssl3d_rng_uniform(&r);
        for (int i = 0; i < 3; i++)
            for (int j = 3 - v.dims; j < 3; j++) M[i][j] /= z;
    }
    float contrast = aug->c_lo + (aug->c_hi - aug->c_lo) * ssl3d_rng_uniform(&r);   /* 5. */
    float brightness = aug->b_lo + (aug->b_hi - aug->b_lo) * ssl3d_rng_uniform(&r);
    ssl3d_tensor *ti, *tl = NULL;
    SSL3D_CHECK(vol_new(ctx, &v, v.n, &ti, &o));
    affine_center(M, &v, &o, t);
    vol_affine(&v, &o, M, t, 0, ctx->threads);
    intensity_apply(o.p, ti->numel, contrast, brightness, aug->noise_std, seed,   /* 5, 6 */
                    data_stream(SSL3D_STREAM_NOISE, index), ctx->threads);
    if (label) {
        ssl3d_status st = vol_new(ctx, &lv, lv.n, &tl, &lo);
        if (st != SSL3D_OK) { ssl3d_tensor_release(ti); return st; }
        vol_affine(&lv, &lo, M, t, 0, ctx->threads);
        *label_out = tl;
    }
    *image_out = ti;
    return SSL3D_OK;
}
