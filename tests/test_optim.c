/* Optimisers and schedules: updates against hand-computed values, frozen groups,
 * NaN gradients, clipping, checkpoint state round trip, misuse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

/* Give p the gradient g (exactly): backward of sum(p * g). */
static int set_grad(ssl3d_ctx *ctx, ssl3d_tensor *p, const float *g) {
    int64_t n = ssl3d_tensor_numel(p);
    ssl3d_tensor *w = th_tensor(ctx, 1, &n, g), *s = NULL;
    ssl3d_tensor_zero_grad(ctx, p);
    int ok = w && ssl3d_weighted_sum(ctx, p, w, &s) == SSL3D_OK && ssl3d_backward(ctx, s) == SSL3D_OK;
    ssl3d_tensor_release(w);
    ssl3d_tensor_release(s);
    return ok;
}

static ssl3d_tensor *param(ssl3d_ctx *ctx, int64_t n, const float *v) {
    ssl3d_tensor *t = th_tensor(ctx, 1, &n, v);
    if (t) ssl3d_tensor_set_requires_grad(ctx, t, 1);
    return t;
}

static float first(ssl3d_tensor *t) { return ((float *)ssl3d_tensor_host_data(t))[0]; }

TEST(optim_sgd_momentum_two_steps) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    struct { float wd; int nesterov; double p1, p2; } cases[] = {
        /* lr 0.1, momentum 0.9, p0 = 1, g = 0.5 both steps:
         * plain:    buf 0.5 -> p 0.95; buf 0.95 -> p 0.855
         * wd 0.1:   d 0.6, buf 0.6 -> 0.94; d 0.594, buf 1.134 -> 0.8266
         * nesterov: d 0.5 + 0.9*0.5 = 0.95 -> 0.905; buf 0.95, d 1.355 -> 0.7695 */
        { 0.0f, 0, 0.95, 0.855 }, { 0.1f, 0, 0.94, 0.8266 }, { 0.0f, 1, 0.905, 0.7695 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float one = 1.0f, g = 0.5f;
        ssl3d_tensor *p = param(ctx, 1, &one);
        ssl3d_optim *o = NULL;
        REQUIRE(p);
        REQUIRE_OK(ctx, ssl3d_optim_create_sgd(ctx, 0.1f, 0.9f, cases[i].wd, cases[i].nesterov, &o));
        REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &p, 1, 0));
        REQUIRE(set_grad(ctx, p, &g));
        REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
        CHECK_NEAR(first(p), cases[i].p1, 1e-6);
        REQUIRE(set_grad(ctx, p, &g));
        REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
        CHECK_NEAR(first(p), cases[i].p2, 1e-6);
        CHECK(ssl3d_optim_step_count(o) == 2);
        ssl3d_optim_release(o);
        ssl3d_tensor_release(p);
    }
    /* Plain SGD without momentum has no momentum state. */
    ssl3d_optim *o = NULL;
    REQUIRE_OK(ctx, ssl3d_optim_create_sgd(ctx, 0.1f, 0.0f, 0.0f, 0, &o));
    float v = 2.0f, g = 1.0f;
    ssl3d_tensor *p = param(ctx, 1, &v);
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &p, 1, 0));
    CHECK(ssl3d_optim_num_state(o) == 1);
    REQUIRE(set_grad(ctx, p, &g));
    REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
    CHECK_NEAR(first(p), 1.9, 1e-6);
    ssl3d_optim_release(o);
    ssl3d_tensor_release(p);
    ssl3d_ctx_release(ctx);
}

/* Adam by hand in double: m, v, bias corrections. */
static double adam_ref(double p, const double *g, int steps, double lr, double wd, int decoupled) {
    double m = 0, v = 0, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int t = 1; t <= steps; t++) {
        double d = g[t - 1];
        if (decoupled) p *= 1 - lr * wd;
        else d += wd * p;
        m = b1 * m + (1 - b1) * d;
        v = b2 * v + (1 - b2) * d * d;
        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps);
    }
    return p;
}

