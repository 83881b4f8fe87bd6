/* The communicator interface (ssl3d/comm.h) without MPI: a fake in-process communicator
 * whose ranks are threads of this process, each with its own context, meeting at a
 * pthread barrier. Checks gradient averaging (values, buckets, frozen tensors, extras),
 * broadcast, that 2 ranks x half a batch give the gradients of 1 process x the whole
 * batch (rotation task, group norm, ssl3d_task_set_image_offset), that fine-tuning's
 * validation split over 3 ranks gives the metrics of 1 process, and the errors. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "test_finetune_util.h"

#include "fake_comm.h"

/* ---------------------------------------------------------------- averaging */

#define NP 3
static const int64_t P_SHAPES[NP][2] = { { 3, 5 }, { 7, 1 }, { 2, 2 } };

typedef struct avg_job {
    fake_rank fr;
    ssl3d_status st;
    float grads[NP][16];   /* after averaging */
    float frozen_value[8];
    float extra[2];
    int had_grad_third;
} avg_job;

/* Rank r: param p's gradient element i is (r + 1) * (p * 100 + i); tensor 1 is frozen; on
 * rank 1 the third tensor never received a gradient (counts as zeros). */
static void *avg_rank(void *arg) {
    avg_job *j = arg;
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_comm c = fake_comm(&j->fr);
    j->st = ssl3d_ctx_set_comm(ctx, &c);
    if (j->st == SSL3D_OK) j->st = ssl3d_ctx_set_comm_bucket_bytes(ctx, 6 * 4);   /* 6 floats per bucket */
    ssl3d_tensor *p[NP];
    for (int k = 0; k < NP; k++) {
        ssl3d_tensor_create(ctx, SSL3D_F32, 2, P_SHAPES[k], &p[k]);
        const int64_t n = P_SHAPES[k][0] * P_SHAPES[k][1];
        float v[16];
        for (int64_t i = 0; i < n; i++) v[i] = (float)((j->fr.rank + 1) * (k * 100 + i));
        if (k == 1) { ssl3d_tensor_write(ctx, p[k], v, n * 4); continue; }   /* frozen: values only */
        ssl3d_tensor_set_requires_grad(ctx, p[k], 1);
        if (k == 2 && j->fr.rank == 1) continue;
        /* grad = v: backward of sum_i p_i * v_i */
        ssl3d_tensor *w = NULL, *s = NULL;
        ssl3d_tensor_create(ctx, SSL3D_F32, 2, P_SHAPES[k], &w);
        ssl3d_tensor_write(ctx, w, v, n * 4);
        ssl3d_weighted_sum(ctx, p[k], w, &s);
        ssl3d_backward(ctx, s);
        ssl3d_tensor_release(w); ssl3d_tensor_release(s);
    }
    j->extra[0] = (float)(10 * (j->fr.rank + 1));
    j->extra[1] = -1.0f;
    if (j->st == SSL3D_OK) j->st = ssl3d_comm_average_grads(ctx, p, NP, j->extra, 2);
    for (int k = 0; k < NP; k++) {
        const int64_t n = P_SHAPES[k][0] * P_SHAPES[k][1];
        ssl3d_tensor_read_grad(ctx, p[k], j->grads[k], n);
    }
    ssl3d_tensor_read(ctx, p[1], j->frozen_value, 7 * 4);
    for (int k = 0; k < NP; k++) ssl3d_tensor_release(p[k]);
    ssl3d_ctx_release(ctx);
    return NULL;
}

