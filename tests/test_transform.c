/* Data path transforms: hand-computed flips, rot90, crops/pads, resampling, intensity. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"

TEST(flip_by_hand_2d_and_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s2[3] = { 1, 2, 3 };
    ssl3d_tensor *x = th_iota(ctx, 3, s2), *y = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_flip(ctx, x, 0, &y));
    const float e0[6] = { 3, 4, 5, 0, 1, 2 };
    CHECK(!memcmp(th_f32(y), e0, sizeof e0));
    ssl3d_tensor_release(y);
    REQUIRE_OK(ctx, ssl3d_flip(ctx, x, 1, &y));
    const float e1[6] = { 2, 1, 0, 5, 4, 3 };
    CHECK(!memcmp(th_f32(y), e1, sizeof e1));
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x);
    /* 3D, two channels: flip D of (2, 2, 1, 2) */
    int64_t s3[4] = { 2, 2, 1, 2 };
    x = th_iota(ctx, 4, s3);
    REQUIRE_OK(ctx, ssl3d_flip(ctx, x, 0, &y));
    const float e3[8] = { 2, 3, 0, 1, 6, 7, 4, 5 };
    CHECK(!memcmp(th_f32(y), e3, sizeof e3));
    ssl3d_tensor_release(y);
    REQUIRE_OK(ctx, ssl3d_flip(ctx, x, 2, &y));
    const float e4[8] = { 1, 0, 3, 2, 5, 4, 7, 6 };
    CHECK(!memcmp(th_f32(y), e4, sizeof e4));
    ssl3d_tensor_release(y);
    CHECK_ST(ctx, ssl3d_flip(ctx, x, 3, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_flip") != NULL);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(rot90_by_hand_matches_numpy) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s2[3] = { 1, 2, 3 };
    ssl3d_tensor *x = th_iota(ctx, 3, s2), *y = NULL, *z = NULL;
    REQUIRE(x);
    /* numpy.rot90(arange(6).reshape(2,3)) = [[2,5],[1,4],[0,3]]; k=2 reverses; k=3 [[3,0],[4,1],[5,2]] */
    const float e1[6] = { 2, 5, 1, 4, 0, 3 }, e2[6] = { 5, 4, 3, 2, 1, 0 }, e3[6] = { 3, 0, 4, 1, 5, 2 };
    const float *ex[3] = { e1, e2, e3 };
    for (int k = 1; k <= 3; k++) {
        REQUIRE_OK(ctx, ssl3d_rot90(ctx, x, k, 0, 1, &y));
        CHECK(ssl3d_tensor_dim(y, 1) == (k == 2 ? 2 : 3) && ssl3d_tensor_dim(y, 2) == (k == 2 ? 3 : 2));
        CHECK(!memcmp(th_f32(y), ex[k - 1], 6 * sizeof(float)));
        REQUIRE_OK(ctx, ssl3d_rot90(ctx, y, 4 - k, 0, 1, &z));   /* back */
        CHECK(th_tensors_identical(ctx, z, x));
        ssl3d_tensor_release(y);
        ssl3d_tensor_release(z);
    }
    ssl3d_tensor_release(x);
    /* 3D (1,4,4,4): np.rot90(m,1,(1,2))[1,2,3] = 29, (0,2) -> 58, (0,1) -> 43; a non-cube keeps
     * working (sizes swap) and the tiled path is exercised by 40 x 37. */
    int64_t s3[4] = { 1, 4, 4, 4 };
    x = th_iota(ctx, 4, s3);
    const int ax[3][2] = { { 1, 2 }, { 0, 2 }, { 0, 1 } };
    const float want[3] = { 29, 58, 43 };
    for (int p = 0; p < 3; p++) {
        REQUIRE_OK(ctx, ssl3d_rot90(ctx, x, 1, ax[p][0], ax[p][1], &y));
        CHECK_NEAR(th_f32(y)[(1 * 4 + 2) * 4 + 3], want[p], 0);
        ssl3d_tensor_release(y);
    }
    ssl3d_tensor_release(x);
    int64_t s4[4] = { 2, 3, 40, 37 };
    x = th_iota(ctx, 4, s4);
    REQUIRE_OK(ctx, ssl3d_rot90(ctx, x, 1, 0, 2, &y));       /* (2, 37, 40, 3) */
    CHECK(ssl3d_tensor_dim(y, 1) == 37 && ssl3d_tensor_dim(y, 3) == 3);
    /* out[c, i, j, k] = x[c, k, j, 36 - i] */
    int ok = 1;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 37; i++)
            for (int j = 0; j < 40; j++)
                for (int k = 0; k < 3; k++)
                    ok &= th_f32(y)[((c * 37 + i) * 40 + j) * 3 + k] == th_f32(x)[((c * 3 + k) * 40 + j) * 37 + 36 - i];
    CHECK(ok);
    REQUIRE_OK(ctx, ssl3d_rot90(ctx, y, -1, 0, 2, &z));
    CHECK(th_tensors_identical(ctx, z, x));
    ssl3d_tensor_release(z);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(zoom_one_is_identity_2d_3d_and_labels) {
    ssl3d_ctx *ctx = th_ctx(2, 3);
    REQUIRE(ctx);
    int64_t s3[4] = { 2, 5, 6, 7 }, s2[3] = { 3, 9, 4 };
    ssl3d_tensor *x3 = th_randn(ctx, 4, s3, 0), *x2 = th_randn(ctx, 3, s2, 0), *y = NULL;
    REQUIRE(x3 && x2);
    REQUIRE_OK(ctx, ssl3d_zoom(ctx, x3, 1.0, &y));
    CHECK(th_tensors_identical(ctx, x3, y));
    ssl3d_tensor_release(y);
    REQUIRE_OK(ctx, ssl3d_zoom(ctx, x2, 1.0, &y));
    CHECK(th_tensors_identical(ctx, x2, y));
    ssl3d_tensor_release(y);
    int32_t lab[30];
    for (int i = 0; i < 30; i++) lab[i] = i % 4;
    int64_t sl[3] = { 2, 3, 5 };
    ssl3d_tensor *l = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 3, sl, lab, &l));
    REQUIRE_OK(ctx, ssl3d_zoom(ctx, l, 1.0, &y));
    CHECK(th_tensors_identical(ctx, l, y));
    ssl3d_tensor_release(y);
    /* zoom 2 of a 2D image: the centre voxel of an odd image stays put */
    int64_t s5[3] = { 1, 5, 5 };
    ssl3d_tensor *x5 = th_iota(ctx, 3, s5);
    REQUIRE_OK(ctx, ssl3d_zoom(ctx, x5, 2.0, &y));
    CHECK_NEAR(th_f32(y)[12], 12, 1e-5);
    CHECK_NEAR(th_f32(y)[13], 12.5, 1e-5);   /* half a voxel to the right */
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x5);
    ssl3d_tensor_release(l);
    ssl3d_tensor_release(x3);
    ssl3d_tensor_release(x2);
    ssl3d_ctx_release(ctx);
}

