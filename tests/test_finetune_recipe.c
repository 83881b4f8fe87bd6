/* The fine-tuning recipe: augmentation of image + label patches (alignment, determinism
 * across seeds and thread counts, intensity transforms), recipe options, the automatic
 * patch / batch, balanced sampling and test-time mirroring. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "harness.h"
#include "finetune_fixture.h"
#include "test_augment_util.h"
#include "../src/finetune/finetune_recipe.h"

static ft_aug spatial_only(float rot, float scale, float mirror) {
    ft_aug a;
    memset(&a, 0, sizeof a);
    a.mirror = mirror;
    a.rot_prob = rot; a.rot_deg = 30;
    a.scale_prob = scale; a.scale_lo = 0.7f; a.scale_hi = 1.4f;
    a.noise_std = 0.1f; a.blur_lo = 0.5f; a.blur_hi = 1.0f;
    a.bright_lo = a.contrast_lo = 0.75f; a.bright_hi = a.contrast_hi = 1.25f;
    a.gamma_lo = 0.7f; a.gamma_hi = 1.5f;
    return a;
}

TEST(finetune_augment_keeps_image_and_label_aligned) {
    float *img = malloc(3 * N0 * N1 * N2 * sizeof *img);
    int32_t *lab = malloc(N0 * N1 * N2 * sizeof *lab);
    REQUIRE(img && lab);
    coord_volume(img, lab);
    const int64_t S[3] = { N0, N1, N2 }, p[3] = { 16, 16, 16 }, pv = 16 * 16 * 16, off[3] = { 2, 4, 1 };
    float *out = malloc(3 * pv * sizeof *out), *scratch = malloc(4 * pv * sizeof *scratch);
    int32_t *lout = malloc(pv * sizeof *lout);
    REQUIRE(out && lout && scratch);
    const float settings[4][3] = { { 0, 0, 1 }, { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0.5f } };
    for (int s = 0; s < 4; s++) {
        ft_aug a = spatial_only(settings[s][0], settings[s][1], settings[s][2]);
        int64_t inside = 0, bad = 0;
        for (uint64_t k = 0; k < 12; k++) {
            ssl3d_rng r;
            ssl3d_rng_init(&r, 7, k);
            ft_aug_patch(&a, 0, &r, img, lab, 3, S, off, p, out, lout, scratch, 2);
            inside += check_aligned(out, lout, p, &bad);
        }
        CHECK_MSG(bad == 0 && inside > 12 * pv / 4, "setting %d: %lld of %lld inside voxels misaligned", s,
                  (long long)bad, (long long)inside);
    }
    /* No spatial transform: an exact copy of the window, image and label. */
    ft_aug none = spatial_only(0, 0, 0);
    ssl3d_rng r;
    ssl3d_rng_init(&r, 1, 1);
    ft_aug_patch(&none, 0, &r, img, lab, 3, S, off, p, out, lout, scratch, 1);
    int64_t diff = 0;
    for (int64_t a = 0; a < 16; a++)
        for (int64_t b = 0; b < 16; b++)
            for (int64_t c = 0; c < 16; c++) {
                int64_t v = (a * 16 + b) * 16 + c;
                int64_t sa = a + off[0], sb = b + off[1], sc = c + off[2];
                int in = sa < N0 && sb < N1 && sc < N2;
                int64_t sv = (sa * N1 + sb) * N2 + sc;
                diff += lout[v] != (in ? lab[sv] : 0);
                diff += out[v] != (in ? (float)sa : 0.0f);
            }
    CHECK(diff == 0);
    /* Mirror only: label and image stay integer-aligned (no interpolation at all). */
    ft_aug mir = spatial_only(0, 0, 1);
    ssl3d_rng_init(&r, 1, 2);
    ft_aug_patch(&mir, 0, &r, img, lab, 3, S, off, p, out, lout, scratch, 1);
    diff = 0;
    for (int64_t v = 0; v < pv; v++)
        if (lout[v] > 0) {
            int64_t s = lout[v] - 1;
            diff += out[v] != (float)(s / (N1 * N2)) || out[pv + v] != (float)((s / N2) % N1) ||
                    out[2 * pv + v] != (float)(s % N2);
        }
    CHECK(diff == 0);
    /* The mirrored window reverses axis 0: the first output row reads the window's last. */
    CHECK(out[0] == (float)(off[0] + 15));
    free(img); free(lab); free(out); free(lout); free(scratch);
}

