/* Elastic deformation of fine-tuning patches (finetune_elastic.c through ft_aug_patch),
 * over a table of 2D and 3D cases: image and label stay aligned voxel for voxel, the image
 * reads exactly the displaced point, the field is deterministic for a seed whatever the
 * thread count, smooth and bounded by alpha, zero magnitude is the identity and leaves the
 * other draws alone, bad options are refused naming the option, and training runs with it. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "harness.h"
#include "finetune_fixture.h"
#include "test_augment_util.h"
#include "../src/finetune/finetune_recipe.h"

typedef struct el_case {
    const char *name;
    int twod;
    int64_t p[3], off[3];
    float alpha, sigma_lo, sigma_hi;   /* elastic */
    float rot, scale, mirror;          /* the affine part's probabilities */
} el_case;

/* Patches of the 20 x 24 x 18 coordinate volume (test_augment_util.h); small sigmas so
 * that a 16-voxel patch holds more than one bump of the field. */
static const el_case CASES[] = {
    { "3D elastic only", 0, { 16, 16, 16 }, { 2, 4, 1 }, 4, 3, 5, 0, 0, 0 },
    { "3D elastic + rotation + scaling + mirror", 0, { 16, 16, 16 }, { 2, 4, 1 }, 4, 3, 5, 1, 1, 0.5f },
    { "3D non-cubic, large alpha", 0, { 12, 16, 10 }, { 4, 4, 4 }, 8, 2, 4, 1, 0, 0 },
    { "2D slice elastic only", 1, { 1, 16, 16 }, { 7, 3, 1 }, 4, 3, 5, 0, 0, 0 },
    { "2D slice, all spatial", 1, { 1, 20, 14 }, { 9, 2, 2 }, 4, 3, 5, 1, 1, 0.5f },
};
#define NCASES ((int)(sizeof CASES / sizeof *CASES))

static ft_aug case_aug(const el_case *c, float elastic_prob) {
    ft_aug a;
    memset(&a, 0, sizeof a);
    a.mirror = c->mirror;
    a.rot_prob = c->rot; a.rot_deg = 30;
    a.scale_prob = c->scale; a.scale_lo = 0.7f; a.scale_hi = 1.4f;
    a.elastic_prob = elastic_prob; a.elastic_alpha = c->alpha;
    a.elastic_sigma_lo = c->sigma_lo; a.elastic_sigma_hi = c->sigma_hi;
    return a;
}

typedef struct el_bufs { float *img, *out, *scratch, *field; int32_t *lab, *lout, *lref; } el_bufs;

static int bufs_new(el_bufs *b) {
    const int64_t nv = N0 * N1 * N2, pv = 16 * 20 * 16;   /* the largest patch of CASES */
    b->img = malloc(3 * nv * sizeof(float)); b->lab = malloc(nv * sizeof(int32_t));
    b->out = malloc(3 * pv * sizeof(float)); b->scratch = malloc(4 * pv * sizeof(float));
    b->field = malloc(4 * pv * sizeof(float));
    b->lout = malloc(pv * sizeof(int32_t)); b->lref = malloc(pv * sizeof(int32_t));
    if (!b->img || !b->lab || !b->out || !b->scratch || !b->field || !b->lout || !b->lref) return 0;
    coord_volume(b->img, b->lab);
    return 1;
}

static void bufs_free(el_bufs *b) {
    free(b->img); free(b->lab); free(b->out); free(b->scratch); free(b->field); free(b->lout); free(b->lref);
}

