/* The in-memory image handle: allocation, getters, tensor conversion, alignment checks,
 * the format dispatch of ssl3d_image_read and channel stacking. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "image_internal.h"

/* ------------------------------------------------------------ file helpers */

int ssl3d_io_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

ssl3d_status ssl3d_io_check_readable(ssl3d_ctx *ctx, const char *fn, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: %s", fn, path,
                               errno == ENOENT ? "no such file" : strerror(errno));
    if (S_ISDIR(st.st_mode))
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: is a directory, not a file", fn, path);
    if (access(path, R_OK) != 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: not readable (%s)", fn, path, strerror(errno));
    return SSL3D_OK;
}

ssl3d_status ssl3d_io_read_file(ssl3d_ctx *ctx, const char *fn, const char *path, size_t max_bytes,
                                unsigned char **buf, size_t *len) {
    SSL3D_CHECK(ssl3d_io_check_readable(ctx, fn, path));
    FILE *f = fopen(path, "rb");
    if (!f) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot open (%s)", fn, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fclose(f);
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot stat", fn, path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: file is too large (%lld bytes, limit %zu)",
                               fn, path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n + 1);
    if (!b) { fclose(f); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: %s: out of memory", fn, path); }
    size_t got = fread(b, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(b);
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: read error", fn, path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return SSL3D_OK;
}

int ssl3d_io_mktemp(const char *path, char *tmp, size_t cap) {
    int n = snprintf(tmp, cap, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= cap) return -1;
    return mkstemp(tmp);
}

/* ------------------------------------------------------------ handle */

ssl3d_status ssl3d_image_alloc(ssl3d_ctx *ctx, const char *what, int64_t c, int64_t d, int64_t h,
                               int64_t w, ssl3d_image **out) {
    int64_t n = 1;
    int64_t dims[4] = { c, d, h, w };
    for (int i = 0; i < 4; i++) {
        if (dims[i] < 1) return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: dimension %lld < 1", what, (long long)dims[i]);
        if (n > (INT64_MAX / 8) / dims[i])
            return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: voxel count overflows", what);
        n *= dims[i];
    }
    if ((uint64_t)n > (uint64_t)SIZE_MAX / sizeof(float))
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: %lld voxels do not fit in memory", what, (long long)n);
    ssl3d_image *img = calloc(1, sizeof *img);
    float *data = img ? calloc((size_t)n, sizeof(float)) : NULL;
    if (!img || !data) {
        free(img);
        free(data);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory for %lld voxels", what, (long long)n);
    }
    img->data = data;
    img->c = c; img->d = d; img->h = h; img->w = w;
    img->spacing[0] = img->spacing[1] = img->spacing[2] = 1.0;
    for (int i = 0; i < 4; i++) img->affine[i * 4 + i] = 1.0;
    *out = img;
    return SSL3D_OK;
}

void ssl3d_image_release(ssl3d_image *img) {
    if (!img) return;
    ssl3d_nifti_geom_free(img->geom);
    free(img->path);
    free(img->data);
    free(img);
}

ssl3d_status ssl3d_image_finish_values(ssl3d_ctx *ctx, ssl3d_image *img, const char *fn, uint32_t flags) {
    int64_t n = img->c * img->d * img->h * img->w, bad = 0;
    float *v = img->data;
    for (int64_t i = 0; i < n; i++) bad += !isfinite(v[i]);
    if (bad && !(flags & SSL3D_IMAGE_NONFINITE_TO_ZERO))
        return ssl3d_set_error(ctx, SSL3D_ERR_NUMERIC,
                               "%s: %s: %lld of %lld voxels are NaN or Inf (pass SSL3D_IMAGE_NONFINITE_TO_ZERO "
                               "to replace them by 0)", fn, img->path ? img->path : "", (long long)bad, (long long)n);
    if (bad)
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(v[i])) v[i] = 0.0f;
    img->nonfinite = bad;
    float lo = v[0], hi = v[0];
    for (int64_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    img->vmin = lo;
    img->vmax = hi;
    return SSL3D_OK;
}

/* ------------------------------------------------------------ reading */

static int is_png_name(const char *p) { return ssl3d_io_ends_with(p, ".png"); }
static int is_nifti_name(const char *p) {
    static const char *ext[] = { ".nii", ".nii.gz", ".hdr", ".hdr.gz", ".img", ".img.gz" };
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (ssl3d_io_ends_with(p, ext[i])) return 1;
    return 0;
}

ssl3d_status ssl3d_image_read(ssl3d_ctx *ctx, const char *path, uint32_t flags, ssl3d_image **out) {
    static const char *fn = "ssl3d_image_read";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, path && out, "%s: %s is NULL", fn, path ? "out" : "path");
    SSL3D_CHECK_ARG(ctx, (flags & ~(uint32_t)SSL3D_IMAGE_NONFINITE_TO_ZERO) == 0, "%s: unknown flags 0x%x",
                    fn, (unsigned)flags);
    if (is_png_name(path)) return ssl3d_io_png_read(ctx, fn, path, out);
    if (is_nifti_name(path)) return ssl3d_io_nifti_read(ctx, fn, path, flags, out);
    /* Unknown extension: sniff the PNG signature; nifti_clib needs a NIfTI name. */
    SSL3D_CHECK(ssl3d_io_check_readable(ctx, fn, path));
    unsigned char sig[8] = { 0 };
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(sig, 1, 8, f) : 0;
    if (f) fclose(f);
    if (got == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8)) return ssl3d_io_png_read(ctx, fn, path, out);
    return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                           "%s: %s: unknown image format (expected .nii, .nii.gz, .hdr/.img or .png)", fn, path);
}