TEST(optim_adam_and_adamw_two_steps) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const double gs[2] = { 0.5, -0.25 };
    for (int kind = 0; kind < 3; kind++) {
        float wd = kind == 0 ? 0.0f : 0.5f;
        float one = 1.0f;
        ssl3d_tensor *p = param(ctx, 1, &one);
        ssl3d_optim *o = NULL;
        REQUIRE(p);
        if (kind == 2) REQUIRE_OK(ctx, ssl3d_optim_create_adamw(ctx, 0.1f, 0.9f, 0.999f, 1e-8f, wd, &o));
        else REQUIRE_OK(ctx, ssl3d_optim_create_adam(ctx, 0.1f, 0.9f, 0.999f, 1e-8f, wd, &o));
        REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &p, 1, 0));
        for (int s = 0; s < 2; s++) {
            float g = (float)gs[s];
            REQUIRE(set_grad(ctx, p, &g));
            REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
            CHECK_NEAR(first(p), adam_ref(1.0, gs, s + 1, 0.1, wd, kind == 2), 2e-6);
        }
        ssl3d_optim_release(o);
        ssl3d_tensor_release(p);
    }
    /* Literal anchors: Adam's first step moves by lr whatever the gradient scale (0.9);
     * AdamW with wd 0.5 first decays 1 -> 0.95, then moves by lr -> 0.85; Adam with L2
     * wd 0.5 normalises d = 1 and also lands on 0.9. */
    CHECK_NEAR(adam_ref(1.0, gs, 1, 0.1, 0.0, 0), 0.9, 1e-7);
    CHECK_NEAR(adam_ref(1.0, gs, 1, 0.1, 0.5, 1), 0.85, 1e-7);
    CHECK_NEAR(adam_ref(1.0, gs, 1, 0.1, 0.5, 0), 0.9, 1e-7);
    ssl3d_ctx_release(ctx);
}

TEST(optim_frozen_group_is_untouched_and_resumes) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    float a = 1.0f, b = 1.0f, g = 0.5f;
    ssl3d_tensor *pa = param(ctx, 1, &a), *pb = param(ctx, 1, &b), *t = NULL;
    ssl3d_optim *o = NULL;
    REQUIRE(pa && pb);
    REQUIRE_OK(ctx, ssl3d_optim_create_adam(ctx, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, &o));
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &pa, 1, 0));       /* "encoder" */
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &pb, 1, 7));       /* "head" */
    REQUIRE_OK(ctx, ssl3d_optim_set_group_frozen(ctx, o, 0, 1));
    CHECK(ssl3d_optim_group_frozen(o, 0) == 1 && ssl3d_optim_group_frozen(o, 7) == 0);
    CHECK(ssl3d_optim_group_frozen(o, 3) == -1);
    for (int s = 0; s < 3; s++) {
        REQUIRE(set_grad(ctx, pa, &g));
        REQUIRE(set_grad(ctx, pb, &g));
        REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
    }
    CHECK(first(pa) == 1.0f);
    CHECK(first(pb) < 0.8f);
    REQUIRE_OK(ctx, ssl3d_optim_state_find(ctx, o, "adam.step.0", &t));
    int32_t st;
    ssl3d_tensor_read(ctx, t, &st, 4);
    CHECK(st == 0);
    REQUIRE_OK(ctx, ssl3d_optim_state_find(ctx, o, "adam.m.0", &t));
    CHECK(first(t) == 0.0f);
    REQUIRE_OK(ctx, ssl3d_optim_state_find(ctx, o, "adam.step.1", &t));
    ssl3d_tensor_read(ctx, t, &st, 4);
    CHECK(st == 3);
    CHECK(ssl3d_optim_step_count(o) == 3);
    /* Unfreeze: the encoder takes its own first Adam step (bias correction t = 1). */
    REQUIRE_OK(ctx, ssl3d_optim_set_group_frozen(ctx, o, 0, 0));
    REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
    CHECK_NEAR(first(pa), 0.9, 1e-6);
    /* Per-group learning-rate scale. */
    REQUIRE_OK(ctx, ssl3d_optim_set_group_lr_scale(ctx, o, 0, 0.5f));
    REQUIRE_OK(ctx, ssl3d_optim_set_group_frozen(ctx, o, 7, 1));
    float before = first(pa);
    REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
    CHECK_NEAR(before - first(pa), 0.05, 1e-4);  /* constant gradient: Adam moves ~ lr*scale */
    ssl3d_optim_release(o);
    ssl3d_tensor_release(pa); ssl3d_tensor_release(pb);
    ssl3d_ctx_release(ctx);
}

