/* ssl3d_pretrain_run (ssl3d/pretrain_run.h) through the public API, without the CLI:
 * bad configurations rejected naming the field, the log records and a callback that
 * stops the run, and a resumed run that reproduces an uninterrupted one bitwise. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "test_emulated_device.h"

enum { POOL = 6, SIDE = 16, BATCH = 2, N_VAL = 3, MAX_REC = 16 };
#define TASK_OPTS "filters=4,levels=2,input_size=16,hidden=8"

/* A context, a rotation task and a pool of random images (from the context RNG, before
 * the task: the same seed gives the same pool and weights). */
typedef struct fixture {
    ssl3d_ctx *ctx;
    ssl3d_task *task;
    ssl3d_tensor *pool[POOL];
    int32_t last_n;         /* images asked for by the last batch call */
} fixture;

static int fixture_init(fixture *f, uint64_t seed) {
    memset(f, 0, sizeof *f);
    if (!(f->ctx = th_ctx(1, seed))) return -1;
    const int64_t shape[4] = { 1, SIDE, SIDE, SIDE };
    for (int i = 0; i < POOL; i++)
        if (!(f->pool[i] = th_randn(f->ctx, 4, shape, 0))) return -1;
    return ssl3d_task_create(f->ctx, SSL3D_TASK_ROTATION, 3, 1, TASK_OPTS, &f->task) == SSL3D_OK ? 0 : -1;
}

static void fixture_free(fixture *f) {
    ssl3d_task_release(f->task);
    for (int i = 0; i < POOL; i++) ssl3d_tensor_release(f->pool[i]);
    ssl3d_ctx_release(f->ctx);
}

/* Batch s: pool images (s*3 + k) mod (POOL - N_VAL): deterministic in s; the last N_VAL
 * images of the pool are held out. */
static ssl3d_status batch_fn(void *user, ssl3d_ctx *ctx, int64_t step, int32_t n, ssl3d_tensor **images) {
    (void)ctx;
    fixture *f = user;
    f->last_n = n;
    for (int32_t k = 0; k < n; k++) images[k] = ssl3d_tensor_retain(f->pool[(step * 3 + k) % (POOL - N_VAL)]);
    return SSL3D_OK;
}

/* The records of a run, parsed; stop_after >= 0 stops the run after that step. */
typedef struct records {
    cJSON *rec[MAX_REC];
    int n, warnings;
    int64_t stop_after;
} records;

static int32_t on_log(void *user, const char *json) {
    records *r = user;
    cJSON *o = cJSON_Parse(json);
    if (!o) return 0;
    if (cJSON_GetObjectItem(o, "warning")) { r->warnings++; cJSON_Delete(o); return 0; }
    if (r->n < MAX_REC) r->rec[r->n++] = o;
    else cJSON_Delete(o);
    const cJSON *s = cJSON_GetObjectItem(o, "step");
    return r->stop_after >= 0 && cJSON_IsNumber(s) && (int64_t)s->valuedouble >= r->stop_after;
}

static void records_free(records *r) {
    for (int i = 0; i < r->n; i++) cJSON_Delete(r->rec[i]);
    memset(r, 0, sizeof *r);
}

static void config(ssl3d_pretrain_config *c, fixture *f, const char *out) {
    ssl3d_pretrain_config_init(c);
    c->batch_fn = batch_fn;
    c->batch_user = f;
    c->batch = BATCH;
    c->seed = 11;
    c->steps = 6;
    c->lr = 3e-3;
    c->val = f->pool + (POOL - N_VAL);
    c->n_val = N_VAL;
    c->val_rounds = 1;
    c->out = out;
}

