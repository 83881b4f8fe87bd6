/* The crop region options of the proxy tasks (region=box|inner, fg_level; task_window.c):
 * the inner square / cube on hand-made masks against hand-computed answers, the
 * foreground rule of fg_level, option parsing and errors, defaults unchanged, and the
 * shortcut they remove: an asymmetric outline on a dark non-zero background tells the
 * rotation class and the cell positions when crops come from the foreground box (the
 * whole image), not when they come from inside the object. */
#include "test_task_util.h"
#include "../src/tasks/task_window.h"

/* ---------------------------------------------------------------- inner square / cube */

typedef struct shape_case {
    const char *name;
    int dims;
    int64_t n[3];                          /* n[0] = 1 in 2D */
    int (*fg)(int64_t i, int64_t j, int64_t k);
    int64_t side, lo[3], hi[3];            /* the hand-computed answer */
} shape_case;

static int full(int64_t i, int64_t j, int64_t k) { (void)i; (void)j; (void)k; return 1; }
/* Disc of radius 4.5 about (5, 5) in 11 x 11: a 7 x 7 square centred on it has its corners
 * at squared distance 18 <= 20.25; every 8 x 8 placement has a corner at >= 2 * 3.5^2 = 24.5. */
static int disc(int64_t i, int64_t j, int64_t k) { (void)i; return (j - 5) * (j - 5) + (k - 5) * (k - 5) <= 20; }
/* Off-centre blob: a 3 x 6 bar at rows 1..3, columns 4..9, and a lone voxel at (7, 11) that
 * moves the bounding-box centre to (4, 7.5) (doubled: 8, 15). Squares of side 3 start at
 * columns 4..7 (doubled centres 10, 12, 14, 16): columns 6 and 7 tie at distance 1, and
 * the one whose last voxel comes first in scan order wins: columns 6..8. */
static int blob(int64_t i, int64_t j, int64_t k) {
    (void)i;
    return (j >= 1 && j <= 3 && k >= 4 && k <= 9) || (j == 7 && k == 11);
}
/* Ring: 12 x 12 minus the 4 x 4 hole at 4..7: the sides are 4 wide, the largest square
 * has side 4; nearest to the centre (doubled 11, 11) are the four mid-side squares (each
 * at doubled distance 8), and the first of them in scan order is rows 0..3, columns 4..7. */
static int ring(int64_t i, int64_t j, int64_t k) { (void)i; return !(j >= 4 && j <= 7 && k >= 4 && k <= 7); }
/* Ball of radius 3.5 about (4, 4, 4) in 9^3: the centred cube of side 5 has its corners at
 * 12 <= 12.25; every cube of side 6 has a corner at >= 3 * 2.5^2 = 18.75. */
static int ball(int64_t i, int64_t j, int64_t k) { return (i - 4) * (i - 4) + (j - 4) * (j - 4) + (k - 4) * (k - 4) <= 12; }
/* A 3 x 8 x 8 slab without voxel (1, 3, 3): cubes of side 3 span all of axis 0; the four
 * nearest to the centre (doubled 2, 7, 7) contain the hole, the next four are at doubled
 * distance 10, and the first of them in scan order starts at (0, 2, 4). */
static int holed_slab(int64_t i, int64_t j, int64_t k) { return !(i == 1 && j == 3 && k == 3); }
/* Concave L prism: the 6^3 cube minus i >= 3 && j >= 3 (for every k): arms 3 wide, so the
 * largest cube is 3, and it must start at i = 0 or j = 0. The bounding box is the cube
 * (doubled centre 5, 5, 5): the nearest such cubes start at (0, 1|2, 1|2) or (1|2, 0, 1|2)
 * (doubled distance 9 + 1 + 1), and the first in scan order of its last voxel is (0, 1, 1). */
static int l_prism(int64_t i, int64_t j, int64_t k) { (void)k; return !(i >= 3 && j >= 3); }

