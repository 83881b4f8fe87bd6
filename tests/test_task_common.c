/* The task runtime shared by every task (src/tasks/task.c): kinds, options, argument
 * checks of ssl3d_task_forward, determinism, checkpoints. Run for rotation, RPL and
 * jigsaw in 2D and 3D with tiny encoders. */
#include "test_task_util.h"

/* Small but valid options and image side per kind. */
static const char *small_options(int kind) {
    switch (kind) {
    case SSL3D_TASK_ROTATION: return "filters=2,levels=2,input_size=8,hidden=8";
    case SSL3D_TASK_RPL: return "filters=2,levels=1,cell=5,jitter=2,hidden=8";
    default: return "filters=2,levels=1,cell=4,jitter=1,hidden=8,permutations=6";
    }
}
static const int small_kinds[3] = { SSL3D_TASK_ROTATION, SSL3D_TASK_RPL, SSL3D_TASK_JIGSAW };
static const int64_t small_side = 15;

static ssl3d_tensor *image(ssl3d_ctx *ctx, int dims, int64_t C, int64_t side) {
    int64_t s[4] = { C, side, side, side };
    return th_randn(ctx, dims + 1, s, 0);
}

static float loss_of(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor **x, int n, uint64_t seed, uint64_t index,
                     int training, int64_t *correct) {
    ssl3d_tensor *l = NULL;
    float v = NAN;
    int64_t c = 0, total = 0;
    if (ssl3d_task_forward(ctx, t, x, n, seed, index, training, &l, &c, &total) != SSL3D_OK) return NAN;
    ssl3d_tensor_read(ctx, l, &v, 4);
    ssl3d_tensor_release(l);
    ssl3d_tape_reset(ctx);
    if (correct) *correct = c;
    return v;
}

TEST(task_kind_names_round_trip) {
    const char *names[5] = { "rotation", "rpl", "jigsaw", "cpc", "exemplar" };
    for (int32_t k = 0; k < 5; k++) {
        int32_t back = -1;
        CHECK(!strcmp(ssl3d_task_kind_name(k), names[k]));
        CHECK(ssl3d_task_kind_parse(names[k], &back) == SSL3D_OK && back == k);
    }
    int32_t k = 7;
    CHECK(!strcmp(ssl3d_task_kind_name(5), "") && !strcmp(ssl3d_task_kind_name(-1), ""));
    CHECK(ssl3d_task_kind_parse("Rotation", &k) == SSL3D_ERR_INVALID_ARG && k == 7);
    CHECK(ssl3d_task_kind_parse(NULL, &k) == SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_task_kind_parse("rpl", NULL) == SSL3D_ERR_INVALID_ARG);
}

TEST(task_create_parses_options_onto_defaults) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    ssl3d_task *t = NULL;
    /* spaces, a trailing comma, norm by name, scientific notation */
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 3, 2,
                                      " filters = 3 , levels=2,norm=group,input_size=1.6e1,", &t));
    double v = 0;
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "filters", &v));
    CHECK(v == 3);
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "norm", &v));
    CHECK(v == SSL3D_NORM_GROUP);
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "input_size", &v));
    CHECK(v == 16);
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "samples_per_image", &v));   /* untouched default */
    CHECK(v == 1);
    CHECK_ST(ctx, ssl3d_task_option(ctx, t, "nope", &v), SSL3D_ERR_NOT_FOUND);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "nope"));
    CHECK_ST(ctx, ssl3d_task_option(ctx, t, NULL, &v), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_task_option(ctx, NULL, "filters", &v), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_task_kind_of(t) == SSL3D_TASK_ROTATION && ssl3d_task_dims(t) == 3);
    ssl3d_module *enc = ssl3d_task_encoder(t);
    CHECK(enc && ssl3d_task_module(t, 0) == enc && ssl3d_encoder_levels(enc) == 2);
    CHECK(ssl3d_encoder_out_channels(enc) == 2 * 3 * 2);
    CHECK(ssl3d_task_module(t, 2) == NULL && ssl3d_task_module(t, -1) == NULL);
    CHECK(!strcmp(ssl3d_task_module_name(t, 9), ""));
    ssl3d_task_release(t);
    /* defaults: paper encoder (f 16 in 3D, 32 in 2D, 4 levels, batch norm) for rotation */
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 2, 1, NULL, &t));
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "filters", &v));
    CHECK(v == 32);
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "norm", &v));
    CHECK(v == SSL3D_NORM_BATCH);
    ssl3d_task_release(t);
    /* NULL accessors */
    ssl3d_task_release(NULL);
    CHECK(ssl3d_task_kind_of(NULL) == -1 && ssl3d_task_dims(NULL) == 0 && ssl3d_task_encoder(NULL) == NULL);
    CHECK(ssl3d_task_module_count(NULL) == 0 && isnan(ssl3d_task_chance(NULL)));
    ssl3d_ctx_release(ctx);
}

