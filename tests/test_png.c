/* PNG reading (colour types, bit depths, palette, alpha), writing, resize and crop, and
 * broken files (bad CRC, absurd dimensions, truncation). */
#include <math.h>
#include <png.h>
#include <string.h>
#include <zlib.h>
#include "harness.h"
#include "test_nifti_util.h"

/* Write a PNG with libpng from packed rows (bit_depth < 8 packs several pixels per byte). */
static int tp_write(const char *path, uint32_t w, uint32_t h, int color, int depth, const unsigned char *pix,
                    const png_color *palette, int npal, const unsigned char *trns, int ntrns) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) { png_destroy_write_struct(&png, &info); fclose(f); return -1; }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    int ch = color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_PALETTE ? 1
           : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : color == PNG_COLOR_TYPE_RGB ? 3 : 4;
    size_t rowbytes = ((size_t)w * ch * depth + 7) / 8;
    for (uint32_t y = 0; y < h; y++) png_write_row(png, (png_bytep)(pix + y * rowbytes));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

static ssl3d_image *read_ok(ssl3d_ctx *ctx, const char *p, int64_t c, int64_t h, int64_t w) {
    ssl3d_image *img = NULL;
    if (ssl3d_image_read(ctx, p, 0, &img) != SSL3D_OK) {
        th_fail(__FILE__, __LINE__, "read %s: %s", p, ssl3d_ctx_last_error(ctx));
        return NULL;
    }
    int64_t d[4];
    ssl3d_image_dims(ctx, img, d);
    if (d[0] != c || d[1] != 1 || d[2] != h || d[3] != w)
        th_fail(__FILE__, __LINE__, "%s: dims (%lld,%lld,%lld,%lld)", p, (long long)d[0], (long long)d[1],
                (long long)d[2], (long long)d[3]);
    return img;
}

TEST(png_reads_grey_and_colour_8_and_16_bit) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const uint32_t W = 3, H = 2;
    unsigned char pix[3 * 2 * 8];
    for (size_t i = 0; i < sizeof pix; i++) pix[i] = (unsigned char)(i * 11);
    struct { int color, depth, ch_file, ch_out; const char *dtype; } cases[] = {
        { PNG_COLOR_TYPE_GRAY, 8, 1, 1, "uint8" },       { PNG_COLOR_TYPE_GRAY, 16, 1, 1, "uint16" },
        { PNG_COLOR_TYPE_GRAY_ALPHA, 8, 2, 1, "uint8" }, { PNG_COLOR_TYPE_GRAY_ALPHA, 16, 2, 1, "uint16" },
        { PNG_COLOR_TYPE_RGB, 8, 3, 3, "uint8" },        { PNG_COLOR_TYPE_RGB, 16, 3, 3, "uint16" },
        { PNG_COLOR_TYPE_RGB_ALPHA, 8, 4, 3, "uint8" },  { PNG_COLOR_TYPE_RGB_ALPHA, 16, 4, 3, "uint16" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "c%d_%d.png", cases[k].color, cases[k].depth);
        const char *p = tn_path(th_tmpdir(), name);
        REQUIRE(tp_write(p, W, H, cases[k].color, cases[k].depth, pix, NULL, 0, NULL, 0) == 0);
        ssl3d_image *img = read_ok(ctx, p, cases[k].ch_out, H, W);
        REQUIRE(img);
        CHECK(!strcmp(ssl3d_image_datatype(img), cases[k].dtype));
        CHECK(!strcmp(ssl3d_image_format(img), "png"));
        const float *v = ssl3d_image_data(img);
        int bad = 0, bps = cases[k].depth / 8;
        for (uint32_t p_ = 0; p_ < W * H; p_++)
            for (int c = 0; c < cases[k].ch_out; c++) {
                size_t at = ((size_t)p_ * cases[k].ch_file + c) * bps;
                double want = bps == 2 ? (pix[at] * 256.0 + pix[at + 1]) / 65535.0 : pix[at] / 255.0;
                bad += fabs(v[c * W * H + p_] - want) > 1e-6;
            }
        CHECK_MSG(bad == 0, "%s: %d wrong values", name, bad);
        int64_t sd[2];
        CHECK_OK(ctx, ssl3d_image_stored_dims(ctx, img, sd, 2));
        CHECK(sd[0] == W && sd[1] == H);
        ssl3d_image_release(img);
    }
    ssl3d_ctx_release(ctx);
}

