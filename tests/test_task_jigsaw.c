/* Jigsaw task: permutation set (created from perm_seed, saved and restored with the
 * checkpoint), head, and that it learns. */
#include "test_task_util.h"

TEST(task_jigsaw_defaults_head_and_permutation_set) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        ssl3d_task *t = NULL;
        REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, dims, 1, "filters=2,hidden=16", &t));
        double v = 0;
        CHECK_NEAR(ssl3d_task_chance(t), 0.01, 1e-12);
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "permutations", &v));
        CHECK(v == 100);
        CHECK_OK(ctx, ssl3d_task_option(ctx, t, "perm_seed", &v));
        CHECK(v == 0);
        const int cells = dims == 3 ? 27 : 9;
        ssl3d_module *head = ssl3d_task_module(t, 1);
        CHECK(ssl3d_mlp_in_features(head) == cells * ssl3d_encoder_out_channels(ssl3d_task_encoder(t)));
        CHECK(ssl3d_mlp_out_features(head) == 100);
        /* The saved set is ssl3d_jigsaw_perms_create(100, cells, perm_seed) with its stats. */
        ssl3d_checkpoint *ck = NULL;
        REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
        REQUIRE_OK(ctx, ssl3d_task_save(ctx, t, ck));
        ssl3d_tensor *saved = NULL, *want = NULL;
        REQUIRE_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ck, "jigsaw.permutations", &saved));
        REQUIRE_OK(ctx, ssl3d_jigsaw_perms_create(ctx, 100, cells, 0, &want));
        CHECK(ssl3d_tensor_numel(saved) == 100 * cells && ssl3d_tensor_dim(saved, 1) == cells);
        CHECK(th_tensors_identical(ctx, saved, want));
        int32_t dmin = 0;
        double dmean = 0;
        REQUIRE_OK(ctx, ssl3d_jigsaw_perms_stats(ctx, want, &dmin, &dmean));
        const char *m = NULL;
        char buf[32];
        REQUIRE_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "jigsaw.min_hamming", &m));
        snprintf(buf, sizeof buf, "%d", (int)dmin);
        CHECK(!strcmp(m, buf));
        REQUIRE_OK(ctx, ssl3d_checkpoint_get_meta(ctx, ck, "jigsaw.mean_hamming", &m));
        CHECK_NEAR(atof(m), dmean, 1e-6);
        ssl3d_tensor_release(saved);
        ssl3d_tensor_release(want);
        ssl3d_checkpoint_release(ck);
        ssl3d_task_release(t);
        /* grid 2..4; the set must exist: 2D grid 2 has 4! = 24 permutations */
        CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, dims, 1, "grid=5", &t), SSL3D_ERR_INVALID_ARG);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "'grid'"));
        CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, dims, 1, "permutations=1", &t), SSL3D_ERR_INVALID_ARG);
        CHECK(strstr(ssl3d_ctx_last_error(ctx), "'permutations'"));
    }
    ssl3d_task *t = NULL;
    CHECK(ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, 2, 1, "grid=2,permutations=25,cell=8,jitter=2,levels=1", &t) !=
          SSL3D_OK);
    CHECK_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, 2, 1, "grid=2,permutations=24,cell=8,jitter=2,levels=1", &t));
    ssl3d_task_release(t);
    ssl3d_ctx_release(ctx);
}

