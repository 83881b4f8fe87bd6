/* Fine-tuning with its data in another, host-memory context than the model — what
 * ssl3d_ft_train / ssl3d_ft_evaluate do on the CUDA backend: cases, crops, augmentation
 * and metrics in a CPU "data context", each batch copied to the model's context, logits
 * read back (src/finetune/finetune_internal.h, ft_train_in / ft_evaluate_in). With two
 * CPU contexts the per-epoch losses and validation metrics, the trained weights and the
 * evaluation metrics must equal, bit for bit, the run with one context: segmentation
 * (with test-time mirroring) and classification (ordinal in 2D), 2D and 3D. The public
 * calls are also run on an emulated device context (below). */
#include <math.h>
#include <string.h>
#include "harness.h"
#include "test_finetune_util.h"
#include "../src/finetune/finetune_internal.h"
#include "../src/backend/backend.h"
#include "test_emulated_device.h"

typedef struct ft_case {
    int32_t kind, dims, ordinal;
    const char *opts;
    int32_t levels;     /* 0: 2 */
} ft_case;

static const ft_case CASES[] = {
    { SSL3D_FT_SEGMENT, 3, 0, "epochs=2,batch=2,patch=8,seed=3,tta=1", 0 },
    { SSL3D_FT_SEGMENT, 2, 0, "epochs=2,batch=3,patch=8,seed=4", 0 },
    { SSL3D_FT_CLASSIFY, 2, 1, "epochs=2,batch=4,seed=5,augment=nnunet", 0 },
    { SSL3D_FT_CLASSIFY, 3, 0, "epochs=2,batch=3,seed=6", 0 },
    /* deep supervision: its label maps are made in the data context, its heads run in ctx */
    { SSL3D_FT_SEGMENT, 3, 0, "epochs=2,batch=2,patch=8,seed=3,deep_supervision=1", 3 },
    { SSL3D_FT_SEGMENT, 2, 0, "epochs=2,batch=3,patch=8,seed=4,deep_supervision=1", 3 },
    /* uploads at step start (only the asynchronous-upload test runs it) */
    { SSL3D_FT_SEGMENT, 3, 0, "epochs=2,batch=2,patch=8,seed=3,prefetch=0", 0 },
};
#define CASES_USUAL 0x3fu   /* all but the last */

typedef struct epoch_log { char lines[4][512]; int n; } epoch_log;

/* Epoch line without its wall-clock "seconds". */
static int32_t log_cb(void *user, const char *json) {
    epoch_log *l = user;
    if (l->n < 4) {
        snprintf(l->lines[l->n], sizeof l->lines[0], "%s", json);
        char *sec = strstr(l->lines[l->n], ", \"seconds\"");
        if (sec) *sec = 0;
        l->n++;
    }
    return 0;
}

typedef struct ft_run {
    epoch_log log;
    float *weights;
    int64_t n_weights;
    double metrics[4];
} ft_run;