TEST(comm_average_grads_fake_world) {
    fake_world w = { 0 };
    pthread_barrier_init(&w.bar, NULL, RANKS);
    avg_job jobs[RANKS];
    memset(jobs, 0, sizeof jobs);
    for (int r = 0; r < RANKS; r++) { jobs[r].fr.w = &w; jobs[r].fr.rank = r; }
    run_ranks(avg_rank, jobs, sizeof jobs[0]);
    pthread_barrier_destroy(&w.bar);
    CHECK(!w.mismatch);
    for (int r = 0; r < RANKS; r++) {
        CHECK_MSG(jobs[r].st == SSL3D_OK, "rank %d: %s", r, ssl3d_status_string(jobs[r].st));
        /* Trainable floats: 15 + 4, plus 2 extras = 21 -> 4 buckets of <= 6 floats. */
        CHECK_MSG(jobs[r].fr.allreduces == 4, "rank %d: %d allreduce calls, want 4", r, jobs[r].fr.allreduces);
        CHECK(jobs[r].fr.largest == 6);
        for (int64_t i = 0; i < 15; i++) CHECK_NEAR(jobs[r].grads[0][i], 1.5 * (double)i, 1e-5);
        for (int64_t i = 0; i < 4; i++)
            CHECK_NEAR(jobs[r].grads[2][i], (200.0 + (double)i) / 2.0, 1e-4);   /* rank 1 counted as zeros */
        for (int64_t i = 0; i < 7; i++) {
            CHECK_NEAR(jobs[r].frozen_value[i], (r + 1) * (100.0 + (double)i), 0);   /* untouched */
            CHECK_NEAR(jobs[r].grads[1][i], 0, 0);   /* frozen: no gradient made */
        }
        CHECK_NEAR(jobs[r].extra[0], 15.0, 1e-6);
        CHECK_NEAR(jobs[r].extra[1], -1.0, 1e-6);
    }
}

/* ---------------------------------------------------------------- 2 ranks = 1 process */

#define TB 4   /* global batch */
static const int64_t IMG_SHAPE[4] = { 1, 14, 16, 12 };
#define TASK_OPTS "filters=4,levels=2,input_size=12,hidden=8,norm=group"

/* Images of the global batch, identical in every context (drawn from seed 77). */
static void make_images(ssl3d_ctx *ctx, ssl3d_tensor **img) {
    ssl3d_ctx_set_seed(ctx, 77);
    for (int i = 0; i < TB; i++) img[i] = th_randn(ctx, 4, IMG_SHAPE, 0);
}

/* Flattened gradients of every trainable tensor of the task into g (cap floats). */
static int64_t task_grads(ssl3d_ctx *ctx, ssl3d_task *task, float *g, int64_t cap) {
    int64_t k = 0;
    for (int32_t m = 0; m < ssl3d_task_module_count(task); m++) {
        ssl3d_module *mod = ssl3d_task_module(task, m);
        for (int32_t i = 0; i < ssl3d_module_tensor_count(mod); i++) {
            if (!ssl3d_module_tensor_trainable(mod, i)) continue;
            ssl3d_tensor *t = ssl3d_module_tensor(mod, i);
            int64_t n = ssl3d_tensor_numel(t);
            if (k + n > cap) return -1;
            ssl3d_tensor_read_grad(ctx, t, g + k, n);
            k += n;
        }
    }
    return k;
}

#define GCAP 200000
typedef struct eq_job {
    fake_rank fr;
    int world;             /* 0: single process with the whole batch */
    const char *opts;      /* task options */
    int sync;              /* ssl3d_ctx_set_sync_batch_norm */
    float running[4];      /* the first running_mean values of the encoder, after the step */
    ssl3d_status st;
    float loss;
    float *g;
    int64_t ng;
    char err[512];
} eq_job;