static int affine_close(const double *a, const double *b) {
    for (int i = 0; i < 16; i++)
        if (!(fabs(a[i] - b[i]) <= 1e-3 * (1.0 + fabs(a[i])))) return 0;
    return 1;
}

static ssl3d_status check_aligned(ssl3d_ctx *ctx, const char *fn, const ssl3d_image *a, const ssl3d_image *b) {
    const char *pa = a->path ? a->path : "", *pb = b->path ? b->path : "";
    if (a->d != b->d || a->h != b->h || a->w != b->w)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE,
                               "%s: %s has shape (D,H,W) = (%lld,%lld,%lld) but %s has (%lld,%lld,%lld)", fn, pb,
                               (long long)b->d, (long long)b->h, (long long)b->w, pa, (long long)a->d,
                               (long long)a->h, (long long)a->w);
    if (!affine_close(a->affine, b->affine))
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE,
                               "%s: %s has a different geometry (orientation, spacing or origin) than %s", fn, pb, pa);
    return SSL3D_OK;
}

ssl3d_status ssl3d_image_check_aligned(ssl3d_ctx *ctx, const ssl3d_image *a, const ssl3d_image *b) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, a && b, "ssl3d_image_check_aligned: %s is NULL", a ? "b" : "a");
    return check_aligned(ctx, "ssl3d_image_check_aligned", a, b);
}

