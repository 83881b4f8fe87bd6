/* Sample builders of the five proxy tasks: hand-checked geometry, labels, determinism. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"

/* ---------------------------------------------------------------- rotation */

TEST(rotation_classes_are_pairwise_distinct_3d_and_2d) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    CHECK(ssl3d_rotation_classes(3) == 10 && ssl3d_rotation_classes(2) == 4 && ssl3d_rotation_classes(1) == 0);
    for (int dims = 2; dims <= 3; dims++) {
        int64_t s[4] = { 2, 5, 5, 5 };
        ssl3d_tensor *x = th_iota(ctx, dims + 1, s), *all = NULL;
        REQUIRE(x);
        REQUIRE_OK(ctx, ssl3d_rotation_all(ctx, x, &all));
        const int R = ssl3d_rotation_classes(dims);
        const int64_t n = ssl3d_tensor_numel(x);
        CHECK(ssl3d_tensor_dim(all, 0) == R && ssl3d_tensor_numel(all) == R * n);
        for (int a = 0; a < R; a++)
            for (int b = a + 1; b < R; b++)
                CHECK_MSG(memcmp(th_f32(all) + a * n, th_f32(all) + b * n, (size_t)n * 4) != 0,
                          "dims %d: classes %d and %d are equal", dims, a, b);
        for (int r = 0; r < R; r++) {   /* rotation_all slot r == rotation_apply(r); inverse undoes it */
            ssl3d_tensor *y = NULL, *z = NULL;
            REQUIRE_OK(ctx, ssl3d_rotation_apply(ctx, x, r, &y));
            CHECK(!memcmp(th_f32(y), th_f32(all) + r * n, (size_t)n * 4));
            int32_t inv = ssl3d_rotation_inverse(dims, r);
            REQUIRE(inv >= 0);
            REQUIRE_OK(ctx, ssl3d_rotation_apply(ctx, y, inv, &z));
            CHECK_MSG(th_tensors_identical(ctx, z, x), "dims %d: class %d then %d is not the identity", dims, r, inv);
            ssl3d_tensor_release(y);
            ssl3d_tensor_release(z);
        }
        CHECK(!memcmp(th_f32(all), th_f32(x), (size_t)n * 4));   /* class 0 = identity */
        ssl3d_tensor_release(all);
        ssl3d_tensor_release(x);
    }
    ssl3d_ctx_release(ctx);
}