static void *eq_rank(void *arg) {
    eq_job *j = arg;
    ssl3d_ctx *ctx = th_ctx(1, 5);
    ssl3d_tensor *img[TB];
    make_images(ctx, img);
    ssl3d_task *task = NULL;
    ssl3d_ctx_set_seed(ctx, 5);
    j->st = ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 3, 1, j->opts, &task);
    ssl3d_ctx_set_sync_batch_norm(ctx, j->sync);
    ssl3d_comm c = fake_comm(&j->fr);
    const int32_t share = j->world ? TB / RANKS : TB, first = j->world ? j->fr.rank * share : 0;
    if (j->st == SSL3D_OK && j->world) j->st = ssl3d_ctx_set_comm(ctx, &c);
    /* Rank 1 starts from other weights: the broadcast must replace them with rank 0's. */
    if (j->st == SSL3D_OK && j->world && j->fr.rank == 1) {
        ssl3d_tensor *w0 = ssl3d_module_tensor(ssl3d_task_encoder(task), 0);
        float junk[4] = { 9, 9, 9, 9 };
        ssl3d_tensor_write(ctx, w0, junk, sizeof junk);
    }
    ssl3d_module *mods[8];
    int32_t nm = ssl3d_task_module_count(task);
    for (int32_t m = 0; m < nm && m < 8; m++) mods[m] = ssl3d_task_module(task, m);
    if (j->st == SSL3D_OK) j->st = ssl3d_comm_broadcast_modules(ctx, mods, nm, 0);
    if (j->st == SSL3D_OK) j->st = ssl3d_task_set_image_offset(ctx, task, first);
    ssl3d_tensor *loss = NULL;
    if (j->st == SSL3D_OK) j->st = ssl3d_task_forward(ctx, task, img + first, share, 11, 3, 1, &loss, NULL, NULL);
    if (j->st == SSL3D_OK) j->st = ssl3d_tensor_read(ctx, loss, &j->loss, 4);
    if (j->st == SSL3D_OK) j->st = ssl3d_backward(ctx, loss);
    if (j->st == SSL3D_OK) j->st = ssl3d_comm_average_module_grads(ctx, mods, nm, &j->loss, 1);
    if (j->st == SSL3D_OK) j->ng = task_grads(ctx, task, j->g, GCAP);
    ssl3d_module *enc = ssl3d_task_encoder(task);
    for (int32_t i = 0; i < ssl3d_module_tensor_count(enc); i++)
        if (strstr(ssl3d_module_tensor_name(enc, i), "running_mean")) {
            float rm[64];
            if (ssl3d_tensor_numel(ssl3d_module_tensor(enc, i)) <= 64 &&
                ssl3d_tensor_read(ctx, ssl3d_module_tensor(enc, i), rm, ssl3d_tensor_numel(ssl3d_module_tensor(enc, i)) * 4) ==
                    SSL3D_OK)
                memcpy(j->running, rm, sizeof j->running);
            break;
        }
    if (j->st != SSL3D_OK) snprintf(j->err, sizeof j->err, "%s", ssl3d_ctx_last_error(ctx));
    ssl3d_tensor_release(loss);
    ssl3d_task_release(task);
    for (int i = 0; i < TB; i++) ssl3d_tensor_release(img[i]);
    ssl3d_ctx_release(ctx);
    return NULL;
}

/* Gradients (and losses, running statistics) of 2 ranks x half the batch against 1 process;
 * returns the largest gradient difference relative to the largest gradient. */
static double two_vs_one(const char *opts, int sync, int check_running) {
    eq_job one = { 0 };
    one.opts = opts;
    one.g = malloc(GCAP * sizeof(float));
    eq_rank(&one);
    if (one.st != SSL3D_OK || one.ng <= 1000) {
        th_fail(__FILE__, __LINE__, "one process: %s", one.err);
        free(one.g);
        return INFINITY;
    }
    fake_world w = { 0 };
    pthread_barrier_init(&w.bar, NULL, RANKS);
    eq_job jobs[RANKS];
    memset(jobs, 0, sizeof jobs);
    for (int r = 0; r < RANKS; r++) {
        jobs[r].fr.w = &w; jobs[r].fr.rank = r; jobs[r].world = 1; jobs[r].opts = opts; jobs[r].sync = sync;
        jobs[r].g = malloc(GCAP * sizeof(float));
    }
    run_ranks(eq_rank, jobs, sizeof jobs[0]);
    pthread_barrier_destroy(&w.bar);
    CHECK(!w.mismatch);
    double gmax = 0, worst = 0;
    for (int64_t i = 0; i < one.ng; i++) gmax = fmax(gmax, fabs(one.g[i]));
    CHECK(gmax > 0);
    for (int r = 0; r < RANKS; r++) {
        CHECK_MSG(jobs[r].st == SSL3D_OK, "rank %d: %s", r, jobs[r].err);
        CHECK(jobs[r].fr.broadcasts == 1);   /* the whole task in one bucket */
        if (!sync) CHECK(jobs[r].fr.allreduces == 1);   /* gradients + loss in one bucket */
        if (jobs[r].ng == one.ng)
            for (int64_t i = 0; i < one.ng; i++) worst = fmax(worst, fabs(jobs[r].g[i] - one.g[i]) / gmax);
        else worst = INFINITY;
        if (check_running) {
            CHECK_NEAR(jobs[r].loss, one.loss, 1e-5 * fabs(one.loss));
            for (int c = 0; c < 4; c++) CHECK_NEAR(jobs[r].running[c], one.running[c], 1e-5 + 1e-5 * fabs(one.running[c]));
        }
        free(jobs[r].g);
    }
    free(one.g);
    return worst;
}

