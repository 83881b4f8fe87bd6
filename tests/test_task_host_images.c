/* A task whose images live in another, host-memory context — what a task on the CUDA
 * backend is given: the samples are built in the images' context and each batch is copied
 * into the task's context (src/tasks/task.c: task_sample_ctx, task_batch_to). With two CPU
 * contexts every loss and accuracy count must equal, bit for bit, the run with one
 * context, for all five tasks; images split over two contexts are refused. */
#include <string.h>
#include "harness.h"
#include "test_task_util.h"
#include "test_emulated_device.h"
#include "../src/tasks/task_internal.h"

typedef struct task_cfg { int32_t kind, dims; const char *opts; int64_t S; } task_cfg;

static const task_cfg CFGS[] = {
    { SSL3D_TASK_ROTATION, 3, "input_size=16,filters=4,levels=2", 18 },
    { SSL3D_TASK_RPL, 2, "filters=4,levels=2,grid=3,cell=8,jitter=2", 26 },
    { SSL3D_TASK_JIGSAW, 3, "filters=4,levels=2,grid=2,cell=8,jitter=2,permutations=10", 18 },
    { SSL3D_TASK_CPC, 2, "input_size=20,filters=4,levels=2", 24 },
    { SSL3D_TASK_EXEMPLAR, 3, "input_size=16,filters=4,levels=2,loss=triplet,negative=random", 18 },
};

/* The end of one step of both loops below: the loss (as bits) and count into out2[0..2), and
 * for a training step its backward and Adam update. */
static int finish_step(ssl3d_ctx *ctx, ssl3d_optim *opt, ssl3d_tensor *loss, int training, int64_t n_ok,
                       uint32_t out2[2]) {
    float lv = 0;
    int ok = ssl3d_tensor_read(ctx, loss, &lv, 4) == SSL3D_OK;
    if (ok && training) ok = ssl3d_backward(ctx, loss) == SSL3D_OK && ssl3d_optim_step(ctx, opt) == SSL3D_OK &&
                             ssl3d_optim_zero_grad(ctx, opt) == SSL3D_OK;
    memcpy(&out2[0], &lv, 4);
    out2[1] = (uint32_t)n_ok;
    return ok;
}

/* Two Adam steps and one evaluation; losses (as bits) and counts into out[0..6). */
static int run_task(const task_cfg *c, int separate, uint32_t out[6]) {
    ssl3d_ctx *ctx = th_ctx(1, 7), *dctx = separate ? th_ctx(1, 99) : ctx;
    ssl3d_task *t = NULL;
    ssl3d_tensor *img[3] = { NULL };
    int ok = ssl3d_task_create(ctx, c->kind, c->dims, 1, c->opts, &t) == SSL3D_OK;
    for (int i = 0; i < 3 && ok; i++) ok = (img[i] = tt_ramp_image(dctx, c->dims, 1, c->S, (uint32_t)i + 1)) != NULL;
    ssl3d_optim *opt = ok ? tt_adam(ctx, t, 1e-3f) : NULL;
    ok = ok && opt;
    for (int step = 0; step < 3 && ok; step++) {
        ssl3d_tensor *loss = NULL;
        int64_t n_ok = 0, total = 0;
        const int training = step < 2;
        ok = ssl3d_task_forward(ctx, t, img, 3, 5, (uint64_t)step, training, &loss, &n_ok, &total) == SSL3D_OK;
        ok = ok && finish_step(ctx, opt, loss, training, n_ok, &out[2 * step]);
        ssl3d_tensor_release(loss);
    }
    if (!ok) th_fail(__FILE__, __LINE__, "%s: %s", ssl3d_task_kind_name(c->kind), ssl3d_ctx_last_error(ctx));
    ssl3d_optim_release(opt);
    tt_release_all(img, 3);
    ssl3d_task_release(t);
    if (dctx != ctx) ssl3d_ctx_release(dctx);
    ssl3d_ctx_release(ctx);
    return ok;
}

TEST(tasks_with_images_in_a_host_context_give_the_same_losses_bitwise) {
    for (size_t i = 0; i < sizeof CFGS / sizeof CFGS[0]; i++) {
        uint32_t one[6], two[6];
        if (!run_task(&CFGS[i], 0, one) || !run_task(&CFGS[i], 1, two)) continue;
        CHECK_MSG(!memcmp(one, two, sizeof one), "%s %dD: losses or counts differ with the images in another context",
                  ssl3d_task_kind_name(CFGS[i].kind), (int)CFGS[i].dims);
    }
}