TEST(png_reads_low_bit_grey_and_palette) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* 1-bit grey, 8 pixels in one byte: 10110000 */
    unsigned char one[1] = { 0xB0 };
    const char *p = tn_path(th_tmpdir(), "g1.png");
    REQUIRE(tp_write(p, 8, 1, PNG_COLOR_TYPE_GRAY, 1, one, NULL, 0, NULL, 0) == 0);
    ssl3d_image *img = read_ok(ctx, p, 1, 1, 8);
    REQUIRE(img);
    const float want1[8] = { 1, 0, 1, 1, 0, 0, 0, 0 };
    for (int i = 0; i < 8; i++) CHECK_NEAR(ssl3d_image_data(img)[i], want1[i], 1e-6);
    ssl3d_image_release(img);
    /* 4-bit grey: 0x0F, 0x80 -> 0, 15, 8, 0 -> scaled by 255/15 */
    unsigned char four[2] = { 0x0F, 0x80 };
    p = tn_path(th_tmpdir(), "g4.png");
    REQUIRE(tp_write(p, 4, 1, PNG_COLOR_TYPE_GRAY, 4, four, NULL, 0, NULL, 0) == 0);
    img = read_ok(ctx, p, 1, 1, 4);
    REQUIRE(img);
    CHECK_NEAR(ssl3d_image_data(img)[1], 1.0, 1e-6);
    CHECK_NEAR(ssl3d_image_data(img)[2], 8 * 17 / 255.0, 1e-6);
    ssl3d_image_release(img);
    /* palette with transparency: RGB of the palette entries, alpha dropped */
    png_color pal[3] = { { 255, 0, 0 }, { 0, 128, 0 }, { 10, 20, 30 } };
    unsigned char trns[3] = { 255, 0, 128 };
    unsigned char idx[4] = { 0, 1, 2, 1 };
    p = tn_path(th_tmpdir(), "pal.png");
    REQUIRE(tp_write(p, 2, 2, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, 3, trns, 3) == 0);
    img = read_ok(ctx, p, 3, 2, 2);
    REQUIRE(img);
    const float *v = ssl3d_image_data(img);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(v[0 * 4 + i], pal[idx[i]].red / 255.0, 1e-6);
        CHECK_NEAR(v[1 * 4 + i], pal[idx[i]].green / 255.0, 1e-6);
        CHECK_NEAR(v[2 * 4 + i], pal[idx[i]].blue / 255.0, 1e-6);
    }
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_tensor(ctx, img, 2, &t));
    CHECK(ssl3d_tensor_ndim(t) == 4 && ssl3d_tensor_dim(t, 0) == 1 && ssl3d_tensor_dim(t, 1) == 3);
    ssl3d_tensor_release(t);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(png_write_round_trips) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t shape[3] = { 3, 4, 5 };
    float v[60];
    for (int i = 0; i < 60; i++) v[i] = (float)(i % 11) / 10.0f;
    ssl3d_tensor *t = th_tensor(ctx, 3, shape, v);
    REQUIRE(t);
    for (int depth = 8; depth <= 16; depth += 8) {
        const char *p = tn_path(th_tmpdir(), depth == 8 ? "w8.png" : "w16.png");
        REQUIRE_OK(ctx, ssl3d_png_write(ctx, p, t, depth));
        ssl3d_image *img = read_ok(ctx, p, 3, 4, 5);
        REQUIRE(img);
        for (int i = 0; i < 60; i++) CHECK_NEAR(ssl3d_image_data(img)[i], v[i], (depth == 8 ? 0.5 / 255 : 0.5 / 65535) + 1e-6);
        ssl3d_image_release(img);
    }
    /* int32 label map as 8-bit grey */
    int64_t ls[2] = { 2, 3 };
    int32_t lab[6] = { 0, 1, 2, 3, 4, 255 };
    ssl3d_tensor *lt = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, ls, lab, &lt));
    const char *p = tn_path(th_tmpdir(), "lab.png");
    REQUIRE_OK(ctx, ssl3d_png_write(ctx, p, lt, 8));
    ssl3d_image *img = read_ok(ctx, p, 1, 2, 3);
    REQUIRE(img);
    for (int i = 0; i < 6; i++) CHECK_NEAR(ssl3d_image_data(img)[i] * 255.0, lab[i], 1e-3);
    ssl3d_image_release(img);
    lab[0] = 256;
    ssl3d_tensor_release(lt);
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, ls, lab, &lt));
    CHECK_ST(ctx, ssl3d_png_write(ctx, p, lt, 8), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_png_write(ctx, p, t, 12), SSL3D_ERR_INVALID_ARG);
    int64_t bad_shape[3] = { 2, 2, 2 };
    ssl3d_tensor *t2 = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 3, bad_shape, &t2));
    CHECK_ST(ctx, ssl3d_png_write(ctx, p, t2, 8), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_png_write(ctx, "/nonexistent-dir/a.png", t, 8), SSL3D_ERR_IO);
    ssl3d_tensor_release(t2);
    ssl3d_tensor_release(lt);
    ssl3d_tensor_release(t);
    ssl3d_ctx_release(ctx);
}