TEST(comm_two_ranks_match_one_process) {
    double d = two_vs_one(TASK_OPTS, 0, 1);
    CHECK_MSG(d <= 1e-5, "group norm: gradients differ by %.3g of the largest", d);
}

/* Batch norm: per-rank statistics give other gradients; synchronised ones the same
 * gradients and running statistics as one process. */
TEST(comm_sync_batch_norm_matches_one_process) {
    const char *bn = "filters=4,levels=2,input_size=12,hidden=8,norm=batch";
    double d = two_vs_one(bn, 1, 1);
    CHECK_MSG(d <= 1e-5, "synchronised batch norm: gradients differ by %.3g of the largest", d);
    d = two_vs_one(bn, 0, 0);
    CHECK_MSG(d > 1e-3, "per-rank batch norm: gradients differ by only %.3g of the largest", d);
}

/* ---------------------------------------------------------------- sharded validation */

/* ssl3d_ft_train with a communicator splits the validation cases between the ranks (each
 * evaluates its share, the per-case results are gathered): the metrics are those of one
 * process validating every case, to the printed digit. lr 1e-30 keeps the weights (rank
 * 0's, broadcast) bitwise unchanged by the distributed step, so 1 process and the ranks
 * validate the same model. 3 ranks: shares of unequal size. */
#define VAL_WORLD 3
typedef struct val_job {
    fake_rank fr;
    int world;             /* 0: one process */
    int classify;
    const char *manifest;
    char line[1024];       /* the epoch's log line */
    ssl3d_status st;
    char err[512];
} val_job;

static int32_t keep_line(void *user, const char *json) {
    snprintf(((val_job *)user)->line, sizeof ((val_job *)user)->line, "%s", json);
    return 0;
}

static void *val_rank(void *arg) {
    val_job *j = arg;
    ssl3d_ctx *ctx = th_ctx(1, 0);
    ssl3d_manifest *man = NULL;
    ssl3d_ftmodel *m = NULL;
    ssl3d_comm c = fake_comm(&j->fr);
    j->st = ssl3d_manifest_load(ctx, j->manifest, 0, &man);
    ssl3d_ctx_set_seed(ctx, 11 + 7 * (uint64_t)j->fr.rank);   /* other weights on every rank until the broadcast */
    if (j->st == SSL3D_OK)
        j->st = j->classify ? ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 2, 3, 3, 4, 2, SSL3D_NORM_GROUP, 8, 0, &m)
                            : ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 3, 4, 2, SSL3D_NORM_GROUP, 0, 0, &m);
    /* Segmentation: 30 steps first (each rank alone), so that the model finds some
     * foreground in several validation volumes (an untrained one finds none: Dice 0) */
    if (j->st == SSL3D_OK && !j->classify)
        j->st = ssl3d_ft_train(ctx, m, man, NULL, 0, "epochs=1,batch=4,patch=8,steps_per_epoch=30,lr=0.01,seed=1,"
                               "fg_prob=0.7", NULL, NULL);
    if (j->st == SSL3D_OK && j->world) j->st = ssl3d_ctx_set_comm(ctx, &c);
    const char *opts = j->classify ? "epochs=1,batch=3,steps_per_epoch=1,lr=1e-30,seed=2"
                                   : "epochs=1,batch=3,patch=8,val_fraction=0.5,steps_per_epoch=1,lr=1e-30,seed=2";
    if (j->st == SSL3D_OK) j->st = ssl3d_ft_train(ctx, m, man, NULL, 0, opts, keep_line, j);
    if (j->st != SSL3D_OK) snprintf(j->err, sizeof j->err, "%s", ssl3d_ctx_last_error(ctx));
    ssl3d_ftmodel_release(m);
    ssl3d_manifest_release(man);
    ssl3d_ctx_release(ctx);
    return NULL;
}