TEST(task_create_rejects_bad_options_naming_them) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    static const struct { int kind; const char *opts; const char *culprit; } cases[] = {
        { SSL3D_TASK_ROTATION, "filters=4,colour=red", "'colour'" },
        { SSL3D_TASK_ROTATION, "input_size=abc", "'input_size'" },
        { SSL3D_TASK_ROTATION, "input_size=", "'input_size'" },
        { SSL3D_TASK_ROTATION, "input_size=12.5", "'input_size'" },
        { SSL3D_TASK_ROTATION, "input_size=inf", "'input_size'" },
        { SSL3D_TASK_ROTATION, "levels=4,input_size=8", "'input_size'" },   /* < 2^levels */
        { SSL3D_TASK_ROTATION, "levels=0", "'levels'" },
        { SSL3D_TASK_ROTATION, "filters=-2", "'filters'" },
        { SSL3D_TASK_ROTATION, "norm=layer", "'norm'" },
        { SSL3D_TASK_ROTATION, "norm=7", "'norm'" },
        { SSL3D_TASK_ROTATION, "samples_per_image=0", "'samples_per_image'" },
        { SSL3D_TASK_ROTATION, "hidden", "'hidden'" },
        { SSL3D_TASK_ROTATION, "permutations=100", "'permutations'" },   /* a jigsaw key */
        { SSL3D_TASK_RPL, "jitter=-1", "'jitter'" },
        { SSL3D_TASK_RPL, "input_size=48", "'input_size'" },
        { SSL3D_TASK_JIGSAW, "perm_seed=0.5", "'perm_seed'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ssl3d_task *t = (ssl3d_task *)&cases;   /* must stay untouched */
        ssl3d_status st = ssl3d_task_create(ctx, cases[i].kind, 3, 1, cases[i].opts, &t);
        CHECK_MSG(st == SSL3D_ERR_INVALID_ARG, "'%s': %s", cases[i].opts, ssl3d_status_string(st));
        CHECK_MSG(strstr(ssl3d_ctx_last_error(ctx), cases[i].culprit), "'%s': message '%s' does not name %s",
                  cases[i].opts, ssl3d_ctx_last_error(ctx), cases[i].culprit);
        CHECK(t == (ssl3d_task *)&cases);
    }
    ssl3d_task *t = NULL;
    CHECK_ST(ctx, ssl3d_task_create(ctx, 9, 3, 1, NULL, &t), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, 4, 1, NULL, &t), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "dims"));
    CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, 3, 0, NULL, &t), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "in_channels"));
    CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, 3, 1, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_task_create(NULL, SSL3D_TASK_RPL, 3, 1, NULL, &t) == SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx_release(ctx);
}

