/* NIfTI reading and writing: datatypes, scaling, 4D, orientation, NIfTI-2, .hdr/.img,
 * channel stacking, label maps, write-back onto the source geometry. */
#include <math.h>
#include <string.h>
#include "harness.h"
#include "test_nifti_util.h"

typedef struct { int code; const char *name; int size; int is_signed; int is_float; } tdt;
static const tdt all_types[] = {
    { DT_UINT8, "uint8", 1, 0, 0 },   { DT_INT8, "int8", 1, 1, 0 },     { DT_INT16, "int16", 2, 1, 0 },
    { DT_UINT16, "uint16", 2, 0, 0 }, { DT_INT32, "int32", 4, 1, 0 },   { DT_UINT32, "uint32", 4, 0, 0 },
    { DT_INT64, "int64", 8, 1, 0 },   { DT_UINT64, "uint64", 8, 0, 0 }, { DT_FLOAT32, "float32", 4, 1, 1 },
    { DT_FLOAT64, "float64", 8, 1, 1 },
};

/* Expected float value of voxel i for a type. */
static double expect_val(const tdt *t, int64_t i) {
    double v = (double)(i % 50);
    if (t->is_signed) v -= 25;
    if (t->is_float) v += 0.25;
    return v;
}

static void fill(const tdt *t, void *buf, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = expect_val(t, i);
        switch (t->code) {
        case DT_UINT8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
        case DT_INT8: ((int8_t *)buf)[i] = (int8_t)v; break;
        case DT_INT16: ((int16_t *)buf)[i] = (int16_t)v; break;
        case DT_UINT16: ((uint16_t *)buf)[i] = (uint16_t)v; break;
        case DT_INT32: ((int32_t *)buf)[i] = (int32_t)v; break;
        case DT_UINT32: ((uint32_t *)buf)[i] = (uint32_t)v; break;
        case DT_INT64: ((int64_t *)buf)[i] = (int64_t)v; break;
        case DT_UINT64: ((uint64_t *)buf)[i] = (uint64_t)v; break;
        case DT_FLOAT32: ((float *)buf)[i] = (float)v; break;
        case DT_FLOAT64: ((double *)buf)[i] = v; break;
        }
    }
}

TEST(nifti_reads_every_datatype_nii_and_gz) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const int64_t nx = 3, ny = 4, nz = 5, n = nx * ny * nz;
    unsigned char buf[8 * 60];
    for (size_t k = 0; k < sizeof all_types / sizeof all_types[0]; k++) {
        const tdt *t = &all_types[k];
        fill(t, buf, n);
        for (int gz = 0; gz < 2; gz++) {
            char name[64];
            snprintf(name, sizeof name, "%s.nii%s", t->name, gz ? ".gz" : "");
            const char *p = tn_path(th_tmpdir(), name);
            int64_t dims[4] = { 3, nx, ny, nz };
            REQUIRE(tn_write(p, 1, dims, t->code, buf, &TN_PLAIN) == 0);
            ssl3d_image *img = NULL;
            REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
            int64_t d[4];
            CHECK_OK(ctx, ssl3d_image_dims(ctx, img, d));
            CHECK(d[0] == 1 && d[1] == nz && d[2] == ny && d[3] == nx);
            CHECK_MSG(!strcmp(ssl3d_image_datatype(img), t->name), "datatype %s != %s", ssl3d_image_datatype(img), t->name);
            CHECK(!strcmp(ssl3d_image_format(img), "nifti1"));
            const float *v = ssl3d_image_data(img);
            int bad = 0;
            for (int64_t i = 0; i < n; i++) bad += fabs(v[i] - expect_val(t, i)) > 1e-6;
            CHECK_MSG(bad == 0, "%s: %d wrong values", name, bad);
            double mn, mx;
            CHECK_OK(ctx, ssl3d_image_range(ctx, img, &mn, &mx));
            CHECK_NEAR(mn, expect_val(t, 0), 1e-6);
            CHECK_NEAR(mx, expect_val(t, 49), 1e-6);
            int64_t sd[3];
            CHECK(ssl3d_image_stored_ndim(img) == 3);
            CHECK_OK(ctx, ssl3d_image_stored_dims(ctx, img, sd, 3));
            CHECK(sd[0] == nx && sd[1] == ny && sd[2] == nz);
            ssl3d_image_release(img);
        }
    }
    ssl3d_ctx_release(ctx);
}