ssl3d_status ssl3d_image_read_channels(ssl3d_ctx *ctx, const char *const *paths, int32_t n, uint32_t flags,
                                       ssl3d_image **out) {
    static const char *fn = "ssl3d_image_read_channels";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, paths && out, "%s: %s is NULL", fn, paths ? "out" : "paths");
    SSL3D_CHECK_ARG(ctx, n >= 1 && n <= 4096, "%s: n must be 1..4096, got %d", fn, (int)n);
    for (int32_t i = 0; i < n; i++) SSL3D_CHECK_ARG(ctx, paths[i], "%s: paths[%d] is NULL", fn, (int)i);
    ssl3d_image **parts = calloc((size_t)n, sizeof *parts);
    if (!parts) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    ssl3d_status st = SSL3D_OK;
    int64_t channels = 0;
    for (int32_t i = 0; i < n && st == SSL3D_OK; i++) {
        st = ssl3d_image_read(ctx, paths[i], flags, &parts[i]);
        if (st == SSL3D_OK && i > 0) st = check_aligned(ctx, fn, parts[0], parts[i]);
        if (st == SSL3D_OK) channels += parts[i]->c;
    }
    ssl3d_image *img = NULL;
    if (st == SSL3D_OK) {
        const ssl3d_image *p0 = parts[0];
        st = ssl3d_image_alloc(ctx, paths[0], channels, p0->d, p0->h, p0->w, &img);
    }
    if (st == SSL3D_OK) {
        ssl3d_image *p0 = parts[0];
        int64_t vol = p0->d * p0->h * p0->w, at = 0;
        for (int32_t i = 0; i < n; i++) {
            memcpy(img->data + at, parts[i]->data, (size_t)(parts[i]->c * vol) * sizeof(float));
            at += parts[i]->c * vol;
            img->nonfinite += parts[i]->nonfinite;
            img->vmin = (i == 0 || parts[i]->vmin < img->vmin) ? parts[i]->vmin : img->vmin;
            img->vmax = (i == 0 || parts[i]->vmax > img->vmax) ? parts[i]->vmax : img->vmax;
        }
        /* The first file describes the stack: path, format, datatype and geometry. */
        img->path = p0->path; p0->path = NULL;
        img->geom = p0->geom; p0->geom = NULL;
        memcpy(img->format, p0->format, sizeof img->format);
        memcpy(img->datatype, p0->datatype, sizeof img->datatype);
        memcpy(img->orient, p0->orient, sizeof img->orient);
        memcpy(img->spacing, p0->spacing, sizeof img->spacing);
        memcpy(img->affine, p0->affine, sizeof img->affine);
        img->stored_ndim = p0->stored_ndim;
        memcpy(img->stored_dims, p0->stored_dims, sizeof img->stored_dims);
        memcpy(img->stored_spacing, p0->stored_spacing, sizeof img->stored_spacing);
    }
    for (int32_t i = 0; i < n; i++) ssl3d_image_release(parts[i]);
    free(parts);
    if (st == SSL3D_OK) *out = img;
    return st;
}

/* ------------------------------------------------------------ getters */

#define IMG_ARG(fn) do { SSL3D_CHECK_CTX(ctx); SSL3D_CHECK_ARG(ctx, img, "%s: img is NULL", fn); } while (0)

ssl3d_status ssl3d_image_dims(ssl3d_ctx *ctx, const ssl3d_image *img, int64_t dims[4]) {
    IMG_ARG("ssl3d_image_dims");
    SSL3D_CHECK_ARG(ctx, dims, "ssl3d_image_dims: dims is NULL");
    dims[0] = img->c; dims[1] = img->d; dims[2] = img->h; dims[3] = img->w;
    return SSL3D_OK;
}

ssl3d_status ssl3d_image_spacing(ssl3d_ctx *ctx, const ssl3d_image *img, double spacing[3]) {
    IMG_ARG("ssl3d_image_spacing");
    SSL3D_CHECK_ARG(ctx, spacing, "ssl3d_image_spacing: spacing is NULL");
    memcpy(spacing, img->spacing, sizeof img->spacing);
    return SSL3D_OK;
}

ssl3d_status ssl3d_image_affine(ssl3d_ctx *ctx, const ssl3d_image *img, double affine[16]) {
    IMG_ARG("ssl3d_image_affine");
    SSL3D_CHECK_ARG(ctx, affine, "ssl3d_image_affine: affine is NULL");
    memcpy(affine, img->affine, sizeof img->affine);
    return SSL3D_OK;
}

int32_t ssl3d_image_stored_ndim(const ssl3d_image *img) { return img ? img->stored_ndim : 0; }

ssl3d_status ssl3d_image_stored_dims(ssl3d_ctx *ctx, const ssl3d_image *img, int64_t *dims, int32_t cap) {
    IMG_ARG("ssl3d_image_stored_dims");
    SSL3D_CHECK_ARG(ctx, dims && cap >= img->stored_ndim, "ssl3d_image_stored_dims: dims is NULL or cap %d < %d",
                    (int)cap, (int)img->stored_ndim);
    memcpy(dims, img->stored_dims, (size_t)img->stored_ndim * sizeof *dims);
    return SSL3D_OK;
}

ssl3d_status ssl3d_image_stored_spacing(ssl3d_ctx *ctx, const ssl3d_image *img, double *spacing, int32_t cap) {
    IMG_ARG("ssl3d_image_stored_spacing");
    SSL3D_CHECK_ARG(ctx, spacing && cap >= img->stored_ndim,
                    "ssl3d_image_stored_spacing: spacing is NULL or cap %d < %d", (int)cap, (int)img->stored_ndim);
    memcpy(spacing, img->stored_spacing, (size_t)img->stored_ndim * sizeof *spacing);
    return SSL3D_OK;
}