TEST(task_forward_checks_arguments_naming_the_culprit) {
    ssl3d_ctx *ctx = th_ctx(1, 1);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++) {
        for (int k = 0; k < 3; k++) {
            ssl3d_task *t = NULL;
            REQUIRE_OK(ctx, ssl3d_task_create(ctx, small_kinds[k], dims, 2, small_options(small_kinds[k]), &t));
            ssl3d_tensor *good = image(ctx, dims, 2, small_side), *one_ch = image(ctx, dims, 1, small_side);
            ssl3d_tensor *small = image(ctx, dims, 2, 5), *flat = image(ctx, dims == 3 ? 2 : 3, 2, small_side);
            int64_t is[4] = { 2, small_side, small_side, small_side };
            ssl3d_tensor *ints = NULL, *loss = (ssl3d_tensor *)&is;
            REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_I32, dims + 1, is, &ints));
            int64_t c = -5, n = -5;
            ssl3d_tensor *im[2] = { good, NULL };
            CHECK_ST(ctx, ssl3d_task_forward(ctx, t, NULL, 1, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_INVALID_ARG);
            CHECK(strstr(ssl3d_ctx_last_error(ctx), "images"));
            CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 2, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_INVALID_ARG);
            CHECK(strstr(ssl3d_ctx_last_error(ctx), "images[1]"));
            CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 0, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_INVALID_ARG);
            CHECK(strstr(ssl3d_ctx_last_error(ctx), "n_images"));
            CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 1, 0, 0, 1, NULL, &c, &n), SSL3D_ERR_INVALID_ARG);
            CHECK(strstr(ssl3d_ctx_last_error(ctx), "loss"));
            CHECK_ST(ctx, ssl3d_task_forward(ctx, NULL, im, 1, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_INVALID_ARG);
            im[1] = ints;
            CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 2, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_DTYPE);
            CHECK(strstr(ssl3d_ctx_last_error(ctx), "images[1]"));
            im[1] = one_ch;
            CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 2, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_SHAPE);
            CHECK(strstr(ssl3d_ctx_last_error(ctx), "images[1]") && strstr(ssl3d_ctx_last_error(ctx), "channels"));
            im[1] = flat;
            CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 2, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_SHAPE);
            CHECK(strstr(ssl3d_ctx_last_error(ctx), "images[1]"));
            if (small_kinds[k] != SSL3D_TASK_ROTATION) {   /* rotation pads small images */
                im[1] = small;
                CHECK_ST(ctx, ssl3d_task_forward(ctx, t, im, 2, 0, 0, 1, &loss, &c, &n), SSL3D_ERR_SHAPE);
                CHECK(strstr(ssl3d_ctx_last_error(ctx), "images[1]") && strstr(ssl3d_ctx_last_error(ctx), "small"));
            }
            CHECK(loss == (ssl3d_tensor *)&is && c == -5 && n == -5);   /* outputs untouched on error */
            CHECK(ssl3d_tape_size(ctx) == 0);
            /* correct and total may be NULL */
            loss = NULL;
            CHECK_OK(ctx, ssl3d_task_forward(ctx, t, im, 1, 0, 0, 1, &loss, NULL, NULL));
            ssl3d_tensor_release(loss);
            ssl3d_tape_reset(ctx);
            ssl3d_tensor_release(good);
            ssl3d_tensor_release(one_ch);
            ssl3d_tensor_release(small);
            ssl3d_tensor_release(flat);
            ssl3d_tensor_release(ints);
            ssl3d_task_release(t);
        }
    }
    ssl3d_ctx_release(ctx);
}

/* Training records the graph and back-propagates into every module; evaluation records
 * nothing (and leaves the gradient-recording setting as it was). */