TEST(nifti_applies_scl_slope_and_inter) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int16_t v[8] = { 0, 1, 2, 3, -4, 5, 6, 100 };
    int64_t dims[4] = { 3, 2, 2, 2 };
    tn_geom g = TN_PLAIN;
    g.slope = 0.5;
    g.inter = 10;
    const char *p = tn_path(th_tmpdir(), "scaled.nii.gz");
    REQUIRE(tn_write(p, 1, dims, DT_INT16, v, &g) == 0);
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    for (int i = 0; i < 8; i++) CHECK_NEAR(ssl3d_image_data(img)[i], v[i] * 0.5 + 10, 1e-6);
    ssl3d_image_release(img);
    /* slope 0 means no scaling, whatever the intercept */
    g.slope = 0;
    g.inter = 7;
    p = tn_path(th_tmpdir(), "unscaled.nii");
    REQUIRE(tn_write(p, 1, dims, DT_INT16, v, &g) == 0);
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    for (int i = 0; i < 8; i++) CHECK_NEAR(ssl3d_image_data(img)[i], v[i], 1e-6);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(nifti_4d_becomes_channels_and_tensors) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t dims[5] = { 4, 3, 2, 2, 3 };   /* nx=3 ny=2 nz=2 nt=3 */
    float v[36];
    for (int i = 0; i < 36; i++) v[i] = (float)i;
    const char *p = tn_path(th_tmpdir(), "four.nii.gz");
    REQUIRE(tn_write(p, 1, dims, DT_FLOAT32, v, &TN_PLAIN) == 0);
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    int64_t d[4];
    CHECK_OK(ctx, ssl3d_image_dims(ctx, img, d));
    CHECK(d[0] == 3 && d[1] == 2 && d[2] == 2 && d[3] == 3);
    CHECK(ssl3d_image_stored_ndim(img) == 4);
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_tensor(ctx, img, 3, &t));
    CHECK(ssl3d_tensor_ndim(t) == 5 && ssl3d_tensor_dim(t, 1) == 3 && ssl3d_tensor_dim(t, 4) == 3);
    float out[36];
    CHECK_OK(ctx, ssl3d_tensor_read(ctx, t, out, sizeof out));
    for (int i = 0; i < 36; i++) CHECK_NEAR(out[i], i, 0);
    ssl3d_tensor_release(t);
    /* dims = 2: one batch item per slice, (D,C,H,W) */
    REQUIRE_OK(ctx, ssl3d_image_to_tensor(ctx, img, 2, &t));
    CHECK(ssl3d_tensor_dim(t, 0) == 2 && ssl3d_tensor_dim(t, 1) == 3 && ssl3d_tensor_dim(t, 2) == 2);
    CHECK_OK(ctx, ssl3d_tensor_read(ctx, t, out, sizeof out));
    /* item d=1, channel c=2, h=1, w=2 <- stored (x=2, y=1, z=1, t=2) */
    CHECK_NEAR(out[((1 * 3 + 2) * 2 + 1) * 3 + 2], v[((2 * 2 + 1) * 2 + 1) * 3 + 2], 0);
    ssl3d_tensor_release(t);
    /* 3 channels are not a label map */
    CHECK_ST(ctx, ssl3d_image_to_label_tensor(ctx, img, 3, &t), SSL3D_ERR_SHAPE);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

/* Stored value at (x,y,z) of tn_write_f32 volumes. */
static float stored(int64_t x, int64_t y, int64_t z, int64_t nx, int64_t ny) { return (float)((z * ny + y) * nx + x); }