TEST(rotation_moves_a_voxel_where_expected) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t s[4] = { 1, 4, 4, 4 };
    ssl3d_tensor *x = th_iota(ctx, 4, s), *y = NULL;
    REQUIRE(x);
    /* numpy: rot90(m,1,(1,2))[1,2,3] = 29 (class 1), rot90(m,1,(0,2)) -> 58 (class 4),
     * rot90(m,1,(0,1)) -> 43 (class 7); class 2 = 180 about axis 0: [d, 3-h, 3-w]. */
    const int cls[4] = { 1, 4, 7, 2 };
    const float want[4] = { 29, 58, 43, (1 * 4 + 1) * 4 + 0 };
    for (int i = 0; i < 4; i++) {
        REQUIRE_OK(ctx, ssl3d_rotation_apply(ctx, x, cls[i], &y));
        CHECK_NEAR(th_f32(y)[(1 * 4 + 2) * 4 + 3], want[i], 0);
        ssl3d_tensor_release(y);
    }
    /* 2D class 1: out[i, j] = x[j, n-1-i] */
    int64_t s2[3] = { 1, 3, 3 };
    ssl3d_tensor *x2 = th_iota(ctx, 3, s2);
    REQUIRE_OK(ctx, ssl3d_rotation_apply(ctx, x2, 1, &y));
    const float e[9] = { 2, 5, 8, 1, 4, 7, 0, 3, 6 };
    CHECK(!memcmp(th_f32(y), e, sizeof e));
    ssl3d_tensor_release(y);
    int64_t sn[4] = { 1, 4, 4, 5 };
    ssl3d_tensor *nc = th_iota(ctx, 4, sn);
    CHECK_ST(ctx, ssl3d_rotation_apply(ctx, nc, 1, &y), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_rotation_apply(ctx, x, 10, &y), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(nc);
    ssl3d_tensor_release(x2);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(rotation_sample_is_deterministic_and_covers_all_classes) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s[4] = { 1, 6, 4, 5 };
    ssl3d_tensor *x = th_iota(ctx, 4, s);
    REQUIRE(x);
    int seen[10] = { 0 };
    for (uint64_t i = 0; i < 60; i++) {
        ssl3d_tensor *a = NULL, *b = NULL;
        int32_t la = -1, lb = -2;
        REQUIRE_OK(ctx, ssl3d_rotation_sample(ctx, x, 0, 42, i, &a, &la));
        REQUIRE_OK(ctx, ssl3d_rotation_sample(ctx, x, 0, 42, i, &b, &lb));
        CHECK(la == lb && th_tensors_identical(ctx, a, b));
        CHECK(ssl3d_tensor_dim(a, 1) == 6 && ssl3d_tensor_dim(a, 2) == 6 && ssl3d_tensor_dim(a, 3) == 6);
        if (la >= 0 && la < 10) seen[la]++;
        ssl3d_tensor_release(a);
        ssl3d_tensor_release(b);
    }
    for (int r = 0; r < 10; r++) CHECK_MSG(seen[r] > 0, "class %d never drawn in 60 samples", r);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- grid, RPL */

/* Origin (internal d, h, w) of a patch of an iota volume of spatial size (n0, n1, n2). */
static void origin_of(float v, const int64_t n[3], int64_t o[3]) {
    int64_t i = (int64_t)v;
    o[2] = i % n[2]; o[1] = (i / n[2]) % n[1]; o[0] = i / (n[1] * n[2]);
}

TEST(rpl_label_matches_the_query_offset_2d_and_3d) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    CHECK(ssl3d_rpl_classes(3, 3) == 26 && ssl3d_rpl_classes(2, 3) == 8 && ssl3d_rpl_classes(3, 2) == 0);
    for (int dims = 2; dims <= 3; dims++) {
        /* cell 9, grid 27 + 2 voxels of margin (base offset 1), jitter 3 -> patches of 6 */
        int64_t s[4] = { 1, 29, 29, 29 };
        ssl3d_tensor *x = th_iota(ctx, dims + 1, s);
        REQUIRE(x);
        const int64_t n3[3] = { dims == 3 ? 29 : 1, 29, 29 };
        int seen[26] = { 0 };
        for (uint64_t idx = 0; idx < 300; idx++) {
            ssl3d_tensor *p = NULL;
            int32_t lab = -1;
            REQUIRE_OK(ctx, ssl3d_rpl_sample(ctx, x, 3, 9, 3, 0, 5, idx, &p, &lab));
            REQUIRE(lab >= 0 && lab < ssl3d_rpl_classes(dims, 3));
            seen[lab]++;
            CHECK(ssl3d_tensor_dim(p, 0) == 2 && ssl3d_tensor_dim(p, 2) == 6);
            const int64_t P = dims == 3 ? 216 : 36;
            int64_t oc[3], oq[3];
            origin_of(th_f32(p)[0], n3, oc);
            origin_of(th_f32(p)[P], n3, oq);
            const int32_t centre = dims == 3 ? 13 : 4, q = lab < centre ? lab : lab + 1;
            int64_t qc[3] = { 0, 0, 0 };
            if (dims == 3) { qc[0] = q / 9; qc[1] = (q / 3) % 3; qc[2] = q % 3; }
            else { qc[1] = q / 3; qc[2] = q % 3; }
            for (int a = 3 - dims; a < 3; a++) {
                /* cell of the centre patch is 1, of the query qc; offset inside the cell in [0, 3] */
                int64_t jc = oc[a] - 1 - 9, jq = oq[a] - 1 - 9 * qc[a];
                CHECK_MSG(jc >= 0 && jc <= 3 && jq >= 0 && jq <= 3,
                          "dims %d idx %d axis %d: centre offset %lld, query offset %lld (label %d)", dims,
                          (int)idx, a, (long long)jc, (long long)jq, lab);
            }
            /* the patch is a contiguous crop: last voxel = origin + 5 along each axis */
            int64_t ol[3];
            origin_of(th_f32(p)[2 * P - 1], n3, ol);
            for (int a = 3 - dims; a < 3; a++) CHECK(ol[a] == oq[a] + 5);
            ssl3d_tensor_release(p);
        }
        for (int l = 0; l < ssl3d_rpl_classes(dims, 3); l++) CHECK_MSG(seen[l] > 0, "dims %d: label %d unseen", dims, l);
        ssl3d_tensor_release(x);
    }
    ssl3d_ctx_release(ctx);
}