TEST(finetune_augment_2d_slice_stays_in_its_slice) {
    float *img = malloc(3 * N0 * N1 * N2 * sizeof *img);
    int32_t *lab = malloc(N0 * N1 * N2 * sizeof *lab);
    REQUIRE(img && lab);
    coord_volume(img, lab);
    const int64_t S[3] = { N0, N1, N2 }, p[3] = { 1, 16, 16 }, pv = 256, off[3] = { 7, 3, 1 };
    float out[3 * 256], scratch[4 * 256];
    int32_t lout[256];
    ft_aug a = spatial_only(1, 1, 1);
    int64_t bad = 0, inside = 0;
    for (uint64_t k = 0; k < 10; k++) {
        ssl3d_rng r;
        ssl3d_rng_init(&r, 3, k);
        ft_aug_patch(&a, 1, &r, img, lab, 3, S, off, p, out, lout, scratch, 1);
        for (int64_t v = 0; v < pv; v++) {
            if (lout[v] == 0) continue;
            inside++;
            /* slice 7, never mirrored or rotated out of it (border voxels blend with the
             * zero outside in-plane, so the coordinate channel is at most 7) */
            bad += out[v] > 7.0f + 1e-5f || (lout[v] - 1) / (N1 * N2) != 7;
        }
    }
    CHECK(bad == 0 && inside > 0);
    free(img); free(lab);
}

/* Same seed: the same bytes, whatever the thread count; another seed: different. */
TEST(finetune_augment_deterministic_for_seed_and_threads) {
    float *img = malloc(3 * N0 * N1 * N2 * sizeof *img);
    int32_t *lab = malloc(N0 * N1 * N2 * sizeof *lab);
    REQUIRE(img && lab);
    coord_volume(img, lab);
    const int64_t S[3] = { N0, N1, N2 }, p[3] = { 16, 16, 16 }, pv = 4096, off[3] = { 1, 2, 0 };
    ft_recipe rc;
    ft_recipe_defaults(&rc, SSL3D_FT_SEGMENT);
    for (int i = 0; i < FT_AUG_KEYS; i++) rc.aug_over[i] = NAN;
    ft_recipe_finish(&rc, 1);
    /* every transform on, so that each one is covered */
    ft_aug a = rc.aug;
    a.rot_prob = a.scale_prob = a.noise_prob = a.blur_prob = a.bright_prob = a.contrast_prob = a.gamma_prob = 1;
    a.elastic_prob = 1;
    float *o[3], scratch[4 * 4096];
    int32_t *l[3];
    for (int i = 0; i < 3; i++) { o[i] = malloc(3 * pv * sizeof(float)); l[i] = malloc(pv * sizeof(int32_t)); }
    const int threads[3] = { 1, 2, 1 };
    const uint64_t seeds[3] = { 5, 5, 6 };
    for (int i = 0; i < 3; i++) {
        ssl3d_rng r;
        ssl3d_rng_init(&r, seeds[i], 42);
        ft_aug_patch(&a, 0, &r, img, lab, 3, S, off, p, o[i], l[i], scratch, threads[i]);
    }
    CHECK(memcmp(o[0], o[1], 3 * pv * sizeof(float)) == 0 && memcmp(l[0], l[1], pv * sizeof(int32_t)) == 0);
    CHECK(memcmp(o[0], o[2], 3 * pv * sizeof(float)) != 0);
    for (int i = 0; i < 3; i++) { free(o[i]); free(l[i]); }
    free(img); free(lab);
}

/* Intensity transforms touch the image only: the label is the spatial-only one; gamma
 * keeps mean and sd; contrast keeps the range; brightness scales. */