TEST(task_forward_training_records_evaluation_does_not) {
    ssl3d_ctx *ctx = th_ctx(2, 1);
    REQUIRE(ctx);
    for (int dims = 2; dims <= 3; dims++)
        for (int k = 0; k < 3; k++) {
            ssl3d_task *t = NULL;
            REQUIRE_OK(ctx, ssl3d_task_create(ctx, small_kinds[k], dims, 1, small_options(small_kinds[k]), &t));
            ssl3d_tensor *x[2] = { image(ctx, dims, 1, small_side), image(ctx, dims, 1, small_side + 2) }, *loss = NULL;
            int64_t c = -1, n = -1;
            REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, x, 2, 0, 0, 0, &loss, &c, &n));
            CHECK(ssl3d_tape_size(ctx) == 0 && n == 2 && c >= 0 && c <= 2);
            CHECK(ssl3d_set_grad_enabled(ctx, 1) == 1);
            ssl3d_tensor_release(loss);
            REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, x, 2, 0, 0, 1, &loss, &c, &n));
            CHECK(ssl3d_tape_size(ctx) > 0);
            REQUIRE_OK(ctx, ssl3d_backward(ctx, loss));
            for (int m = 0; m < ssl3d_task_module_count(t); m++) {
                ssl3d_module *mod = ssl3d_task_module(t, m);
                ssl3d_tensor *w = ssl3d_module_tensor(mod, 0);   /* first weight */
                int64_t numel = ssl3d_tensor_numel(w);
                float *g = malloc((size_t)numel * 4);
                REQUIRE(g);
                REQUIRE_OK(ctx, ssl3d_tensor_read_grad(ctx, w, g, numel));
                double s = 0;
                for (int64_t i = 0; i < numel; i++) s += fabs(g[i]);
                CHECK_MSG(s > 0, "task %s %dD: no gradient reached module %s", ssl3d_task_kind_name(small_kinds[k]),
                          dims, ssl3d_task_module_name(t, m));
                free(g);
            }
            ssl3d_tensor_release(loss);
            tt_release_all(x, 2);
            ssl3d_task_release(t);
        }
    ssl3d_ctx_release(ctx);
}

/* Same seed (weights) and same (seed, index) of the samples: bitwise the same loss. */
TEST(task_forward_is_deterministic) {
    for (int dims = 2; dims <= 3; dims++)
        for (int k = 0; k < 3; k++) {
            float v[2][3];
            for (int run = 0; run < 2; run++) {
                ssl3d_ctx *ctx = th_ctx(2, 42);
                REQUIRE(ctx);
                ssl3d_task *t = NULL;
                ssl3d_tensor *x[3] = { image(ctx, dims, 1, small_side), image(ctx, dims, 1, small_side + 3),
                                       image(ctx, dims, 1, small_side + 1) };
                REQUIRE_OK(ctx, ssl3d_task_create(ctx, small_kinds[k], dims, 1, small_options(small_kinds[k]), &t));
                v[run][0] = loss_of(ctx, t, x, 3, 5, 11, 1, NULL);
                v[run][1] = loss_of(ctx, t, x, 3, 5, 11, 0, NULL);
                v[run][2] = loss_of(ctx, t, x, 3, 5, 12, 1, NULL);
                tt_release_all(x, 3);
                ssl3d_task_release(t);
                ssl3d_ctx_release(ctx);
            }
            const char *name = ssl3d_task_kind_name(small_kinds[k]);
            CHECK_MSG(!memcmp(v[0], v[1], sizeof v[0]), "%s %dD: %.9g %.9g %.9g vs %.9g %.9g %.9g", name, dims,
                      v[0][0], v[0][1], v[0][2], v[1][0], v[1][1], v[1][2]);
            CHECK_MSG(isfinite(v[0][0]) && isfinite(v[0][1]) && v[0][0] != v[0][2],
                      "%s %dD: index 11 and 12 give the same samples", name, dims);
        }
}

/* save -> (file) -> load into a differently initialised task / create_from_checkpoint:
 * the same loss bitwise, in training and evaluation. */