static const shape_case shape_cases[] = {
    { "2D full 5x7", 2, { 1, 5, 7 }, full, 5, { 0, 0, 1 }, { 1, 5, 6 } },
    { "2D disc r4.5", 2, { 1, 11, 11 }, disc, 7, { 0, 2, 2 }, { 1, 9, 9 } },
    { "2D off-centre blob", 2, { 1, 8, 12 }, blob, 3, { 0, 1, 6 }, { 1, 4, 9 } },
    { "2D ring", 2, { 1, 12, 12 }, ring, 4, { 0, 0, 4 }, { 1, 4, 8 } },
    /* 4 x 5 x 6: cubes of side 4 start at axis 1 in {0, 1}, axis 2 in {0, 1, 2}; the centre
     * (doubled 3, 4, 5) is as near to axis-1 starts 0 and 1, axis 2 starts at 1: the first
     * of the two in scan order is (0, 0, 1). */
    { "3D full 4x5x6", 3, { 4, 5, 6 }, full, 4, { 0, 0, 1 }, { 4, 4, 5 } },
    { "3D ball r3.5", 3, { 9, 9, 9 }, ball, 5, { 2, 2, 2 }, { 7, 7, 7 } },
    { "3D slab with a hole", 3, { 3, 8, 8 }, holed_slab, 3, { 0, 2, 4 }, { 3, 5, 7 } },
    { "3D L prism", 3, { 6, 6, 6 }, l_prism, 3, { 0, 1, 1 }, { 3, 4, 4 } },
};

TEST(task_inner_box_shape_cases) {
    for (size_t c = 0; c < sizeof shape_cases / sizeof shape_cases[0]; c++) {
        const shape_case *s = &shape_cases[c];
        const int64_t N = s->n[0] * s->n[1] * s->n[2];
        uint8_t *m = malloc((size_t)N);
        REQUIRE(m);
        for (int64_t i = 0; i < s->n[0]; i++)
            for (int64_t j = 0; j < s->n[1]; j++)
                for (int64_t k = 0; k < s->n[2]; k++) m[(i * s->n[1] + j) * s->n[2] + k] = (uint8_t)s->fg(i, j, k);
        int64_t lo[3] = { -1, -1, -1 }, hi[3] = { -1, -1, -1 };
        const int64_t side = task_inner_box(m, s->dims, s->n, lo, hi);
        CHECK_MSG(side == s->side && !memcmp(lo, s->lo, sizeof lo) && !memcmp(hi, s->hi, sizeof hi),
                  "%s: side %lld [%lld,%lld,%lld)-[%lld,%lld,%lld), want %lld [%lld,%lld,%lld)-[%lld,%lld,%lld)",
                  s->name, (long long)side, (long long)lo[0], (long long)lo[1], (long long)lo[2], (long long)hi[0],
                  (long long)hi[1], (long long)hi[2], (long long)s->side, (long long)s->lo[0], (long long)s->lo[1],
                  (long long)s->lo[2], (long long)s->hi[0], (long long)s->hi[1], (long long)s->hi[2]);
        /* every voxel of the answer is foreground */
        for (int64_t i = lo[0]; i < hi[0]; i++)
            for (int64_t j = lo[1]; j < hi[1]; j++)
                for (int64_t k = lo[2]; k < hi[2]; k++) CHECK(m[(i * s->n[1] + j) * s->n[2] + k]);
        free(m);
    }
    /* an empty mask: side 0 */
    uint8_t z[6] = { 0 };
    int64_t n[3] = { 1, 2, 3 }, lo[3], hi[3];
    CHECK(task_inner_box(z, 2, n, lo, hi) == 0);
}

/* The fg_level rule on a hand-made 2-channel row (hand-computed thresholds), and its
 * invariance to per-channel affine maps of the non-zero values (what z-score over the
 * non-zero voxels and min-max do). */