TEST(nifti_flipped_sform_reads_in_canonical_order) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const int64_t nx = 4, ny = 3, nz = 2;
    tn_geom g = TN_PLAIN;
    g.use_sform = 1;            /* i -> -x (L), j -> +y, k -> -z (I), spacing 2, 1, 3 */
    double s[3][4] = { { -2, 0, 0, 10 }, { 0, 1, 0, -5 }, { 0, 0, -3, 7 } };
    memcpy(g.sform, s, sizeof s);
    g.pixdim[1] = 2; g.pixdim[2] = 1; g.pixdim[3] = 3;
    const char *p = tn_path(th_tmpdir(), "flip.nii.gz");
    REQUIRE(tn_write_f32(p, nx, ny, nz, &g) == 0);
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    CHECK(!strcmp(ssl3d_image_orientation(img), "LAI"));
    int64_t d[4];
    ssl3d_image_dims(ctx, img, d);
    CHECK(d[1] == nz && d[2] == ny && d[3] == nx);
    const float *v = ssl3d_image_data(img);
    int bad = 0;
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++)
                bad += v[(z * ny + y) * nx + x] != stored(nx - 1 - x, y, nz - 1 - z, nx, ny);
    CHECK(bad == 0);
    double sp[3], a[16];
    ssl3d_image_spacing(ctx, img, sp);
    CHECK(sp[0] == 3 && sp[1] == 1 && sp[2] == 2);
    ssl3d_image_affine(ctx, img, a);
    /* canonical (0,0,0) is stored (3, 0, 1): world x = 10 - 2*3 = 4, z = 7 - 3 = 4 */
    CHECK_NEAR(a[0], 2, 1e-9); CHECK_NEAR(a[5], 1, 1e-9); CHECK_NEAR(a[10], 3, 1e-9);
    CHECK_NEAR(a[3], 4, 1e-9); CHECK_NEAR(a[7], -5, 1e-9); CHECK_NEAR(a[11], 4, 1e-9);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(nifti_permuted_sform_and_label_stay_aligned) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* stored axes: i -> +z, j -> -x, k -> +y, i.e. "SLA" */
    const int64_t nx = 5, ny = 4, nz = 3;
    tn_geom g = TN_PLAIN;
    g.use_sform = 1;
    double s[3][4] = { { 0, -1, 0, 0 }, { 0, 0, 1, 0 }, { 1, 0, 0, 0 } };
    memcpy(g.sform, s, sizeof s);
    const char *pi = tn_path(th_tmpdir(), "perm_img.nii.gz");
    REQUIRE(tn_write_f32(pi, nx, ny, nz, &g) == 0);
    /* the label is 1 where the stored value is odd: same geometry */
    int64_t dims[4] = { 3, nx, ny, nz };
    uint8_t lab[60];
    for (int i = 0; i < 60; i++) lab[i] = (uint8_t)(i % 2);
    const char *pl = tn_path(th_tmpdir(), "perm_lab.nii.gz");
    REQUIRE(tn_write(pl, 1, dims, DT_UINT8, lab, &g) == 0);
    ssl3d_image *img = NULL, *lb = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, pi, 0, &img));
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, pl, 0, &lb));
    CHECK(!strcmp(ssl3d_image_orientation(img), "SLA"));
    int64_t d[4];
    ssl3d_image_dims(ctx, img, d);
    /* canonical W (x) <- stored j (4, flipped), H (y) <- stored k (3), D (z) <- stored i (5) */
    CHECK(d[1] == nx && d[2] == nz && d[3] == ny);
    CHECK_OK(ctx, ssl3d_image_check_aligned(ctx, img, lb));
    const float *v = ssl3d_image_data(img);
    int bad = 0;
    for (int64_t cz = 0; cz < d[1]; cz++)
        for (int64_t cy = 0; cy < d[2]; cy++)
            for (int64_t cx = 0; cx < d[3]; cx++) {
                int64_t i = cz, j = ny - 1 - cx, k = cy;
                bad += v[(cz * d[2] + cy) * d[3] + cx] != stored(i, j, k, nx, ny);
            }
    CHECK(bad == 0);
    ssl3d_tensor *lt = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_label_tensor(ctx, lb, 3, &lt));
    int32_t lv[60];
    CHECK_OK(ctx, ssl3d_tensor_read(ctx, lt, lv, sizeof lv));
    int mism = 0;
    for (int i = 0; i < 60; i++) mism += lv[i] != ((int)v[i] % 2);
    CHECK_MSG(mism == 0, "%d label voxels misaligned", mism);
    ssl3d_tensor_release(lt);
    ssl3d_image_release(img);
    ssl3d_image_release(lb);
    ssl3d_ctx_release(ctx);
}