TEST(task_save_load_round_trip) {
    ssl3d_ctx *ctx = th_ctx(2, 3);
    REQUIRE(ctx);
    char path[512];
    snprintf(path, sizeof path, "%s/task.safetensors", th_tmpdir());
    for (int dims = 2; dims <= 3; dims++)
        for (int k = 0; k < 3; k++) {
            const int kind = small_kinds[k];
            ssl3d_task *a = NULL, *b = NULL, *c = NULL;
            REQUIRE_OK(ctx, ssl3d_task_create(ctx, kind, dims, 2, small_options(kind), &a));
            ssl3d_tensor *x[2] = { image(ctx, dims, 2, small_side), image(ctx, dims, 2, small_side + 1) };
            /* a few steps so that weights and batch-norm statistics differ from the init */
            ssl3d_optim *opt = tt_adam(ctx, a, 1e-2f);
            REQUIRE(opt);
            for (int s = 0; s < 3; s++) {
                ssl3d_tensor *l = NULL;
                REQUIRE_OK(ctx, ssl3d_task_forward(ctx, a, x, 2, 0, (uint64_t)s, 1, &l, NULL, NULL));
                REQUIRE_OK(ctx, ssl3d_backward(ctx, l));
                REQUIRE_OK(ctx, ssl3d_optim_step(ctx, opt));
                ssl3d_tensor_release(l);
            }
            ssl3d_optim_release(opt);
            ssl3d_checkpoint *ck = NULL, *ck2 = NULL;
            REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
            REQUIRE_OK(ctx, ssl3d_task_save(ctx, a, ck));
            REQUIRE_OK(ctx, ssl3d_checkpoint_save(ctx, ck, path));
            REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, path, &ck2));
            /* metadata */
            const char *m = NULL;
            char num[16];
            CHECK(ssl3d_checkpoint_get_meta(ctx, ck2, "format", &m) == SSL3D_OK && !strcmp(m, "ssl3d-task"));
            CHECK(ssl3d_checkpoint_get_meta(ctx, ck2, "task", &m) == SSL3D_OK && !strcmp(m, ssl3d_task_kind_name(kind)));
            snprintf(num, sizeof num, "%d", dims);
            CHECK(ssl3d_checkpoint_get_meta(ctx, ck2, "dims", &m) == SSL3D_OK && !strcmp(m, num));
            CHECK(ssl3d_checkpoint_get_meta(ctx, ck2, "in_channels", &m) == SSL3D_OK && !strcmp(m, "2"));
            CHECK(ssl3d_checkpoint_get_meta(ctx, ck2, "ssl3d_version", &m) == SSL3D_OK && !strcmp(m, ssl3d_version()));
            CHECK(ssl3d_checkpoint_get_meta(ctx, ck2, "options", &m) == SSL3D_OK && strstr(m, "filters=2,levels=") &&
                  strstr(m, "norm=batch") && strstr(m, "hidden=8"));
            ssl3d_tensor *w = NULL;
            CHECK(ssl3d_checkpoint_get_tensor(ctx, ck2, "encoder.down0.conv1.weight", &w) == SSL3D_OK);
            ssl3d_tensor_release(w);
            CHECK(ssl3d_checkpoint_tensor_info(ctx, ck2, "head.fc1.weight", NULL, NULL, NULL, 0) == SSL3D_OK);
            /* a task with other weights, loaded */
            REQUIRE_OK(ctx, ssl3d_task_create(ctx, kind, dims, 2, small_options(kind), &b));
            const float before = loss_of(ctx, b, x, 2, 7, 1, 0, NULL);
            REQUIRE_OK(ctx, ssl3d_task_load(ctx, b, ck2));
            REQUIRE_OK(ctx, ssl3d_task_create_from_checkpoint(ctx, ck2, &c));
            CHECK(ssl3d_task_kind_of(c) == kind && ssl3d_task_dims(c) == dims);
            double va = 0, vc = 1;
            CHECK(ssl3d_task_option(ctx, a, "hidden", &va) == SSL3D_OK && ssl3d_task_option(ctx, c, "hidden", &vc) ==
                  SSL3D_OK && va == vc);
            for (int training = 0; training <= 1; training++) {
                const float la = loss_of(ctx, a, x, 2, 7, 1, training, NULL);
                const float lb = loss_of(ctx, b, x, 2, 7, 1, training, NULL);
                const float lc = loss_of(ctx, c, x, 2, 7, 1, training, NULL);
                CHECK_MSG(la == lb && la == lc && isfinite(la), "%s %dD training %d: %.9g %.9g %.9g",
                          ssl3d_task_kind_name(kind), dims, training, la, lb, lc);
                if (!training) CHECK(before != la);
            }
            ssl3d_checkpoint_release(ck);
            ssl3d_checkpoint_release(ck2);
            tt_release_all(x, 2);
            ssl3d_task_release(a);
            ssl3d_task_release(b);
            ssl3d_task_release(c);
        }
    ssl3d_ctx_release(ctx);
}