TEST(grid_eval_crop_is_centred_and_patches_lie_in_cells) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s[4] = { 2, 30, 31, 32 };
    ssl3d_tensor *x = th_iota(ctx, 4, s), *p = NULL;
    REQUIRE(x);
    int64_t org[27 * 3];
    /* cell = 30 / 3 = 10, jitter 4: eval origin = base + 10 i + 2; base = (30-30)/2, 0, 1 */
    REQUIRE_OK(ctx, ssl3d_grid_patches(ctx, x, 3, 0, 4, 1, 1, 0, &p, org));
    CHECK(ssl3d_tensor_dim(p, 0) == 27 && ssl3d_tensor_dim(p, 1) == 2 && ssl3d_tensor_dim(p, 4) == 6);
    const int64_t base[3] = { 0, 0, 1 };
    for (int q = 0; q < 27; q++) {
        const int64_t c[3] = { q / 9, (q / 3) % 3, q % 3 };
        for (int a = 0; a < 3; a++) CHECK(org[q * 3 + a] == base[a] + 10 * c[a] + 2);
        const int64_t n3[3] = { 30, 31, 32 };
        int64_t o[3];
        origin_of(th_f32(p)[q * 2 * 216], n3, o);
        for (int a = 0; a < 3; a++) CHECK(o[a] == org[q * 3 + a]);
        /* channel 1 of the patch is channel 1 of x */
        CHECK(th_f32(p)[q * 2 * 216 + 216] == th_f32(p)[q * 2 * 216] + 30 * 31 * 32);
    }
    ssl3d_tensor_release(p);
    /* training mode: every origin inside [cell start, cell start + jitter] */
    for (uint64_t idx = 0; idx < 20; idx++) {
        REQUIRE_OK(ctx, ssl3d_grid_patches(ctx, x, 3, 0, 4, 0, 1, idx, &p, org));
        for (int q = 0; q < 27; q++) {
            const int64_t c[3] = { q / 9, (q / 3) % 3, q % 3 };
            for (int a = 0; a < 3; a++) {
                int64_t j = org[q * 3 + a] - base[a] - 10 * c[a];
                CHECK(j >= 0 && j <= 4);
            }
        }
        ssl3d_tensor_release(p);
    }
    CHECK_ST(ctx, ssl3d_grid_patches(ctx, x, 3, 11, 0, 1, 1, 0, &p, NULL), SSL3D_ERR_SHAPE);
    CHECK_ST(ctx, ssl3d_grid_patches(ctx, x, 3, 10, 10, 1, 1, 0, &p, NULL), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- jigsaw */

TEST(jigsaw_perms_stats_on_a_hand_checked_set) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const int32_t p[9] = { 0, 1, 2, 1, 0, 2, 2, 1, 0 };   /* d(0,1)=2, d(0,2)=2, d(1,2)=3 */
    int64_t s[2] = { 3, 3 };
    ssl3d_tensor *t = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, s, p, &t));
    int32_t mn = -1;
    double mean = -1;
    REQUIRE_OK(ctx, ssl3d_jigsaw_perms_stats(ctx, t, &mn, &mean));
    CHECK(mn == 2);
    CHECK_NEAR(mean, 7.0 / 3.0, 1e-12);
    ((int32_t *)ssl3d_tensor_host_data(t))[4] = 1;   /* row 1 = 1 1 2: not a permutation */
    CHECK_ST(ctx, ssl3d_jigsaw_perms_stats(ctx, t, &mn, &mean), SSL3D_ERR_FORMAT);
    ssl3d_tensor_release(t);
    /* n_cells 3: all 6 permutations enumerated; P = 6 takes them all, P = 7 is too many */
    REQUIRE_OK(ctx, ssl3d_jigsaw_perms_create(ctx, 6, 3, 0, &t));
    REQUIRE_OK(ctx, ssl3d_jigsaw_perms_stats(ctx, t, &mn, &mean));
    CHECK(mn == 2);
    CHECK_NEAR(mean, (6 * 3 + 9 * 2) / 15.0, 1e-12);   /* 6 pairs differ by a 3-cycle (3), 9 by a swap (2) */
    ssl3d_tensor_release(t);
    CHECK_ST(ctx, ssl3d_jigsaw_perms_create(ctx, 7, 3, 0, &t), SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx_release(ctx);
}

