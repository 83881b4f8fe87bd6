/* In-plane resize (separable triangle filter, antialiased when shrinking) and centre crop
 * of an image. One weight table per axis; the same 1-D pass runs along W then along H. */
#include <math.h>
#include <string.h>
#include "image_internal.h"

/* Weights of a triangle filter mapping `in` samples to `out`: output o covers input
 * pixels first[o] .. first[o]+count[o]-1 with weights w[o*k ...]. Pixel centres are at
 * i + 0.5 in both grids; when shrinking the filter is stretched by the factor so every
 * input pixel contributes (antialiasing), as PIL's BILINEAR does. */
typedef struct {
    int64_t *first;
    int32_t *count;
    float *w;
    int32_t k;
} weights;

static void weights_free(weights *t) { free(t->first); free(t->count); free(t->w); }

static int weights_make(int64_t in, int64_t out, weights *t) {
    double scale = (double)in / (double)out, fscale = scale > 1.0 ? scale : 1.0, support = fscale;
    t->k = (int32_t)ceil(support) * 2 + 1;
    t->first = malloc((size_t)out * sizeof *t->first);
    t->count = malloc((size_t)out * sizeof *t->count);
    t->w = calloc((size_t)out * (size_t)t->k, sizeof *t->w);
    if (!t->first || !t->count || !t->w) return -1;
    for (int64_t o = 0; o < out; o++) {
        double centre = ((double)o + 0.5) * scale;
        int64_t lo = (int64_t)floor(centre - support + 0.5), hi = (int64_t)floor(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        if (hi - lo > t->k) hi = lo + t->k;
        double sum = 0.0;
        float *w = t->w + o * t->k;
        for (int64_t x = lo; x < hi; x++) {
            double d = fabs(((double)x + 0.5 - centre) / fscale);
            double v = d < 1.0 ? 1.0 - d : 0.0;
            w[x - lo] = (float)v;
            sum += v;
        }
        if (sum <= 0.0) {               /* cannot happen for in, out >= 1; keep it safe */
            lo = (int64_t)floor(centre);
            if (lo >= in) lo = in - 1;
            hi = lo + 1;
            w[0] = 1.0f;
            sum = 1.0;
        }
        for (int64_t x = lo; x < hi; x++) w[x - lo] = (float)(w[x - lo] / sum);
        t->first[o] = lo;
        t->count[o] = (int32_t)(hi - lo);
    }
    return 0;
}

/* dst[r*dstride + o*step] = sum_k w * src[r*sstride + (first+k)*step] for rows r. */
static void pass(const float *src, float *dst, int64_t rows, int64_t in_stride_row, int64_t out_stride_row,
                 int64_t step, int64_t inner, const weights *t, int64_t out) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t in_i = 0; in_i < inner; in_i++) {
            const float *s = src + r * in_stride_row + in_i;
            float *d = dst + r * out_stride_row + in_i;
            for (int64_t o = 0; o < out; o++) {
                const float *w = t->w + o * t->k;
                double acc = 0.0;
                for (int32_t k = 0; k < t->count[o]; k++) acc += (double)w[k] * s[(t->first[o] + k) * step];
                d[o * step] = (float)acc;
            }
        }
}

static void copy_meta(ssl3d_image *dst, const ssl3d_image *src) {
    memcpy(dst->format, src->format, sizeof dst->format);
    memcpy(dst->datatype, src->datatype, sizeof dst->datatype);
    memcpy(dst->orient, src->orient, sizeof dst->orient);
    memcpy(dst->spacing, src->spacing, sizeof dst->spacing);
    dst->stored_ndim = src->stored_ndim;
    memcpy(dst->stored_dims, src->stored_dims, sizeof dst->stored_dims);
    memcpy(dst->stored_spacing, src->stored_spacing, sizeof dst->stored_spacing);
    dst->nonfinite = src->nonfinite;
}

ssl3d_status ssl3d_image_resize(ssl3d_ctx *ctx, const ssl3d_image *img, int64_t out_h, int64_t out_w,
                                ssl3d_image **out) {
    static const char *fn = "ssl3d_image_resize";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, img && out, "%s: %s is NULL", fn, img ? "out" : "img");
    SSL3D_CHECK_ARG(ctx, out_h >= 1 && out_w >= 1 && out_h <= 65535 && out_w <= 65535,
                    "%s: out_h and out_w must be 1..65535, got %lld x %lld", fn, (long long)out_h, (long long)out_w);
    ssl3d_image *res = NULL;
    SSL3D_CHECK(ssl3d_image_alloc(ctx, fn, img->c, img->d, out_h, out_w, &res));
    weights th = { 0 }, tw = { 0 };
    int64_t slices = img->c * img->d;
    float *mid = malloc((size_t)(slices * img->h * out_w) * sizeof(float));
    if (!mid || weights_make(img->h, out_h, &th) || weights_make(img->w, out_w, &tw)) {
        free(mid); weights_free(&th); weights_free(&tw); ssl3d_image_release(res);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    /* Along W: rows are (slice, y), elements contiguous. */
    pass(img->data, mid, slices * img->h, img->w, out_w, 1, 1, &tw, out_w);
    /* Along H: per slice, step = out_w, `inner` runs over x. */
    pass(mid, res->data, slices, img->h * out_w, out_h * out_w, out_w, out_w, &th, out_h);
    free(mid);
    weights_free(&th);
    weights_free(&tw);
    copy_meta(res, img);
    res->spacing[1] = img->spacing[1] * (double)img->h / (double)out_h;
    res->spacing[2] = img->spacing[2] * (double)img->w / (double)out_w;
    if (img->path && !(res->path = strdup(img->path))) {
        ssl3d_image_release(res);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    ssl3d_image_finish_values(ctx, res, fn, SSL3D_IMAGE_NONFINITE_TO_ZERO);
    res->nonfinite = img->nonfinite;
    *out = res;
    return SSL3D_OK;
}

ssl3d_status ssl3d_image_center_crop(ssl3d_ctx *ctx, const ssl3d_image *img, int64_t out_h, int64_t out_w,
                                     ssl3d_image **out) {
    static const char *fn = "ssl3d_image_center_crop";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, img && out, "%s: %s is NULL", fn, img ? "out" : "img");
    SSL3D_CHECK_ARG(ctx, out_h >= 1 && out_w >= 1 && out_h <= img->h && out_w <= img->w,
                    "%s: crop %lld x %lld must be within 1..%lld x 1..%lld", fn, (long long)out_h, (long long)out_w,
                    (long long)img->h, (long long)img->w);
    ssl3d_image *res = NULL;
    SSL3D_CHECK(ssl3d_image_alloc(ctx, fn, img->c, img->d, out_h, out_w, &res));
    int64_t y0 = (img->h - out_h) / 2, x0 = (img->w - out_w) / 2, slices = img->c * img->d;
    for (int64_t s = 0; s < slices; s++)
        for (int64_t y = 0; y < out_h; y++)
            memcpy(res->data + (s * out_h + y) * out_w, img->data + (s * img->h + y0 + y) * img->w + x0,
                   (size_t)out_w * sizeof(float));
    copy_meta(res, img);
    if (img->path && !(res->path = strdup(img->path))) {
        ssl3d_image_release(res);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    ssl3d_image_finish_values(ctx, res, fn, SSL3D_IMAGE_NONFINITE_TO_ZERO);
    res->nonfinite = img->nonfinite;
    *out = res;
    return SSL3D_OK;
}