TEST(rotate_by_90_degrees_matches_rot90) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    int64_t s3[4] = { 2, 6, 6, 6 };
    ssl3d_tensor *x = th_randn(ctx, 4, s3, 0), *a = NULL, *b = NULL;
    REQUIRE(x);
    const int ax[3][2] = { { 1, 2 }, { 0, 2 }, { 0, 1 } };
    for (int p = 0; p < 3; p++) {
        REQUIRE_OK(ctx, ssl3d_rot90(ctx, x, 1, ax[p][0], ax[p][1], &a));
        REQUIRE_OK(ctx, ssl3d_rotate(ctx, x, 90.0, ax[p][0], ax[p][1], &b));
        CHECK(th_tensors_identical(ctx, a, b));                 /* exact at multiples of 90 */
        ssl3d_tensor_release(b);
        /* the general (non-snapped) path agrees closely */
        REQUIRE_OK(ctx, ssl3d_rotate(ctx, x, 90.0 + 1e-4, ax[p][0], ax[p][1], &b));
        double md = 0;
        for (int64_t i = 0; i < ssl3d_tensor_numel(a); i++) {
            double d = fabs(th_f32(a)[i] - th_f32(b)[i]);
            md = d > md ? d : md;
        }
        CHECK(md < 1e-3);
        ssl3d_tensor_release(a);
        ssl3d_tensor_release(b);
    }
    /* 2D, 4x4 = rot90 of the (H, W) plane; -90 = k 3 */
    int64_t s2[3] = { 1, 4, 4 };
    ssl3d_tensor *x2 = th_iota(ctx, 3, s2);
    REQUIRE_OK(ctx, ssl3d_rot90(ctx, x2, 3, 0, 1, &a));
    REQUIRE_OK(ctx, ssl3d_rotate(ctx, x2, -90.0 - 1e-5, 0, 1, &b));
    for (int i = 0; i < 16; i++) CHECK_NEAR(th_f32(a)[i], th_f32(b)[i], 1e-3);
    ssl3d_tensor_release(a);
    ssl3d_tensor_release(b);
    /* a 45-degree rotation of an 8 x 8 image sends the corners outside -> 0 */
    int64_t s8[3] = { 1, 8, 8 };
    ssl3d_tensor *x8 = th_iota(ctx, 3, s8);
    REQUIRE_OK(ctx, ssl3d_rotate(ctx, x8, 45.0, 0, 1, &b));
    CHECK(th_f32(b)[0] == 0.0f && th_f32(b)[63] == 0.0f && th_f32(b)[7] == 0.0f && th_f32(b)[27] != 0.0f);
    ssl3d_tensor_release(b);
    ssl3d_tensor_release(x8);
    ssl3d_tensor_release(x2);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(nearest_interpolation_keeps_the_label_set) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    enum { D = 9, H = 10, W = 11 };
    static int32_t lab[D * H * W];
    const int32_t vals[4] = { 0, 1, 2, 5 };
    for (int i = 0; i < D * H * W; i++) lab[i] = vals[(i / 7 + i % 3) % 4];
    int64_t sl[3] = { D, H, W };
    ssl3d_tensor *l = NULL, *y = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 3, sl, lab, &l));
    for (int op = 0; op < 3; op++) {
        if (op == 0) REQUIRE_OK(ctx, ssl3d_rotate(ctx, l, 37.0, 0, 2, &y));
        if (op == 1) REQUIRE_OK(ctx, ssl3d_zoom(ctx, l, 1.13, &y));
        if (op == 2) {
            const double si[3] = { 1.5, 1, 0.7 }, so[3] = { 1, 1, 1 };
            REQUIRE_OK(ctx, ssl3d_resample_spacing(ctx, l, si, so, &y));
        }
        CHECK(ssl3d_tensor_dtype(y) == SSL3D_I32);
        int ok = 1;
        for (int64_t i = 0; i < ssl3d_tensor_numel(y); i++) {
            int32_t v = th_i32(y)[i];
            ok &= v == 0 || v == 1 || v == 2 || v == 5;
        }
        CHECK_MSG(ok, "op %d produced a value outside the label set", op);
        ssl3d_tensor_release(y);
    }
    ssl3d_tensor_release(l);
    ssl3d_ctx_release(ctx);
}

