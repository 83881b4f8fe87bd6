/* ssl3d_pretrain_inputs (ssl3d/pretrain_inputs.h) on tiny generated NIfTI data sets: the
 * choices of `ssl3d pretrain` (default batch per task and dims, the window size CPC and
 * exemplar pad to, held-out images capped by val_max and evenly spaced), the same losses
 * as the inputs prepared call by call, errors naming the config field and leaving no
 * handle, the single-image case reported through the API, data-parallel ranks, a data
 * context of its own, NULL. */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "fake_comm.h"
#include "test_loader_util.h"

#define OPTS "filters=4,levels=1"

static char man[1024];
static void make_data(int n) { REQUIRE(tl_write_dataset(th_tmpdir(), n, 18, 20, 17, man, sizeof man) == 0); }

static void base_config(ssl3d_pretrain_inputs_config *c, const char *task, int32_t dims, const char *opts) {
    ssl3d_pretrain_inputs_config_init(c);
    c->manifest = man;
    c->task = task;
    c->dims = dims;
    c->options = opts;
    c->seed = 3;
}

/* Default batch (documented in --help and docs/tasks.md) and min size, for every task in
 * 3D and 2D; steps per epoch and the split of the five volumes. */
TEST(pretrain_inputs_task_defaults) {
    make_data(5);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    static const struct { const char *task, *opts; int32_t batch3, batch2; int64_t min_size; } want[] = {
        { "rotation", OPTS ",input_size=8,hidden=8", 8, 32, 1 },
        { "rpl", OPTS ",cell=6,jitter=1", 16, 32, 1 },
        { "jigsaw", OPTS ",grid=2,cell=8,jitter=2,permutations=4", 8, 16, 1 },
        { "cpc", OPTS ",input_size=24", 4, 16, 24 },
        { "exemplar", OPTS ",input_size=22", 8, 16, 22 },
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        for (int32_t dims = 3; dims >= 2; dims--) {
            ssl3d_pretrain_inputs_config c;
            base_config(&c, want[k].task, dims, want[k].opts);
            c.val_max = 2;
            ssl3d_pretrain_inputs *in = NULL;
            CHECK_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
            if (!in) continue;
            const int32_t b = ssl3d_pretrain_inputs_batch(in);
            CHECK_MSG(b == (dims == 3 ? want[k].batch3 : want[k].batch2), "%s %dD: batch %d", want[k].task, (int)dims,
                      (int)b);
            CHECK_MSG(ssl3d_pretrain_inputs_min_size(in) == want[k].min_size, "%s: min size %lld", want[k].task,
                      (long long)ssl3d_pretrain_inputs_min_size(in));
            ssl3d_task *task = ssl3d_pretrain_inputs_task(in);
            CHECK(task && ssl3d_task_dims(task) == dims && !strcmp(ssl3d_task_kind_name(ssl3d_task_kind_of(task)),
                                                                      want[k].task));
            CHECK(ssl3d_loader_batch_size(ssl3d_pretrain_inputs_loader(in)) == b);
            /* 5 volumes, fraction 0.1: 1 held out, 4 for training (D = 17 or 18 slices each). */
            const int64_t n = ssl3d_pretrain_inputs_train_count(in);
            CHECK_MSG(dims == 3 ? n == 4 : n >= 4 * 17 && n <= 4 * 18, "%dD: %lld training items", (int)dims,
                      (long long)n);
            CHECK(ssl3d_pretrain_inputs_steps_per_epoch(in) == (n + b - 1) / b);
            CHECK(ssl3d_pretrain_inputs_val_count(in) == (dims == 3 ? 1 : 2));
            CHECK(!ssl3d_pretrain_inputs_unsplit(in));
            /* The images are padded to the window CPC and exemplar cut (the volumes are
             * 18..19 x 20 x 17..18), and are otherwise left whole. */
            ssl3d_tensor *v = ssl3d_pretrain_inputs_val_image(in, 0);
            REQUIRE(v);
            CHECK(ssl3d_tensor_ndim(v) == dims + 1 && ssl3d_tensor_dim(v, 0) == 1);
            for (int32_t a = 1; a <= dims; a++) {
                const int64_t side = ssl3d_tensor_dim(v, a);
                CHECK_MSG(want[k].min_size > 1 ? side == want[k].min_size : side >= 17 && side <= 20,
                          "%s %dD: axis %d is %lld", want[k].task, (int)dims, (int)a, (long long)side);
            }
            CHECK(ssl3d_pretrain_inputs_val_image(in, ssl3d_pretrain_inputs_val_count(in)) == NULL);
            CHECK(ssl3d_pretrain_inputs_val_image(in, -1) == NULL);
            ssl3d_pretrain_inputs_release(in);
        }
    /* An explicit batch wins. */
    ssl3d_pretrain_inputs_config c;
    base_config(&c, "cpc", 3, OPTS ",input_size=24");
    c.batch = 3;
    ssl3d_pretrain_inputs *in = NULL;
    CHECK_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
    CHECK(ssl3d_pretrain_inputs_batch(in) == 3 && ssl3d_pretrain_inputs_steps_per_epoch(in) == 2);
    ssl3d_pretrain_inputs_release(in);
    ssl3d_ctx_release(ctx);
}

/* Whether two float tensors hold the same shape and values. */
/* Held-out images: all of them up to val_max, then val_max of them evenly spaced (item
 * i * n / val_max of the held-out loader), prepared as the training images (minmax here). */
TEST(pretrain_inputs_held_out_images) {
    make_data(5);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* The held-out slices themselves, from a loader of the other subset. */
    ssl3d_loader *val = NULL;
    int64_t nv = 0;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_VAL, &val));
    REQUIRE_OK(ctx, ssl3d_loader_set_dims(ctx, val, 2));
    REQUIRE_OK(ctx, ssl3d_loader_set_split(ctx, val, 0.4, 9));
    REQUIRE_OK(ctx, ssl3d_loader_set_preprocess(ctx, val, SSL3D_LOADER_MINMAX, 1, NULL));
    REQUIRE_OK(ctx, ssl3d_loader_count(ctx, val, &nv));
    REQUIRE(nv >= 2 * 17);   /* 2 of 5 volumes held out */
    const int64_t caps[3] = { 1000, 7, 0 };
    for (int k = 0; k < 3; k++) {
        ssl3d_pretrain_inputs_config c;
        base_config(&c, "rotation", 2, OPTS ",input_size=8");
        c.val_fraction = 0.4;
        c.split_seed = 9;
        c.val_max = caps[k];
        c.normalisation = "minmax";
        ssl3d_pretrain_inputs *in = NULL;
        CHECK_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
        if (!in) continue;
        const int64_t n = ssl3d_pretrain_inputs_val_count(in), want = nv < caps[k] ? nv : caps[k];
        CHECK_MSG(n == want, "val_max %lld: %lld held-out images, want %lld", (long long)caps[k], (long long)n,
                  (long long)want);
        CHECK(ssl3d_pretrain_inputs_train_count(in) + nv >= 5 * 17);
        for (int64_t i = 0; i < n; i++) {
            ssl3d_tensor *t = NULL;
            REQUIRE_OK(ctx, ssl3d_loader_item(ctx, val, i * nv / n, &t));
            CHECK_MSG(th_tensors_identical(ctx, t, ssl3d_pretrain_inputs_val_image(in, i)), "val_max %lld: image %lld",
                      (long long)caps[k], (long long)i);
            ssl3d_tensor_release(t);
            /* ... and the file and slice it came from. */
            int64_t z = -7, want_z = -8;
            const char *path = ssl3d_pretrain_inputs_val_path(in, i, &z);
            const char *want_path = ssl3d_loader_item_path(val, i * nv / n, &want_z);
            CHECK_MSG(path && want_path && !strcmp(path, want_path) && z == want_z && z >= 0,
                      "image %lld: %s slice %lld, want %s slice %lld", (long long)i, path ? path : "NULL",
                      (long long)z, want_path ? want_path : "NULL", (long long)want_z);
        }
        CHECK(ssl3d_pretrain_inputs_val_path(in, n, NULL) == NULL && ssl3d_pretrain_inputs_val_path(in, -1, NULL) == NULL);
        ssl3d_pretrain_inputs_release(in);
    }
    ssl3d_loader_release(val);
    ssl3d_ctx_release(ctx);
}