/* A set of P random permutations of n (plain LCG, not the library's RNG). */
static ssl3d_tensor *random_perms(ssl3d_ctx *ctx, int P, int n) {
    int32_t *p = malloc((size_t)P * (size_t)n * 4);
    if (!p) return NULL;
    uint64_t s = 12345;
    for (int r = 0; r < P; r++) {
        int32_t *row = p + r * n;
        for (int i = 0; i < n; i++) row[i] = i;
        for (int i = n - 1; i > 0; i--) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int j = (int)((s >> 33) % (uint64_t)(i + 1));
            int32_t t = row[i]; row[i] = row[j]; row[j] = t;
        }
    }
    int64_t shape[2] = { P, n };
    ssl3d_tensor *t = NULL;
    ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, shape, p, &t);
    free(p);
    return t;
}

TEST(jigsaw_perms_are_deterministic_distinct_and_far_apart) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    const int cells[2] = { 27, 9 };
    for (int c = 0; c < 2; c++) {
        ssl3d_tensor *a = NULL, *b = NULL, *o = NULL, *rnd = random_perms(ctx, 100, cells[c]);
        REQUIRE(rnd);
        REQUIRE_OK(ctx, ssl3d_jigsaw_perms_create(ctx, 100, cells[c], 7, &a));
        REQUIRE_OK(ctx, ssl3d_jigsaw_perms_create(ctx, 100, cells[c], 7, &b));
        REQUIRE_OK(ctx, ssl3d_jigsaw_perms_create(ctx, 100, cells[c], 8, &o));
        CHECK(ssl3d_tensor_dim(a, 0) == 100 && ssl3d_tensor_dim(a, 1) == cells[c]);
        CHECK(th_tensors_identical(ctx, a, b));
        CHECK(!th_tensors_identical(ctx, a, o));
        int32_t mn, mr;
        double mean, meanr;
        REQUIRE_OK(ctx, ssl3d_jigsaw_perms_stats(ctx, a, &mn, &mean));   /* validates rows too */
        REQUIRE_OK(ctx, ssl3d_jigsaw_perms_stats(ctx, rnd, &mr, &meanr));
        CHECK_MSG(mn > 0, "duplicates in the set");
        CHECK_MSG(mn > mr, "n_cells %d: greedy min distance %d not above random %d", cells[c], mn, mr);
        CHECK(mean >= meanr - 0.5);
        ssl3d_tensor_release(a); ssl3d_tensor_release(b); ssl3d_tensor_release(o); ssl3d_tensor_release(rnd);
    }
    ssl3d_ctx_release(ctx);
}

TEST(jigsaw_sample_slot_j_holds_cell_perm_j) {
    ssl3d_ctx *c1 = th_ctx(1, 0), *c2 = th_ctx(2, 0);
    REQUIRE(c1 && c2);
    for (int dims = 2; dims <= 3; dims++) {
        const int n_cells = dims == 3 ? 27 : 9;
        int64_t s[4] = { 1, 21, 21, 21 };
        ssl3d_tensor *x = th_iota(c1, dims + 1, s), *x2 = NULL, *perms = NULL, *perms2 = NULL;
        REQUIRE(x);
        REQUIRE_OK(c2, ssl3d_tensor_from_data(c2, SSL3D_F32, dims + 1, s, th_f32(x), &x2));
        REQUIRE_OK(c1, ssl3d_jigsaw_perms_create(c1, 30, n_cells, 3, &perms));
        REQUIRE_OK(c2, ssl3d_tensor_from_data(c2, SSL3D_I32, 2, (int64_t[]){ 30, n_cells }, th_i32(perms), &perms2));
        const int64_t n3[3] = { dims == 3 ? 21 : 1, 21, 21 };
        const int64_t P = dims == 3 ? 125 : 25;
        for (uint64_t idx = 0; idx < 5; idx++) {
            ssl3d_tensor *puz = NULL, *puz2 = NULL;
            int32_t lab = -1, lab2 = -2;
            REQUIRE_OK(c1, ssl3d_jigsaw_sample(c1, x, perms, 3, 7, 2, 0, 9, idx, &puz, &lab));
            REQUIRE_OK(c2, ssl3d_jigsaw_sample(c2, x2, perms2, 3, 7, 2, 0, 9, idx, &puz2, &lab2));
            CHECK(lab == lab2 && th_tensors_identical(c1, puz, puz2));   /* thread-count independent */
            REQUIRE(lab >= 0 && lab < 30);
            CHECK(ssl3d_tensor_dim(puz, 0) == n_cells && ssl3d_tensor_dim(puz, 2) == 5);
            for (int j = 0; j < n_cells; j++) {
                int32_t cell = th_i32(perms)[lab * n_cells + j];
                int64_t o[3], cc[3] = { 0, cell / 3, cell % 3 };
                if (dims == 3) { cc[0] = cell / 9; cc[1] = (cell / 3) % 3; }
                origin_of(th_f32(puz)[j * P], n3, o);
                for (int a = 3 - dims; a < 3; a++) {
                    int64_t jit = o[a] - 7 * cc[a];
                    CHECK_MSG(jit >= 0 && jit <= 2, "dims %d slot %d holds the wrong cell", dims, j);
                }
            }
            ssl3d_tensor_release(puz);
            ssl3d_tensor_release(puz2);
        }
        ssl3d_tensor *bad = NULL;
        REQUIRE_OK(c1, ssl3d_jigsaw_perms_create(c1, 5, 8, 3, &bad));
        ssl3d_tensor *puz = NULL;
        int32_t lab;
        CHECK_ST(c1, ssl3d_jigsaw_sample(c1, x, bad, 3, 7, 2, 0, 9, 0, &puz, &lab), SSL3D_ERR_SHAPE);
        ssl3d_tensor_release(bad);
        ssl3d_tensor_release(perms); ssl3d_tensor_release(perms2);
        ssl3d_tensor_release(x); ssl3d_tensor_release(x2);
    }
    ssl3d_ctx_release(c1);
    ssl3d_ctx_release(c2);
}