TEST(nifti_qform_only_orientation) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    tn_geom g = TN_PLAIN;
    g.use_qform = 1;        /* 180 degrees about z: i -> -x, j -> -y */
    g.qd = 1.0;
    g.qfac = 1.0;
    const int64_t nx = 3, ny = 2, nz = 2;
    const char *p = tn_path(th_tmpdir(), "qform.nii");
    REQUIRE(tn_write_f32(p, nx, ny, nz, &g) == 0);
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    CHECK(!strcmp(ssl3d_image_orientation(img), "LPS"));
    const float *v = ssl3d_image_data(img);
    CHECK(v[0] == stored(nx - 1, ny - 1, 0, nx, ny));
    CHECK(v[11] == stored(0, 0, 1, nx, ny));
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(nifti2_and_hdr_img_pairs_read) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t dims[4] = { 3, 3, 2, 2 };
    int32_t v[12];
    for (int i = 0; i < 12; i++) v[i] = i * 1000 - 5000;
    const char *names[] = { "v2.nii", "v2.nii.gz", "pair.hdr", "pair2.hdr" };
    int versions[] = { 2, 2, 1, 2 };
    for (int k = 0; k < 4; k++) {
        const char *p = tn_path(th_tmpdir(), names[k]);
        REQUIRE(tn_write(p, versions[k], dims, DT_INT32, v, &TN_PLAIN) == 0);
        ssl3d_image *img = NULL;
        REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
        CHECK_MSG(!strcmp(ssl3d_image_format(img), versions[k] == 2 ? "nifti2" : "nifti1"), "%s: %s", names[k],
                  ssl3d_image_format(img));
        for (int i = 0; i < 12; i++) CHECK(ssl3d_image_data(img)[i] == (float)v[i]);
        ssl3d_image_release(img);
    }
    /* the .img name of a pair works too */
    ssl3d_image *img = NULL;
    CHECK_OK(ctx, ssl3d_image_read(ctx, tn_path(th_tmpdir(), "pair.img"), 0, &img));
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(nifti_write_back_undoes_reorientation) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const int64_t nx = 5, ny = 4, nz = 3;
    tn_geom g = TN_PLAIN;
    g.use_sform = 1;
    double s[3][4] = { { 0, -1.5, 0, 3 }, { 0, 0, 2, -1 }, { -1, 0, 0, 4 } };
    memcpy(g.sform, s, sizeof s);
    const char *pi = tn_path(th_tmpdir(), "src.nii.gz");
    REQUIRE(tn_write_f32(pi, nx, ny, nz, &g) == 0);
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, pi, 0, &img));
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_tensor(ctx, img, 3, &t));
    const int dts[3] = { SSL3D_NIFTI_UINT8, SSL3D_NIFTI_INT16, SSL3D_NIFTI_FLOAT32 };
    const char *outs[3] = { "o8.nii.gz", "o16.nii", "o32.nii.gz" };
    for (int k = 0; k < 3; k++) {
        const char *po = tn_path(th_tmpdir(), outs[k]);
        REQUIRE_OK(ctx, ssl3d_nifti_write(ctx, po, t, img, dts[k]));
        /* nifti_clib sees the stored order, values and sform of the source */
        nifti_image *nim = nifti_image_read(po, 1);
        REQUIRE(nim);
        CHECK(nim->nx == nx && nim->ny == ny && nim->nz == nz && nim->datatype == dts[k]);
        CHECK(nim->sform_code == 1);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) CHECK_NEAR(nim->sto_xyz.m[r][c], s[r][c], 1e-6);
        int bad = 0;
        for (int64_t i = 0; i < nx * ny * nz; i++) {
            double got = dts[k] == SSL3D_NIFTI_UINT8 ? ((uint8_t *)nim->data)[i]
                       : dts[k] == SSL3D_NIFTI_INT16 ? ((int16_t *)nim->data)[i] : ((float *)nim->data)[i];
            bad += got != (double)i;
        }
        CHECK_MSG(bad == 0, "%s: %d voxels differ", outs[k], bad);
        nifti_image_free(nim);
        /* and reads back through our reader to the same canonical tensor */
        ssl3d_image *back = NULL;
        REQUIRE_OK(ctx, ssl3d_image_read(ctx, po, 0, &back));
        CHECK_OK(ctx, ssl3d_image_check_aligned(ctx, img, back));
        CHECK(!memcmp(ssl3d_image_data(back), ssl3d_image_data(img), (size_t)(nx * ny * nz) * sizeof(float)));
        ssl3d_image_release(back);
    }
    /* int32 label tensor, written as uint8 */
    ssl3d_tensor *lt = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_label_tensor(ctx, img, 3, &lt));
    CHECK_OK(ctx, ssl3d_nifti_write(ctx, tn_path(th_tmpdir(), "lab.nii.gz"), lt, img, SSL3D_NIFTI_UINT8));
    /* values out of range or fractional are refused, no file is left behind */
    ssl3d_tensor *big = NULL;
    int64_t shp[3] = { ssl3d_tensor_dim(t, 2), ssl3d_tensor_dim(t, 3), ssl3d_tensor_dim(t, 4) };
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 3, shp, &big));
    ssl3d_tensor_fill(ctx, big, 300.0f);
    const char *pbad = tn_path(th_tmpdir(), "bad.nii");
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, pbad, big, img, SSL3D_NIFTI_UINT8), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "300") != NULL);
    ssl3d_tensor_fill(ctx, big, 0.5f);
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, pbad, big, img, SSL3D_NIFTI_INT16), SSL3D_ERR_INVALID_ARG);
    CHECK(access(pbad, F_OK) != 0);
    CHECK_OK(ctx, ssl3d_nifti_write(ctx, pbad, big, img, SSL3D_NIFTI_FLOAT32));
    /* shape mismatch, bad name, bad datatype */
    int64_t wrong[3] = { 2, 2, 2 };
    ssl3d_tensor *w = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 3, wrong, &w));
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, pbad, w, img, SSL3D_NIFTI_FLOAT32), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, tn_path(th_tmpdir(), "x.png"), t, img, SSL3D_NIFTI_FLOAT32),
             SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, pbad, t, img, 64), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, "/nonexistent-dir/x.nii", t, img, SSL3D_NIFTI_FLOAT32), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "/nonexistent-dir/x.nii") != NULL);
    ssl3d_tensor_release(w);
    ssl3d_tensor_release(big);
    ssl3d_tensor_release(lt);
    ssl3d_tensor_release(t);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(nifti_write_multichannel_4d) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t dims[5] = { 4, 3, 2, 2, 2 };
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i;
    tn_geom g = TN_PLAIN;
    g.use_sform = 1;
    double s[3][4] = { { -1, 0, 0, 0 }, { 0, -1, 0, 0 }, { 0, 0, 1, 0 } };
    memcpy(g.sform, s, sizeof s);
    const char *p = tn_path(th_tmpdir(), "c2.nii.gz");
    REQUIRE(tn_write(p, 1, dims, DT_FLOAT32, v, &g) == 0);
    ssl3d_image *img = NULL, *back = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_image_to_tensor(ctx, img, 3, &t));
    const char *po = tn_path(th_tmpdir(), "c2out.nii");
    REQUIRE_OK(ctx, ssl3d_nifti_write(ctx, po, t, img, SSL3D_NIFTI_FLOAT32));
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, po, 0, &back));
    int64_t d[4];
    ssl3d_image_dims(ctx, back, d);
    CHECK(d[0] == 2);
    CHECK(!memcmp(ssl3d_image_data(back), ssl3d_image_data(img), sizeof v));
    ssl3d_image_release(back);
    ssl3d_tensor_release(t);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(nifti_channel_stacking_checks_geometry) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    tn_geom g = TN_PLAIN;
    const char *a = tn_path(th_tmpdir(), "a.nii.gz"), *b = tn_path(th_tmpdir(), "b.nii.gz");
    REQUIRE(tn_write_f32(a, 4, 3, 2, &g) == 0);
    REQUIRE(tn_write_f32(b, 4, 3, 2, &g) == 0);
    const char *paths[2] = { a, b };
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read_channels(ctx, paths, 2, 0, &img));
    int64_t d[4];
    ssl3d_image_dims(ctx, img, d);
    CHECK(d[0] == 2 && d[1] == 2 && d[2] == 3 && d[3] == 4);
    CHECK(ssl3d_image_data(img)[24 + 5] == 5.0f);
    ssl3d_image_release(img);
    /* different dims */
    const char *c = tn_path(th_tmpdir(), "c.nii.gz");
    REQUIRE(tn_write_f32(c, 4, 3, 3, &g) == 0);
    paths[1] = c;
    img = NULL;
    CHECK_ST(ctx, ssl3d_image_read_channels(ctx, paths, 2, 0, &img), SSL3D_ERR_SHAPE);
    CHECK(img == NULL);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "c.nii.gz") != NULL);
    /* same dims, different geometry */
    g.use_sform = 1;
    double s[3][4] = { { 1, 0, 0, 5 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 } };
    memcpy(g.sform, s, sizeof s);
    const char *e = tn_path(th_tmpdir(), "e.nii.gz");
    REQUIRE(tn_write_f32(e, 4, 3, 2, &g) == 0);
    paths[1] = e;
    CHECK_ST(ctx, ssl3d_image_read_channels(ctx, paths, 2, 0, &img), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "geometry") != NULL);
    /* a missing second file is named */
    paths[1] = tn_path(th_tmpdir(), "missing.nii.gz");
    CHECK_ST(ctx, ssl3d_image_read_channels(ctx, paths, 2, 0, &img), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "missing.nii.gz") != NULL);
    ssl3d_ctx_release(ctx);
}