/* image = 10 * label; geometry-only augmentation (flips, rot90) keeps them exactly
 * aligned, the full one (angles, zoom) agrees except at interpolated boundaries. */
TEST(augmentation_keeps_image_and_label_aligned) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        enum { S = 24 };
        const int64_t n = dims == 3 ? S * S * S : S * S;
        int32_t *lab = malloc((size_t)n * 4);
        float *img = malloc((size_t)n * 4);
        REQUIRE(lab && img);
        for (int64_t i = 0; i < n; i++) {   /* blocks of 8 voxels: labels 0..3 */
            int64_t w = i % S, h = (i / S) % S, d = i / (S * S);
            lab[i] = (int32_t)((w / 8 + 2 * (h / 8) + d / 8) % 4);
            img[i] = 10.0f * (float)lab[i];
        }
        int64_t sl[3] = { S, S, S }, si[4] = { 1, S, S, S };
        ssl3d_tensor *l = NULL, *x = NULL, *xo = NULL, *lo = NULL;
        REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, dims, sl, lab, &l));
        REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_F32, dims + 1, si, img, &x));
        ssl3d_augment *aug = NULL;
        REQUIRE_OK(ctx, ssl3d_augment_create(ctx, &aug));
        REQUIRE_OK(ctx, ssl3d_augment_set_intensity(ctx, aug, 1, 1, 0, 0, 0));
        REQUIRE_OK(ctx, ssl3d_augment_set_geometry(ctx, aug, 0.5f, 1.0f, 0.0f, 0.0f));
        REQUIRE_OK(ctx, ssl3d_augment_set_zoom(ctx, aug, 1, 1));
        int changed = 0;
        for (uint64_t idx = 0; idx < 6; idx++) {
            REQUIRE_OK(ctx, ssl3d_augment_apply(ctx, aug, x, l, 11, idx, &xo, &lo));
            int ok = 1;
            for (int64_t i = 0; i < n; i++) ok &= th_f32(xo)[i] == 10.0f * (float)th_i32(lo)[i];
            CHECK_MSG(ok, "dims %d index %d: exact geometry misaligned", dims, (int)idx);
            changed += memcmp(th_i32(lo), lab, (size_t)n * 4) != 0;
            ssl3d_tensor_release(xo);
            ssl3d_tensor_release(lo);
        }
        CHECK(changed > 0);
        REQUIRE_OK(ctx, ssl3d_augment_set_geometry(ctx, aug, 0.5f, 0.5f, 1.0f, 180.0f));
        REQUIRE_OK(ctx, ssl3d_augment_set_zoom(ctx, aug, 0.8f, 1.2f));
        for (uint64_t idx = 0; idx < 4; idx++) {
            REQUIRE_OK(ctx, ssl3d_augment_apply(ctx, aug, x, l, 11, idx, &xo, &lo));
            int64_t agree = 0;
            for (int64_t i = 0; i < n; i++) agree += fabsf(th_f32(xo)[i] - 10.0f * (float)th_i32(lo)[i]) < 5.0f;
            CHECK_MSG(agree > n * 85 / 100, "dims %d index %d: only %lld of %lld voxels agree", dims, (int)idx,
                      (long long)agree, (long long)n);
            ssl3d_tensor_release(xo);
            ssl3d_tensor_release(lo);
        }
        ssl3d_augment_release(aug);
        ssl3d_tensor_release(l);
        ssl3d_tensor_release(x);
        free(lab);
        free(img);
    }
    ssl3d_ctx_release(ctx);
}