TEST(finetune_augment_intensity_transforms) {
    float *img = malloc(3 * N0 * N1 * N2 * sizeof *img);
    int32_t *lab = malloc(N0 * N1 * N2 * sizeof *lab);
    REQUIRE(img && lab);
    coord_volume(img, lab);
    const int64_t S[3] = { N0, N1, N2 }, p[3] = { 16, 16, 16 }, pv = 4096, off[3] = { 1, 2, 0 };
    float *base = malloc(3 * pv * sizeof(float)), *o = malloc(3 * pv * sizeof(float)), scratch[4 * 4096];
    int32_t *lb = malloc(pv * sizeof(int32_t)), *lo = malloc(pv * sizeof(int32_t));
    REQUIRE(base && o && lb && lo);
    ft_aug plain = spatial_only(0, 0, 0);
    ssl3d_rng r;
    ssl3d_rng_init(&r, 9, 0);
    ft_aug_patch(&plain, 0, &r, img, lab, 3, S, off, p, base, lb, scratch, 1);
    /* one transform at a time, always on */
    for (int t = 0; t < 5; t++) {
        ft_aug a = spatial_only(0, 0, 0);
        if (t == 0) a.gamma_prob = 1;
        if (t == 1) a.contrast_prob = 1;
        if (t == 2) a.bright_prob = 1;
        if (t == 3) a.noise_prob = 1;
        if (t == 4) a.blur_prob = 1;
        ssl3d_rng_init(&r, 9, 0);
        ft_aug_patch(&a, 0, &r, img, lab, 3, S, off, p, o, lo, scratch, 1);
        CHECK_MSG(memcmp(lb, lo, pv * sizeof(int32_t)) == 0, "transform %d changed the label map", t);
        CHECK_MSG(memcmp(base, o, 3 * pv * sizeof(float)) != 0, "transform %d changed nothing", t);
        double m0 = 0, m1 = 0, s0 = 0, s1 = 0;
        float mn0 = 1e9f, mx0 = -1e9f, mn1 = 1e9f, mx1 = -1e9f;
        for (int64_t v = 0; v < pv; v++) {
            m0 += base[pv + v]; m1 += o[pv + v];
            mn0 = fminf(mn0, base[pv + v]); mx0 = fmaxf(mx0, base[pv + v]);
            mn1 = fminf(mn1, o[pv + v]); mx1 = fmaxf(mx1, o[pv + v]);
        }
        m0 /= pv; m1 /= pv;
        for (int64_t v = 0; v < pv; v++) { s0 += (base[pv + v] - m0) * (base[pv + v] - m0); s1 += (o[pv + v] - m1) * (o[pv + v] - m1); }
        s0 = sqrt(s0 / pv); s1 = sqrt(s1 / pv);
        if (t == 0) CHECK_MSG(fabs(m0 - m1) < 1e-3 && fabs(s0 - s1) < 1e-3, "gamma: mean %g -> %g, sd %g -> %g", m0, m1, s0, s1);
        if (t == 1) CHECK_MSG(mn1 >= mn0 && mx1 <= mx0 && fabs(m0 - m1) < 0.3, "contrast: range [%g,%g] -> [%g,%g]", mn0, mx0, mn1, mx1);
        if (t == 2) {
            double f = m1 / m0;
            CHECK(f >= 0.75 && f <= 1.25 && fabs(o[pv + 100] - f * base[pv + 100]) < 1e-3);
        }
        if (t == 3) CHECK(fabs(m0 - m1) < 0.05);
        if (t == 4) CHECK(fabs(m0 - m1) < 0.05 && s1 < s0 + 1e-6);
    }
    free(img); free(lab); free(base); free(o); free(lb); free(lo);
}

