/* Learning-rate schedules: constant, step, cosine and poly, each with linear warm-up. */
#include <math.h>
#include <stdlib.h>
#include "optim_internal.h"

enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_POLY };

struct ssl3d_lr_schedule {
    int32_t kind;
    float base_lr, gamma, min_lr, power;
    int64_t warmup, step_size, total;
};

static ssl3d_status sched_new(ssl3d_ctx *ctx, const char *fn, int32_t kind, float base_lr, int64_t warmup,
                              ssl3d_lr_schedule **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, isfinite(base_lr) && base_lr >= 0, "%s: base_lr must be finite and >= 0, got %g", fn,
                    (double)base_lr);
    SSL3D_CHECK_ARG(ctx, warmup >= 0, "%s: warmup must be >= 0, got %lld", fn, (long long)warmup);
    ssl3d_lr_schedule *s = calloc(1, sizeof *s);
    if (!s) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    s->kind = kind;
    s->base_lr = base_lr;
    s->warmup = warmup;
    s->gamma = 1.0f;
    s->step_size = 1;
    *out = s;
    return SSL3D_OK;
}

ssl3d_status ssl3d_lr_schedule_create_constant(ssl3d_ctx *ctx, float base_lr, int64_t warmup, ssl3d_lr_schedule **out) {
    return sched_new(ctx, "ssl3d_lr_schedule_create_constant", SCHED_CONSTANT, base_lr, warmup, out);
}

ssl3d_status ssl3d_lr_schedule_create_step(ssl3d_ctx *ctx, float base_lr, int64_t warmup, int64_t step_size,
                                           float gamma, ssl3d_lr_schedule **out) {
    static const char fn[] = "ssl3d_lr_schedule_create_step";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, step_size >= 1, "%s: step_size must be >= 1, got %lld", fn, (long long)step_size);
    SSL3D_CHECK_ARG(ctx, isfinite(gamma) && gamma > 0, "%s: gamma must be > 0, got %g", fn, (double)gamma);
    ssl3d_lr_schedule *s = NULL;
    SSL3D_CHECK(sched_new(ctx, fn, SCHED_STEP, base_lr, warmup, &s));
    s->step_size = step_size;
    s->gamma = gamma;
    *out = s;
    return SSL3D_OK;
}

ssl3d_status ssl3d_lr_schedule_create_cosine(ssl3d_ctx *ctx, float base_lr, int64_t warmup, int64_t total_steps,
                                             float min_lr, ssl3d_lr_schedule **out) {
    static const char fn[] = "ssl3d_lr_schedule_create_cosine";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, total_steps > warmup && warmup >= 0, "%s: total_steps (%lld) must exceed warmup (%lld)", fn,
                    (long long)total_steps, (long long)warmup);
    SSL3D_CHECK_ARG(ctx, isfinite(min_lr) && min_lr >= 0, "%s: min_lr must be finite and >= 0, got %g", fn,
                    (double)min_lr);
    ssl3d_lr_schedule *s = NULL;
    SSL3D_CHECK(sched_new(ctx, fn, SCHED_COSINE, base_lr, warmup, &s));
    s->total = total_steps;
    s->min_lr = min_lr;
    *out = s;
    return SSL3D_OK;
}

ssl3d_status ssl3d_lr_schedule_create_poly(ssl3d_ctx *ctx, float base_lr, int64_t warmup, int64_t total_steps,
                                           float power, ssl3d_lr_schedule **out) {
    static const char fn[] = "ssl3d_lr_schedule_create_poly";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, total_steps > warmup && warmup >= 0, "%s: total_steps (%lld) must exceed warmup (%lld)", fn,
                    (long long)total_steps, (long long)warmup);
    SSL3D_CHECK_ARG(ctx, isfinite(power) && power > 0, "%s: power must be finite and > 0, got %g", fn, (double)power);
    ssl3d_lr_schedule *s = NULL;
    SSL3D_CHECK(sched_new(ctx, fn, SCHED_POLY, base_lr, warmup, &s));
    s->total = total_steps;
    s->power = power;
    *out = s;
    return SSL3D_OK;
}

void ssl3d_lr_schedule_release(ssl3d_lr_schedule *sched) { free(sched); }

float ssl3d_lr_at(const ssl3d_lr_schedule *s, int64_t step) {
    if (!s) return NAN;
    if (step < 0) step = 0;
    if (step < s->warmup) return (float)((double)s->base_lr * (double)(step + 1) / (double)s->warmup);
    int64_t t = step - s->warmup;
    switch (s->kind) {
    case SCHED_STEP: return (float)((double)s->base_lr * pow((double)s->gamma, (double)(t / s->step_size)));
    case SCHED_COSINE: {
        int64_t T = s->total - s->warmup;
        if (t >= T) return s->min_lr;
        double c = 0.5 * (1.0 + cos(M_PI * (double)t / (double)T));
        return (float)((double)s->min_lr + ((double)s->base_lr - s->min_lr) * c);
    }
    case SCHED_POLY: {
        int64_t T = s->total - s->warmup;
        if (t >= T) return 0.0f;
        return (float)((double)s->base_lr * pow(1.0 - (double)t / (double)T, (double)s->power));
    }
    default: return s->base_lr;
    }
}

ssl3d_status ssl3d_optim_apply_schedule(ssl3d_ctx *ctx, ssl3d_optim *opt, const ssl3d_lr_schedule *sched) {
    static const char fn[] = "ssl3d_optim_apply_schedule";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK_ARG(ctx, sched, "%s: sched is NULL", fn);
    return ssl3d_optim_set_lr(ctx, opt, ssl3d_lr_at(sched, ssl3d_optim_step_count(opt)));
}