TEST(augmentation_is_deterministic_across_thread_counts) {
    ssl3d_ctx *a = th_ctx(1, 0), *b = th_ctx(2, 0);
    REQUIRE(a && b);
    int64_t s[4] = { 2, 12, 10, 14 };
    ssl3d_tensor *xa = th_randn(a, 4, s, 0), *xb = NULL, *ya = NULL, *yb = NULL;
    REQUIRE(xa);
    REQUIRE_OK(b, ssl3d_tensor_from_data(b, SSL3D_F32, 4, s, th_f32(xa), &xb));
    ssl3d_augment *aug = NULL;
    REQUIRE_OK(a, ssl3d_augment_create(a, &aug));
    REQUIRE_OK(a, ssl3d_augment_set_intensity(a, aug, 0.5f, 1.5f, -0.1f, 0.1f, 0.05f));
    REQUIRE_OK(a, ssl3d_augment_apply(a, aug, xa, NULL, 99, 3, &ya, NULL));
    REQUIRE_OK(b, ssl3d_augment_apply(b, aug, xb, NULL, 99, 3, &yb, NULL));
    CHECK(th_tensors_identical(a, ya, yb));
    ssl3d_tensor_release(yb);
    REQUIRE_OK(b, ssl3d_augment_apply(b, aug, xb, NULL, 99, 4, &yb, NULL));
    CHECK(!th_tensors_identical(a, ya, yb));
    ssl3d_augment_release(aug);
    ssl3d_tensor_release(xa); ssl3d_tensor_release(xb);
    ssl3d_tensor_release(ya); ssl3d_tensor_release(yb);
    ssl3d_ctx_release(a);
    ssl3d_ctx_release(b);
}

