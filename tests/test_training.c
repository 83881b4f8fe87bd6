/* End-to-end training through the public API: determinism across runs, and a save ->
 * reload -> continue run that reproduces the losses of an uninterrupted one bitwise. */
#include <stdio.h>
#include <string.h>
#include "harness.h"

enum { STEPS = 6, SAVE_AT = 3, B = 4, S = 8, K = 4 };

typedef struct model { ssl3d_ctx *ctx; ssl3d_module *enc, *head; ssl3d_optim *opt; } model;

static int model_init(model *m, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->ctx = th_ctx(2, seed);
    if (!m->ctx) return -1;
    ssl3d_tensor *params[64];
    int32_t n = 0, k = 0;
    if (ssl3d_encoder_create(m->ctx, 3, 1, 4, 2, SSL3D_NORM_BATCH, &m->enc) ||
        ssl3d_mlp_create(m->ctx, ssl3d_encoder_out_channels(m->enc), 16, K, &m->head) ||
        ssl3d_optim_create_adam(m->ctx, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, &m->opt) ||
        ssl3d_module_params(m->ctx, m->enc, params, 64, &n) ||
        ssl3d_module_params(m->ctx, m->head, params + n, 64 - n, &k) ||
        ssl3d_optim_add_params(m->ctx, m->opt, params, n + k, 0))
        return -1;
    return 0;
}

static void model_free(model *m) {
    ssl3d_optim_release(m->opt);
    ssl3d_module_release(m->head);
    ssl3d_module_release(m->enc);
    ssl3d_ctx_release(m->ctx);
}

/* Data depend on the step only (an LCG), never on the context's RNG state. */
static int train_step(model *m, int step, float *loss_out) {
    float x[B * S * S * S];
    int32_t y[B];
    unsigned s = 1000u + (unsigned)step;
    for (int i = 0; i < B * S * S * S; i++) { s = s * 1664525u + 1013904223u; x[i] = (float)(s >> 9) / 8388608.0f - 1.0f; }
    for (int b = 0; b < B; b++) {
        y[b] = (step + b) % K;
        for (int i = 0; i < S * S * S; i++) x[b * S * S * S + i] += 0.5f * (float)y[b];
    }
    int64_t xs[5] = { B, 1, S, S, S }, ys[1] = { B };
    ssl3d_tensor *xt = th_tensor(m->ctx, 5, xs, x), *yt = NULL, *f = NULL, *p = NULL, *lg = NULL, *loss = NULL;
    int rc = !xt || ssl3d_tensor_from_data(m->ctx, SSL3D_I32, 1, ys, y, &yt) ||
             ssl3d_encoder_forward(m->ctx, m->enc, xt, 1, &f, NULL) || ssl3d_global_avgpool(m->ctx, f, &p) ||
             ssl3d_mlp_forward(m->ctx, m->head, p, &lg) || ssl3d_cross_entropy(m->ctx, lg, yt, &loss) ||
             ssl3d_tensor_read(m->ctx, loss, loss_out, 4) || ssl3d_backward(m->ctx, loss) ||
             ssl3d_optim_step(m->ctx, m->opt) || ssl3d_optim_zero_grad(m->ctx, m->opt);
    ssl3d_tensor *all[] = { xt, yt, f, p, lg, loss };
    for (int i = 0; i < 6; i++) ssl3d_tensor_release(all[i]);
    return rc ? -1 : 0;
}