TEST(finetune_elastic_keeps_image_and_label_aligned) {
    el_bufs b;
    REQUIRE(bufs_new(&b));
    const int64_t S[3] = { N0, N1, N2 };
    for (int ci = 0; ci < NCASES; ci++) {
        const el_case *c = &CASES[ci];
        const int64_t pv = c->p[0] * c->p[1] * c->p[2];
        ft_aug on = case_aug(c, 1), off = case_aug(c, 0);
        int64_t inside = 0, bad = 0, moved = 0, off_slice = 0;
        for (uint64_t k = 0; k < 12; k++) {
            ssl3d_rng r;
            ssl3d_rng_init(&r, 7, k);
            ft_aug_patch(&off, c->twod, &r, b.img, b.lab, 3, S, c->off, c->p, b.out, b.lref, b.scratch, 1);
            ssl3d_rng_init(&r, 7, k);
            ft_aug_patch(&on, c->twod, &r, b.img, b.lab, 3, S, c->off, c->p, b.out, b.lout, b.scratch, 2);
            inside += check_aligned(b.out, b.lout, c->p, &bad);
            for (int64_t v = 0; v < pv; v++) {
                moved += b.lout[v] != b.lref[v];
                /* 2D: never deformed out of its slice */
                if (c->twod && b.lout[v] > 0) off_slice += (b.lout[v] - 1) / (N1 * N2) != c->off[0];
            }
        }
        CHECK_MSG(bad == 0 && inside > 12 * pv / 4, "%s: %lld of %lld inside voxels misaligned", c->name,
                  (long long)bad, (long long)inside);
        CHECK_MSG(moved > 12 * pv / 10, "%s: the field moved only %lld labels", c->name, (long long)moved);
        CHECK_MSG(off_slice == 0, "%s: %lld labels from another slice", c->name, (long long)off_slice);
    }
    bufs_free(&b);
}

/* Without the affine part the source point of output voxel o is off + o + d(o): the image
 * channels hold it exactly (linear interpolation of a linear function) and the label map
 * the voxel nearest to it. d is recomputed by ft_elastic_field from the same stream. */
TEST(finetune_elastic_image_reads_the_displaced_point) {
    el_bufs b;
    REQUIRE(bufs_new(&b));
    const int64_t S[3] = { N0, N1, N2 };
    for (int ci = 0; ci < NCASES; ci++) {
        el_case c = CASES[ci];
        c.rot = c.scale = c.mirror = 0;
        const int64_t pv = c.p[0] * c.p[1] * c.p[2];
        ft_aug a = case_aug(&c, 1);
        int64_t checked = 0, bad_img = 0, bad_lab = 0;
        for (uint64_t k = 0; k < 4; k++) {
            ssl3d_rng r;
            ssl3d_rng_init(&r, 11, k);
            ft_aug_patch(&a, c.twod, &r, b.img, b.lab, 3, S, c.off, c.p, b.out, b.lout, b.scratch, 1);
            /* no noise drawn: r stands where the field was drawn */
            REQUIRE(ft_elastic_field(&a, c.twod, &r, c.p, b.field, b.field + 3 * pv, 1) == 1);
            for (int64_t v = 0; v < pv; v++) {
                const int64_t o[3] = { v / (c.p[1] * c.p[2]), (v / c.p[2]) % c.p[1], v % c.p[2] };
                double q[3];
                int in = 1;
                for (int ax = 0; ax < 3; ax++) {
                    q[ax] = (double)(o[ax] + c.off[ax]) + (double)b.field[ax * pv + v];
                    in &= q[ax] >= 0 && ceil(q[ax]) <= (double)S[ax] - 1;
                }
                if (!in) continue;
                checked++;
                int64_t n[3];
                for (int ax = 0; ax < 3; ax++) {
                    bad_img += fabs(b.out[ax * pv + v] - q[ax]) > 1e-3;
                    n[ax] = (int64_t)floor(q[ax] + 0.5);
                }
                bad_lab += b.lout[v] != (int32_t)((n[0] * N1 + n[1]) * N2 + n[2] + 1);
            }
        }
        CHECK_MSG(checked > pv && bad_img == 0 && bad_lab == 0, "%s: %lld checked, %lld image / %lld label mismatches",
                  c.name, (long long)checked, (long long)bad_img, (long long)bad_lab);
    }
    bufs_free(&b);
}