TEST(tasks_refuse_images_split_over_contexts) {
    ssl3d_ctx *ctx = th_ctx(1, 7), *a = th_ctx(1, 1), *b = th_ctx(1, 2);
    ssl3d_task *t = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_ROTATION, 3, 1, "input_size=16,filters=4,levels=2", &t));
    ssl3d_tensor *img[2] = { tt_ramp_image(a, 3, 1, 18, 1), tt_ramp_image(b, 3, 1, 18, 2) };
    ssl3d_tensor *loss = (ssl3d_tensor *)0x1;
    int64_t c = 0, n = 0;
    CHECK_ST(ctx, ssl3d_task_forward(ctx, t, img, 2, 1, 0, 1, &loss, &c, &n), SSL3D_ERR_INVALID_ARG);
    CHECK_MSG(strstr(ssl3d_ctx_last_error(ctx), "images[1] belongs to another context than images[0]"), "%s",
              ssl3d_ctx_last_error(ctx));
    CHECK(loss == (ssl3d_tensor *)0x1);
    tt_release_all(img, 2);
    ssl3d_task_release(t);
    ssl3d_ctx_release(a); ssl3d_ctx_release(b); ssl3d_ctx_release(ctx);
}

/* Samples made ahead (task_prefetch_begin: what pretraining does for step s + 1 while step
 * s computes) and uploaded asynchronously to an emulated device (test_emulated_device.h:
 * a copy lands only when the device is made to wait for it) give, for all five tasks, the
 * losses and counts of ssl3d_task_forward in one CPU context, bit for bit; the uploads
 * were begun before the previous step's loss was read. */
static int run_task_prefetched(const task_cfg *c, uint32_t out[6]) {
    ssl3d_ctx *ctx = emulated_async_device_ctx(7), *dctx = th_ctx(1, 99);
    ssl3d_task *t = NULL;
    ssl3d_tensor *img[3] = { NULL };
    int ok = ssl3d_task_create(ctx, c->kind, c->dims, 1, c->opts, &t) == SSL3D_OK && task_can_prefetch(t);
    for (int i = 0; i < 3 && ok; i++) ok = (img[i] = tt_ramp_image(dctx, c->dims, 1, c->S, (uint32_t)i + 1)) != NULL;
    ssl3d_optim *opt = ok ? tt_adam(ctx, t, 1e-3f) : NULL;
    ok = ok && opt;
    task_prefetch *next = NULL;
    if (ok) ok = task_prefetch_begin(ctx, t, img, 3, 5, 0, 1, &next) == SSL3D_OK;
    for (int step = 0; step < 3 && ok; step++) {
        ssl3d_tensor *loss = NULL;
        int64_t n_ok = 0, total = 0;
        const int training = step < 2;
        task_prefetch *cur = next;
        next = NULL;
        ok = task_forward_prefetched(ctx, t, cur, &loss, &n_ok, &total) == SSL3D_OK;
        /* The next call's samples while this one's work is queued (the last is evaluation). */
        if (ok && step < 2) ok = task_prefetch_begin(ctx, t, img, 3, 5, (uint64_t)step + 1, step + 1 < 2, &next) == SSL3D_OK;
        ok = ok && finish_step(ctx, opt, loss, training, n_ok, &out[2 * step]);
        ssl3d_tensor_release(loss);
    }
    task_prefetch_drop(ctx, next);
    if (!ok) th_fail(__FILE__, __LINE__, "%s (prefetched): %s", ssl3d_task_kind_name(c->kind), ssl3d_ctx_last_error(ctx));
    ssl3d_optim_release(opt);
    tt_release_all(img, 3);
    ssl3d_task_release(t);
    ssl3d_ctx_release(dctx);
    ssl3d_ctx_release(ctx);
    emulated_async_done();
    return ok;
}

TEST(tasks_with_samples_made_ahead_and_uploaded_asynchronously_give_the_same_losses_bitwise) {
    for (size_t i = 0; i < sizeof CFGS / sizeof CFGS[0]; i++) {
        uint32_t one[6], ahead[6];
        if (!run_task(&CFGS[i], 0, one) || !run_task_prefetched(&CFGS[i], ahead)) continue;
        CHECK_MSG(!memcmp(one, ahead, sizeof one), "%s %dD: losses or counts differ with the samples made ahead",
                  ssl3d_task_kind_name(CFGS[i].kind), (int)CFGS[i].dims);
        CHECK_MSG(emu_async.uploads >= 3 && emu_async.overlapped >= 2 && emu_async.up.sync_bytes == 0,
                  "%s: %lld uploads, %lld begun before the previous loss was read",
                  ssl3d_task_kind_name(CFGS[i].kind), (long long)emu_async.uploads, (long long)emu_async.overlapped);
    }
}