static int save(model *m, const char *path) {
    ssl3d_checkpoint *ck = NULL;
    char name[160];
    int rc = ssl3d_checkpoint_create(m->ctx, &ck) != SSL3D_OK;
    ssl3d_module *mods[2] = { m->enc, m->head };
    for (int j = 0; j < 2 && !rc; j++)
        for (int32_t i = 0; i < ssl3d_module_tensor_count(mods[j]) && !rc; i++) {
            snprintf(name, sizeof name, "%s.%s", j ? "head" : "encoder", ssl3d_module_tensor_name(mods[j], i));
            rc = ssl3d_checkpoint_add_tensor(m->ctx, ck, name, ssl3d_module_tensor(mods[j], i)) != SSL3D_OK;
        }
    for (int32_t i = 0; i < ssl3d_optim_num_state(m->opt) && !rc; i++) {
        const char *sn;
        ssl3d_tensor *t;
        rc = ssl3d_optim_state_at(m->ctx, m->opt, i, &sn, &t) != SSL3D_OK;
        snprintf(name, sizeof name, "optim.%s", sn);
        if (!rc) rc = ssl3d_checkpoint_add_tensor(m->ctx, ck, name, t) != SSL3D_OK;
    }
    if (!rc) rc = ssl3d_checkpoint_save(m->ctx, ck, path) != SSL3D_OK;
    ssl3d_checkpoint_release(ck);
    return rc ? -1 : 0;
}

static int load(model *m, const char *path) {
    ssl3d_checkpoint *ck = NULL;
    char name[160];
    if (ssl3d_checkpoint_load(m->ctx, path, &ck) != SSL3D_OK) return -1;
    int rc = 0;
    ssl3d_module *mods[2] = { m->enc, m->head };
    for (int j = 0; j < 2 && !rc; j++)
        for (int32_t i = 0; i < ssl3d_module_tensor_count(mods[j]) && !rc; i++) {
            snprintf(name, sizeof name, "%s.%s", j ? "head" : "encoder", ssl3d_module_tensor_name(mods[j], i));
            rc = ssl3d_checkpoint_copy_into(m->ctx, ck, name, ssl3d_module_tensor(mods[j], i)) != SSL3D_OK;
        }
    for (int32_t i = 0; i < ssl3d_optim_num_state(m->opt) && !rc; i++) {
        const char *sn;
        ssl3d_tensor *t;
        rc = ssl3d_optim_state_at(m->ctx, m->opt, i, &sn, &t) != SSL3D_OK;
        snprintf(name, sizeof name, "optim.%s", sn);
        if (!rc) rc = ssl3d_checkpoint_copy_into(m->ctx, ck, name, t) != SSL3D_OK;
    }
    ssl3d_checkpoint_release(ck);
    return rc ? -1 : 0;
}

static void run(float *losses, int interrupt, const char *path) {
    model m;
    if (model_init(&m, 11)) { th_fail(__FILE__, __LINE__, "init: %s", ssl3d_ctx_last_error(m.ctx)); return; }
    for (int step = 0; step < STEPS; step++) {
        if (interrupt && step == SAVE_AT) {
            if (save(&m, path)) { th_fail(__FILE__, __LINE__, "save: %s", ssl3d_ctx_last_error(m.ctx)); break; }
            model_free(&m);
            /* A different seed: everything that matters must come from the checkpoint. */
            if (model_init(&m, 999) || load(&m, path)) {
                th_fail(__FILE__, __LINE__, "reload: %s", ssl3d_ctx_last_error(m.ctx));
                break;
            }
        }
        if (train_step(&m, step, &losses[step])) { th_fail(__FILE__, __LINE__, "step %d: %s", step, ssl3d_ctx_last_error(m.ctx)); break; }
    }
    model_free(&m);
}

TEST(training_is_deterministic_and_learns) {
    float a[STEPS] = { 0 }, b[STEPS] = { 0 };
    run(a, 0, NULL);
    run(b, 0, NULL);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(a[STEPS - 1] < a[0]);
}

TEST(save_reload_continue_is_bitwise_identical) {
    char path[512];
    snprintf(path, sizeof path, "%s/resume.safetensors", th_tmpdir());
    float a[STEPS] = { 0 }, b[STEPS] = { 0 };
    run(a, 0, NULL);
    run(b, 1, path);
    for (int i = 0; i < STEPS; i++) CHECK_MSG(a[i] == b[i], "step %d: %.9g vs %.9g", i, a[i], b[i]);
}