TEST(pretrain_run_rejects_a_bad_config_naming_the_field) {
    fixture f;
    REQUIRE(fixture_init(&f, 5) == 0);
    char out[512];
    snprintf(out, sizeof out, "%s/bad.safetensors", th_tmpdir());
    ssl3d_pretrain_config c;
    struct { const char *field; int what; } cases[] = {
        { "config.batch", 0 }, { "config.steps", 1 }, { "config.schedule", 2 }, { "config.loader", 3 },
        { "config.loader", 4 }, { "config.size", 5 }, { "config.out", 6 }, { "config.warmup", 7 },
        { "config.val[1]", 8 }, { "config.val_rounds", 9 }, { "config.lr", 10 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config(&c, &f, out);
        switch (cases[i].what) {
        case 0: c.batch = 0; break;
        case 1: c.steps = 0; break;
        case 2: c.schedule = "linear"; break;
        case 3: c.batch_fn = NULL; break;                       /* neither loader nor batch_fn */
        case 4: c.loader = (ssl3d_loader *)&f; break;           /* both (never dereferenced) */
        case 5: c.size -= 8; break;                             /* a caller built against another layout */
        case 6: c.out = NULL; break;
        case 7: c.schedule = "cosine"; c.warmup = 6; break;
        case 8: { static ssl3d_tensor *v[2]; v[0] = f.pool[0]; v[1] = NULL; c.val = v; c.n_val = 2; } break;
        case 9: c.val_rounds = 0; break;
        default: c.lr = NAN; break;
        }
        records r = { .stop_after = -1 };
        ssl3d_status st = ssl3d_pretrain_run(f.ctx, f.task, &c, on_log, &r);
        const char *msg = ssl3d_ctx_last_error(f.ctx);
        CHECK_MSG(st == SSL3D_ERR_INVALID_ARG, "case %zu: status %d: %s", i, (int)st, msg);
        CHECK_MSG(strstr(msg, cases[i].field) && strstr(msg, "ssl3d_pretrain_run"), "case %zu: '%s' lacks %s", i, msg,
                  cases[i].field);
        CHECK_MSG(r.n == 0 && r.warnings == 0, "case %zu: %d records before the error", i, r.n);
        records_free(&r);
    }
    struct stat sb;
    CHECK_MSG(stat(out, &sb) != 0, "a rejected run wrote %s", out);
    CHECK(ssl3d_pretrain_run(f.ctx, f.task, NULL, NULL, NULL) == SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(f.ctx), "config is NULL") != NULL);
    fixture_free(&f);
}

/* One step of `task` with the fixture's first n_val held-out images; *records_out: the
 * number of log records written. */
static ssl3d_status one_step(fixture *f, ssl3d_task *task, int64_t n_val, const char *out, int *records_out) {
    ssl3d_pretrain_config c;
    config(&c, f, out);
    c.steps = 1;
    c.n_val = n_val;
    records r = { .stop_after = -1 };
    ssl3d_status st = ssl3d_pretrain_run(f->ctx, task, &c, on_log, &r);
    *records_out = r.n;
    records_free(&r);
    return st;
}

/* Exemplar needs >= 2 held-out images (the others are each one's negatives): one is
 * refused before training, not after it at the final evaluation; two train and evaluate. */
TEST(pretrain_run_refuses_a_single_held_out_image_for_exemplar) {
    fixture f;
    REQUIRE(fixture_init(&f, 6) == 0);
    ssl3d_task *ex = NULL;
    REQUIRE(ssl3d_task_create(f.ctx, SSL3D_TASK_EXEMPLAR, 3, 1, "filters=4,levels=2,input_size=16", &ex) == SSL3D_OK);
    char out[512];
    snprintf(out, sizeof out, "%s/exemplar_one_val.safetensors", th_tmpdir());
    int n_rec = 0;
    ssl3d_status st = one_step(&f, ex, 1, out, &n_rec);
    const char *msg = ssl3d_ctx_last_error(f.ctx);
    CHECK_MSG(st == SSL3D_ERR_INVALID_ARG && strstr(msg, "config.n_val = 1") && strstr(msg, "exemplar"),
              "status %d: %s", (int)st, msg);
    CHECK_MSG(n_rec == 0, "%d records before the error", n_rec);
    struct stat sb;
    CHECK_MSG(stat(out, &sb) != 0, "a refused run wrote %s", out);
    CHECK_MSG(one_step(&f, ex, 2, out, &n_rec) == SSL3D_OK, "two held-out images: %s", ssl3d_ctx_last_error(f.ctx));
    CHECK_MSG(stat(out, &sb) == 0, "no checkpoint at %s", out);
    /* The rotation task takes a single held-out image. */
    CHECK_MSG(one_step(&f, f.task, 1, out, &n_rec) == SSL3D_OK, "rotation, one held-out image: %s",
              ssl3d_ctx_last_error(f.ctx));
    remove(out);
    ssl3d_task_release(ex);
    fixture_free(&f);
}

