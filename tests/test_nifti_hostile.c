/* Hostile and broken NIfTI files: each must give one clear error naming the file, no
 * crash, no leak, no partial image, and nothing printed by nifti_clib. */
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "harness.h"
#include "test_nifti_util.h"

/* A fresh uncompressed 4x3x2 float32 .nii (data at offset 352, 96 bytes). */
static const char *good_nii(const char *name) {
    const char *p = tn_path(th_tmpdir(), name);
    return tn_write_f32(p, 4, 3, 2, &TN_PLAIN) == 0 ? p : NULL;
}

/* Expect the read to fail with `want`, the message naming the file and containing `what`. */
static void expect_fail(ssl3d_ctx *ctx, const char *path, ssl3d_status want, const char *what, int line) {
    ssl3d_image *img = (ssl3d_image *)0x1;
    ssl3d_status st = ssl3d_image_read(ctx, path, 0, &img);
    const char *msg = ssl3d_ctx_last_error(ctx);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (st != want) th_fail(__FILE__, line, "%s: got %s, want %s (%s)", base, ssl3d_status_string(st),
                            ssl3d_status_string(want), msg);
    if (!strstr(msg, base)) th_fail(__FILE__, line, "message does not name %s: %s", base, msg);
    if (what && !strstr(msg, what)) th_fail(__FILE__, line, "message lacks '%s': %s", what, msg);
    if (img != (ssl3d_image *)0x1) th_fail(__FILE__, line, "out written on failure");
}
#define EXPECT_FAIL(ctx, p, st, what) expect_fail(ctx, p, st, what, __LINE__)

/* Run with stderr redirected to a file; the library must not print. */
static int stderr_fd = -1;
static char stderr_path[512];
static void capture_stderr(void) {
    snprintf(stderr_path, sizeof stderr_path, "%s/stderr.txt", th_tmpdir());
    fflush(stderr);
    stderr_fd = dup(2);
    int fd = open(stderr_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    dup2(fd, 2);
    close(fd);
}
static long release_stderr(void) {
    fflush(stderr);
    dup2(stderr_fd, 2);
    close(stderr_fd);
    long n = tn_size(stderr_path);
    if (n > 0) {   /* show what was printed */
        char buf[600] = { 0 };
        FILE *f = fopen(stderr_path, "rb");
        if (f) { size_t got = fread(buf, 1, sizeof buf - 1, f); buf[got] = 0; fclose(f); }
        fprintf(stderr, "    printed: %s\n", buf);
    }
    return n;
}

TEST(nifti_hostile_headers_are_rejected) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    capture_stderr();
    const char *p;
    /* missing file, directory */
    EXPECT_FAIL(ctx, tn_path(th_tmpdir(), "nothere.nii.gz"), SSL3D_ERR_IO, "no such file");
    EXPECT_FAIL(ctx, th_tmpdir(), SSL3D_ERR_IO, NULL);
    /* wrong magic */
    p = good_nii("magic.nii");
    REQUIRE(p);
    tn_patch(p, 344, "abc", 4);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "magic");
    /* wrong sizeof_hdr */
    p = good_nii("sizeof.nii");
    int32_t sz = 347;
    tn_patch(p, 0, &sz, 4);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "sizeof_hdr");
    /* zero and negative dims, dim[0] out of range */
    int16_t v16;
    p = good_nii("zerodim.nii");
    v16 = 0;
    tn_patch(p, 40 + 2 * 2, &v16, 2);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "dim[2] is 0");
    p = good_nii("negdim.nii");
    v16 = -5;
    tn_patch(p, 40 + 2 * 3, &v16, 2);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "dim[3] is -5");
    p = good_nii("ndim.nii");
    v16 = 9;
    tn_patch(p, 40, &v16, 2);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "dim[0]");
    /* dims product overflow: 7 dims of 32767 */
    p = good_nii("overflow.nii");
    int16_t big[8] = { 7, 32767, 32767, 32767, 32767, 32767, 32767, 32767 };
    tn_patch(p, 40, big, sizeof big);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "overflow");
    /* huge but not overflowing dims: data far shorter than claimed, refused before allocating */
    p = good_nii("huge.nii");
    int16_t huge[4] = { 3, 3000, 3000, 3000 };
    tn_patch(p, 40, huge, sizeof huge);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "shorter");
    /* unknown and unsupported datatypes */
    p = good_nii("dtype.nii");
    v16 = 999;
    tn_patch(p, 70, &v16, 2);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "unknown datatype code 999");
    p = good_nii("complex.nii");
    v16 = DT_COMPLEX64;
    tn_patch(p, 70, &v16, 2);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "complex64");
    /* vox_offset inside the header */
    p = good_nii("voxoff.nii");
    float off = 100.0f;
    tn_patch(p, 108, &off, 4);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "vox_offset");
    /* truncated header, empty file */
    p = good_nii("shorthdr.nii");
    tn_truncate(p, 200);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "truncated header");
    p = good_nii("empty.nii");
    tn_truncate(p, 0);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "too short");
    /* unknown extension */
    p = good_nii("thing.nii");
    REQUIRE(p);
    const char *dat = tn_path(th_tmpdir(), "thing.dat");
    REQUIRE(rename(p, dat) == 0);
    p = dat;
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "unknown image format");
    CHECK_MSG(release_stderr() == 0, "the library printed to stderr");
    ssl3d_ctx_release(ctx);
}