TEST(nifti_label_maps_must_be_integral) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    float v[8] = { 0, 1, 2, 1, 0, 2, 2.5f, 1 };
    int64_t dims[4] = { 3, 2, 2, 2 };
    const char *p = tn_path(th_tmpdir(), "frac.nii");
    REQUIRE(tn_write(p, 1, dims, DT_FLOAT32, v, &TN_PLAIN) == 0);
    ssl3d_image *img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    ssl3d_tensor *t = (ssl3d_tensor *)0x1;
    CHECK_ST(ctx, ssl3d_image_to_label_tensor(ctx, img, 3, &t), SSL3D_ERR_FORMAT);
    CHECK(t == (ssl3d_tensor *)0x1);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "frac.nii") && strstr(ssl3d_ctx_last_error(ctx), "2.5"));
    ssl3d_image_release(img);
    v[6] = 2;
    REQUIRE(tn_write(p, 1, dims, DT_FLOAT32, v, &TN_PLAIN) == 0);
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    REQUIRE_OK(ctx, ssl3d_image_to_label_tensor(ctx, img, 2, &t));
    CHECK(ssl3d_tensor_ndim(t) == 3 && ssl3d_tensor_dtype(t) == SSL3D_I32);
    int32_t lv[8];
    ssl3d_tensor_read(ctx, t, lv, sizeof lv);
    for (int i = 0; i < 8; i++) CHECK(lv[i] == (int32_t)v[i]);
    ssl3d_tensor_release(t);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}