TEST(pretrain_run_logs_each_step_and_the_callback_can_stop_it) {
    fixture f;
    REQUIRE(fixture_init(&f, 5) == 0);
    char out[512];
    snprintf(out, sizeof out, "%s/stop.safetensors", th_tmpdir());
    ssl3d_pretrain_config c;
    config(&c, &f, out);
    c.eval_every = 2;
    c.steps_per_epoch = 2;
    records r = { .stop_after = 2 };
    REQUIRE_OK(f.ctx, ssl3d_pretrain_run(f.ctx, f.task, &c, on_log, &r));
    CHECK(f.last_n == BATCH);
    /* Steps 0, 1, 2 (stopped after 2), then the final record. */
    REQUIRE(r.n == 4);
    for (int s = 0; s < 3; s++) {
        const cJSON *o = r.rec[s];
        CHECK((int)cJSON_GetObjectItem(o, "step")->valuedouble == s);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "loss")) && cJSON_GetObjectItem(o, "loss")->valuedouble > 0);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "lr")));
        CHECK((int)cJSON_GetObjectItem(o, "epoch")->valuedouble == s / 2);
        CHECK_MSG((cJSON_GetObjectItem(o, "val_acc") != NULL) == (s == 1), "step %d: val_acc only after step 1", s);
    }
    CHECK(cJSON_GetObjectItem(r.rec[0], "loss")->valuedouble != cJSON_GetObjectItem(r.rec[2], "loss")->valuedouble);
    const cJSON *fin = r.rec[3];
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(fin, "final")));
    CHECK((int)cJSON_GetObjectItem(fin, "steps")->valuedouble == 3);
    const double acc = cJSON_GetObjectItem(fin, "proxy_accuracy")->valuedouble;
    CHECK(acc >= 0 && acc <= 1);
    CHECK((int)cJSON_GetObjectItem(fin, "val_samples")->valuedouble > 0);
    CHECK(!strcmp(cJSON_GetObjectItem(fin, "task")->valuestring, "rotation"));
    CHECK(!strcmp(cJSON_GetObjectItem(fin, "checkpoint")->valuestring, out));
    /* The checkpoint is at the step where the callback stopped the run. */
    ssl3d_checkpoint *ck = NULL;
    const char *v = NULL;
    REQUIRE_OK(f.ctx, ssl3d_checkpoint_load(f.ctx, out, &ck));
    CHECK_OK(f.ctx, ssl3d_checkpoint_get_meta(f.ctx, ck, "step", &v));
    CHECK(v && !strcmp(v, "3"));
    ssl3d_checkpoint_release(ck);
    records_free(&r);
    fixture_free(&f);
}

/* The step losses of a 4-step cosine run on a fresh fixture (seed 5) into loss[], their
 * count returned (-1 on error); stop_after >= 0 stops it there (as a killed run). */
static int run_losses(const char *out, const char *resume, uint64_t seed, int64_t stop_after, double *loss, int cap,
                      int *warnings) {
    fixture f;
    if (fixture_init(&f, 5) != 0) return -1;
    ssl3d_pretrain_config c;
    config(&c, &f, out);
    c.steps = 4;
    c.seed = seed;
    c.resume = resume;
    c.schedule = "cosine";
    c.warmup = 1;
    records r = { .stop_after = stop_after };
    int n = -1;
    if (ssl3d_pretrain_run(f.ctx, f.task, &c, on_log, &r) == SSL3D_OK) {
        n = 0;
        for (int i = 0; i < r.n && n < cap; i++)
            if (!cJSON_GetObjectItem(r.rec[i], "final")) loss[n++] = cJSON_GetObjectItem(r.rec[i], "loss")->valuedouble;
    }
    if (warnings) *warnings = r.warnings;
    records_free(&r);
    fixture_free(&f);
    return n;
}