/* ---------------------------------------------------------------- the same run */

typedef struct losses { double v[8]; int n; double val_acc; } losses;

static int32_t on_log(void *user, const char *json) {
    losses *l = user;
    cJSON *o = cJSON_Parse(json);
    const cJSON *loss = cJSON_GetObjectItem(o, "loss"), *acc = cJSON_GetObjectItem(o, "proxy_accuracy");
    if (cJSON_IsNumber(loss) && l->n < 8) l->v[l->n++] = loss->valuedouble;
    if (cJSON_IsNumber(acc)) l->val_acc = acc->valuedouble;
    cJSON_Delete(o);
    return 0;
}

/* The inputs prepared call by call, as `ssl3d pretrain` did before ssl3d_pretrain_inputs
 * (a CPC run: batch 4 by default, images padded to input_size 24, held-out images). */
static ssl3d_status by_hand(ssl3d_ctx *ctx, ssl3d_task **task, ssl3d_loader **train, ssl3d_tensor **val_imgs,
                            int64_t *n_val) {
    ssl3d_loader *peek = NULL, *val = NULL;
    ssl3d_tensor *first = NULL;
    int64_t nv = 0;
    ssl3d_status st = ssl3d_loader_create(ctx, man, SSL3D_LOADER_TRAIN, train);
    if (!st) st = ssl3d_loader_set_dims(ctx, *train, 3);
    if (!st) st = ssl3d_loader_set_split(ctx, *train, 0.34, 0);
    const char *p0 = ssl3d_loader_volume_path(*train, 0);
    if (!st) st = ssl3d_loader_create_files(ctx, &p0, 1, SSL3D_LOADER_ALL, &peek);
    if (!st) st = ssl3d_loader_set_dims(ctx, peek, 3);
    if (!st) st = ssl3d_loader_item(ctx, peek, 0, &first);
    if (!st) st = ssl3d_task_create(ctx, SSL3D_TASK_CPC, 3, (int32_t)ssl3d_tensor_dim(first, 0), OPTS ",input_size=24",
                                    task);
    if (!st) st = ssl3d_loader_set_preprocess(ctx, *train, SSL3D_LOADER_ZSCORE, 24, NULL);
    if (!st) st = ssl3d_loader_set_batch(ctx, *train, 4, 3);
    if (!st) st = ssl3d_loader_set_threads(ctx, *train, 1, 4);
    if (!st) st = ssl3d_loader_create(ctx, man, SSL3D_LOADER_VAL, &val);
    if (!st) st = ssl3d_loader_set_dims(ctx, val, 3);
    if (!st) st = ssl3d_loader_set_split(ctx, val, 0.34, 0);
    if (!st) st = ssl3d_loader_set_preprocess(ctx, val, SSL3D_LOADER_ZSCORE, 24, NULL);
    if (!st) st = ssl3d_loader_set_threads(ctx, val, 1, 1);
    if (!st) st = ssl3d_loader_count(ctx, val, &nv);
    for (int64_t i = 0; !st && i < nv && i < 4; i++, *n_val = i) st = ssl3d_loader_item(ctx, val, i, &val_imgs[i]);
    ssl3d_tensor_release(first);
    ssl3d_loader_release(peek);
    ssl3d_loader_release(val);
    return st;
}