/* The permutation set comes from the checkpoint, not from the options of the loading task. */
TEST(task_jigsaw_load_restores_the_permutation_set) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    const char *opt = "filters=2,levels=1,cell=6,jitter=2,hidden=8,permutations=12";
    char o1[128], o2[128];
    snprintf(o1, sizeof o1, "%s,perm_seed=1", opt);
    snprintf(o2, sizeof o2, "%s,perm_seed=2", opt);
    ssl3d_task *a = NULL, *b = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, 3, 1, o1, &a));
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, 3, 1, o2, &b));
    int64_t s[4] = { 1, 18, 18, 18 };
    ssl3d_tensor *x[2] = { th_randn(ctx, 4, s, 0), th_randn(ctx, 4, s, 0) }, *la = NULL, *lb = NULL;
    ssl3d_checkpoint *ck = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
    REQUIRE_OK(ctx, ssl3d_task_save(ctx, a, ck));
    REQUIRE_OK(ctx, ssl3d_task_load(ctx, b, ck));
    float va = 0, vb = 1;
    REQUIRE_OK(ctx, ssl3d_task_forward(ctx, a, x, 2, 9, 3, 0, &la, NULL, NULL));
    REQUIRE_OK(ctx, ssl3d_task_forward(ctx, b, x, 2, 9, 3, 0, &lb, NULL, NULL));
    ssl3d_tensor_read(ctx, la, &va, 4);
    ssl3d_tensor_read(ctx, lb, &vb, 4);
    CHECK(va == vb);
    /* A set of the wrong size or with a row that is not a permutation is refused. */
    ssl3d_task *c = NULL;
    snprintf(o1, sizeof o1, "filters=2,levels=1,cell=6,jitter=2,hidden=8,permutations=13");
    ssl3d_checkpoint *ck2 = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck2));
    for (int i = 0; i < ssl3d_task_module_count(a); i++)
        for (int j = 0; j < ssl3d_module_tensor_count(ssl3d_task_module(a, i)); j++) {
            char name[200];
            snprintf(name, sizeof name, "%s.%s", ssl3d_task_module_name(a, i),
                     ssl3d_module_tensor_name(ssl3d_task_module(a, i), j));
            REQUIRE_OK(ctx, ssl3d_checkpoint_add_tensor(ctx, ck2, name, ssl3d_module_tensor(ssl3d_task_module(a, i), j)));
        }
    int32_t bad[12 * 27];
    for (int r = 0; r < 12; r++)
        for (int k = 0; k < 27; k++) bad[r * 27 + k] = (k + r) % 27;
    bad[5 * 27 + 3] = bad[5 * 27 + 4];   /* row 5 repeats a cell */
    int64_t ps[2] = { 12, 27 };
    ssl3d_tensor *pt = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, ps, bad, &pt));
    REQUIRE_OK(ctx, ssl3d_checkpoint_add_tensor(ctx, ck2, "jigsaw.permutations", pt));
    CHECK_ST(ctx, ssl3d_task_load(ctx, b, ck2), SSL3D_ERR_FORMAT);
    ssl3d_checkpoint_release(ck2);
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, 3, 1, o1, &c));   /* 13 permutations: head differs */
    CHECK(ssl3d_task_load(ctx, c, ck) != SSL3D_OK);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "head.fc"));
    ssl3d_task_release(c);
    ssl3d_tensor_release(pt);
    ssl3d_tensor_release(la);
    ssl3d_tensor_release(lb);
    tt_release_all(x, 2);
    ssl3d_checkpoint_release(ck);
    ssl3d_task_release(a);
    ssl3d_task_release(b);
    ssl3d_ctx_release(ctx);
}

/* 3D uses a 2 x 2 x 2 grid (8 patches per puzzle instead of 27) to keep the test fast;
 * 2D the default 3 x 3. */
static void learn(int dims, int steps) {
    ssl3d_ctx *ctx = th_ctx(2, 5);
    REQUIRE(ctx);
    enum { NT = 32, NV = 16 };
    ssl3d_tensor *train[NT], *val[NV];
    const int64_t S = dims == 3 ? 16 : 24;
    for (int i = 0; i < NT; i++) train[i] = tt_ramp_image(ctx, dims, dims, S, (uint32_t)i);
    for (int i = 0; i < NV; i++) val[i] = tt_ramp_image(ctx, dims, dims, S, 1000u + (uint32_t)i);
    ssl3d_task *t = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_JIGSAW, dims, dims,
                                      dims == 3 ? "filters=4,levels=2,grid=2,cell=8,jitter=2,hidden=64,permutations=10"
                                                : "filters=4,levels=2,cell=8,jitter=2,hidden=64,permutations=10", &t));
    tt_result r = { 0, 0, 0, 0, 0, 0 };
    REQUIRE(tt_learn(ctx, t, train, NT, 8, steps, 3e-3f, val, NV, 4, &r));
    tt_print(dims == 3 ? "jigsaw 3D" : "jigsaw 2D", &r, steps);
    CHECK_MSG(r.after >= r.chance + 0.3, "jigsaw %dD: accuracy %.3f after %d steps, chance %.3f", dims, r.after, steps,
              r.chance);
    ssl3d_task_release(t);
    tt_release_all(train, NT);
    tt_release_all(val, NV);
    ssl3d_ctx_release(ctx);
}

TEST(task_jigsaw_learns_3d) { learn(3, 40); }
TEST(task_jigsaw_learns_2d) { learn(2, 50); }