TEST(pad_to_multiple_of_16_is_centred_and_crop_undoes_it) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s[4] = { 2, 20, 33, 16 };
    ssl3d_tensor *x = th_iota(ctx, 4, s), *y = NULL, *z = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_pad_to_multiple(ctx, x, 16, -1.0f, &y));
    CHECK(ssl3d_tensor_dim(y, 0) == 2 && ssl3d_tensor_dim(y, 1) == 32 && ssl3d_tensor_dim(y, 2) == 48 &&
          ssl3d_tensor_dim(y, 3) == 16);
    /* pads: D 12 -> 6 before, H 15 -> 7 before, W none */
    CHECK(th_f32(y)[(6 * 48 + 7) * 16 + 0] == 0.0f);
    CHECK(th_f32(y)[(5 * 48 + 7) * 16 + 0] == -1.0f);
    CHECK(th_f32(y)[32 * 48 * 16 + (6 * 48 + 7) * 16 + 3] == (float)(20 * 33 * 16 + 3));
    int64_t back[3] = { 20, 33, 16 };
    REQUIRE_OK(ctx, ssl3d_pad_crop_center(ctx, y, back, 0.0f, &z));
    CHECK(th_tensors_identical(ctx, z, x));
    ssl3d_tensor_release(z);
    /* offset window: crop + pad at once, labels use the integer fill */
    int32_t lab[6] = { 1, 2, 3, 4, 5, 6 };
    int64_t sl[2] = { 2, 3 }, off[2] = { -1, 1 }, sz[2] = { 3, 3 };
    ssl3d_tensor *l = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, sl, lab, &l));
    REQUIRE_OK(ctx, ssl3d_crop(ctx, l, off, sz, 9.0f, &z));
    const int32_t e[9] = { 9, 9, 9, 2, 3, 9, 5, 6, 9 };
    CHECK(!memcmp(th_i32(z), e, sizeof e));
    ssl3d_tensor_release(z);
    ssl3d_tensor_release(l);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(zscore_over_nonzero_voxels) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    const float v[8] = { 0, 1, 2, 3, /* channel 2 */ 4, 4, 0, 8 };
    int64_t s[3] = { 2, 2, 2 };
    ssl3d_tensor *x = th_tensor(ctx, 3, s, v), *y = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_normalize_zscore(ctx, x, &y));
    const double sd1 = sqrt(2.0 / 3.0), sd2 = sqrt(32.0 / 9.0);   /* {1,2,3}; {4,4,8} mean 16/3 */
    CHECK(th_f32(y)[0] == 0.0f && th_f32(y)[6] == 0.0f);
    CHECK_NEAR(th_f32(y)[1], -1 / sd1, 1e-5);
    CHECK_NEAR(th_f32(y)[3], 1 / sd1, 1e-5);
    CHECK_NEAR(th_f32(y)[4], (4 - 16.0 / 3) / sd2, 1e-5);
    CHECK_NEAR(th_f32(y)[7], (8 - 16.0 / 3) / sd2, 1e-5);
    ssl3d_tensor_release(y);
    /* a large volume: mean 0, sd 1 over the non-zeros */
    int64_t sb[4] = { 1, 40, 41, 42 };
    ssl3d_tensor *b = th_randn(ctx, 4, sb, 0);
    float *p = ssl3d_tensor_host_data(b);
    for (int64_t i = 0; i < ssl3d_tensor_numel(b); i++) p[i] = (i % 5 == 0) ? 0.0f : 3.0f * p[i] + 7.0f;
    REQUIRE_OK(ctx, ssl3d_normalize_zscore(ctx, b, &y));
    double m = 0, q = 0, c = 0;
    for (int64_t i = 0; i < ssl3d_tensor_numel(b); i++)
        if (p[i] != 0.0f) { m += th_f32(y)[i]; q += (double)th_f32(y)[i] * th_f32(y)[i]; c++; }
    CHECK_NEAR(m / c, 0, 1e-4);
    CHECK_NEAR(sqrt(q / c), 1, 1e-4);
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(b);
    /* min-max and percentile clipping */
    float r[101];
    for (int i = 0; i < 101; i++) r[i] = (float)((i * 37) % 101);
    int64_t sr[3] = { 1, 1, 101 };
    ssl3d_tensor *t = th_tensor(ctx, 3, sr, r);
    REQUIRE_OK(ctx, ssl3d_clip_percentile(ctx, t, 10, 90, 0, &y));
    float lo = 1e9f, hi = -1e9f;
    for (int i = 0; i < 101; i++) { lo = fminf(lo, th_f32(y)[i]); hi = fmaxf(hi, th_f32(y)[i]); }
    CHECK_NEAR(lo, 10, 1e-5);
    CHECK_NEAR(hi, 90, 1e-5);
    ssl3d_tensor_release(y);
    REQUIRE_OK(ctx, ssl3d_clip_percentile(ctx, t, 25, 75, 1, &y));   /* non-zeros 1..100: 25.75, 75.25 */
    lo = 1e9f; hi = -1e9f;
    for (int i = 0; i < 101; i++) if (r[i] != 0) { lo = fminf(lo, th_f32(y)[i]); hi = fmaxf(hi, th_f32(y)[i]); }
    CHECK_NEAR(lo, 25.75, 1e-4);
    CHECK_NEAR(hi, 75.25, 1e-4);
    ssl3d_tensor_release(y);
    REQUIRE_OK(ctx, ssl3d_normalize_minmax(ctx, t, &y));
    CHECK_NEAR(th_f32(y)[1], 37.0 / 100, 1e-6);
    ssl3d_tensor_release(y);
    CHECK_ST(ctx, ssl3d_clip_percentile(ctx, t, 50, 40, 0, &y), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(t);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(nonzero_bounding_box_crop) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s[4] = { 2, 6, 7, 8 };
    ssl3d_tensor *x = NULL, *y = NULL, *l = NULL, *lo = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 4, s, &x));
    float *p = ssl3d_tensor_host_data(x);
    p[(2 * 7 + 3) * 8 + 1] = 1.0f;                 /* channel 0 at (2,3,1) */
    p[6 * 7 * 8 + (3 * 7 + 5) * 8 + 1] = -2.0f;    /* channel 1 at (3,5,1) */
    int64_t blo[3], bhi[3];
    REQUIRE_OK(ctx, ssl3d_nonzero_bbox(ctx, x, blo, bhi));
    CHECK(blo[0] == 2 && bhi[0] == 4 && blo[1] == 3 && bhi[1] == 6 && blo[2] == 1 && bhi[2] == 2);
    int64_t sl[3] = { 6, 7, 8 };
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 3, sl, &l));
    ((int32_t *)ssl3d_tensor_host_data(l))[(3 * 7 + 5) * 8 + 1] = 4;
    REQUIRE_OK(ctx, ssl3d_crop_to_nonzero(ctx, x, l, &y, &lo));
    CHECK(ssl3d_tensor_dim(y, 1) == 2 && ssl3d_tensor_dim(y, 2) == 3 && ssl3d_tensor_dim(y, 3) == 1);
    CHECK(th_f32(y)[0] == 1.0f && th_f32(y)[6 + 5] == -2.0f);
    CHECK(ssl3d_tensor_dim(lo, 0) == 2 && th_i32(lo)[5] == 4);
    ssl3d_tensor_release(y); ssl3d_tensor_release(lo); ssl3d_tensor_release(l);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(resample_spacing_2_to_1_doubles_the_shape) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s[4] = { 1, 4, 5, 6 };
    ssl3d_tensor *x = th_iota(ctx, 4, s), *y = NULL;
    REQUIRE(x);
    const double two[3] = { 2, 2, 2 }, one[3] = { 1, 1, 1 };
    REQUIRE_OK(ctx, ssl3d_resample_spacing(ctx, x, two, one, &y));
    CHECK(ssl3d_tensor_dim(y, 1) == 8 && ssl3d_tensor_dim(y, 2) == 10 && ssl3d_tensor_dim(y, 3) == 12);
    /* out (1,1,1) samples x at (0.25, 0.25, 0.25): linear in the index -> 0.25 * (30 + 6 + 1) */
    CHECK_NEAR(th_f32(y)[(1 * 10 + 1) * 12 + 1], 0.25 * 37, 1e-4);
    CHECK_NEAR(th_f32(y)[0], 0, 1e-6);                   /* clamped at the edge */
    ssl3d_tensor_release(y);
    REQUIRE_OK(ctx, ssl3d_resample_spacing(ctx, x, one, two, &y));   /* 4,5,6 -> 2,3,3 (round half up) */
    CHECK(ssl3d_tensor_dim(y, 1) == 2 && ssl3d_tensor_dim(y, 2) == 3 && ssl3d_tensor_dim(y, 3) == 3);
    ssl3d_tensor_release(y);
    /* 2D label: nearest keeps values */
    int32_t lab[4] = { 1, 2, 3, 4 };
    int64_t sl[2] = { 2, 2 };
    ssl3d_tensor *l = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, sl, lab, &l));
    REQUIRE_OK(ctx, ssl3d_resample_spacing(ctx, l, two, one, &y));
    const int32_t e[16] = { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 };
    CHECK(!memcmp(th_i32(y), e, sizeof e));
    ssl3d_tensor_release(y);
    ssl3d_tensor_release(l);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(intensity_noise_and_brightness) {
    ssl3d_ctx *a = th_ctx(1, 0), *b = th_ctx(2, 0);
    REQUIRE(a && b);
    int64_t s[4] = { 1, 20, 20, 20 };
    ssl3d_tensor *xa = NULL, *xb = NULL, *ya = NULL, *yb = NULL;
    REQUIRE_OK(a, ssl3d_tensor_create(a, SSL3D_F32, 4, s, &xa));
    REQUIRE_OK(b, ssl3d_tensor_create(b, SSL3D_F32, 4, s, &xb));
    REQUIRE_OK(a, ssl3d_gaussian_noise(a, xa, 0.5f, 7, 1, &ya));
    REQUIRE_OK(b, ssl3d_gaussian_noise(b, xb, 0.5f, 7, 1, &yb));
    CHECK(th_tensors_identical(a, ya, yb));
    double m = 0, q = 0;
    for (int i = 0; i < 8000; i++) { m += th_f32(ya)[i]; q += (double)th_f32(ya)[i] * th_f32(ya)[i]; }
    CHECK_NEAR(m / 8000, 0, 0.03);
    CHECK_NEAR(sqrt(q / 8000), 0.5, 0.03);
    ssl3d_tensor_release(yb);
    REQUIRE_OK(a, ssl3d_brightness_contrast(a, ya, 2.0f, 1.0f, &yb));
    CHECK_NEAR(th_f32(yb)[17], 2.0 * th_f32(ya)[17] + 1.0, 1e-6);
    ssl3d_tensor_release(ya); ssl3d_tensor_release(yb);
    ssl3d_tensor_release(xa); ssl3d_tensor_release(xb);
    ssl3d_ctx_release(a);
    ssl3d_ctx_release(b);
}