TEST(pretrain_run_resumes_bitwise) {
    char full[512], part[512];
    snprintf(full, sizeof full, "%s/full.safetensors", th_tmpdir());
    snprintf(part, sizeof part, "%s/part.safetensors", th_tmpdir());
    double a[8], b[8];
    int w = 0;
    REQUIRE(run_losses(full, NULL, 11, -1, a, 8, NULL) == 4);
    REQUIRE(run_losses(part, NULL, 11, 1, b, 8, NULL) == 2);
    REQUIRE(run_losses(part, part, 11, -1, b + 2, 6, &w) == 2);
    CHECK(w == 0);
    for (int s = 0; s < 4; s++) CHECK_MSG(a[s] == b[s], "step %d: %.17g uninterrupted, %.17g resumed", s, a[s], b[s]);
    /* Same tensors (weights and Adam state) at the end. */
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_checkpoint *ca = NULL, *cb = NULL;
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, full, &ca));
    REQUIRE_OK(ctx, ssl3d_checkpoint_load(ctx, part, &cb));
    const int64_t n = ssl3d_checkpoint_tensor_count(ca);
    CHECK(n > 10 && n == ssl3d_checkpoint_tensor_count(cb));
    int compared = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *name = ssl3d_checkpoint_tensor_name(ca, i);
        ssl3d_tensor *ta = NULL, *tb = NULL;
        CHECK_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, ca, name, &ta));
        CHECK_OK(ctx, ssl3d_checkpoint_get_tensor(ctx, cb, name, &tb));
        if (ta && tb) {
            CHECK_MSG(th_tensors_identical(ctx, ta, tb), "tensor %s differs after resuming", name);
            compared++;
        }
        ssl3d_tensor_release(ta);
        ssl3d_tensor_release(tb);
    }
    CHECK_MSG(compared > 10, "only %d tensors compared", compared);
    ssl3d_checkpoint_release(ca);
    ssl3d_checkpoint_release(cb);
    ssl3d_ctx_release(ctx);
    /* Resuming with another seed works but warns through the callback (never printed). */
    REQUIRE(run_losses(full, full, 12, -1, b, 8, &w) == 0);
    CHECK(w == 2);   /* another seed; already at the last step */
}

/* A resume checkpoint trained with other settings is refused before anything is restored,
 * naming the first setting that differs and both values: a task option that changes no
 * tensor (samples_per_image), one at a default the checkpoint leaves out (region), and a
 * loop setting (lr); the task's weights are left as they were. */