/* The text of `"key": value` in a log line. */
static void field_text(const char *line, const char *key, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    snprintf(out, cap, "%.*s", p ? (int)strcspn(p + strlen(pat), ",}") : 0, p ? p + strlen(pat) : "");
}

static void sharded_validation_matches_one_process(int classify) {
    const char *d = th_tmpdir();
    char man[600];
    if (classify) {
        ssl3d_ctx *ctx = th_ctx(1, 0);
        REQUIRE(tf_make_cls_set(ctx, d, 12, 3, 6, 7, 0, 3) == 0);   /* 7 validation images: shares 3, 2, 2 */
        ssl3d_ctx_release(ctx);
        snprintf(man, sizeof man, "%s/labels.csv", d);
    } else {
        REQUIRE(tf_make_seg_set(d, 10, 6) == 0);   /* val_fraction 0.5: 5 validation volumes, shares 2, 2, 1 */
        snprintf(man, sizeof man, "%s/dataset.json", d);
    }
    val_job one = { 0 };
    one.classify = classify;
    one.manifest = man;
    val_rank(&one);
    REQUIRE(one.st == SSL3D_OK || (th_fail(__FILE__, __LINE__, "one process: %s", one.err), 0));
    fake_world w = { 0 };
    w.size = VAL_WORLD;
    pthread_barrier_init(&w.bar, NULL, VAL_WORLD);
    val_job jobs[VAL_WORLD];
    memset(jobs, 0, sizeof jobs);
    for (int r = 0; r < VAL_WORLD; r++) {
        jobs[r].fr.w = &w; jobs[r].fr.rank = r; jobs[r].world = 1; jobs[r].classify = classify; jobs[r].manifest = man;
    }
    run_n_ranks(val_rank, jobs, sizeof jobs[0], VAL_WORLD);
    pthread_barrier_destroy(&w.bar);
    CHECK(!w.mismatch);
    const char *keys[3] = { classify ? "val_acc" : "val_dice", "val_auc", "val_qwk" };
    char a[64], b[64];
    field_text(one.line, keys[0], a, sizeof a);
    CHECK_MSG(atof(a) > 0, "one process: %s is %s: %s", keys[0], a, one.line);
    for (int r = 0; r < VAL_WORLD; r++) {
        CHECK_MSG(jobs[r].st == SSL3D_OK, "rank %d: %s", r, jobs[r].err);
        for (int k = 0; k < (classify ? 3 : 1); k++) {
            field_text(one.line, keys[k], a, sizeof a);
            field_text(jobs[r].line, keys[k], b, sizeof b);
            CHECK_MSG(a[0] && !strcmp(a, b), "rank %d of %d: %s %s, one process %s", r, VAL_WORLD, keys[k], b, a);
        }
        field_text(jobs[r].line, "val_cases", b, sizeof b);
        CHECK_MSG(atoi(b) == (classify ? 7 : 5), "rank %d: val_cases %s", r, b);
        /* every rank sends its share's results: ranks 1 and 2 are the root of one broadcast
         * each (classification: probabilities and predictions, two) */
        if (r > 0) CHECK_MSG(jobs[r].fr.rooted == (classify ? 2 : 1), "rank %d rooted %d broadcasts", r, jobs[r].fr.rooted);
    }
}

TEST(comm_finetune_sharded_validation_segment) { sharded_validation_matches_one_process(0); }
TEST(comm_finetune_sharded_validation_classify) { sharded_validation_matches_one_process(1); }

/* ---------------------------------------------------------------- errors */

static int32_t bad_rank(void *u) { (void)u; return 3; }