TEST(transform_misuse_is_reported) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_tensor *y = (ssl3d_tensor *)0x1;
    CHECK_ST(ctx, ssl3d_flip(ctx, NULL, 0, &y), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "x is NULL") != NULL);
    int64_t s1[1] = { 5 }, s3[3] = { 4, 4, 4 };
    ssl3d_tensor *v = NULL, *l = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 1, s1, &v));
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, 3, s3, &l));
    CHECK_ST(ctx, ssl3d_zoom(ctx, v, 1.1, &y), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "ssl3d_zoom") != NULL);
    CHECK_ST(ctx, ssl3d_normalize_zscore(ctx, l, &y), SSL3D_ERR_DTYPE);
    CHECK_ST(ctx, ssl3d_zoom(ctx, l, -1.0, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_rot90(ctx, l, 1, 1, 1, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_rotate(ctx, l, 10.0, 0, 1, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_pad_to_multiple(ctx, l, 0, 0, &y), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_crop_to_nonzero(ctx, l, NULL, &y, NULL), SSL3D_ERR_DTYPE);
    ssl3d_augment *aug = NULL;
    REQUIRE_OK(ctx, ssl3d_augment_create(ctx, &aug));
    CHECK_ST(ctx, ssl3d_augment_set_zoom(ctx, aug, 1.2f, 0.8f), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_augment_set_geometry(ctx, aug, 1.5f, 0, 0, 0), SSL3D_ERR_INVALID_ARG);
    int64_t s4[4] = { 1, 4, 4, 5 };
    ssl3d_tensor *x = NULL, *xo = NULL, *lo = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 4, s4, &x));
    CHECK_ST(ctx, ssl3d_augment_apply(ctx, aug, x, l, 0, 0, &xo, &lo), SSL3D_ERR_SHAPE);
    int64_t sb[5] = { 3, 1, 4, 4, 5 };
    ssl3d_tensor *batch = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 5, sb, &batch));
    CHECK_ST(ctx, ssl3d_batch_set(ctx, batch, 3, x), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_batch_set(ctx, batch, 0, l), SSL3D_ERR_DTYPE);
    ssl3d_tensor_fill(ctx, x, 2.0f);
    REQUIRE_OK(ctx, ssl3d_batch_set(ctx, batch, 2, x));
    CHECK(th_f32(batch)[2 * 80] == 2.0f && th_f32(batch)[2 * 80 - 1] == 0.0f && th_f32(batch)[239] == 2.0f);
    CHECK(y == (ssl3d_tensor *)0x1);
    ssl3d_augment_release(aug);
    ssl3d_augment_release(NULL);
    ssl3d_tensor_release(batch);
    ssl3d_tensor_release(x);
    ssl3d_tensor_release(v);
    ssl3d_tensor_release(l);
    ssl3d_ctx_release(ctx);
}