static ssl3d_status no_batches(void *user, ssl3d_ctx *ctx, int64_t step, int32_t n, ssl3d_tensor **images) {
    (void)user; (void)ctx; (void)step; (void)n; (void)images;
    return SSL3D_ERR_STATE;   /* never called */
}

static void run_config(ssl3d_pretrain_config *pc, const char *out) {
    ssl3d_pretrain_config_init(pc);
    pc->steps = 3;
    pc->eval_every = 2;
    pc->lr = 3e-3;
    pc->out = out;
}

/* fill_config + ssl3d_pretrain_run gives bitwise the losses and accuracy of the inputs
 * prepared by hand, and sets exactly the fields it documents. */
TEST(pretrain_inputs_same_run_as_by_hand) {
    make_data(5);
    char out[1100];
    snprintf(out, sizeof out, "%s/a.safetensors", th_tmpdir());
    losses a = { .n = 0 }, b = { .n = 0 };
    ssl3d_ctx *ctx = th_ctx(1, 7);
    REQUIRE(ctx);
    ssl3d_pretrain_inputs_config c;
    base_config(&c, "cpc", 3, OPTS ",input_size=24");
    c.val_fraction = 0.34;
    ssl3d_pretrain_inputs *in = NULL;
    REQUIRE_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
    ssl3d_pretrain_config pc;
    run_config(&pc, out);
    pc.batch_fn = no_batches;   /* replaced: the inputs give the loader */
    pc.seed = 99;
    CHECK_OK(ctx, ssl3d_pretrain_inputs_fill_config(ctx, in, &pc));
    CHECK(pc.loader == ssl3d_pretrain_inputs_loader(in) && pc.batch_fn == NULL && pc.batch == 4 && pc.seed == 3);
    CHECK(pc.n_val == 2 && pc.val && pc.val[1] == ssl3d_pretrain_inputs_val_image(in, 1));
    CHECK(pc.steps_per_epoch == 1 && pc.steps == 3 && pc.eval_every == 2 && pc.data_ctx == NULL);
    CHECK_OK(ctx, ssl3d_pretrain_run(ctx, ssl3d_pretrain_inputs_task(in), &pc, on_log, &a));
    ssl3d_pretrain_inputs_release(in);
    ssl3d_ctx_release(ctx);

    ctx = th_ctx(1, 7);
    REQUIRE(ctx);
    ssl3d_task *task = NULL;
    ssl3d_loader *train = NULL;
    ssl3d_tensor *val[4] = { NULL };
    int64_t n_val = 0;
    CHECK_OK(ctx, by_hand(ctx, &task, &train, val, &n_val));
    run_config(&pc, out);
    pc.loader = train;
    pc.batch = 4;
    pc.seed = 3;
    pc.val = val;
    pc.n_val = n_val;
    pc.steps_per_epoch = 1;
    if (task) CHECK_OK(ctx, ssl3d_pretrain_run(ctx, task, &pc, on_log, &b));
    for (int i = 0; i < 4; i++) ssl3d_tensor_release(val[i]);
    ssl3d_task_release(task);
    ssl3d_loader_release(train);
    ssl3d_ctx_release(ctx);

    CHECK(a.n == 3 && b.n == 3);
    for (int i = 0; i < a.n && i < b.n; i++) CHECK_MSG(a.v[i] == b.v[i], "step %d: %.9g by the call, %.9g by hand", i,
                                                       a.v[i], b.v[i]);
    CHECK(a.v[0] != a.v[2]);
    CHECK_MSG(a.val_acc == b.val_acc && isfinite(a.val_acc), "proxy accuracy %g vs %g", a.val_acc, b.val_acc);
}