/* ---------------------------------------------------------------- CPC */

static int32_t r3(int G, int i, int j, int k) { return (i * G + j) * G + k; }

TEST(cpc_contexts_follow_the_documented_pyramid_with_mirroring) {
    int32_t idx[10];
    const int G = 4;
    /* interior (2,1,2): row 1, j 0..2, k 1..3, then itself */
    REQUIRE(ssl3d_cpc_context(3, G, r3(G, 2, 1, 2), idx, 10) == 10);
    int n = 0;
    for (int j = 0; j <= 2; j++)
        for (int k = 1; k <= 3; k++) CHECK(idx[n++] == r3(G, 1, j, k));
    CHECK(idx[9] == r3(G, 2, 1, 2));
    /* border (0,0,3): row -1 -> 0, j -1 -> 0, k 4 -> 3 */
    REQUIRE(ssl3d_cpc_context(3, G, r3(G, 0, 0, 3), idx, 10) == 10);
    const int js[3] = { 0, 0, 1 }, ks[3] = { 2, 3, 3 };
    n = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) CHECK(idx[n++] == r3(G, 0, js[a], ks[b]));
    CHECK(idx[9] == r3(G, 0, 0, 3));
    /* 2D: (3, 3) of G = 4 -> (2,2), (2,3), (2,3), self; (0,0) -> (0,0), (0,0), (0,1), self */
    REQUIRE(ssl3d_cpc_context(2, G, 15, idx, 4) == 4);
    CHECK(idx[0] == 10 && idx[1] == 11 && idx[2] == 11 && idx[3] == 15);
    REQUIRE(ssl3d_cpc_context(2, G, 0, idx, 4) == 4);
    CHECK(idx[0] == 0 && idx[1] == 0 && idx[2] == 1 && idx[3] == 0);
    CHECK(ssl3d_cpc_context(3, G, 0, idx, 9) == -1);
    CHECK(ssl3d_cpc_context(3, G, 64, idx, 10) == -1);
    /* contexts never reach a target row */
    for (int pos = 0; pos < 64; pos++) {
        ssl3d_cpc_context(3, G, pos, idx, 10);
        for (int e = 0; e < 10; e++) CHECK(idx[e] / 16 <= pos / 16);
    }
    /* targets */
    CHECK(ssl3d_cpc_target(3, G, r3(G, 2, 1, 2), 1) == r3(G, 3, 1, 2));
    CHECK(ssl3d_cpc_target(3, G, r3(G, 2, 1, 2), 2) == -1);
    CHECK(ssl3d_cpc_target(3, G, r3(G, 0, 3, 0), 2) == r3(G, 2, 3, 0));
    CHECK(ssl3d_cpc_target(2, G, 5, 2) == 13);
}