TEST(optim_nonfinite_gradient_changes_nothing) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    float a[3] = { 1, 2, 3 }, b[2] = { 4, 5 }, ga[3] = { 0.1f, 0.2f, 0.3f }, gb[2] = { 0.5f, NAN };
    ssl3d_tensor *pa = param(ctx, 3, a), *pb = param(ctx, 2, b), *t = NULL;
    ssl3d_tensor *ps[2] = { pa, pb };
    ssl3d_optim *o = NULL;
    REQUIRE(pa && pb);
    REQUIRE_OK(ctx, ssl3d_optim_create_adamw(ctx, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, &o));
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, ps, 2, 0));
    REQUIRE(set_grad(ctx, pa, ga));
    REQUIRE(set_grad(ctx, pb, gb));
    CHECK_ST(ctx, ssl3d_optim_step(ctx, o), SSL3D_ERR_NUMERIC);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "parameter 1") != NULL);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "element 1") != NULL);
    CHECK(!memcmp(ssl3d_tensor_host_data(pa), a, sizeof a));
    CHECK(!memcmp(ssl3d_tensor_host_data(pb), b, sizeof b));
    CHECK(ssl3d_optim_step_count(o) == 0);
    REQUIRE_OK(ctx, ssl3d_optim_state_find(ctx, o, "adam.m.0", &t));
    CHECK(first(t) == 0.0f);
    /* Clipping refuses too. */
    float n = -1;
    CHECK_ST(ctx, ssl3d_optim_clip_grad_norm(ctx, o, 1.0f, &n), SSL3D_ERR_NUMERIC);
    CHECK(n == -1);
    /* Frozen group with a bad gradient is not looked at. */
    ssl3d_optim_release(o);
    REQUIRE_OK(ctx, ssl3d_optim_create_sgd(ctx, 0.1f, 0.0f, 0.0f, 0, &o));
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &pa, 1, 0));
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &pb, 1, 1));
    REQUIRE_OK(ctx, ssl3d_optim_set_group_frozen(ctx, o, 1, 1));
    CHECK_OK(ctx, ssl3d_optim_step(ctx, o));
    CHECK_NEAR(first(pa), 0.99, 1e-6);
    ssl3d_optim_release(o);
    ssl3d_tensor_release(pa); ssl3d_tensor_release(pb);
    ssl3d_ctx_release(ctx);
}

TEST(optim_clip_grad_norm_values) {
    ssl3d_ctx *ctx = th_ctx(2, 0);
    REQUIRE(ctx);
    float a[2] = { 0, 0 }, b[1] = { 0 }, ga[2] = { 3, 0 }, gb[1] = { 4 };
    ssl3d_tensor *pa = param(ctx, 2, a), *pb = param(ctx, 1, b), *none = param(ctx, 1, b);
    REQUIRE(pa && pb && none);
    ssl3d_tensor *ts[3] = { pa, pb, none };                 /* `none` has no gradient */
    REQUIRE(set_grad(ctx, pa, ga));
    REQUIRE(set_grad(ctx, pb, gb));
    float total = 0, got[2];
    REQUIRE_OK(ctx, ssl3d_clip_grad_norm(ctx, ts, 3, 10.0f, &total));
    CHECK_NEAR(total, 5.0, 1e-6);
    ssl3d_tensor_read_grad(ctx, pa, got, 2);
    CHECK(got[0] == 3.0f);                                  /* under the limit: untouched */
    REQUIRE_OK(ctx, ssl3d_clip_grad_norm(ctx, ts, 3, 1.0f, &total));
    CHECK_NEAR(total, 5.0, 1e-6);
    ssl3d_tensor_read_grad(ctx, pa, got, 2);
    CHECK_NEAR(got[0], 0.6, 1e-6);
    ssl3d_tensor_read_grad(ctx, pb, got, 1);
    CHECK_NEAR(got[0], 0.8, 1e-6);
    REQUIRE_OK(ctx, ssl3d_clip_grad_norm(ctx, ts, 3, 1.0f, NULL));
    CHECK_ST(ctx, ssl3d_clip_grad_norm(ctx, ts, 3, 0.0f, &total), SSL3D_ERR_INVALID_ARG);
    ssl3d_tensor *dup[2] = { pa, pa };
    CHECK_ST(ctx, ssl3d_clip_grad_norm(ctx, dup, 2, 1.0f, &total), SSL3D_ERR_INVALID_ARG);
    /* Through the optimiser: frozen groups are excluded. */
    ssl3d_optim *o = NULL;
    REQUIRE(set_grad(ctx, pa, ga));
    REQUIRE(set_grad(ctx, pb, gb));
    REQUIRE_OK(ctx, ssl3d_optim_create_sgd(ctx, 0.1f, 0.0f, 0.0f, 0, &o));
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &pa, 1, 0));
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &pb, 1, 1));
    REQUIRE_OK(ctx, ssl3d_optim_set_group_frozen(ctx, o, 1, 1));
    REQUIRE_OK(ctx, ssl3d_optim_clip_grad_norm(ctx, o, 100.0f, &total));
    CHECK_NEAR(total, 3.0, 1e-6);
    REQUIRE_OK(ctx, ssl3d_optim_zero_grad(ctx, o));
    ssl3d_tensor_read_grad(ctx, pb, got, 1);
    CHECK(got[0] == 0.0f);
    ssl3d_optim_release(o);
    ssl3d_tensor_release(pa); ssl3d_tensor_release(pb); ssl3d_tensor_release(none);
    ssl3d_ctx_release(ctx);
}