/* ---------------------------------------------------------------- errors */

#define ANY_ERROR ((ssl3d_status)-1)

/* create fails with `want` (ANY_ERROR: any status but SSL3D_OK) and a message containing every one of needles (NULL-ended),
 * and leaves *out NULL. */
static void expect_error(ssl3d_ctx *ctx, const ssl3d_pretrain_inputs_config *c, ssl3d_status want,
                         const char *const *needles, int line) {
    ssl3d_pretrain_inputs *in = (ssl3d_pretrain_inputs *)&in;   /* must be overwritten */
    ssl3d_status st = ssl3d_pretrain_inputs_create(ctx, c, &in);
    const char *msg = ssl3d_ctx_last_error(ctx);
    CHECK_MSG(want == ANY_ERROR ? st != SSL3D_OK : st == want, "line %d: %s, want %s: %s", line,
              ssl3d_status_string(st), want == ANY_ERROR ? "an error" : ssl3d_status_string(want), msg);
    CHECK_MSG(in == NULL, "line %d: a handle was left behind", line);
    CHECK_MSG(!strncmp(msg, "ssl3d_pretrain_inputs_create: ", 30), "line %d: %s", line, msg);
    for (int i = 0; needles[i]; i++) CHECK_MSG(strstr(msg, needles[i]), "line %d: no '%s' in: %s", line, needles[i], msg);
    if (st == SSL3D_OK) ssl3d_pretrain_inputs_release(in);
}
#define EXPECT_ERROR(c, want, ...) expect_error(ctx, c, want, (const char *const[]){ __VA_ARGS__, NULL }, __LINE__)