TEST(task_fg_mask_levels) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* channel 0: non-zero values 1..10 -> level 0.2: 2.8; 0.25: 3.25; 0.99: 9.91.
     * channel 1: non-zero values 5..9 -> level 0.2: 5.8; 0.25: 6; 0.99: 8.96. */
    const float v[12] = { 0, 1, 2, 3, 10, 0, /* ch 1 */ 5, 5, 5, 5, 5, 9 };
    const int64_t shape[3] = { 2, 1, 6 };
    ssl3d_tensor *x = th_tensor(ctx, 3, shape, v);
    REQUIRE(x);
    uint8_t m[6];
    const struct { double level; uint8_t want[6]; int64_t count; } cases[] = {
        { 0.0, { 1, 1, 1, 1, 1, 1 }, 6 },
        { 0.2, { 0, 0, 0, 1, 1, 1 }, 3 },
        { 0.25, { 0, 0, 0, 0, 1, 1 }, 2 },
        { 0.99, { 0, 0, 0, 0, 1, 1 }, 2 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t n = task_fg_mask(x, 2, cases[c].level, m);
        CHECK_MSG(n == cases[c].count && !memcmp(m, cases[c].want, 6), "level %g: %d%d%d%d%d%d", cases[c].level, m[0],
                  m[1], m[2], m[3], m[4], m[5]);
    }
    ssl3d_tensor_release(x);
    /* Random 3-channel 2D image with zeros; each channel's non-zero values mapped by
     * a * v + b (a > 0): the same mask for every level. */
    const int64_t s2[3] = { 3, 9, 7 };
    x = th_randn(ctx, 3, s2, 0);
    REQUIRE(x);
    float *p = ssl3d_tensor_host_data(x);
    for (int64_t i = 0; i < 3 * 63; i++)
        if (i % 5 == 0) p[i] = 0.0f;
    ssl3d_tensor *y = th_tensor(ctx, 3, s2, p);
    REQUIRE(y);
    float *q = ssl3d_tensor_host_data(y);
    const float a[3] = { 3.0f, 0.25f, 40.0f }, b[3] = { -1.0f, 7.0f, 100.0f };
    for (int64_t i = 0; i < 3 * 63; i++)
        if (q[i] != 0.0f) q[i] = a[i / 63] * q[i] + b[i / 63];
    uint8_t m1[63], m2[63];
    const double levels[4] = { 0.06, 0.5, 0.65, 0.8 };
    for (int l = 0; l < 4; l++) {
        const int64_t n1 = task_fg_mask(x, 2, levels[l], m1), n2 = task_fg_mask(y, 2, levels[l], m2);
        CHECK_MSG(n1 == n2 && !memcmp(m1, m2, 63) && n1 > 0 && (l == 0 || n1 < 63), "level %g: %lld vs %lld",
                  levels[l], (long long)n1, (long long)n2);
    }
    ssl3d_tensor_release(x);
    ssl3d_tensor_release(y);
    ssl3d_ctx_release(ctx);
}

/* task_crop_region on a bright square on a dark non-zero background: region=box is the
 * whole image at fg_level 0 (nothing is zero) and the square's box at a level between the
 * two; region=inner is the whole image at level 0 and the square at that level; an all-zero
 * image is taken whole. */