TEST(io_api_misuse_is_reported) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_image *img = (ssl3d_image *)0x1;
    CHECK(ssl3d_image_read(NULL, "x.nii", 0, &img) == SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_read(ctx, NULL, 0, &img), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_read(ctx, "x.nii", 0, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_read(ctx, "x.nii", 0x80, &img), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_read_channels(ctx, NULL, 1, 0, &img), SSL3D_ERR_INVALID_ARG);
    const char *none[1] = { NULL };
    CHECK_ST(ctx, ssl3d_image_read_channels(ctx, none, 1, 0, &img), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_read_channels(ctx, none, 0, 0, &img), SSL3D_ERR_INVALID_ARG);
    CHECK(img == (ssl3d_image *)0x1);
    int64_t d[4];
    double x, y;
    ssl3d_tensor *t = NULL;
    CHECK_ST(ctx, ssl3d_image_dims(ctx, NULL, d), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_range(ctx, NULL, &x, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_to_tensor(ctx, NULL, 3, &t), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_check_aligned(ctx, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_nifti_write(ctx, "x.nii", NULL, NULL, SSL3D_NIFTI_UINT8), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_png_write(ctx, "x.png", NULL, 8), SSL3D_ERR_INVALID_ARG);
    CHECK(!strcmp(ssl3d_image_datatype(NULL), "") && ssl3d_image_data(NULL) == NULL);
    CHECK(ssl3d_image_stored_ndim(NULL) == 0);
    ssl3d_image_release(NULL);
    ssl3d_manifest_release(NULL);
    /* a tensor conversion with a bad dims value */
    const char *p = tn_path(th_tmpdir(), "ok.nii");
    REQUIRE(tn_write_f32(p, 2, 2, 2, &TN_PLAIN) == 0);
    img = NULL;
    REQUIRE_OK(ctx, ssl3d_image_read(ctx, p, 0, &img));
    CHECK_ST(ctx, ssl3d_image_to_tensor(ctx, img, 4, &t), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_image_stored_dims(ctx, img, NULL, 3), SSL3D_ERR_INVALID_ARG);
    int64_t sd[2];
    CHECK_ST(ctx, ssl3d_image_stored_dims(ctx, img, sd, 2), SSL3D_ERR_INVALID_ARG);
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
}