TEST(finetune_recipe_options_and_auto_patch) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ft_recipe rc;
    ssl3d_status st;
    ft_recipe_defaults(&rc, SSL3D_FT_SEGMENT);
    CHECK(rc.optimizer == FT_OPT_ADAM && rc.schedule == FT_SCHED_POLY && rc.grad_clip == 12);
    CHECK(ft_recipe_lr(&rc) == 2e-3 && ft_recipe_weight_decay(&rc) == 0);
    CHECK(ft_recipe_parse(ctx, &rc, "optimizer", "sgd", &st) == 1 && st == SSL3D_OK);
    /* nnU-Net's SGD setting */
    CHECK(rc.nesterov == 1 && rc.momentum == 0.99 && ft_recipe_lr(&rc) == 1e-2 && ft_recipe_weight_decay(&rc) == 3e-5);
    CHECK(ft_recipe_parse(ctx, &rc, "rot_prob", "0.5", &st) == 1 && st == SSL3D_OK);
    CHECK(ft_recipe_parse(ctx, &rc, "augment", "none", &st) == 1 && st == SSL3D_OK);
    ft_recipe_finish(&rc, 1);
    /* preset none, yet the explicit override wins whatever the order */
    CHECK(rc.aug.rot_prob == 0.5f && rc.aug.scale_prob == 0 && rc.aug.mirror == 0.5f);
    CHECK(ft_recipe_parse(ctx, &rc, "optimizer", "adam", &st) == 1 && st == SSL3D_OK);
    CHECK(ft_recipe_lr(&rc) == 2e-3 && ft_recipe_weight_decay(&rc) == 0);
    CHECK(ft_recipe_parse(ctx, &rc, "schedule", "step", &st) == 1 && st == SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "schedule=step"));
    CHECK(ft_recipe_parse(ctx, &rc, "gamma_prob", "1.5", &st) == 1 && st == SSL3D_ERR_INVALID_ARG);
    CHECK(ft_recipe_parse(ctx, &rc, "no_such_key", "1", &st) == 0);
    ft_recipe_defaults(&rc, SSL3D_FT_CLASSIFY);
    ft_recipe_finish(&rc, 0);
    CHECK(rc.optimizer == FT_OPT_ADAM && rc.aug.rot_prob == 0 && rc.aug.mirror == 0 && ft_recipe_lr(&rc) == 1e-3);
    /* nnU-Net: poly with no warm-up when lr_warmup=0; the auto warm-up is 2% of the run */
    ssl3d_lr_schedule *s = NULL;
    ft_recipe_defaults(&rc, SSL3D_FT_SEGMENT);
    REQUIRE_OK(ctx, ft_make_schedule(ctx, &rc, 1000, &s));
    CHECK_NEAR(ssl3d_lr_at(s, 0), 2e-3 / 20, 1e-9);
    CHECK_NEAR(ssl3d_lr_at(s, 20), 2e-3, 1e-9);
    CHECK_NEAR(ssl3d_lr_at(s, 510), 2e-3 * pow(0.5, 0.9), 1e-8);
    ssl3d_lr_schedule_release(s);
    /* Auto patch: hippocampus-like median shape (36, 50, 35): geometric mean 39.7 -> 40
     * with 2^3, batch 128000 / 64000 = 2; a tiny budget caps the side. */
    int64_t shapes[9] = { 36, 50, 35, 34, 48, 30, 40, 52, 38 };
    int32_t patch = 0, batch = 0;
    ft_auto_patch_batch(shapes, 3, 8, 128000, 3, &patch, &batch);
    CHECK_MSG(patch == 40 && batch == 2, "patch %d batch %d", (int)patch, (int)batch);
    ft_auto_patch_batch(shapes, 3, 8, 2 * 24 * 24 * 24, 3, &patch, &batch);
    CHECK(patch == 24 && batch == 2);
    ft_auto_patch_batch(shapes, 3, 16, 128000, 3, &patch, &batch);   /* 48 > cap 32 */
    CHECK(patch == 32 && batch == 3);
    int64_t small[3] = { 8, 8, 8 };
    ft_auto_patch_batch(small, 1, 4, 128000, 3, &patch, &batch);
    CHECK(patch == 8 && batch == 16);
    ft_auto_patch_batch(shapes, 3, 8, 128000, 2, &patch, &batch);   /* 2D: sqrt(50*35) = 41.8 -> 48 */
    CHECK(patch == 48 && batch == 55);
    ssl3d_ctx_release(ctx);
}

TEST(finetune_balanced_sampling_evens_classes) {
    int32_t cls[100];
    for (int i = 0; i < 100; i++) cls[i] = i < 90 ? 0 : 1;   /* 10% positives */
    int64_t order[100];
    int64_t pos = 0;
    for (uint64_t e = 0; e < 20; e++) {
        ft_balanced_order(1, e, cls, 100, 2, order);
        for (int i = 0; i < 100; i++) { CHECK(order[i] >= 0 && order[i] < 100); pos += cls[order[i]] == 1; }
    }
    CHECK_MSG(pos > 900 && pos < 1100, "%lld positives of 2000 draws", (long long)pos);
    int64_t again[100];
    ft_balanced_order(1, 19, cls, 100, 2, again);
    CHECK(memcmp(order, again, sizeof order) == 0);
}

/* ---------------------------------------------------------------- resumable runs */

/* A run stopped after 2 of 4 epochs and continued from its resume file by a fresh model
 * (other initial weights) gives the uninterrupted run's losses and final (best-restored)
 * weights, bit for bit; other options are refused, naming the file. */