static int same_bits(const double *a, const double *b, int n) {
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

/* The device path itself, without a device: a CPU context whose backend table says its
 * memory is not host-readable (host_memory 0, every kernel the CPU's) stands in for a
 * CUDA context. ssl3d_tensor_host_data is NULL for its tensors, so any host access left in
 * fine-tuning would fail; ssl3d_ft_train / ssl3d_ft_evaluate must take the device route
 * (a private CPU data context, batches copied in, logits read back) and still give the
 * losses, weights and metrics of a CPU run bit for bit. */
static ssl3d_backend emulated_device;

static ssl3d_ctx *emulated_device_ctx(uint64_t seed) {
    ssl3d_ctx *ctx = th_ctx(1, seed);
    emulated_device = *ctx->be;
    emulated_device.host_memory = 0;
    emulated_device.name = "emulated-device";
    ctx->be = &emulated_device;
    return ctx;
}

static float *read_weights(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, int64_t *n_out) {
    int64_t n = 0, k = 0;
    const ssl3d_module *mods[2] = { ssl3d_ftmodel_encoder(m), ssl3d_ftmodel_head(m) };
    for (int j = 0; j < 2; j++)
        for (int32_t i = 0; i < ssl3d_module_tensor_count(mods[j]); i++) n += ssl3d_tensor_numel(ssl3d_module_tensor(mods[j], i));
    float *v = malloc((size_t)(n + 1) * 4);
    for (int j = 0; j < 2; j++)
        for (int32_t i = 0; i < ssl3d_module_tensor_count(mods[j]); i++) {
            ssl3d_tensor *t = ssl3d_module_tensor(mods[j], i);
            if (ssl3d_tensor_read(ctx, t, v + k, ssl3d_tensor_numel(t) * 4) != SSL3D_OK) { free(v); return NULL; }
            k += ssl3d_tensor_numel(t);
        }
    *n_out = n;
    return v;
}

/* How run_case trains and evaluates: with the internal ft_train_in / ft_evaluate_in, the
 * data in the model's context or in another CPU context; or with the public calls, in a
 * CPU context or in the emulated device context. */
typedef enum { RUN_ONE_CONTEXT, RUN_DATA_CONTEXT, RUN_CPU, RUN_EMULATED_DEVICE, RUN_EMULATED_ASYNC } run_mode;
static const char *const RUN_NAMES[5] = { "one context", "data in another context", "cpu", "emulated device",
                                          "emulated device with asynchronous uploads" };

/* Train and evaluate (test split / every case): epoch lines, trained weights, metrics. */
static int run_case(const ft_case *c, const char *manifest, run_mode mode, ft_run *out) {
    memset(out, 0, sizeof *out);
    ssl3d_ctx *ctx = mode == RUN_EMULATED_DEVICE ? emulated_device_ctx(7)
                     : mode == RUN_EMULATED_ASYNC ? emulated_async_device_ctx(7) : th_ctx(1, 7);
    ssl3d_ctx *dctx = mode == RUN_DATA_CONTEXT ? th_ctx(1, 99) : ctx;
    const int internal = mode == RUN_ONE_CONTEXT || mode == RUN_DATA_CONTEXT;
    ssl3d_manifest *man = NULL;
    ssl3d_ftmodel *m = NULL;
    ssl3d_ftresult *r = NULL;
    int ok = ssl3d_manifest_load(dctx, manifest, 0, &man) == SSL3D_OK &&
             ssl3d_ftmodel_create(ctx, c->kind, c->dims, c->kind == SSL3D_FT_SEGMENT ? 1 : c->dims == 2 ? 3 : 1,
                                  c->kind == SSL3D_FT_SEGMENT ? 3 : c->ordinal ? 3 : 2, 4, c->levels ? c->levels : 2,
                                  SSL3D_NORM_BATCH, 8,
                                  c->ordinal, &m) == SSL3D_OK;
    ok = ok && (internal ? ft_train_in(ctx, dctx, m, man, NULL, 0, c->opts, log_cb, &out->log)
                         : ssl3d_ft_train(ctx, m, man, NULL, 0, c->opts, log_cb, &out->log)) == SSL3D_OK;
    if (ok) ok = (out->weights = read_weights(ctx, m, &out->n_weights)) != NULL;
    int64_t cases[64], n = 0;
    ok = ok && ssl3d_ft_select_cases(ctx, man, c->kind == SSL3D_FT_SEGMENT ? -1 : SSL3D_SPLIT_TEST, NULL, cases, 64,
                                     &n) == SSL3D_OK;
    if (ok && c->kind == SSL3D_FT_SEGMENT) ok = ssl3d_ftmodel_set_tta(ctx, m, c->dims == 3) == SSL3D_OK;
    ok = ok && (internal ? ft_evaluate_in(ctx, dctx, &m, 1, man, cases, n, -1, 0.5f, NULL, &r)
                         : ssl3d_ft_evaluate(ctx, m, man, cases, n, -1, 0.5f, NULL, &r)) == SSL3D_OK;
    static const char *const seg_keys[4] = { "dice_mean", "dice_mean_sd", "dice.1", "dice.2" };
    static const char *const cls_keys[4] = { "accuracy", "auc", "qwk", "cases" };
    for (int k = 0; k < 4 && ok; k++)
        ok = ssl3d_ftresult_get(ctx, r, c->kind == SSL3D_FT_SEGMENT ? seg_keys[k] : cls_keys[k], &out->metrics[k]) ==
             SSL3D_OK;
    if (!ok)
        th_fail(__FILE__, __LINE__, "%s %dD (%s, on %s): %s | data context: %s",
                c->kind == SSL3D_FT_SEGMENT ? "segment" : "classify", (int)c->dims, RUN_NAMES[mode],
                ssl3d_ctx_backend_name(ctx), ssl3d_ctx_last_error(ctx), ssl3d_ctx_last_error(dctx));
    ssl3d_ftresult_release(r);
    ssl3d_ftmodel_release(m);
    ssl3d_manifest_release(man);
    if (dctx != ctx) ssl3d_ctx_release(dctx);
    ssl3d_ctx_release(ctx);
    if (mode == RUN_EMULATED_ASYNC) emulated_async_done();
    return ok;
}

/* Every case of CASES run in modes a and b: the same epoch lines (but their seconds),
 * trained weights and evaluation metrics, bit for bit; and the runs are not degenerate. */
static void check_same_runs(run_mode a, run_mode b, unsigned case_mask) {
    tf_sets sets;
    ssl3d_ctx *gen = th_ctx(1, 1);
    const int made = tf_make_sets(gen, &sets) == 0;
    ssl3d_ctx_release(gen);
    REQUIRE(made);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const ft_case *c = &CASES[i];
        if (!(case_mask >> i & 1u)) continue;
        char man[400];
        tf_sets_manifest(&sets, c->kind, c->dims, man, sizeof man);
        ft_run ra, rb;
        memset(&rb, 0, sizeof rb);   /* run_case clears it only when it runs */
        const char *what = c->kind == SSL3D_FT_SEGMENT ? "segment" : "classify";
        if (run_case(c, man, a, &ra) && run_case(c, man, b, &rb)) {
            CHECK_MSG(ra.log.n == 2 && rb.log.n == 2, "%s %dD: %d / %d epoch lines", what, (int)c->dims, ra.log.n,
                      rb.log.n);
            for (int e = 0; e < ra.log.n && e < rb.log.n; e++)
                CHECK_MSG(!strcmp(ra.log.lines[e], rb.log.lines[e]), "%s %dD epoch %d:\n  %s: %s\n  %s: %s", what,
                          (int)c->dims, e + 1, RUN_NAMES[a], ra.log.lines[e], RUN_NAMES[b], rb.log.lines[e]);
            CHECK_MSG(ra.n_weights > 0 && ra.n_weights == rb.n_weights &&
                          !memcmp(ra.weights, rb.weights, (size_t)ra.n_weights * 4),
                      "%s %dD: trained weights differ (%s, %s)", what, (int)c->dims, RUN_NAMES[a], RUN_NAMES[b]);
            CHECK_MSG(same_bits(ra.metrics, rb.metrics, 4), "%s %dD: evaluation %g %g %g %g vs %g %g %g %g", what,
                      (int)c->dims, ra.metrics[0], ra.metrics[1], ra.metrics[2], ra.metrics[3], rb.metrics[0],
                      rb.metrics[1], rb.metrics[2], rb.metrics[3]);
            /* The runs are not degenerate: a loss and a metric came out. */
            CHECK_MSG(strstr(ra.log.lines[0], "\"loss\": ") && !strstr(ra.log.lines[0], "\"loss\": null") &&
                          isfinite(ra.metrics[0]),
                      "%s %dD: %s", what, (int)c->dims, ra.log.lines[0]);
        }
        free(ra.weights); free(rb.weights);
    }
}