TEST(cpc_patches_overlap_by_half) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    int64_t s[4] = { 1, 41, 40, 40 };   /* s = 8, p = 16, base (0 or 0) */
    ssl3d_tensor *x = th_iota(ctx, 4, s), *p = NULL;
    REQUIRE(x);
    REQUIRE_OK(ctx, ssl3d_cpc_patches(ctx, x, 4, &p));
    CHECK(ssl3d_tensor_dim(p, 0) == 64 && ssl3d_tensor_dim(p, 2) == 16 && ssl3d_tensor_dim(p, 4) == 16);
    const int64_t n3[3] = { 41, 40, 40 };
    int64_t o[3];
    origin_of(th_f32(p)[r3(4, 1, 2, 3) * 4096], n3, o);
    CHECK(o[0] == 8 && o[1] == 16 && o[2] == 24);
    ssl3d_tensor_release(p);
    int64_t s2[3] = { 1, 10, 12 };   /* 2D, G = 4: s = 2, p = 4 */
    ssl3d_tensor *x2 = th_iota(ctx, 3, s2);
    REQUIRE_OK(ctx, ssl3d_cpc_patches(ctx, x2, 4, &p));
    CHECK(ssl3d_tensor_dim(p, 0) == 16 && ssl3d_tensor_dim(p, 2) == 4 && ssl3d_tensor_dim(p, 3) == 4);
    CHECK(th_f32(p)[5 * 16] == (float)(2 * 12 + 2 + 1));   /* (1,1): origin (2, 2+1) */
    ssl3d_tensor_release(p);
    ssl3d_tensor_release(x2);
    ssl3d_tensor_release(x);
    ssl3d_ctx_release(ctx);
}

TEST(cpc_negatives_never_contain_the_positive) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_tensor *t = NULL, *t2 = NULL;
    const int B = 3, G = 4, N = 15;
    REQUIRE_OK(ctx, ssl3d_cpc_negatives(ctx, 3, G, B, 2, N, 1, 0, &t));
    REQUIRE_OK(ctx, ssl3d_cpc_negatives(ctx, 3, G, B, 2, N, 1, 0, &t2));
    CHECK(th_tensors_identical(ctx, t, t2));
    CHECK(ssl3d_tensor_dim(t, 0) == B * (32 * 2 + 16) && ssl3d_tensor_dim(t, 1) == 4 + N);
    const int32_t *y = th_i32(t);
    int other_image = 0, same_image = 0;
    for (int64_t r = 0; r < ssl3d_tensor_dim(t, 0); r++, y += 4 + N) {
        int32_t b = y[0], pos = y[1], l = y[2], pp = y[3];
        CHECK(pp == b * 64 + ssl3d_cpc_target(3, G, pos, l));
        for (int e = 0; e < N; e++) {
            CHECK(y[4 + e] != pp && y[4 + e] >= 0 && y[4 + e] < B * 64);
            for (int f = 0; f < e; f++) CHECK(y[4 + e] != y[4 + f]);
            if (y[4 + e] / 64 == b) same_image++; else other_image++;
        }
    }
    CHECK(other_image > 0 && same_image > 0);
    ssl3d_tensor_release(t);
    ssl3d_tensor_release(t2);
    CHECK_ST(ctx, ssl3d_cpc_negatives(ctx, 2, G, 1, 1, 16, 1, 0, &t), SSL3D_ERR_INVALID_ARG);
    REQUIRE_OK(ctx, ssl3d_cpc_negatives(ctx, 2, G, 1, 1, 15, 1, 0, &t));   /* every other latent */
    CHECK(ssl3d_tensor_dim(t, 0) == 12);
    ssl3d_tensor_release(t);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- exemplar */

TEST(exemplar_views_differ_and_repeat_with_the_seed) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        int64_t s[4] = { 1, 12, 12, 12 };
        ssl3d_tensor *x = th_randn(ctx, dims + 1, s, 0), *a0 = NULL, *a1 = NULL, *b0 = NULL, *b1 = NULL, *c0 = NULL;
        REQUIRE(x);
        REQUIRE_OK(ctx, ssl3d_exemplar_pair(ctx, x, NULL, 4, 10, &a0, &a1));
        REQUIRE_OK(ctx, ssl3d_exemplar_pair(ctx, x, NULL, 4, 10, &b0, &b1));
        REQUIRE_OK(ctx, ssl3d_exemplar_view(ctx, x, NULL, 4, 11, 0, &c0));
        CHECK(!th_tensors_identical(ctx, a0, a1));
        CHECK(th_tensors_identical(ctx, a0, b0) && th_tensors_identical(ctx, a1, b1));
        CHECK(!th_tensors_identical(ctx, a0, c0));
        CHECK(ssl3d_tensor_numel(a0) == ssl3d_tensor_numel(x));
        ssl3d_tensor_release(a0); ssl3d_tensor_release(a1); ssl3d_tensor_release(b0);
        ssl3d_tensor_release(b1); ssl3d_tensor_release(c0); ssl3d_tensor_release(x);
    }
    ssl3d_ctx_release(ctx);
}