TEST(task_crop_region_rules) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const int64_t shape[3] = { 1, 10, 12 };
    float v[120];
    for (int i = 0; i < 120; i++) {
        const int r = i / 12, c = i % 12;
        v[i] = r >= 2 && r < 7 && c >= 3 && c < 10 ? 1.0f + 0.01f * (float)(i % 7) : 0.02f;   /* 5 x 7 bright */
    }
    ssl3d_tensor *x = th_tensor(ctx, 3, shape, v);
    REQUIRE(x);
    const struct { const char *opts; int64_t lo[2], hi[2]; int mask; } cases[] = {
        { "", { 0, 0 }, { 10, 12 }, 0 },
        { "region=box,fg_level=0.5", { 2, 3 }, { 7, 10 }, 1 },
        { "region=inner", { 0, 1 }, { 10, 11 }, 1 },   /* 10 x 10 of 10 x 12, centred */
        { "region=inner,fg_level=0.5", { 2, 4 }, { 7, 9 }, 1 },   /* 5 x 5 of the 5 x 7 square, centred */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ssl3d_task *t = NULL;
        char opts[96];
        snprintf(opts, sizeof opts, "filters=2,levels=1,input_size=4%s%s", *cases[c].opts ? "," : "", cases[c].opts);
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 2, 1, opts, &t));
        task_region r;
        REQUIRE_OK(ctx, task_crop_region(ctx, t, x, 0, &r));
        CHECK_MSG(r.lo[0] == cases[c].lo[0] && r.lo[1] == cases[c].lo[1] && r.hi[0] == cases[c].hi[0] &&
                  r.hi[1] == cases[c].hi[1] && (r.mask != NULL) == cases[c].mask,
                  "%s: [%lld,%lld)-[%lld,%lld)", cases[c].opts, (long long)r.lo[0], (long long)r.lo[1],
                  (long long)r.hi[0], (long long)r.hi[1]);
        task_region_free(&r);
        ssl3d_task_release(t);
    }
    /* all zero: the whole image, for both regions */
    memset(ssl3d_tensor_host_data(x), 0, sizeof v);
    ssl3d_task *t = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 2, 1, "filters=2,levels=1,region=inner,fg_level=0.5", &t));
    task_region r;
    REQUIRE_OK(ctx, task_crop_region(ctx, t, x, 0, &r));
    CHECK(r.lo[0] == 0 && r.lo[1] == 0 && r.hi[0] == 10 && r.hi[1] == 12);
    task_region_free(&r);
    ssl3d_task_release(t);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- options and errors */

TEST(task_region_options_parse_and_errors) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    for (int32_t kind = 0; kind < 5; kind++) {
        ssl3d_task *t = NULL;
        double v = -1;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, kind, 2, 1, "filters=2", &t));
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "region", &v));
        CHECK(v == TASK_REGION_BOX);
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "fg_level", &v));
        CHECK(v == 0);
        ssl3d_task_release(t);
        t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, kind, 3, 1, "filters=2,region=inner,fg_level=0.06", &t));
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "region", &v));
        CHECK(v == TASK_REGION_INNER);
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "fg_level", &v));
        CHECK(v == 0.06);
        ssl3d_task_release(t);
        t = NULL;
        CHECK_ST(ctx, ssl3d_task_create(ctx, kind, 2, 1, "region=outer", &t), SSL3D_ERR_INVALID_ARG);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "region") && strstr(ssl3d_ctx_last_error(ctx), "box|inner"));
        CHECK_ST(ctx, ssl3d_task_create(ctx, kind, 2, 1, "region=2", &t), SSL3D_ERR_INVALID_ARG);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "'region'"));
        const char *bad[3] = { "fg_level=1", "fg_level=-0.1", "fg_level=nan" };
        for (int b = 0; b < 3; b++) {
            CHECK_ST(ctx, ssl3d_task_create(ctx, kind, 2, 1, bad[b], &t), SSL3D_ERR_INVALID_ARG);
            CHECK_MSG(strstr(ssl3d_ctx_last_error(ctx), "fg_level"), "%s: %s", bad[b], ssl3d_ctx_last_error(ctx));
        }
        CHECK(t == NULL);
    }
    ssl3d_ctx_release(ctx);
}

