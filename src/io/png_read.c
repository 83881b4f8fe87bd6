/* PNG reader on libpng. The file is read into memory first (fundus PNGs are small) and
 * decoded from there; libpng errors longjmp back to one place, its messages go into the
 * context error, warnings are dropped, and nothing is printed. Every libpng-owned
 * resource is reachable from `job`, which lives outside the setjmp frame. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include "image_internal.h"

#define PNG_MAX_SIDE 65535u
#define PNG_MAX_PIXELS (1u << 28)
#define PNG_MAX_FILE ((size_t)1 << 30)

typedef struct {
    const unsigned char *buf;
    size_t len, pos;
    char msg[200];
    png_structp png;
    png_infop info;
    unsigned char *pixels;
    png_bytep *rows;
} png_job;

static void job_error(png_structp png, png_const_charp msg) {
    png_job *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void job_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void job_read(png_structp png, png_bytep data, png_size_t length) {
    png_job *job = png_get_io_ptr(png);
    if (length > job->len - job->pos) png_error(png, "file is truncated");
    memcpy(data, job->buf + job->pos, length);
    job->pos += length;
}

/* Decode into job->pixels; fills w, h, channels (after transforms), bit depth. Returns 0
 * on success, -1 with job->msg set. */
static int decode(png_job *job, png_uint_32 *w, png_uint_32 *h, int *ch, int *depth, int *ctype) {
    if (setjmp(png_jmpbuf(job->png))) return -1;
    png_set_read_fn(job->png, job, job_read);
    /* A bad CRC in any chunk, critical or ancillary, is an error. */
    png_set_crc_action(job->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_set_user_limits(job->png, 0x7fffffffu, 0x7fffffffu);
    png_read_info(job->png, job->info);
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(job->png, job->info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (width == 0 || height == 0 || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE ||
        (uint64_t)width * height > PNG_MAX_PIXELS) {
        snprintf(job->msg, sizeof job->msg, "absurd dimensions %ux%u (limits: sides <= %u, <= 2^28 pixels)",
                 (unsigned)width, (unsigned)height, PNG_MAX_SIDE);
        return -1;
    }
    *ctype = color_type;
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(job->png);
    png_set_interlace_handling(job->png);
    png_read_update_info(job->png, job->info);
    int channels = png_get_channels(job->png, job->info);
    int out_depth = png_get_bit_depth(job->png, job->info);
    size_t rowbytes = png_get_rowbytes(job->png, job->info);
    if (channels < 1 || channels > 4 || (out_depth != 8 && out_depth != 16) ||
        rowbytes != (size_t)width * (size_t)channels * (size_t)(out_depth / 8)) {
        snprintf(job->msg, sizeof job->msg, "unsupported pixel layout (%d channels, %d bits)", channels, out_depth);
        return -1;
    }
    job->pixels = malloc(rowbytes * height);
    job->rows = malloc(sizeof(png_bytep) * height);
    if (!job->pixels || !job->rows) {
        snprintf(job->msg, sizeof job->msg, "out of memory for %ux%u pixels", (unsigned)width, (unsigned)height);
        return -1;
    }
    for (png_uint_32 y = 0; y < height; y++) job->rows[y] = job->pixels + rowbytes * y;
    png_read_image(job->png, job->rows);
    png_read_end(job->png, NULL);
    *w = width; *h = height; *ch = channels; *depth = out_depth;
    return 0;
}

ssl3d_status ssl3d_io_png_read(ssl3d_ctx *ctx, const char *fn, const char *path, ssl3d_image **out) {
    unsigned char *buf = NULL;
    size_t len = 0;
    SSL3D_CHECK(ssl3d_io_read_file(ctx, fn, path, PNG_MAX_FILE, &buf, &len));
    if (len < 8 || png_sig_cmp(buf, 0, 8) != 0) {
        free(buf);
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: not a PNG file (bad signature)", fn, path);
    }
    png_job job;
    memset(&job, 0, sizeof job);
    job.buf = buf;
    job.len = len;
    ssl3d_status st = SSL3D_OK;
    job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, job_error, job_warning);
    job.info = job.png ? png_create_info_struct(job.png) : NULL;
    png_uint_32 w = 0, h = 0;
    int ch = 0, depth = 0, ctype = 0;
    if (!job.png || !job.info)
        st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: %s: cannot create libpng reader", fn, path);
    else if (decode(&job, &w, &h, &ch, &depth, &ctype) != 0)
        st = ssl3d_set_error(ctx, strstr(job.msg, "out of memory") ? SSL3D_ERR_NOMEM : SSL3D_ERR_FORMAT,
                             "%s: %s: %s", fn, path, job.msg);
    if (job.png) png_destroy_read_struct(&job.png, job.info ? &job.info : NULL, NULL);
    free(job.rows);
    free(buf);
    ssl3d_image *img = NULL;
    if (st == SSL3D_OK) {
        /* Alpha is dropped: grey+alpha -> 1 channel, RGBA -> 3. */
        int keep = ch >= 3 ? 3 : 1;
        st = ssl3d_image_alloc(ctx, path, keep, 1, h, w, &img);
        if (st == SSL3D_OK) {
            size_t plane = (size_t)w * h;
            float scale = depth == 16 ? 1.0f / 65535.0f : 1.0f / 255.0f;
            for (size_t p = 0; p < plane; p++)
                for (int c = 0; c < keep; c++) {
                    unsigned v = depth == 16
                        ? (unsigned)job.pixels[(p * ch + c) * 2] << 8 | job.pixels[(p * ch + c) * 2 + 1]
                        : job.pixels[p * ch + c];
                    img->data[c * plane + p] = (float)v * scale;
                }
            img->path = strdup(path);
            if (!img->path) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        }
    }
    free(job.pixels);
    if (st == SSL3D_OK) {
        snprintf(img->format, sizeof img->format, "png");
        snprintf(img->datatype, sizeof img->datatype, "%s", depth == 16 ? "uint16" : "uint8");
        img->stored_ndim = 2;
        img->stored_dims[0] = w;
        img->stored_dims[1] = h;
        img->stored_spacing[0] = img->stored_spacing[1] = 1.0;
        st = ssl3d_image_finish_values(ctx, img, fn, 0);
    }
    if (st != SSL3D_OK) { ssl3d_image_release(img); return st; }
    *out = img;
    return SSL3D_OK;
}