TEST(pretrain_inputs_errors_name_the_field) {
    make_data(3);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    char missing[1100], cases[1100];
    snprintf(missing, sizeof missing, "%s/no_such_dataset.json", th_tmpdir());
    snprintf(cases, sizeof cases, "%s/cases.txt", th_tmpdir());
    FILE *f = fopen(cases, "w");
    REQUIRE(f);
    fprintf(f, "0\nnot_a_case.nii.gz\n");
    fclose(f);
    ssl3d_pretrain_inputs_config c;
#define RESET() base_config(&c, "rotation", 3, OPTS)
    RESET(); c.manifest = missing;
    EXPECT_ERROR(&c, SSL3D_ERR_IO, "config.manifest", "no_such_dataset.json");
    RESET(); c.options = OPTS ",bogus=1";
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.options", "bogus");
    RESET(); c.dims = 4;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.dims = 4");
    RESET(); c.dims = 0;   /* not set */
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.dims = 0");
    RESET(); c.task = "spin";
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.task 'spin'");
    RESET(); c.task = NULL;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.task is NULL");
    RESET(); c.manifest = NULL;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.manifest is NULL");
    RESET(); c.normalisation = "unit";
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.normalisation 'unit'");
    RESET(); c.batch = -1;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.batch = -1");
    RESET(); c.val_fraction = 1;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.val_fraction = 1");
    RESET(); c.val_max = -1;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.val_max = -1");
    RESET(); c.loader_threads = 65;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.loader_threads = 65");
    RESET(); c.spacing[1] = NAN;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.spacing[1]");
    const int64_t idx[2] = { 0, 7 };
    RESET(); c.cases = idx; c.n_cases = 2;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.cases", "7");
    RESET(); c.cases = idx; c.n_cases = 2; c.cases_file = cases;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "at most one of config.cases and config.cases_file");
    RESET(); c.cases_file = cases;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.cases_file", "not_a_case.nii.gz");
    char empty[1100];
    snprintf(empty, sizeof empty, "%s/none.txt", th_tmpdir());
    REQUIRE((f = fopen(empty, "w")) != NULL);
    fprintf(f, "# no case\n");
    fclose(f);
    RESET(); c.cases_file = empty;
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.cases_file", "none.txt lists 0 cases");
    RESET(); c.size = 0;   /* not from ssl3d_pretrain_inputs_config_init */
    EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "ssl3d_pretrain_inputs_config_init");
    EXPECT_ERROR(NULL, SSL3D_ERR_INVALID_ARG, "config is NULL");