TEST(finetune_elastic_field_smooth_bounded_deterministic) {
    el_bufs b;
    REQUIRE(bufs_new(&b));
    float *f2 = malloc(4 * 16 * 20 * 16 * sizeof(float));
    REQUIRE(f2);
    for (int ci = 0; ci < NCASES; ci++) {
        const el_case *c = &CASES[ci];
        const int64_t pv = c->p[0] * c->p[1] * c->p[2], stride[3] = { c->p[1] * c->p[2], c->p[2], 1 };
        ft_aug a = case_aug(c, 1);
        ssl3d_rng r;
        ssl3d_rng_init(&r, 3, 5);
        /* same stream: the same bytes for 1 and 2 threads */
        REQUIRE(ft_elastic_field(&a, c->twod, &r, c->p, b.field, b.field + 3 * pv, 1) == 1);
        REQUIRE(ft_elastic_field(&a, c->twod, &r, c->p, f2, f2 + 3 * pv, 2) == 1);
        CHECK_MSG(memcmp(b.field, f2, 3 * pv * sizeof(float)) == 0, "%s: differs with 2 threads", c->name);
        /* another seed, another caller position: another field */
        ssl3d_rng r2 = r;
        r2.seed = 4;
        REQUIRE(ft_elastic_field(&a, c->twod, &r2, c->p, f2, f2 + 3 * pv, 1) == 1);
        CHECK(memcmp(b.field, f2, 3 * pv * sizeof(float)) != 0);
        r2 = r;
        r2.counter++;
        REQUIRE(ft_elastic_field(&a, c->twod, &r2, c->p, f2, f2 + 3 * pv, 1) == 1);
        CHECK(memcmp(b.field, f2, 3 * pv * sizeof(float)) != 0);
        /* bounded by alpha; 2D: nothing across slices */
        double big = 0;
        int64_t across = 0;
        for (int64_t v = 0; v < 3 * pv; v++) big = fmax(big, fabs(b.field[v]));
        for (int64_t v = 0; v < pv; v++) across += b.field[v] != 0.0f;
        CHECK_MSG(big > 0 && big <= c->alpha * (1 + 1e-6), "%s: largest displacement %g, alpha %g", c->name, big,
                  (double)c->alpha);
        CHECK_MSG(c->twod ? across == 0 : across > pv / 2, "%s: %lld voxels move across axis 0", c->name,
                  (long long)across);
        /* Smooth: neighbour differences against the field's size. Gaussian-smoothed white
         * noise gives E[(d(x+1) - d(x))^2] / E[d^2] = 2 (1 - exp(-1 / (4 sigma^2))) ~ 1 /
         * (2 sigma^2); unsmoothed noise gives 2. Bound: 2 / sigma^2 (4x margin). */
        for (int comp = c->twod; comp < 3; comp++) {
            const float *d = b.field + comp * pv;
            double ms = 0;
            for (int64_t v = 0; v < pv; v++) ms += (double)d[v] * d[v];
            ms /= (double)pv;
            for (int ax = c->twod; ax < 3; ax++) {
                double diff = 0;
                int64_t cnt = 0;
                for (int64_t v = 0; v < pv; v++) {
                    if ((v / stride[ax]) % c->p[ax] == c->p[ax] - 1) continue;
                    double e = (double)d[v + stride[ax]] - d[v];
                    diff += e * e;
                    cnt++;
                }
                const double ratio = diff / (double)cnt / ms, bound = 2.0 / (c->sigma_lo * c->sigma_lo);
                CHECK_MSG(ratio < bound, "%s: component %d along axis %d: roughness %g >= %g", c->name, comp, ax,
                          ratio, bound);
            }
        }
        /* The largest displacement is ~ U(0, alpha); the probability is honoured. */
        double sum = 0, lo = 1, hi = 0;
        for (uint64_t k = 0; k < 40; k++) {
            ssl3d_rng_init(&r2, 9, k);
            REQUIRE(ft_elastic_field(&a, c->twod, &r2, c->p, f2, f2 + 3 * pv, 1) == 1);
            double m = 0;
            for (int64_t v = 0; v < 3 * pv; v++) m = fmax(m, fabs(f2[v]));
            m /= c->alpha;
            sum += m; lo = fmin(lo, m); hi = fmax(hi, m);
        }
        CHECK_MSG(sum / 40 > 0.35 && sum / 40 < 0.65 && lo < 0.2 && hi > 0.8,
                  "%s: largest displacement / alpha: mean %g, range [%g, %g]", c->name, sum / 40, lo, hi);
        a.elastic_prob = 0.5f;
        int on = 0;
        for (uint64_t k = 0; k < 200; k++) {
            ssl3d_rng_init(&r2, 9, k);
            on += ft_elastic_field(&a, c->twod, &r2, c->p, f2, f2 + 3 * pv, 1);
        }
        CHECK_MSG(on > 70 && on < 130, "%s: on in %d of 200 draws at p 0.5", c->name, on);
        a.elastic_prob = 0;
        CHECK(ft_elastic_field(&a, c->twod, &r, c->p, f2, f2 + 3 * pv, 1) == 0);
        a.elastic_prob = 1; a.elastic_alpha = 0;
        CHECK(ft_elastic_field(&a, c->twod, &r, c->p, f2, f2 + 3 * pv, 1) == 0);
    }
    free(f2);
    bufs_free(&b);
}