const char *ssl3d_image_datatype(const ssl3d_image *img) { return img ? img->datatype : ""; }
const char *ssl3d_image_format(const ssl3d_image *img) { return img ? img->format : ""; }
const char *ssl3d_image_orientation(const ssl3d_image *img) { return img ? img->orient : ""; }
const char *ssl3d_image_path(const ssl3d_image *img) { return img && img->path ? img->path : ""; }
int64_t ssl3d_image_nonfinite_count(const ssl3d_image *img) { return img ? img->nonfinite : 0; }
const float *ssl3d_image_data(const ssl3d_image *img) { return img ? img->data : NULL; }

ssl3d_status ssl3d_image_range(ssl3d_ctx *ctx, const ssl3d_image *img, double *min, double *max) {
    IMG_ARG("ssl3d_image_range");
    SSL3D_CHECK_ARG(ctx, min && max, "ssl3d_image_range: %s is NULL", min ? "max" : "min");
    *min = img->vmin;
    *max = img->vmax;
    return SSL3D_OK;
}

/* ------------------------------------------------------------ tensors */

ssl3d_status ssl3d_image_to_tensor(ssl3d_ctx *ctx, const ssl3d_image *img, int32_t dims, ssl3d_tensor **out) {
    static const char *fn = "ssl3d_image_to_tensor";
    IMG_ARG(fn);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, dims == 2 || dims == 3, "%s: dims must be 2 or 3, got %d", fn, (int)dims);
    ssl3d_tensor *t;
    if (dims == 3) {
        int64_t shape[5] = { 1, img->c, img->d, img->h, img->w };
        SSL3D_CHECK(ssl3d_tensor_from_data(ctx, SSL3D_F32, 5, shape, img->data, &t));
    } else {
        /* (C,D,H,W) -> (D,C,H,W): every slice becomes a batch item. */
        int64_t shape[4] = { img->d, img->c, img->h, img->w }, plane = img->h * img->w;
        float *tmp = malloc((size_t)(img->c * img->d * plane) * sizeof(float));
        if (!tmp) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        for (int64_t c = 0; c < img->c; c++)
            for (int64_t d = 0; d < img->d; d++)
                memcpy(tmp + (d * img->c + c) * plane, img->data + (c * img->d + d) * plane,
                       (size_t)plane * sizeof(float));
        ssl3d_status st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 4, shape, tmp, &t);
        free(tmp);
        SSL3D_CHECK(st);
    }
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_image_to_label_tensor(ssl3d_ctx *ctx, const ssl3d_image *img, int32_t dims, ssl3d_tensor **out) {
    static const char *fn = "ssl3d_image_to_label_tensor";
    IMG_ARG(fn);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, dims == 2 || dims == 3, "%s: dims must be 2 or 3, got %d", fn, (int)dims);
    if (img->c != 1)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: %s: a label map needs 1 channel, got %lld", fn,
                               ssl3d_image_path(img), (long long)img->c);
    int64_t n = img->d * img->h * img->w;
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    if (!lab) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    for (int64_t i = 0; i < n; i++) {
        float v = img->data[i];
        if (!(v == floorf(v) && v >= -2147483648.0f && v < 2147483648.0f)) {
            int64_t w = i % img->w, h = (i / img->w) % img->h, d = i / (img->w * img->h);
            free(lab);
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                                   "%s: %s: label value %g at voxel (d,h,w) = (%lld,%lld,%lld) is not an integer",
                                   fn, ssl3d_image_path(img), (double)v, (long long)d, (long long)h, (long long)w);
        }
        lab[i] = (int32_t)v;
    }
    ssl3d_tensor *t;
    ssl3d_status st;
    if (dims == 3) {
        int64_t shape[4] = { 1, img->d, img->h, img->w };
        st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 4, shape, lab, &t);
    } else {
        int64_t shape[3] = { img->d, img->h, img->w };
        st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 3, shape, lab, &t);
    }
    free(lab);
    SSL3D_CHECK(st);
    *out = t;
    return SSL3D_OK;
}