#undef RESET
    CHECK(ssl3d_pretrain_inputs_create(ctx, &c, NULL) == SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_pretrain_inputs_create(NULL, &c, NULL) == SSL3D_ERR_INVALID_ARG);
    /* The same config, corrected, works on the same context. */
    base_config(&c, "rotation", 3, OPTS);
    ssl3d_pretrain_inputs *in = NULL;
    CHECK_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
    CHECK(in != NULL);
    ssl3d_pretrain_inputs_release(in);
    ssl3d_ctx_release(ctx);
}

/* One image cannot be split: no held-out images, reported by ssl3d_pretrain_inputs_unsplit,
 * not as an error (none is left on the context) and nothing printed. Without a held-out
 * fraction there is nothing to report. */
TEST(pretrain_inputs_single_image) {
    make_data(1);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_pretrain_inputs_config c;
    base_config(&c, "rotation", 3, OPTS);
    ssl3d_pretrain_inputs *in = NULL;
    REQUIRE_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
    CHECK(ssl3d_pretrain_inputs_unsplit(in) == 1);
    CHECK(ssl3d_pretrain_inputs_val_count(in) == 0 && ssl3d_pretrain_inputs_val_image(in, 0) == NULL);
    CHECK(ssl3d_pretrain_inputs_train_count(in) == 1 && ssl3d_pretrain_inputs_steps_per_epoch(in) == 1);
    CHECK_MSG(ssl3d_ctx_last_error(ctx)[0] == 0, "error left on the context: %s", ssl3d_ctx_last_error(ctx));
    ssl3d_pretrain_config pc;
    ssl3d_pretrain_config_init(&pc);
    CHECK_OK(ctx, ssl3d_pretrain_inputs_fill_config(ctx, in, &pc));
    CHECK(pc.n_val == 0 && pc.batch == 8);
    ssl3d_pretrain_inputs_release(in);
    c.val_fraction = 0;
    REQUIRE_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
    CHECK(ssl3d_pretrain_inputs_unsplit(in) == 0 && ssl3d_pretrain_inputs_val_count(in) == 0);
    ssl3d_pretrain_inputs_release(in);
    ssl3d_ctx_release(ctx);
}

/* Under a communicator (a fake one: no collective is called): only rank 0 reads held-out
 * images, and the batch must split over the ranks. */
TEST(pretrain_inputs_ranks) {
    make_data(5);
    fake_world w = { .size = 2 };
    for (int32_t rank = 0; rank < 2; rank++) {
        ssl3d_ctx *ctx = th_ctx(1, 0);
        REQUIRE(ctx);
        fake_rank r = { .w = &w, .rank = rank };
        ssl3d_comm comm = fake_comm(&r);
        REQUIRE_OK(ctx, ssl3d_ctx_set_comm(ctx, &comm));
        ssl3d_pretrain_inputs_config c;
        base_config(&c, "rotation", 3, OPTS);
        ssl3d_pretrain_inputs *in = NULL;
        CHECK_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
        CHECK(ssl3d_pretrain_inputs_batch(in) == 8);
        CHECK_MSG(ssl3d_pretrain_inputs_val_count(in) == (rank == 0 ? 1 : 0), "rank %d: %lld held-out images",
                  (int)rank, (long long)ssl3d_pretrain_inputs_val_count(in));
        CHECK(!ssl3d_pretrain_inputs_unsplit(in));
        ssl3d_pretrain_inputs_release(in);
        c.batch = 3;
        EXPECT_ERROR(&c, SSL3D_ERR_INVALID_ARG, "config.batch = 3 does not split evenly over 2 ranks");
        ssl3d_ctx_set_comm(ctx, NULL);
        ssl3d_ctx_release(ctx);
    }
}