/* Options string of the checkpoint: region and fg_level only when set. */
TEST(task_region_checkpoint_options) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const char *opts[2] = { "filters=2,levels=1", "filters=2,levels=1,region=inner,fg_level=0.06" };
    for (int i = 0; i < 2; i++) {
        ssl3d_task *t = NULL, *u = NULL;
        ssl3d_checkpoint *ck = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, 2, 1, opts[i], &t));
        REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
        REQUIRE_OK(ctx, ssl3d_task_save(ctx, t, ck));
        const char *s = NULL;
        REQUIRE_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "options", &s));
        if (i == 0) CHECK_MSG(!strstr(s, "region") && !strstr(s, "fg_level"), "%s", s);
        else CHECK_MSG(strstr(s, ",region=inner") && strstr(s, ",fg_level=0.06"), "%s", s);
        REQUIRE_OK(ctx, ssl3d_task_create_from_checkpoint(ctx, ck, &u));
        double v = -1;
        CHECK_OK(ctx, ssl3d_task_option(ctx, u, "region", &v));
        CHECK(v == (i ? TASK_REGION_INNER : TASK_REGION_BOX));
        CHECK_OK(ctx, ssl3d_task_option(ctx, u, "fg_level", &v));
        CHECK(v == (i ? 0.06 : 0));
        ssl3d_task_release(u);
        ssl3d_task_release(t);
        ssl3d_checkpoint_release(ck);
    }
    ssl3d_ctx_release(ctx);
}

/* A bright 8 x 8 square (noise) on a dark non-zero 16 x 16 background: errors when the
 * inner region is too small for the task, naming the image and the option; the caller's
 * images are untouched. */
TEST(task_region_too_small_errors) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const int64_t shape[3] = { 1, 16, 16 };
    ssl3d_tensor *im[2] = { th_randn(ctx, 3, shape, 0), th_randn(ctx, 3, shape, 0) };
    REQUIRE(im[0] && im[1]);
    float *p = ssl3d_tensor_host_data(im[0]);
    for (int i = 0; i < 256; i++) p[i] = 1.0f + 0.01f * (float)(i % 16);   /* inner region: 16 x 14 at level 0.1 */
    p = ssl3d_tensor_host_data(im[1]);
    for (int i = 0; i < 256; i++) {
        const int r = i / 16, c = i % 16;
        p[i] = r >= 4 && r < 12 && c >= 4 && c < 12 ? 2.0f + fabsf(p[i]) : 0.01f;
    }
    float before[256];
    memcpy(before, p, sizeof before);
    const struct { int32_t kind; const char *opts, *what; } cases[] = {
        { SSL3D_TASK_RPL, "filters=2,levels=2,grid=3,cell=4,jitter=0", "2^levels" },        /* needs 12 > 8 */
        { SSL3D_TASK_JIGSAW, "filters=2,levels=2,grid=3,cell=4,jitter=0,permutations=4", "2^levels" },
        { SSL3D_TASK_CPC, "filters=2,levels=1,input_size=12,grid=3,code_size=4,hidden=4,negatives=3", "input_size" },
        { SSL3D_TASK_EXEMPLAR, "filters=2,levels=1,input_size=12,hidden=4,code_size=4", "input_size" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ssl3d_task *t = NULL;
        char opts[160];
        ssl3d_tensor *loss = NULL;
        int64_t cor, tot;
        /* region=box (the whole image here, its background is not zero): runs */
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, cases[c].kind, 2, 1, cases[c].opts, &t));
        CHECK_OK(ctx, ssl3d_task_forward(ctx, t, im, 2, 1, 0, 1, &loss, &cor, &tot));
        ssl3d_tensor_release(loss);
        loss = NULL;
        ssl3d_tape_reset(ctx);
        ssl3d_task_release(t);
        snprintf(opts, sizeof opts, "%s,region=inner,fg_level=0.1", cases[c].opts);
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, cases[c].kind, 2, 1, opts, &t));
        CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 2, 1, 0, 1, &loss, &cor, &tot), SSL3D_ERR_INVALID_ARG);
        const char *e = ssl3d_ctx_last_error(ctx);
        CHECK_MSG(strstr(e, "images[1]") && strstr(e, "region=inner") && strstr(e, "fg_level=0.1") &&
                  strstr(e, "side of 8") && strstr(e, cases[c].what), "%s: %s", opts, e);
        CHECK(loss == NULL);
        ssl3d_tape_reset(ctx);
        ssl3d_task_release(t);
    }
    CHECK(!memcmp(before, ssl3d_tensor_host_data(im[1]), sizeof before));
    tt_release_all(im, 2);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- defaults unchanged */