/* alpha 0 with elastic on gives the bytes of elastic off, every other transform on; with
 * alpha > 0 the patch changes but the caller's stream advances exactly as without it. */
TEST(finetune_elastic_zero_magnitude_is_identity) {
    el_bufs b;
    REQUIRE(bufs_new(&b));
    const int64_t S[3] = { N0, N1, N2 };
    float *o2 = malloc(3 * 16 * 20 * 16 * sizeof(float));
    REQUIRE(o2);
    for (int ci = 0; ci < NCASES; ci++) {
        const el_case *c = &CASES[ci];
        const int64_t pv = c->p[0] * c->p[1] * c->p[2];
        ft_aug a[3];
        for (int i = 0; i < 3; i++) {
            a[i] = case_aug(c, i == 0 ? 0.0f : 1.0f);
            a[i].noise_prob = a[i].blur_prob = a[i].bright_prob = a[i].contrast_prob = a[i].gamma_prob = 1;
            a[i].noise_std = 0.1f; a[i].blur_lo = 0.5f; a[i].blur_hi = 1.0f;
            a[i].bright_lo = a[i].contrast_lo = 0.75f; a[i].bright_hi = a[i].contrast_hi = 1.25f;
            a[i].gamma_lo = 0.7f; a[i].gamma_hi = 1.5f;
        }
        a[1].elastic_alpha = 0;
        ssl3d_rng r[3];
        int32_t *labs[3] = { b.lref, b.lout, b.lout };
        float *outs[3] = { b.out, o2, o2 };
        for (int i = 0; i < 3; i++) {
            ssl3d_rng_init(&r[i], 21, 1);
            ft_aug_patch(&a[i], c->twod, &r[i], b.img, b.lab, 3, S, c->off, c->p, outs[i], labs[i], b.scratch, 1);
            if (i == 1)
                CHECK_MSG(memcmp(b.out, o2, 3 * pv * sizeof(float)) == 0 &&
                          memcmp(b.lref, b.lout, pv * sizeof(int32_t)) == 0, "%s: alpha 0 is not the identity",
                          c->name);
        }
        CHECK(memcmp(b.lref, b.lout, pv * sizeof(int32_t)) != 0);
        CHECK_MSG(r[0].counter == r[1].counter && r[0].counter == r[2].counter,
                  "%s: the caller's stream moved: %llu %llu %llu", c->name, (unsigned long long)r[0].counter,
                  (unsigned long long)r[1].counter, (unsigned long long)r[2].counter);
    }
    free(o2);
    bufs_free(&b);
}