TEST(pretrain_run_refuses_a_resume_with_other_settings) {
    char ck[512];
    snprintf(ck, sizeof ck, "%s/settings.safetensors", th_tmpdir());
    fixture f;
    REQUIRE(fixture_init(&f, 5) == 0);
    ssl3d_pretrain_config c;
    config(&c, &f, ck);
    c.steps = 1;
    REQUIRE_OK(f.ctx, ssl3d_pretrain_run(f.ctx, f.task, &c, NULL, NULL));
    fixture_free(&f);
    struct { const char *opts; double lr; const char *want; } cases[] = {
        { TASK_OPTS ",samples_per_image=2", 3e-3, "option samples_per_image: the checkpoint has 1, this run has 2" },
        { TASK_OPTS ",region=inner", 3e-3, "option region: the checkpoint has box, this run has inner" },
        { TASK_OPTS, 1e-3, "config.lr: the checkpoint has 0.003, this run has 0.001" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        REQUIRE(fixture_init(&f, 5) == 0);
        ssl3d_task *t = NULL;
        REQUIRE_OK(f.ctx, ssl3d_task_create(f.ctx, SSL3D_TASK_ROTATION, 3, 1, cases[i].opts, &t));
        ssl3d_tensor *w = ssl3d_module_tensor(ssl3d_task_encoder(t), 0), *before = NULL;
        REQUIRE_OK(f.ctx, ssl3d_tensor_clone(f.ctx, w, &before));
        config(&c, &f, ck);
        c.resume = ck;
        c.lr = cases[i].lr;
        char want[700];
        snprintf(want, sizeof want, "ssl3d_pretrain_run: resume %s: %s", ck, cases[i].want);
        CHECK(ssl3d_pretrain_run(f.ctx, t, &c, NULL, NULL) == SSL3D_ERR_INVALID_ARG);
        CHECK_MSG(strstr(ssl3d_ctx_last_error(f.ctx), want), "case %zu: %s", i, ssl3d_ctx_last_error(f.ctx));
        CHECK(th_tensors_identical(f.ctx, w, before));
        ssl3d_tensor_release(before);
        ssl3d_task_release(t);
        fixture_free(&f);
    }
}

/* Images in a context of their own (config.data_ctx: what a device-backend run passes, a
 * host context): the batch callback is asked for images in that context, and the losses
 * equal, bit for bit, those of the run with everything in one context — also when the
 * task's context is an emulated device with asynchronous uploads (test_emulated_device.h),
 * where each step's samples are made and uploaded during the previous step. */
typedef struct moved_pool {
    fixture *f;
    ssl3d_ctx *dctx;
    ssl3d_tensor *pool[POOL];
    int wrong_ctx;
} moved_pool;

static ssl3d_status moved_batch_fn(void *user, ssl3d_ctx *ctx, int64_t step, int32_t n, ssl3d_tensor **images) {
    moved_pool *m = user;
    if (ctx != m->dctx) m->wrong_ctx++;
    for (int32_t k = 0; k < n; k++) images[k] = ssl3d_tensor_retain(m->pool[(step * 3 + k) % (POOL - N_VAL)]);
    return SSL3D_OK;
}

TEST(pretrain_run_images_in_a_data_context_give_the_same_losses) {
    char out[512];
    snprintf(out, sizeof out, "%s/data_ctx.safetensors", th_tmpdir());
    double base[8], moved[2][8];
    int nb = 0, nm[2] = { 0, 0 };
    for (int variant = 0; variant < 3; variant++) {
        fixture f;
        REQUIRE(fixture_init(&f, 5) == 0);
        moved_pool m = { .f = &f, .dctx = th_ctx(1, 99) };
        REQUIRE(m.dctx != NULL);
        for (int i = 0; i < POOL; i++) REQUIRE_OK(m.dctx, ssl3d_tensor_copy_to(m.dctx, f.pool[i], &m.pool[i]));
        if (variant == 2) emulated_async_attach(f.ctx);
        ssl3d_pretrain_config c;
        config(&c, &f, out);
        c.steps = 4;
        if (variant) {
            c.batch_fn = moved_batch_fn;
            c.batch_user = &m;
            c.val = m.pool + (POOL - N_VAL);
            c.data_ctx = m.dctx;
        }
        records r = { .stop_after = -1 };
        REQUIRE_OK(f.ctx, ssl3d_pretrain_run(f.ctx, f.task, &c, on_log, &r));
        double *dst = variant ? moved[variant - 1] : base;
        int *n = variant ? &nm[variant - 1] : &nb;
        for (int i = 0; i < r.n && *n < 8; i++)
            if (!cJSON_GetObjectItem(r.rec[i], "final")) dst[(*n)++] = cJSON_GetObjectItem(r.rec[i], "loss")->valuedouble;
        CHECK_MSG(m.wrong_ctx == 0, "the batch callback was given another context %d times", m.wrong_ctx);
        records_free(&r);
        for (int i = 0; i < POOL; i++) ssl3d_tensor_release(m.pool[i]);
        ssl3d_ctx_release(m.dctx);
        fixture_free(&f);
        if (variant == 2) {
            /* x and labels of steps 1..3 begun during the step before */
            CHECK_MSG(emu_async.overlapped >= 6 && emu_async.up.sync_bytes == 0, "%lld of %lld uploads begun a step ahead",
                      (long long)emu_async.overlapped, (long long)emu_async.uploads);
            emulated_async_done();
        }
    }
    REQUIRE(nb == 4 && nm[0] == 4 && nm[1] == 4);
    for (int v = 0; v < 2; v++)
        for (int s = 0; s < 4; s++)
            CHECK_MSG(base[s] == moved[v][s], "step %d: %.17g one context, %.17g data_ctx%s", s, base[s], moved[v][s],
                      v ? " on an emulated device with asynchronous uploads" : "");
}

/* An image the task refuses (2 channels for a 1-channel task) at batch position 1 of step
 * 2: the error names that step and position, also when the samples of each step are made
 * during the step before (a data context of its own: task_prefetch_begin), so that a caller
 * can name the file (cli_train.c); the held-out images are named by their range. */
typedef struct bad_pool { ssl3d_tensor *pool[POOL], *bad; } bad_pool;

static ssl3d_status bad_at_step2_fn(void *user, ssl3d_ctx *ctx, int64_t step, int32_t n, ssl3d_tensor **images) {
    (void)ctx;
    bad_pool *b = user;
    for (int32_t k = 0; k < n; k++)
        images[k] = ssl3d_tensor_retain(step == 2 && k == 1 ? b->bad : b->pool[(step * 3 + k) % (POOL - N_VAL)]);
    return SSL3D_OK;
}

TEST(pretrain_run_errors_name_the_step_and_place_of_a_bad_image) {
    char out[512];
    snprintf(out, sizeof out, "%s/bad.safetensors", th_tmpdir());
    const int64_t shape2[4] = { 2, SIDE, SIDE, SIDE };
    for (int variant = 0; variant < 3; variant++) {
        fixture f;
        REQUIRE(fixture_init(&f, 5) == 0);
        ssl3d_ctx *dctx = variant == 1 ? th_ctx(1, 99) : f.ctx;
        REQUIRE(dctx);
        bad_pool b = { { 0 }, th_randn(dctx, 4, shape2, 0) };
        REQUIRE(b.bad);
        for (int i = 0; i < POOL; i++) REQUIRE_OK(dctx, ssl3d_tensor_copy_to(dctx, f.pool[i], &b.pool[i]));
        ssl3d_pretrain_config c;
        config(&c, &f, out);
        c.steps = 4;
        c.batch_fn = bad_at_step2_fn;
        c.batch_user = &b;
        c.val = b.pool + (POOL - N_VAL);
        if (variant == 1) c.data_ctx = dctx;
        ssl3d_tensor *val[N_VAL] = { b.pool[POOL - 3], b.bad, b.pool[POOL - 1] };
        if (variant == 2) {   /* held-out image 1 is the bad one: the error is at the first evaluation */
            c.batch_fn = batch_fn;
            c.batch_user = &f;
            c.val = val;
            c.eval_every = 1;
            c.batch = 1;   /* chunks of 1 (2 with a lone trailing image): image 1 is images[0] of [1, 3) */
        }
        CHECK(ssl3d_pretrain_run(f.ctx, f.task, &c, NULL, NULL) == SSL3D_ERR_SHAPE);
        const char *msg = ssl3d_ctx_last_error(f.ctx);
        const char *want = variant == 2 ? "ssl3d_pretrain_run: validation, held-out images [1, 3): "
                                          "ssl3d_task_forward: images[0] "
                                        : "ssl3d_pretrain_run: step 2: ssl3d_task_forward: images[1] ";
        CHECK_MSG(!strncmp(msg, want, strlen(want)), "variant %d: %s", variant, msg);
        for (int i = 0; i < POOL; i++) ssl3d_tensor_release(b.pool[i]);
        ssl3d_tensor_release(b.bad);
        if (dctx != f.ctx) ssl3d_ctx_release(dctx);
        fixture_free(&f);
    }
}