/* Losses of 3 training steps and one evaluation of every task (2D and 3D) on images with
 * a zero border and a ramp: bitwise the same without region options, with region=box and
 * with region=box,fg_level=0 (the crops of a default run do not depend on the new code). */
static int losses_of(int32_t kind, int dims, const char *extra, float *out) {
    static const char *base[5] = { "filters=2,levels=2,input_size=12,hidden=8",
                                   "filters=2,levels=1,grid=3,cell=6,jitter=2,hidden=8",
                                   "filters=2,levels=2,grid=2,cell=8,jitter=2,permutations=5,hidden=8",
                                   "filters=2,levels=1,input_size=16,grid=4,code_size=4,hidden=4,negatives=3",
                                   "filters=2,levels=1,input_size=12,hidden=4,code_size=4,random_window=1" };
    ssl3d_ctx *ctx = th_ctx(1, 7);
    if (!ctx) return 0;
    char opts[256];
    snprintf(opts, sizeof opts, "%s%s", base[kind], extra);
    ssl3d_task *t = NULL;
    ssl3d_tensor *im[3] = { 0 };
    int ok = ssl3d_task_create(ctx, kind, dims, 2, opts, &t) == SSL3D_OK;
    for (int i = 0; i < 3 && ok; i++) {
        im[i] = tt_ramp_image(ctx, dims, 2, 20, (uint32_t)(i + 10 * dims));
        ok = im[i] != NULL;
        float *p = ok ? ssl3d_tensor_host_data(im[i]) : NULL;
        const int64_t S = dims == 3 ? 8000 : 400;
        for (int64_t v = 0; ok && v < 2 * S; v++) {
            const int64_t x = v % 20, y = v % S / 20 % 20;
            if (x < 2 || y < 1 || x >= 18) p[v] = 0.0f;   /* zero padding, asymmetric */
        }
    }
    ssl3d_optim *opt = ok ? tt_adam(ctx, t, 1e-2f) : NULL;
    ok = ok && opt;
    for (int s = 0; s < 4 && ok; s++) {
        ssl3d_tensor *loss = NULL;
        ok = ssl3d_optim_zero_grad(ctx, opt) == SSL3D_OK &&
             ssl3d_task_forward(ctx, t, im, 3, 3, (uint64_t)s, s < 3, &loss, NULL, NULL) == SSL3D_OK &&
             ssl3d_tensor_read(ctx, loss, &out[s], 4) == SSL3D_OK &&
             (s == 3 || (ssl3d_backward(ctx, loss) == SSL3D_OK && ssl3d_optim_step(ctx, opt) == SSL3D_OK));
        ssl3d_tensor_release(loss);
    }
    if (!ok) fprintf(stderr, "  %s: %s\n", opts, ssl3d_ctx_last_error(ctx));
    ssl3d_optim_release(opt);
    tt_release_all(im, 3);
    ssl3d_task_release(t);
    ssl3d_ctx_release(ctx);
    return ok;
}

TEST(task_region_box_is_the_default_bitwise) {
    for (int dims = 2; dims <= 3; dims++)
        for (int32_t kind = 0; kind < 5; kind++) {
            float a[4], b[4], c[4], d[4];
            REQUIRE(losses_of(kind, dims, "", a));
            REQUIRE(losses_of(kind, dims, ",region=box", b));
            REQUIRE(losses_of(kind, dims, ",fg_level=0,region=box", c));
            CHECK_MSG(!memcmp(a, b, sizeof a) && !memcmp(a, c, sizeof a), "%s %dD: region=box differs from the default",
                      ssl3d_task_kind_name(kind), dims);
            /* and the option is live: the inner region gives other crops */
            REQUIRE(losses_of(kind, dims, ",region=inner", d));
            CHECK_MSG(memcmp(a, d, sizeof a), "%s %dD: region=inner gives the default's losses",
                      ssl3d_task_kind_name(kind), dims);
        }
}