TEST(pretrain_inputs_null) {
    ssl3d_pretrain_inputs_release(NULL);
    ssl3d_pretrain_inputs_config_init(NULL);
    CHECK(ssl3d_pretrain_inputs_task(NULL) == NULL && ssl3d_pretrain_inputs_loader(NULL) == NULL);
    CHECK(ssl3d_pretrain_inputs_batch(NULL) == 0 && ssl3d_pretrain_inputs_train_count(NULL) == 0);
    CHECK(ssl3d_pretrain_inputs_steps_per_epoch(NULL) == 0 && ssl3d_pretrain_inputs_min_size(NULL) == 0);
    CHECK(ssl3d_pretrain_inputs_val_count(NULL) == 0 && ssl3d_pretrain_inputs_val_image(NULL, 0) == NULL);
    CHECK(ssl3d_pretrain_inputs_unsplit(NULL) == 0 && ssl3d_pretrain_inputs_val_path(NULL, 0, NULL) == NULL);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_pretrain_config pc;
    ssl3d_pretrain_config_init(&pc);
    CHECK(ssl3d_pretrain_inputs_fill_config(ctx, NULL, &pc) == SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "inputs is NULL"));
    CHECK(pc.loader == NULL && pc.batch == 0);
    ssl3d_ctx_release(ctx);
}

/* A held-out image that cannot be read is an error naming it (with more than one image:
 * only a single image is "cannot be split"), in 3D (read when taken) and 2D (read when
 * counting the slices). */
TEST(pretrain_inputs_bad_held_out_image) {
    make_data(4);
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_loader *val = NULL;
    REQUIRE_OK(ctx, ssl3d_loader_create(ctx, man, SSL3D_LOADER_VAL, &val));
    REQUIRE(ssl3d_loader_num_volumes(val) == 1);   /* the default split: 1 of 4 */
    char bad[1100];
    snprintf(bad, sizeof bad, "%s", ssl3d_loader_volume_path(val, 0));
    ssl3d_loader_release(val);
    FILE *f = fopen(bad, "w");
    REQUIRE(f);
    fputs("not a NIfTI file\n", f);
    fclose(f);
    const char *name = strrchr(bad, '/') + 1;
    for (int32_t dims = 3; dims >= 2; dims--) {
        ssl3d_pretrain_inputs_config c;
        base_config(&c, "rotation", dims, OPTS);
        EXPECT_ERROR(&c, ANY_ERROR, "config.manifest", "held-out images", name);
    }
    ssl3d_ctx_release(ctx);
}

/* Images in a data context of their own (as `ssl3d pretrain --backend cuda` keeps them in
 * host memory): fill_config passes it on, and the run gives the losses of one context. */
TEST(pretrain_inputs_data_context) {
    make_data(4);
    char out[1100];
    snprintf(out, sizeof out, "%s/d.safetensors", th_tmpdir());
    losses l[2] = { { .n = 0 }, { .n = 0 } };
    for (int k = 0; k < 2; k++) {
        ssl3d_ctx *ctx = th_ctx(1, 5), *dctx = k ? th_ctx(1, 0) : NULL;
        REQUIRE(ctx && (!k || dctx));
        ssl3d_pretrain_inputs_config c;
        base_config(&c, "rotation", 3, OPTS ",input_size=8,hidden=8");
        c.batch = 2;
        c.data_ctx = dctx;
        ssl3d_pretrain_inputs *in = NULL;
        CHECK_OK(ctx, ssl3d_pretrain_inputs_create(ctx, &c, &in));
        ssl3d_pretrain_config pc;
        run_config(&pc, out);
        CHECK_OK(ctx, ssl3d_pretrain_inputs_fill_config(ctx, in, &pc));
        CHECK(pc.data_ctx == dctx && pc.n_val == 1);
        if (in) CHECK_OK(ctx, ssl3d_pretrain_run(ctx, ssl3d_pretrain_inputs_task(in), &pc, on_log, &l[k]));
        ssl3d_pretrain_inputs_release(in);
        ssl3d_ctx_release(dctx);
        ssl3d_ctx_release(ctx);
    }
    CHECK(l[0].n == 3 && l[1].n == 3);
    for (int i = 0; i < 3; i++) CHECK_MSG(l[0].v[i] == l[1].v[i], "step %d: %.9g vs %.9g", i, l[0].v[i], l[1].v[i]);
}