/* A single-channel image from values, via a 16-bit PNG would quantise: build it from a
 * float NIfTI slice instead (D = 1). */
static ssl3d_image *row_image(ssl3d_ctx *ctx, const char *name, int64_t h, int64_t w, const float *v) {
    const char *p = tn_path(th_tmpdir(), name);
    int64_t dims[4] = { 3, w, h, 1 };
    if (tn_write(p, 1, dims, DT_FLOAT32, v, &TN_PLAIN) != 0) return NULL;
    ssl3d_image *img = NULL;
    return ssl3d_image_read(ctx, p, 0, &img) == SSL3D_OK ? img : NULL;
}

TEST(image_resize_bilinear_and_antialiased) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    float two[2] = { 0, 1 };
    ssl3d_image *img = row_image(ctx, "two.nii", 1, 2, two), *r = NULL;
    REQUIRE(img);
    /* enlarging 2 -> 4: half-pixel centres at 0.25, 0.75, 1.25, 1.75 */
    REQUIRE_OK(ctx, ssl3d_image_resize(ctx, img, 1, 4, &r));
    const float up[4] = { 0, 0.25f, 0.75f, 1 };
    for (int i = 0; i < 4; i++) CHECK_NEAR(ssl3d_image_data(r)[i], up[i], 1e-6);
    double sp[3];
    ssl3d_image_spacing(ctx, r, sp);
    CHECK_NEAR(sp[2], 0.5, 1e-12);
    ssl3d_image_release(r);
    ssl3d_image_release(img);
    /* shrinking 4 -> 2: triangle support stretched to 2 pixels (hand-computed) */
    float four[4] = { 0, 1, 2, 3 };
    img = row_image(ctx, "four.nii", 1, 4, four);
    REQUIRE(img);
    REQUIRE_OK(ctx, ssl3d_image_resize(ctx, img, 1, 2, &r));
    CHECK_NEAR(ssl3d_image_data(r)[0], 1.25 / 1.75, 1e-6);
    CHECK_NEAR(ssl3d_image_data(r)[1], 4.0 / 1.75, 1e-6);
    ssl3d_image_release(r);
    /* same size is the identity */
    REQUIRE_OK(ctx, ssl3d_image_resize(ctx, img, 1, 4, &r));
    CHECK(!memcmp(ssl3d_image_data(r), four, sizeof four));
    ssl3d_image_release(r);
    ssl3d_image_release(img);
    /* antialiasing: a 1-pixel checkerboard shrunk 4x averages to 0.5 everywhere */
    float cb[16 * 16];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) cb[y * 16 + x] = (float)((x + y) % 2);
    img = row_image(ctx, "cb.nii", 16, 16, cb);
    REQUIRE(img);
    REQUIRE_OK(ctx, ssl3d_image_resize(ctx, img, 4, 4, &r));
    for (int i = 0; i < 16; i++) CHECK_NEAR(ssl3d_image_data(r)[i], 0.5, 0.05);
    /* a constant image stays constant in any resize */
    ssl3d_image_release(r);
    for (int i = 0; i < 256; i++) cb[i] = 0.7f;
    ssl3d_image_release(img);
    img = row_image(ctx, "const.nii", 16, 16, cb);
    REQUIRE(img);
    REQUIRE_OK(ctx, ssl3d_image_resize(ctx, img, 7, 23, &r));
    for (int i = 0; i < 7 * 23; i++) CHECK_NEAR(ssl3d_image_data(r)[i], 0.7, 1e-5);
    /* a resized image cannot be a NIfTI write reference */
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_tensor(ctx, r, 3, &t));
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, tn_path(th_tmpdir(), "o.nii"), t, r, SSL3D_NIFTI_FLOAT32),
             SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(t);
    ssl3d_image_release(r);
    CHECK_ST(ctx, ssl3d_image_resize(ctx, img, 0, 4, &r), SSL3D_ERR_INVALID_ARG);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(image_center_crop) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    float v[5 * 6];
    for (int i = 0; i < 30; i++) v[i] = (float)i;
    ssl3d_image *img = row_image(ctx, "crop.nii", 5, 6, v), *r = NULL;
    REQUIRE(img);
    REQUIRE_OK(ctx, ssl3d_image_center_crop(ctx, img, 3, 2, &r));
    int64_t d[4];
    ssl3d_image_dims(ctx, r, d);
    CHECK(d[2] == 3 && d[3] == 2);
    /* offsets (5-3)/2 = 1, (6-2)/2 = 2 */
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 2; x++) CHECK(ssl3d_image_data(r)[y * 2 + x] == v[(y + 1) * 6 + x + 2]);
    ssl3d_image_release(r);
    CHECK_ST(ctx, ssl3d_image_center_crop(ctx, img, 6, 2, &r), SSL3D_ERR_INVALID_ARG);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