TEST(comm_set_and_errors) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    CHECK(ssl3d_ctx_comm_rank(ctx) == 0 && ssl3d_ctx_comm_size(ctx) == 1);
    fake_world w = { 0 };
    fake_rank fr = { &w, 0, 0, 0, 0, 0 };
    ssl3d_comm c = fake_comm(&fr);
    c.abi = 99;
    CHECK_ST(ctx, ssl3d_ctx_set_comm(ctx, &c), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "abi"));
    c = fake_comm(&fr);
    c.memory = 5;
    CHECK_ST(ctx, ssl3d_ctx_set_comm(ctx, &c), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "memory is 5"));
    /* A table of ABI 1 ends at barrier: what follows is not read (host memory). */
    c = fake_comm(&fr);
    c.abi = 1;
    c.memory = 5;
    c.last_error = NULL;
    REQUIRE_OK(ctx, ssl3d_ctx_set_comm(ctx, &c));
    CHECK(ssl3d_ctx_comm_size(ctx) == RANKS);
    REQUIRE_OK(ctx, ssl3d_ctx_set_comm(ctx, NULL));
    c = fake_comm(&fr);
    c.broadcast = NULL;
    CHECK_ST(ctx, ssl3d_ctx_set_comm(ctx, &c), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "broadcast"));
    c = fake_comm(&fr);
    c.rank = bad_rank;
    CHECK_ST(ctx, ssl3d_ctx_set_comm(ctx, &c), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_ctx_comm_size(ctx) == 1);   /* failed registrations change nothing */
    CHECK_ST(ctx, ssl3d_ctx_set_comm_bucket_bytes(ctx, 2), SSL3D_ERR_INVALID_ARG);
    /* A failing collective comes back as SSL3D_ERR_IO naming it and the code. */
    c = fake_comm(&fr);
    w.fail_code = 42;
    REQUIRE_OK(ctx, ssl3d_ctx_set_comm(ctx, &c));
    CHECK(ssl3d_ctx_comm_size(ctx) == RANKS);
    float x[3] = { 1, 2, 3 };
    CHECK_ST(ctx, ssl3d_comm_allreduce_sum(ctx, x, 3), SSL3D_ERR_IO);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "allreduce") && strstr(ssl3d_ctx_last_error(ctx), "42"));
    /* ...with the communicator's own text when it has one (ABI 2's last_error). */
    w.error = "fake: link down";
    CHECK_ST(ctx, ssl3d_comm_allreduce_sum(ctx, x, 3), SSL3D_ERR_IO);
    CHECK_MSG(strstr(ssl3d_ctx_last_error(ctx), "(code 42): fake: link down"), "%s", ssl3d_ctx_last_error(ctx));
    w.error = NULL;
    int64_t shp[1] = { 3 };
    ssl3d_tensor *p = th_randn(ctx, 1, shp, 1);
    CHECK_ST(ctx, ssl3d_comm_average_grads(ctx, &p, 1, NULL, 0), SSL3D_ERR_IO);
    CHECK_ST(ctx, ssl3d_comm_broadcast(ctx, x, 12, 2), SSL3D_ERR_INVALID_ARG);   /* root out of range */
    /* Back to single-process: everything is a no-op. */
    REQUIRE_OK(ctx, ssl3d_ctx_set_comm(ctx, NULL));
    CHECK_OK(ctx, ssl3d_comm_allreduce_sum(ctx, x, 3));
    CHECK(x[0] == 1 && x[2] == 3);
    CHECK_OK(ctx, ssl3d_comm_average_grads(ctx, &p, 1, NULL, 0));
    CHECK_OK(ctx, ssl3d_comm_barrier(ctx));
    /* Shards: sizes differ by at most one and tile the batch. */
    int64_t f = 0, n = 0, next = 0;
    for (int32_t r = 0; r < 3; r++) {
        CHECK(ssl3d_comm_shard(7, r, 3, &f, &n) == SSL3D_OK);
        CHECK(f == next && (n == 2 || n == 3));
        next = f + n;
    }
    CHECK(next == 7);
    CHECK(ssl3d_comm_shard(7, 3, 3, &f, &n) == SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor_release(p);
    ssl3d_ctx_release(ctx);
}