TEST(finetune_elastic_options) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ft_recipe rc;
    ssl3d_status st;
    /* off by default in both presets (nnU-Net's default plans), nnU-Net's sigma range */
    for (int kind = 0; kind < 2; kind++) {
        ft_recipe_defaults(&rc, kind == 0 ? SSL3D_FT_SEGMENT : SSL3D_FT_CLASSIFY);
        ft_recipe_finish(&rc, 1);
        CHECK(rc.aug.elastic_prob == 0 && rc.aug.elastic_alpha == 5 && rc.aug.elastic_sigma_lo == 9 &&
              rc.aug.elastic_sigma_hi == 13);
    }
    ft_recipe_defaults(&rc, SSL3D_FT_SEGMENT);
    CHECK(ft_recipe_parse(ctx, &rc, "elastic_prob", "0.2", &st) == 1 && st == SSL3D_OK);
    CHECK(ft_recipe_parse(ctx, &rc, "elastic_alpha", "0", &st) == 1 && st == SSL3D_OK);
    CHECK(ft_recipe_parse(ctx, &rc, "elastic_sigma_lo", "12", &st) == 1 && st == SSL3D_OK);
    CHECK(ft_recipe_parse(ctx, &rc, "elastic_sigma_hi", "4", &st) == 1 && st == SSL3D_OK);
    CHECK(ft_recipe_parse(ctx, &rc, "augment", "none", &st) == 1 && st == SSL3D_OK);
    ft_recipe_finish(&rc, 0);
    /* overrides win over the preset; a reversed range is put in order (as scale_lo/hi) */
    CHECK(rc.aug.elastic_prob == 0.2f && rc.aug.elastic_alpha == 0 && rc.aug.elastic_sigma_lo == 4 &&
          rc.aug.elastic_sigma_hi == 12);
    const struct { const char *k, *v; } bad[] = {
        { "elastic_prob", "1.5" }, { "elastic_prob", "-0.1" }, { "elastic_alpha", "-1" }, { "elastic_alpha", "nan" },
        { "elastic_alpha", "101" }, { "elastic_sigma_lo", "0.5" }, { "elastic_sigma_hi", "0" },
        { "elastic_sigma_hi", "abc" }, { "elastic_sigma_lo", "" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(ft_recipe_parse(ctx, &rc, bad[i].k, bad[i].v, &st) == 1);
        char want[64];
        snprintf(want, sizeof want, "%s=%s", bad[i].k, bad[i].v);
        CHECK_MSG(st == SSL3D_ERR_INVALID_ARG && strstr(ssl3d_ctx_last_error(ctx), want),
                  "%s: status %d, error '%s'", want, (int)st, ssl3d_ctx_last_error(ctx));
    }
    /* through ssl3d_ft_train: refused before any work, naming the option */
    ssl3d_manifest *man = tf_seg_manifest(ctx, 4, 2);
    REQUIRE(man);
    ssl3d_ftmodel *m = tf_tiny_seg(ctx, 3);
    REQUIRE(m);
    CHECK_ST(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, "epochs=1,elastic_sigma_lo=0.25", NULL, NULL),
             SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "elastic_sigma_lo=0.25") != NULL);
    ssl3d_ftmodel_release(m);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}

/* A 3D and a 2D model train with every patch deformed; the same seed gives the same loss. */
TEST(finetune_elastic_trains_2d_and_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    ssl3d_manifest *man = tf_seg_manifest(ctx, 6, 3);
    REQUIRE(man);
    const char *opts = "epochs=1,batch=2,patch=8,seed=3,steps_per_epoch=2,val_fraction=0.34,"
                       "elastic_prob=1,elastic_alpha=3,elastic_sigma_lo=2,elastic_sigma_hi=3,rot_prob=1";
    for (int dims = 3; dims >= 2; dims--) {
        tf_log l[2] = { { 0 } };
        for (int rep = 0; rep < 2; rep++) {
            ssl3d_ctx_set_seed(ctx, 5);
            ssl3d_ftmodel *m = tf_tiny_seg(ctx, dims);
            REQUIRE(m);
            REQUIRE_OK(ctx, ssl3d_ft_train(ctx, m, man, NULL, 0, opts, tf_log_cb, &l[rep]));
            ssl3d_ftmodel_release(m);
        }
        char loss[2][64];
        for (int rep = 0; rep < 2; rep++) tf_loss_text(l[rep].lines[0], loss[rep], sizeof loss[rep]);
        CHECK_MSG(l[0].n == 1 && l[1].n == 1 && loss[0][0] && isfinite(tf_loss_value(l[0].lines[0])), "dims %d: %s", dims,
                  l[0].lines[0]);
        CHECK_MSG(!strcmp(loss[0], loss[1]), "dims %d: %s vs %s", dims, l[0].lines[0], l[1].lines[0]);
    }
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
}