TEST(optim_lr_schedules_at_chosen_steps) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_lr_schedule *c = NULL, *s = NULL, *k = NULL;
    REQUIRE_OK(ctx, ssl3d_lr_schedule_create_constant(ctx, 1.0f, 4, &c));
    CHECK_NEAR(ssl3d_lr_at(c, 0), 0.25, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(c, 1), 0.5, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(c, 3), 1.0, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(c, 1000), 1.0, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(c, -5), 0.25, 1e-7);
    REQUIRE_OK(ctx, ssl3d_lr_schedule_create_step(ctx, 1.0f, 2, 3, 0.1f, &s));
    CHECK_NEAR(ssl3d_lr_at(s, 0), 0.5, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(s, 2), 1.0, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(s, 4), 1.0, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(s, 5), 0.1, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(s, 8), 0.01, 1e-8);
    REQUIRE_OK(ctx, ssl3d_lr_schedule_create_cosine(ctx, 1.0f, 2, 12, 0.1f, &k));
    CHECK_NEAR(ssl3d_lr_at(k, 0), 0.5, 1e-7);
    CHECK_NEAR(ssl3d_lr_at(k, 2), 1.0, 1e-7);      /* end of warm-up: base */
    CHECK_NEAR(ssl3d_lr_at(k, 7), 0.55, 1e-6);     /* half way: (base+min)/2 */
    CHECK_NEAR(ssl3d_lr_at(k, 12), 0.1, 1e-7);     /* end: min */
    CHECK_NEAR(ssl3d_lr_at(k, 50), 0.1, 1e-7);
    CHECK(isnan(ssl3d_lr_at(NULL, 0)));
    /* apply_schedule follows the optimiser's step counter */
    ssl3d_optim *o = NULL;
    REQUIRE_OK(ctx, ssl3d_optim_create_sgd(ctx, 0.0f, 0.0f, 0.0f, 0, &o));
    REQUIRE_OK(ctx, ssl3d_optim_set_step_count(ctx, o, 7));
    REQUIRE_OK(ctx, ssl3d_optim_apply_schedule(ctx, o, k));
    CHECK_NEAR(ssl3d_optim_lr(o), 0.55, 1e-6);
    ssl3d_optim_release(o);
    ssl3d_lr_schedule *bad = (ssl3d_lr_schedule *)0x1;
    CHECK_ST(ctx, ssl3d_lr_schedule_create_cosine(ctx, 1.0f, 5, 5, 0.0f, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_lr_schedule_create_step(ctx, 1.0f, 0, 0, 0.5f, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_lr_schedule_create_constant(ctx, -1.0f, 0, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK(bad == (ssl3d_lr_schedule *)0x1);
    ssl3d_lr_schedule_release(c); ssl3d_lr_schedule_release(s); ssl3d_lr_schedule_release(k);
    ssl3d_lr_schedule_release(NULL);
    ssl3d_ctx_release(ctx);
}

/* Poly (nnU-Net's lr * (1 - t/T)^0.9) against hand-computed values, with and without
 * warm-up, and nnU-Net's SGD setting (lr 1e-2, Nesterov momentum 0.99, weight decay
 * 3e-5) over two steps by hand. */
TEST(optim_poly_schedule_and_nnunet_sgd_by_hand) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_lr_schedule *p = NULL, *q = NULL;
    REQUIRE_OK(ctx, ssl3d_lr_schedule_create_poly(ctx, 1.0f, 2, 12, 0.9f, &p));
    CHECK_NEAR(ssl3d_lr_at(p, 0), 0.5, 1e-7);              /* warm-up 1/2 */
    CHECK_NEAR(ssl3d_lr_at(p, 1), 1.0, 1e-7);              /* warm-up 2/2 */
    CHECK_NEAR(ssl3d_lr_at(p, 2), 1.0, 1e-7);              /* t = 0 */
    CHECK_NEAR(ssl3d_lr_at(p, 7), 0.535886731, 1e-6);      /* t 5 of T 10: 0.5^0.9 */
    CHECK_NEAR(ssl3d_lr_at(p, 11), 0.125892541, 1e-6);     /* 0.1^0.9 */
    CHECK_NEAR(ssl3d_lr_at(p, 12), 0.0, 0);
    CHECK_NEAR(ssl3d_lr_at(p, 99), 0.0, 0);
    REQUIRE_OK(ctx, ssl3d_lr_schedule_create_poly(ctx, 1e-2f, 0, 1000, 0.9f, &q));
    CHECK_NEAR(ssl3d_lr_at(q, 0), 1e-2, 1e-9);
    CHECK_NEAR(ssl3d_lr_at(q, 500), 5.35886731e-3, 1e-8);  /* 1e-2 * 0.5^0.9 */
    CHECK_NEAR(ssl3d_lr_at(q, 900), 1.25892541e-3, 1e-8);  /* 1e-2 * 0.1^0.9 */
    ssl3d_lr_schedule *bad = (ssl3d_lr_schedule *)0x1;
    CHECK_ST(ctx, ssl3d_lr_schedule_create_poly(ctx, 1.0f, 4, 4, 0.9f, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_lr_schedule_create_poly(ctx, 1.0f, 0, 4, 0.0f, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK(bad == (ssl3d_lr_schedule *)0x1);
    ssl3d_lr_schedule_release(p); ssl3d_lr_schedule_release(q);
    /* p0 = 1, g = 0.5: d = 0.5 + 3e-5 = 0.50003, buf = d, nesterov d + 0.99 buf = 0.9950597,
     * p1 = 1 - 0.01 * 0.9950597 = 0.990049403; d = 0.5 + 3e-5 p1 = 0.5000297015,
     * buf = 0.99 * 0.50003 + d = 0.9950594015, step = d + 0.99 buf = 1.485138507,
     * p2 = p1 - 0.01485138507 = 0.975198018. */
    float one = 1.0f, g = 0.5f;
    ssl3d_tensor *w = param(ctx, 1, &one);
    ssl3d_optim *o = NULL;
    REQUIRE(w);
    REQUIRE_OK(ctx, ssl3d_optim_create_sgd(ctx, 1e-2f, 0.99f, 3e-5f, 1, &o));
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, &w, 1, 0));
    REQUIRE(set_grad(ctx, w, &g));
    REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
    CHECK_NEAR(first(w), 0.990049403, 1e-6);
    REQUIRE(set_grad(ctx, w, &g));
    REQUIRE_OK(ctx, ssl3d_optim_step(ctx, o));
    CHECK_NEAR(first(w), 0.975198018, 1e-6);
    ssl3d_optim_release(o);
    ssl3d_tensor_release(w);
    ssl3d_ctx_release(ctx);
}

/* A small training run: logits parameter (4,5) under cross-entropy, cosine schedule.
 * `resume_at` >= 0 interrupts after that many steps, saves params + state to host
 * buffers, rebuilds everything and continues. Returns the final parameters. */
static int train(int kind, int total, int resume_at, float *final) {
    ssl3d_ctx *ctx = th_ctx(2, 9);
    if (!ctx) return 0;
    int64_t shape[2] = { 4, 5 }, ls = 4;
    int32_t labels[4] = { 0, 3, 1, 4 };
    ssl3d_tensor *y = NULL;
    ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, &ls, labels, &y);
    ssl3d_tensor *w = th_randn(ctx, 2, shape, 1);
    ssl3d_lr_schedule *sched = NULL;
    ssl3d_lr_schedule_create_cosine(ctx, 0.5f, 2, total, 0.01f, &sched);
    ssl3d_optim *o = NULL;
    int ok = 1;
    for (int phase = 0; phase < 2 && ok; phase++) {
        if (kind == 0) ssl3d_optim_create_sgd(ctx, 0.5f, 0.9f, 1e-3f, 1, &o);
        else ssl3d_optim_create_adamw(ctx, 0.5f, 0.9f, 0.99f, 1e-8f, 0.01f, &o);
        ssl3d_optim_add_params(ctx, o, &w, 1, 0);
        if (phase == 1) break;
        int stop = resume_at >= 0 ? resume_at : total;
        for (int s = 0; s < stop; s++) {
            ssl3d_tensor *L = NULL;
            ssl3d_optim_zero_grad(ctx, o);
            ok &= ssl3d_cross_entropy(ctx, w, y, &L) == SSL3D_OK && ssl3d_backward(ctx, L) == SSL3D_OK;
            ssl3d_tensor_release(L);
            ok &= ssl3d_optim_apply_schedule(ctx, o, sched) == SSL3D_OK && ssl3d_optim_step(ctx, o) == SSL3D_OK;
        }
        if (resume_at < 0) break;
        /* "checkpoint": parameter values and every named state tensor */
        int32_t ns = ssl3d_optim_num_state(o);
        char names[16][64];
        float vals[16][20];
        float wsave[20];
        ssl3d_tensor_read(ctx, w, wsave, sizeof wsave);
        for (int32_t i = 0; i < ns && i < 16; i++) {
            const char *nm;
            ssl3d_tensor *t;
            ssl3d_optim_state_at(ctx, o, i, &nm, &t);
            snprintf(names[i], sizeof names[i], "%s", nm);
            ssl3d_tensor_read(ctx, t, vals[i], ssl3d_tensor_numel(t) * 4);
        }
        /* fresh optimiser and parameter tensor, restored from the saved values */
        ssl3d_optim_release(o);
        ssl3d_tensor_release(w);
        w = th_randn(ctx, 2, shape, 1);
        ssl3d_tensor_write(ctx, w, wsave, sizeof wsave);
        if (kind == 0) ssl3d_optim_create_sgd(ctx, 0.5f, 0.9f, 1e-3f, 1, &o);
        else ssl3d_optim_create_adamw(ctx, 0.5f, 0.9f, 0.99f, 1e-8f, 0.01f, &o);
        ssl3d_optim_add_params(ctx, o, &w, 1, 0);
        for (int32_t i = 0; i < ns && i < 16; i++) {
            ssl3d_tensor *t = NULL;
            ok &= ssl3d_optim_state_find(ctx, o, names[i], &t) == SSL3D_OK;
            if (t) ssl3d_tensor_write(ctx, t, vals[i], ssl3d_tensor_numel(t) * 4);
        }
        for (int s = resume_at; s < total; s++) {
            ssl3d_tensor *L = NULL;
            ssl3d_optim_zero_grad(ctx, o);
            ok &= ssl3d_cross_entropy(ctx, w, y, &L) == SSL3D_OK && ssl3d_backward(ctx, L) == SSL3D_OK;
            ssl3d_tensor_release(L);
            ok &= ssl3d_optim_apply_schedule(ctx, o, sched) == SSL3D_OK && ssl3d_optim_step(ctx, o) == SSL3D_OK;
        }
        break;
    }
    ok &= ssl3d_optim_step_count(o) == total;
    ssl3d_tensor_read(ctx, w, final, 20 * 4);
    ssl3d_optim_release(o);
    ssl3d_tensor_release(w);
    ssl3d_tensor_release(y);
    ssl3d_lr_schedule_release(sched);
    ssl3d_ctx_release(ctx);
    return ok;
}

TEST(optim_state_save_reload_continue_is_bitwise) {
    for (int kind = 0; kind < 2; kind++) {
        float a[20], b[20];
        REQUIRE(train(kind, 8, -1, a));
        REQUIRE(train(kind, 8, 3, b));
        CHECK_MSG(!memcmp(a, b, sizeof a), "kind %d: resumed run differs", kind);
    }
}

TEST(optim_state_names_and_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t s2[2] = { 2, 3 }, n1 = 2;
    ssl3d_tensor *p0 = th_randn(ctx, 2, s2, 1), *p1 = th_randn(ctx, 1, &n1, 1), *iv = NULL, *t = NULL;
    int32_t ints[2] = { 1, 2 };
    ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, &n1, ints, &iv);
    REQUIRE(p0 && p1 && iv);
    ssl3d_optim *o = NULL, *sentinel = (ssl3d_optim *)0x1, *bad = sentinel;
    REQUIRE_OK(ctx, ssl3d_optim_create_adam(ctx, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, &o));
    CHECK(ssl3d_optim_kind_of(o) == SSL3D_OPTIM_ADAM);
    ssl3d_tensor *ps[2] = { p0, p1 };
    REQUIRE_OK(ctx, ssl3d_optim_add_params(ctx, o, ps, 2, 0));
    CHECK(ssl3d_optim_num_params(o) == 2);
    CHECK(ssl3d_optim_num_state(o) == 7);
    const char *nm = NULL;
    REQUIRE_OK(ctx, ssl3d_optim_state_at(ctx, o, 0, &nm, &t));
    CHECK(!strcmp(nm, "optim.step") && ssl3d_tensor_dtype(t) == SSL3D_I32);
    REQUIRE_OK(ctx, ssl3d_optim_state_at(ctx, o, 4, &nm, &t));
    CHECK(!strcmp(nm, "adam.m.1") && ssl3d_tensor_numel(t) == 2);
    REQUIRE_OK(ctx, ssl3d_optim_state_find(ctx, o, "adam.v.0", &t));
    CHECK(ssl3d_tensor_dim(t, 0) == 2 && ssl3d_tensor_dim(t, 1) == 3);
    CHECK_ST(ctx, ssl3d_optim_state_find(ctx, o, "adam.v.9", &t), SSL3D_ERR_NOT_FOUND);
    CHECK_ST(ctx, ssl3d_optim_state_at(ctx, o, 7, &nm, &t), SSL3D_ERR_INVALID_ARG);
    /* misuse */
    CHECK(ssl3d_optim_step(NULL, o) == SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_optim_step(ctx, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "opt is NULL") != NULL);
    CHECK_ST(ctx, ssl3d_optim_add_params(ctx, o, &p0, 1, 1), SSL3D_ERR_INVALID_ARG);   /* already added */
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "already parameter 0") != NULL);
    CHECK_ST(ctx, ssl3d_optim_add_params(ctx, o, &iv, 1, 0), SSL3D_ERR_DTYPE);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "params[0] must be float32") != NULL);
    CHECK_ST(ctx, ssl3d_optim_add_params(ctx, o, ps, 0, 0), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_optim_add_params(ctx, o, ps, 2, -1), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_optim_num_params(o) == 2);
    CHECK_ST(ctx, ssl3d_optim_set_lr(ctx, o, NAN), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_optim_set_step_count(ctx, o, -1), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_optim_set_group_lr_scale(ctx, o, 0, -1.0f), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_optim_create_adam(ctx, 1e-3f, 1.0f, 0.999f, 1e-8f, 0.0f, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "beta1") != NULL);
    CHECK_ST(ctx, ssl3d_optim_create_adamw(ctx, 1e-3f, 0.9f, 0.999f, 0.0f, 0.0f, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_optim_create_sgd(ctx, -0.1f, 0.0f, 0.0f, 0, &bad), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_optim_create_sgd(ctx, 0.1f, 0.0f, 0.0f, 1, &bad), SSL3D_ERR_INVALID_ARG);  /* nesterov, no momentum */
    CHECK_ST(ctx, ssl3d_optim_create_sgd(ctx, 0.1f, 0.9f, 0.0f, 0, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(bad == sentinel);
    ssl3d_optim_release(NULL);
    CHECK(ssl3d_optim_step_count(NULL) == 0 && isnan(ssl3d_optim_lr(NULL)) && ssl3d_optim_num_state(NULL) == 0);
    ssl3d_optim_release(o);
    ssl3d_tensor_release(p0); ssl3d_tensor_release(p1); ssl3d_tensor_release(iv);
    ssl3d_ctx_release(ctx);
}