/* ft_train_in / ft_evaluate_in with the data in another CPU context give the results of
 * one context. */
TEST(finetune_with_data_in_a_host_context_gives_the_same_results_bitwise) {
    check_same_runs(RUN_ONE_CONTEXT, RUN_DATA_CONTEXT, CASES_USUAL);
}

/* ssl3d_ftmodel_classify takes a batch from another context (copied to the model's) and
 * gives the results of the same batch in the model's context; ssl3d_ftmodel_segment of a
 * volume held by another host context equals the same-context call. */
TEST(ftmodel_inference_on_a_batch_from_another_context) {
    ssl3d_ctx *ctx = th_ctx(1, 7), *other = th_ctx(1, 8);
    ssl3d_ftmodel *c = NULL, *s = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_CLASSIFY, 2, 1, 3, 4, 2, SSL3D_NORM_BATCH, 8, 0, &c));
    REQUIRE_OK(ctx, ssl3d_ftmodel_create(ctx, SSL3D_FT_SEGMENT, 3, 1, 3, 4, 2, SSL3D_NORM_BATCH, 0, 0, &s));
    int64_t xs[4] = { 3, 1, 8, 8 }, vs[4] = { 1, 6, 9, 7 };
    ssl3d_tensor *xa = th_randn(ctx, 4, xs, 0), *xb = NULL, *va = th_randn(ctx, 4, vs, 0), *vb = NULL;
    REQUIRE_OK(other, ssl3d_tensor_copy_to(other, xa, &xb));
    REQUIRE_OK(other, ssl3d_tensor_copy_to(other, va, &vb));
    ssl3d_tensor *pa = NULL, *ya = NULL, *pb = NULL, *yb = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_classify(ctx, c, xa, &pa, &ya));
    REQUIRE_OK(ctx, ssl3d_ftmodel_classify(ctx, c, xb, &pb, &yb));
    CHECK(ssl3d_tensor_numel(pa) == 9 && th_tensors_identical(ctx, pa, pb));
    CHECK(ssl3d_tensor_numel(ya) == 3 && th_tensors_identical(ctx, ya, yb));
    float *p = ssl3d_tensor_host_data(pa);
    CHECK(fabsf(p[0] + p[1] + p[2] - 1.0f) < 1e-5f);
    ssl3d_tensor *qa = NULL, *qb = NULL;
    REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, s, va, 0, 0.5f, &qa, NULL));
    REQUIRE_OK(ctx, ssl3d_ftmodel_segment(ctx, s, vb, 0, 0.5f, &qb, NULL));
    CHECK(ssl3d_tensor_numel(qa) == 3 * 6 * 9 * 7 && th_tensors_identical(ctx, qa, qb));
    ssl3d_tensor *all[] = { xa, xb, va, vb, pa, ya, pb, yb, qa, qb };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssl3d_tensor_release(all[i]);
    ssl3d_ftmodel_release(c);
    ssl3d_ftmodel_release(s);
    ssl3d_ctx_release(other);
    ssl3d_ctx_release(ctx);
}

