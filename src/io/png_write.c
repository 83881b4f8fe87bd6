/* PNG writer on libpng: float images in [0,1] as 8/16-bit grey/RGB/RGBA, int32 label
 * maps as 8-bit grey. Written to a temporary file and renamed. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "image_internal.h"

typedef struct {
    char msg[200];
    FILE *f;
    png_structp png;
    png_infop info;
} wjob;

static void wjob_error(png_structp png, png_const_charp msg) {
    wjob *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}
static void wjob_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int encode(wjob *job, png_bytep *rows, uint32_t w, uint32_t h, int depth, int color) {
    if (setjmp(png_jmpbuf(job->png))) return -1;
    png_init_io(job->png, job->f);
    png_set_IHDR(job->png, job->info, w, h, depth, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(job->png, job->info);
    png_write_image(job->png, rows);
    png_write_end(job->png, NULL);
    return 0;
}

ssl3d_status ssl3d_png_write(ssl3d_ctx *ctx, const char *path, const ssl3d_tensor *t, int32_t bit_depth) {
    static const char *fn = "ssl3d_png_write";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, path && t, "%s: %s is NULL", fn, path ? "t" : "path");
    SSL3D_CHECK_ARG(ctx, t->ctx == ctx, "%s: t belongs to another context", fn);
    char sbuf[96];
    int64_t c = 1, h, w;
    int is_int = t->dtype == SSL3D_I32;
    const int64_t *s = t->shape;
    if (is_int) {
        if (t->ndim == 2) { h = s[0]; w = s[1]; }
        else if (t->ndim == 3 && s[0] == 1) { h = s[1]; w = s[2]; }
        else if (t->ndim == 4 && s[0] == 1 && s[1] == 1) { h = s[2]; w = s[3]; }
        else return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: an int32 label map must be (H,W), (1,H,W) or "
                                    "(1,1,H,W), got %s", fn, ssl3d_shape_str(t, sbuf, sizeof sbuf));
        SSL3D_CHECK_ARG(ctx, bit_depth == 8, "%s: label maps are written with bit_depth 8, got %d", fn, (int)bit_depth);
    } else {
        if (t->ndim == 3) { c = s[0]; h = s[1]; w = s[2]; }
        else if (t->ndim == 4 && s[0] == 1) { c = s[1]; h = s[2]; w = s[3]; }
        else return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: t must be (C,H,W) or (1,C,H,W), got %s", fn,
                                    ssl3d_shape_str(t, sbuf, sizeof sbuf));
        if (c != 1 && c != 3 && c != 4)
            return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: C must be 1, 3 or 4, got %lld", fn, (long long)c);
        SSL3D_CHECK_ARG(ctx, bit_depth == 8 || bit_depth == 16, "%s: bit_depth must be 8 or 16, got %d", fn,
                        (int)bit_depth);
    }
    if (h > 65535 || w > 65535)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: %lldx%lld is too large for PNG here", fn, (long long)h,
                               (long long)w);
    size_t plane = (size_t)(h * w), bpc = (size_t)bit_depth / 8;
    void *vals = malloc(plane * (size_t)c * 4);
    unsigned char *pix = malloc(plane * (size_t)c * bpc);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    ssl3d_status st = SSL3D_OK;
    if (!vals || !pix || !rows) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
    st = ssl3d_tensor_read(ctx, t, vals, t->numel * 4);
    if (st != SSL3D_OK) goto done;
    double maxv = bit_depth == 16 ? 65535.0 : 255.0;
    for (size_t p = 0; p < plane && st == SSL3D_OK; p++)
        for (int64_t ch = 0; ch < c; ch++) {
            unsigned v;
            if (is_int) {
                int32_t iv = ((const int32_t *)vals)[p];
                if (iv < 0 || iv > 255) {
                    st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s: label %d does not fit 8 bits", fn,
                                         path, (int)iv);
                    break;
                }
                v = (unsigned)iv;
            } else {
                double f = ((const float *)vals)[(size_t)ch * plane + p];
                f = isfinite(f) ? (f < 0 ? 0 : f > 1 ? 1 : f) : 0;
                v = (unsigned)lround(f * maxv);
            }
            size_t at = (p * (size_t)c + (size_t)ch) * bpc;
            if (bpc == 2) { pix[at] = (unsigned char)(v >> 8); pix[at + 1] = (unsigned char)(v & 255); }
            else pix[at] = (unsigned char)v;
        }
    if (st != SSL3D_OK) goto done;
    for (int64_t y = 0; y < h; y++) rows[y] = pix + (size_t)y * (size_t)w * (size_t)c * bpc;
    int color = c == 1 ? PNG_COLOR_TYPE_GRAY : c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA;

    char tmp[4096];
    int fd = ssl3d_io_mktemp(path, tmp, sizeof tmp);
    if (fd < 0) { st = ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot create (%s)", fn, path, strerror(errno)); goto done; }
    wjob job;
    memset(&job, 0, sizeof job);
    job.f = fdopen(fd, "wb");
    if (!job.f) close(fd);
    job.png = job.f ? png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, wjob_error, wjob_warning) : NULL;
    job.info = job.png ? png_create_info_struct(job.png) : NULL;
    int ok = job.info && encode(&job, rows, (uint32_t)w, (uint32_t)h, bit_depth, color) == 0;
    if (job.png) png_destroy_write_struct(&job.png, job.info ? &job.info : NULL);
    if (job.f && fclose(job.f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        unlink(tmp);
        st = ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: write failed (%s)", fn, path,
                             job.msg[0] ? job.msg : strerror(errno));
    }
done:
    free(vals);
    free(pix);
    free(rows);
    return st;
}