/* Rewrite the IHDR of a PNG file with new dims and a correct CRC. */
static void set_ihdr_dims(const char *p, uint32_t w, uint32_t h) {
    unsigned char ihdr[17];
    FILE *f = fopen(p, "rb");
    fseek(f, 12, SEEK_SET);
    if (fread(ihdr, 1, 17, f) != 17) { fclose(f); return; }
    fclose(f);
    unsigned char be[8] = { w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h };
    memcpy(ihdr + 4, be, 8);
    uint32_t crc = (uint32_t)crc32(0, ihdr, 17);
    unsigned char cb[4] = { crc >> 24, crc >> 16, crc >> 8, crc };
    tn_patch(p, 12, ihdr, 17);
    tn_patch(p, 29, cb, 4);
}

static void png_expect_fail(ssl3d_ctx *ctx, const char *p, ssl3d_status want, const char *what, int line) {
    ssl3d_image *img = (ssl3d_image *)0x1;
    ssl3d_status st = ssl3d_image_read(ctx, p, 0, &img);
    const char *msg = ssl3d_ctx_last_error(ctx), *base = strrchr(p, '/') + 1;
    if (st != want) th_fail(__FILE__, line, "%s: got %s (%s)", base, ssl3d_status_string(st), msg);
    if (!strstr(msg, base)) th_fail(__FILE__, line, "message does not name %s: %s", base, msg);
    if (what && !strstr(msg, what)) th_fail(__FILE__, line, "message lacks '%s': %s", what, msg);
    if (img != (ssl3d_image *)0x1) th_fail(__FILE__, line, "out written on failure");
}

TEST(png_broken_files_are_rejected) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    unsigned char pix[64 * 64 * 3];
    for (size_t i = 0; i < sizeof pix; i++) pix[i] = (unsigned char)(i * 7 + (i >> 5));
    const char *names[] = { "crc_ihdr.png", "crc_idat.png", "wide.png", "many.png", "trunc.png", "notpng.png",
                            "zero.png" };
    const char *p[7];
    for (int k = 0; k < 7; k++) {
        p[k] = tn_path(th_tmpdir(), names[k]);
        REQUIRE(tp_write(p[k], 64, 64, PNG_COLOR_TYPE_RGB, 8, pix, NULL, 0, NULL, 0) == 0);
        p[k] = strdup(p[k]);
    }
    unsigned char x = 0xFF;
    tn_patch(p[0], 30, &x, 1);               /* IHDR CRC */
    png_expect_fail(ctx, p[0], SSL3D_ERR_FORMAT, "CRC", __LINE__);
    long n = tn_size(p[1]);
    tn_patch(p[1], n - 12 - 2, &x, 1);       /* last IDAT's CRC, before IEND */
    png_expect_fail(ctx, p[1], SSL3D_ERR_FORMAT, "CRC", __LINE__);
    set_ihdr_dims(p[2], 100000, 10);
    png_expect_fail(ctx, p[2], SSL3D_ERR_FORMAT, NULL, __LINE__);
    set_ihdr_dims(p[3], 30000, 30000);        /* 9e8 pixels */
    png_expect_fail(ctx, p[3], SSL3D_ERR_FORMAT, "absurd dimensions", __LINE__);
    tn_truncate(p[4], tn_size(p[4]) / 2);
    png_expect_fail(ctx, p[4], SSL3D_ERR_FORMAT, NULL, __LINE__);
    tn_patch(p[5], 1, "XYZ", 3);
    png_expect_fail(ctx, p[5], SSL3D_ERR_FORMAT, "not a PNG", __LINE__);
    set_ihdr_dims(p[6], 0, 10);
    png_expect_fail(ctx, p[6], SSL3D_ERR_FORMAT, NULL, __LINE__);
    png_expect_fail(ctx, tn_path(th_tmpdir(), "absent.png"), SSL3D_ERR_IO, "no such file", __LINE__);
    for (int k = 0; k < 7; k++) free((void *)p[k]);
    ssl3d_ctx_release(ctx);
}