TEST(task_load_rejects_mismatches_naming_them) {
    ssl3d_ctx *ctx = th_ctx(1, 3);
    REQUIRE(ctx);
    ssl3d_task *a = NULL, *b = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 3, 1, "filters=2,levels=2,input_size=8,hidden=8", &a));
    ssl3d_checkpoint *ck = NULL, *empty = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &ck));
    REQUIRE_OK(ctx, ssl3d_checkpoint_create(ctx, &empty));
    REQUIRE_OK(ctx, ssl3d_task_save(ctx, a, ck));
    CHECK_ST(ctx, ssl3d_task_save(ctx, a, ck), SSL3D_ERR_INVALID_ARG);   /* names already present */
    /* other filters: shape mismatch naming the tensor, nothing changed */
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 3, 1, "filters=3,levels=2,input_size=8,hidden=8", &b));
    ssl3d_tensor *w = ssl3d_module_tensor(ssl3d_task_encoder(b), 0);
    const float w0 = ((const float *)ssl3d_tensor_host_data(w))[0];
    CHECK_ST(ctx, ssl3d_task_load(ctx, b, ck), SSL3D_ERR_SHAPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "encoder.down0.conv1.weight"));
    CHECK(w0 == ((const float *)ssl3d_tensor_host_data(w))[0]);
    ssl3d_task_release(b);
    /* other kind / dims / channels */
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_RPL, 3, 1, "filters=2,levels=2,cell=8,jitter=2,hidden=8", &b));
    CHECK_ST(ctx, ssl3d_task_load(ctx, b, ck), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "task") && strstr(ssl3d_ctx_last_error(ctx), "rotation"));
    ssl3d_task_release(b);
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 2, 1, "filters=2,levels=2,input_size=8,hidden=8", &b));
    CHECK_ST(ctx, ssl3d_task_load(ctx, b, ck), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "dims"));
    ssl3d_task_release(b);
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 3, 2, "filters=2,levels=2,input_size=8,hidden=8", &b));
    CHECK_ST(ctx, ssl3d_task_load(ctx, b, ck), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "in_channels"));
    /* missing tensors */
    CHECK_ST(ctx, ssl3d_task_load(ctx, a, empty), SSL3D_ERR_NOT_FOUND);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "encoder."));
    CHECK_ST(ctx, ssl3d_task_load(ctx, NULL, ck), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_task_save(ctx, a, NULL), SSL3D_ERR_INVALID_ARG);
    /* create_from_checkpoint needs the metadata */
    ssl3d_task *c = NULL;
    CHECK_ST(ctx, ssl3d_task_create_from_checkpoint(ctx, empty, &c), SSL3D_ERR_FORMAT);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "format") && c == NULL);
    REQUIRE_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "task", "origami"));
    CHECK_ST(ctx, ssl3d_task_create_from_checkpoint(ctx, ck, &c), SSL3D_ERR_FORMAT);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "origami"));
    REQUIRE_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "task", "rotation"));
    REQUIRE_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "dims", "3x"));
    CHECK_ST(ctx, ssl3d_task_create_from_checkpoint(ctx, ck, &c), SSL3D_ERR_FORMAT);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "dims"));
    REQUIRE_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "dims", "3"));
    REQUIRE_OK(ctx, ssl3d_checkpoint_set_meta(ctx, ck, "options", "filters=2,levels=2,input_size=8,hidden=8,bogus=1"));
    CHECK_ST(ctx, ssl3d_task_create_from_checkpoint(ctx, ck, &c), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "bogus"));
    ssl3d_task_release(b);
    ssl3d_checkpoint_release(ck);
    ssl3d_checkpoint_release(empty);
    ssl3d_task_release(a);
    ssl3d_ctx_release(ctx);
}