/* ssl3d_ft_train / ssl3d_ft_evaluate on the emulated device context (above) give the
 * results of the same calls on a CPU context. */
TEST(finetune_on_an_emulated_device_context_gives_the_cpu_results_bitwise) {
    check_same_runs(RUN_CPU, RUN_EMULATED_DEVICE, CASES_USUAL);
}

/* The public inference calls on the emulated device: inputs from a CPU context, results
 * in the device context (read back), equal to the CPU's. */
TEST(ftmodel_inference_on_an_emulated_device_context) {
    ssl3d_ctx *cpu = th_ctx(1, 7), *dev = emulated_device_ctx(7);
    ssl3d_ftmodel *c[2] = { NULL, NULL }, *s[2] = { NULL, NULL };
    ssl3d_ctx *ctxs[2] = { cpu, dev };
    for (int k = 0; k < 2; k++) {
        REQUIRE_OK(ctxs[k], ssl3d_ftmodel_create(ctxs[k], SSL3D_FT_CLASSIFY, 2, 1, 3, 4, 2, SSL3D_NORM_BATCH, 8, 1, &c[k]));
        REQUIRE_OK(ctxs[k], ssl3d_ftmodel_create(ctxs[k], SSL3D_FT_SEGMENT, 3, 1, 3, 4, 2, SSL3D_NORM_BATCH, 0, 0, &s[k]));
        REQUIRE_OK(ctxs[k], ssl3d_ftmodel_set_tta(ctxs[k], s[k], 1));
    }
    int64_t xs[4] = { 3, 1, 8, 8 }, vs[4] = { 1, 6, 9, 7 };
    ssl3d_tensor *x = th_randn(cpu, 4, xs, 0), *v = th_randn(cpu, 4, vs, 0);
    enum { NV = 6 * 9 * 7 };
    static float probs[2][9], segp[2][3 * NV];
    static int32_t pred[2][3], segl[2][NV];
    for (int k = 0; k < 2; k++) {
        ssl3d_tensor *p = NULL, *y = NULL, *q = NULL, *l = NULL;
        REQUIRE_OK(ctxs[k], ssl3d_ftmodel_classify(ctxs[k], c[k], x, &p, &y));
        CHECK((ssl3d_tensor_host_data(p) == NULL) == (k == 1));
        REQUIRE_OK(ctxs[k], ssl3d_tensor_read(ctxs[k], p, probs[k], 9 * 4));
        REQUIRE_OK(ctxs[k], ssl3d_tensor_read(ctxs[k], y, pred[k], 3 * 4));
        REQUIRE_OK(ctxs[k], ssl3d_ftmodel_segment(ctxs[k], s[k], v, 0, 0.5f, &q, &l));
        CHECK((ssl3d_tensor_host_data(q) == NULL) == (k == 1));
        REQUIRE_OK(ctxs[k], ssl3d_tensor_read(ctxs[k], q, segp[k], 3 * NV * 4));
        REQUIRE_OK(ctxs[k], ssl3d_tensor_read(ctxs[k], l, segl[k], NV * 4));
        ssl3d_tensor_release(p); ssl3d_tensor_release(y); ssl3d_tensor_release(q); ssl3d_tensor_release(l);
    }
    CHECK(!memcmp(probs[0], probs[1], sizeof probs[0]) && !memcmp(pred[0], pred[1], sizeof pred[0]));
    CHECK(!memcmp(segp[0], segp[1], sizeof segp[0]) && !memcmp(segl[0], segl[1], sizeof segl[0]));
    CHECK(fabsf(segp[0][0] + segp[0][NV] + segp[0][2 * NV] - 1.0f) < 1e-5f);
    ssl3d_tensor_release(x); ssl3d_tensor_release(v);
    for (int k = 0; k < 2; k++) { ssl3d_ftmodel_release(c[k]); ssl3d_ftmodel_release(s[k]); }
    ssl3d_ctx_release(dev); ssl3d_ctx_release(cpu);
}