TEST(nifti_short_or_corrupt_data_is_rejected) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    capture_stderr();
    /* data shorter than the header says (uncompressed) */
    const char *p = good_nii("short.nii");
    REQUIRE(p);
    tn_truncate(p, 352 + 50);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "shorter than the header says");
    /* a truncated .nii.gz: big enough that truncation cuts the data */
    p = tn_path(th_tmpdir(), "trunc.nii.gz");
    REQUIRE(tn_write_f32(p, 20, 20, 20, &TN_PLAIN) == 0);
    long n = tn_size(p);
    tn_truncate(p, n / 2);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, NULL);
    /* truncated inside the header */
    p = tn_path(th_tmpdir(), "trunchdr.nii.gz");
    REQUIRE(tn_write_f32(p, 20, 20, 20, &TN_PLAIN) == 0);
    tn_truncate(p, 60);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, NULL);
    /* corrupted deflate stream / CRC */
    p = tn_path(th_tmpdir(), "corrupt.nii.gz");
    REQUIRE(tn_write_f32(p, 20, 20, 20, &TN_PLAIN) == 0);
    n = tn_size(p);
    unsigned char junk[16];
    memset(junk, 0xA5, sizeof junk);
    tn_patch(p, n - 8, junk, 8);   /* gzip CRC32 + size trailer */
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "gzip");
    /* a .nii.gz whose gzip stream holds a valid header but claims far more data than it can hold */
    p = tn_path(th_tmpdir(), "bomb.nii.gz");
    {
        const char *raw = good_nii("bomb_src.nii");
        unsigned char buf[448];
        FILE *f = fopen(raw, "rb");
        REQUIRE(f && fread(buf, 1, sizeof buf, f) == sizeof buf);
        fclose(f);
        int16_t dims[4] = { 3, 3000, 3000, 300 };
        memcpy(buf + 40, dims, sizeof dims);
        gzFile g = gzopen(p, "wb");
        gzwrite(g, buf, sizeof buf);
        gzclose(g);
    }
    EXPECT_FAIL(ctx, p, SSL3D_ERR_FORMAT, "shorter than the header says");
    /* a .hdr whose .img is missing: the .img is named */
    p = tn_path(th_tmpdir(), "lonely.hdr");
    REQUIRE(tn_write_f32(p, 4, 3, 2, &TN_PLAIN) == 0);
    REQUIRE(unlink(tn_path(th_tmpdir(), "lonely.img")) == 0);
    {
        ssl3d_image *img = NULL;
        CHECK_ST(ctx, ssl3d_image_read(ctx, p, 0, &img), SSL3D_ERR_IO);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "lonely.img") != NULL);
    }
    /* a gzip stream under a plain .nii name */
    p = tn_path(th_tmpdir(), "misnamed.nii.gz");
    REQUIRE(tn_write_f32(p, 4, 3, 2, &TN_PLAIN) == 0);
    const char *mis = tn_path(th_tmpdir(), "misnamed.nii");
    REQUIRE(rename(p, mis) == 0);
    EXPECT_FAIL(ctx, mis, SSL3D_ERR_FORMAT, NULL);
    CHECK_MSG(release_stderr() == 0, "the library printed to stderr");
    ssl3d_ctx_release(ctx);
}

TEST(nifti_nonfinite_voxels_error_or_zero) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    float v[8] = { 1, NAN, 3, INFINITY, 5, -INFINITY, 7, 8 };
    int64_t dims[4] = { 3, 2, 2, 2 };
    const char *p = tn_path(th_tmpdir(), "nan.nii.gz");
    REQUIRE(tn_write(p, 1, dims, DT_FLOAT32, v, &TN_PLAIN) == 0);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_NUMERIC, "3 of 8 voxels");
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, SSL3D_IMAGE_NONFINITE_TO_ZERO, &img));
    CHECK(ssl3d_image_nonfinite_count(img) == 3);
    const float *d = ssl3d_image_data(img);
    CHECK(d[1] == 0 && d[3] == 0 && d[5] == 0 && d[7] == 8);
    double mn, mx;
    ssl3d_image_range(ctx, img, &mn, &mx);
    CHECK(mn == 0 && mx == 8);
    ssl3d_image_release(img);
    /* float64 overflowing float32 is Inf too */
    double big[8] = { 1, 1e300, 0, 0, 0, 0, 0, 0 };
    p = tn_path(th_tmpdir(), "big64.nii");
    REQUIRE(tn_write(p, 1, dims, DT_FLOAT64, big, &TN_PLAIN) == 0);
    EXPECT_FAIL(ctx, p, SSL3D_ERR_NUMERIC, "1 of 8");
    ssl3d_ctx_release(ctx);
}

TEST(nifti_image_label_mismatch_is_reported) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *a = tn_path(th_tmpdir(), "img.nii.gz"), *b = tn_path(th_tmpdir(), "lab.nii.gz");
    REQUIRE(tn_write_f32(a, 4, 3, 2, &TN_PLAIN) == 0);
    REQUIRE(tn_write_f32(b, 4, 3, 3, &TN_PLAIN) == 0);
    ssl3d_image *ia = NULL, *ib = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, a, 0, &ia));
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, b, 0, &ib));
    CHECK_ST(ctx, ssl3d_image_check_aligned(ctx, ia, ib), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "lab.nii.gz") && strstr(ssl3d_ctx_last_error(ctx), "img.nii.gz"));
    ssl3d_image_release(ib);
    tn_geom g = TN_PLAIN;
    g.pixdim[1] = 2;   /* same dims, other spacing */
    REQUIRE(tn_write_f32(b, 4, 3, 2, &g) == 0);
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, b, 0, &ib));
    CHECK_ST(ctx, ssl3d_image_check_aligned(ctx, ia, ib), SSL3D_ERR_SHAPE);
    ssl3d_image_release(ib);
    ssl3d_image_release(ia);
    ssl3d_ctx_release(ctx);
}