TEST(finetune_resume_continues_bitwise) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    ssl3d_manifest *man = tf_seg_manifest(ctx, 8, 4);
    REQUIRE(man);
    const char *base = "epochs=4,batch=2,patch=8,val_fraction=0.25,seed=2,steps_per_epoch=3,rot_prob=0.5";
    tf_resumed r;
    REQUIRE(tf_run_resumed(ctx, man, 4, 2, base, 2, &r));
    tf_check_resumed(&r, 4);
    char other[256];
    snprintf(other, sizeof other, "%s,lr=0.5", base);
    tf_check_resume_refused(ctx, &r, man, other);
    ssl3d_ftmodel_release(r.whole); ssl3d_ftmodel_release(r.resumed);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

/* Test-time mirroring: the averaged prediction is mirror-equivariant (mirroring the input
 * mirrors the probabilities), which a single pass of a random network is not; 2D models
 * mirror in-plane only. */
TEST(finetune_tta_is_mirror_equivariant) {
    ssl3d_ctx *ctx = th_ctx(2, 3);
    REQUIRE(ctx);
    for (int dims = 3; dims >= 2; dims--) {
        ssl3d_ftmodel *m = NULL;
        REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, dims, 1, 3, 4, 2, SSL3D_NORM_INSTANCE, 0, 0, &m));
        int64_t xs[4] = { 1, 6, 9, 7 };
        ssl3d_tensor *x = th_randn(ctx, 4, xs, 1), *xf = NULL;
        REQUIRE(x);
        const int axis = 2;   /* W: mirrored by 3D and 2D models alike */
        REQUIRE_OK(ctx, ssl3d_flip(ctx, x, axis, &xf));
        double gap[2] = { 0, 0 };
        for (int tta = 0; tta < 2; tta++) {
            REQUIRE_OK(ctx, ssl3d_ftmodel_set_tta(ctx, m, tta));
            CHECK(ssl3d_ftmodel_tta(m) == tta);
            ssl3d_tensor *p = NULL, *pf = NULL, *pff = NULL, *lab = NULL;
            REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m, x, 0, 0.5f, &p, &lab));
            REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m, xf, 0, 0.5f, &pf, NULL));
            REQUIRE_OK(ctx, ssl3d_flip(ctx, pf, axis, &pff));
            const float *a = ssl3d_tensor_host_data(p), *b = ssl3d_tensor_host_data(pff);
            for (int64_t i = 0; i < p->numel; i++) gap[tta] = fmax(gap[tta], fabs((double)a[i] - b[i]));
            /* probabilities sum to 1 and the labels are their argmax */
            const int64_t V = p->numel / 3;
            int64_t badsum = 0, badarg = 0;
            for (int64_t v = 0; v < V; v++) {
                badsum += fabs((double)a[v] + a[V + v] + a[2 * V + v] - 1.0) > 1e-5;
                int32_t k = ((const int32_t *)ssl3d_tensor_host_data(lab))[v];
                badarg += a[k * V + v] < a[v] || a[k * V + v] < a[V + v] || a[k * V + v] < a[2 * V + v];
            }
            CHECK(badsum == 0 && badarg == 0);
            ssl3d_tensor_release(p); ssl3d_tensor_release(pf); ssl3d_tensor_release(pff); ssl3d_tensor_release(lab);
        }
        CHECK_MSG(gap[1] < 1e-5 && gap[0] > 1e-3, "dims %d: mirror gap %g without, %g with test-time mirroring", dims,
                  gap[0], gap[1]);
        /* A 2D model never mirrors across slices: the depth flip is not undone. */
        if (dims == 2) {
            ssl3d_tensor *xd = NULL, *p = NULL, *pd = NULL, *pdd = NULL;
            REQUIRE_OK(ctx, ssl3d_flip(ctx, x, 0, &xd));
            REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m, x, 0, 0.5f, &p, NULL));
            REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, m, xd, 0, 0.5f, &pd, NULL));
            REQUIRE_OK(ctx, ssl3d_flip(ctx, pd, 0, &pdd));
            /* slice-wise: flipping the slice order permutes slices exactly */
            CHECK(th_tensors_identical(ctx, p, pdd));
            ssl3d_tensor_release(xd); ssl3d_tensor_release(p); ssl3d_tensor_release(pd); ssl3d_tensor_release(pdd);
        }
        CHECK_ST(ctx, ssl3d_ftmodel_set_tta(ctx, m, 2), SSL3D_ERR_INVALID_ARG);
        ssl3d_tensor_release(x); ssl3d_tensor_release(xf);
        ssl3d_ftmodel_release(m);
    }
    ssl3d_ctx_release(ctx);
}