/* Fine-tuning with asynchronous uploads (each step's successor batch begun while the step
 * computes, landing only when the device is made to wait for it) gives the CPU's losses,
 * weights and metrics bit for bit: 3D segmentation with deep supervision (six tensors a
 * step) and 3D classification. And the uploads did overlap: begun a step ahead. */
TEST(finetune_with_asynchronous_uploads_gives_the_cpu_results_bitwise) {
    check_same_runs(RUN_CPU, RUN_EMULATED_ASYNC, 1u << 3 | 1u << 4);
    CHECK_MSG(emu_async.uploads > 0 && emu_async.overlapped > 0 && emu_async.overlapped < emu_async.uploads,
              "%lld uploads, %lld begun during the previous step", (long long)emu_async.uploads,
              (long long)emu_async.overlapped);
    CHECK(emu_async.up.async_bytes > 0 && emu_async.up.sync_bytes == 0);
    /* prefetch=0: every batch uploaded when its step starts, the same results */
    check_same_runs(RUN_CPU, RUN_EMULATED_ASYNC, 1u << 6);
    CHECK_MSG(emu_async.uploads > 0 && emu_async.overlapped == 0, "prefetch=0: %lld of %lld uploads begun a step ahead",
              (long long)emu_async.overlapped, (long long)emu_async.uploads);
}
