/* Optimiser handles: creation, parameters, groups, learning rate. The update itself
 * is in optim_step.c, the checkpoint state in optim_state.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "optim_internal.h"

static const int64_t one[1] = { 1 };

ssl3d_status optim_check(ssl3d_ctx *ctx, const ssl3d_optim *opt, const char *fn) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, opt, "%s: opt is NULL", fn);
    SSL3D_CHECK_ARG(ctx, opt->ctx == ctx, "%s: opt belongs to another context", fn);
    return SSL3D_OK;
}

int32_t optim_read_i32(ssl3d_ctx *ctx, const ssl3d_tensor *t) {
    int32_t v;
    ctx->be->to_host(ctx->be_state, &v, t->data, sizeof v);
    return v;
}

void optim_write_i32(ssl3d_ctx *ctx, ssl3d_tensor *t, int32_t v) {
    ctx->be->from_host(ctx->be_state, t->data, &v, sizeof v);
}

static ssl3d_status check_lr(ssl3d_ctx *ctx, const char *fn, float lr) {
    SSL3D_CHECK_ARG(ctx, isfinite(lr) && lr >= 0, "%s: lr must be finite and >= 0, got %g", fn, (double)lr);
    return SSL3D_OK;
}

static ssl3d_status optim_new(ssl3d_ctx *ctx, const char *fn, int32_t kind, ssl3d_optim **out) {
    ssl3d_optim *o = calloc(1, sizeof *o);
    if (!o) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    o->ctx = ctx;
    o->kind = kind;
    ssl3d_status st = ssl3d_tensor_new(ctx, SSL3D_I32, 1, one, &o->step);
    if (st == SSL3D_OK) st = optim_state_rebuild(ctx, o);
    if (st != SSL3D_OK) { ssl3d_optim_release(o); return st; }
    *out = o;
    return SSL3D_OK;
}

ssl3d_status ssl3d_optim_create_sgd(ssl3d_ctx *ctx, float lr, float momentum, float weight_decay, int32_t nesterov,
                                    ssl3d_optim **out) {
    static const char fn[] = "ssl3d_optim_create_sgd";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(check_lr(ctx, fn, lr));
    SSL3D_CHECK_ARG(ctx, momentum >= 0 && momentum < 1, "%s: momentum must be in [0,1), got %g", fn, (double)momentum);
    SSL3D_CHECK_ARG(ctx, isfinite(weight_decay) && weight_decay >= 0, "%s: weight_decay must be >= 0, got %g", fn,
                    (double)weight_decay);
    SSL3D_CHECK_ARG(ctx, nesterov == 0 || nesterov == 1, "%s: nesterov must be 0 or 1, got %d", fn, (int)nesterov);
    SSL3D_CHECK_ARG(ctx, !nesterov || momentum > 0, "%s: nesterov needs momentum > 0", fn);
    ssl3d_optim *o = NULL;
    SSL3D_CHECK(optim_new(ctx, fn, SSL3D_OPTIM_SGD, &o));
    o->lr = lr; o->momentum = momentum; o->weight_decay = weight_decay; o->nesterov = nesterov;
    *out = o;
    return SSL3D_OK;
}

static ssl3d_status create_adam(ssl3d_ctx *ctx, const char *fn, int32_t kind, float lr, float beta1, float beta2,
                                float eps, float weight_decay, ssl3d_optim **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(check_lr(ctx, fn, lr));
    SSL3D_CHECK_ARG(ctx, beta1 >= 0 && beta1 < 1, "%s: beta1 must be in [0,1), got %g", fn, (double)beta1);
    SSL3D_CHECK_ARG(ctx, beta2 >= 0 && beta2 < 1, "%s: beta2 must be in [0,1), got %g", fn, (double)beta2);
    SSL3D_CHECK_ARG(ctx, isfinite(eps) && eps > 0, "%s: eps must be > 0, got %g", fn, (double)eps);
    SSL3D_CHECK_ARG(ctx, isfinite(weight_decay) && weight_decay >= 0, "%s: weight_decay must be >= 0, got %g", fn,
                    (double)weight_decay);
    ssl3d_optim *o = NULL;
    SSL3D_CHECK(optim_new(ctx, fn, kind, &o));
    o->lr = lr; o->beta1 = beta1; o->beta2 = beta2; o->eps = eps; o->weight_decay = weight_decay;
    *out = o;
    return SSL3D_OK;
}

ssl3d_status ssl3d_optim_create_adam(ssl3d_ctx *ctx, float lr, float beta1, float beta2, float eps,
                                     float weight_decay, ssl3d_optim **out) {
    return create_adam(ctx, "ssl3d_optim_create_adam", SSL3D_OPTIM_ADAM, lr, beta1, beta2, eps, weight_decay, out);
}

ssl3d_status ssl3d_optim_create_adamw(ssl3d_ctx *ctx, float lr, float beta1, float beta2, float eps,
                                      float weight_decay, ssl3d_optim **out) {
    return create_adam(ctx, "ssl3d_optim_create_adamw", SSL3D_OPTIM_ADAMW, lr, beta1, beta2, eps, weight_decay, out);
}

void ssl3d_optim_release(ssl3d_optim *opt) {
    if (!opt) return;
    for (int32_t i = 0; i < opt->n_params; i++) {
        optim_param *p = &opt->params[i];
        ssl3d_tensor_release(p->p);
        ssl3d_tensor_release(p->buf[0]);
        ssl3d_tensor_release(p->buf[1]);
        ssl3d_tensor_release(p->step);
    }
    ssl3d_tensor_release(opt->step);
    free(opt->params);
    free(opt->groups);
    free(opt->state);
    free(opt);
}

int32_t ssl3d_optim_kind_of(const ssl3d_optim *opt) { return opt ? opt->kind : -1; }
int32_t ssl3d_optim_num_params(const ssl3d_optim *opt) { return opt ? opt->n_params : 0; }

optim_group *optim_group_get(ssl3d_ctx *ctx, ssl3d_optim *opt, int32_t id, int create) {
    for (int32_t i = 0; i < opt->n_groups; i++)
        if (opt->groups[i].id == id) return &opt->groups[i];
    if (!create) return NULL;
    if (opt->n_groups == opt->cap_groups) {
        int32_t cap = opt->cap_groups ? 2 * opt->cap_groups : 4;
        optim_group *g = realloc(opt->groups, (size_t)cap * sizeof *g);
        if (!g) {
            if (ctx) ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "optimiser: out of memory adding group %d", (int)id);
            return NULL;
        }
        opt->groups = g;
        opt->cap_groups = cap;
    }
    optim_group *g = &opt->groups[opt->n_groups++];
    g->id = id; g->frozen = 0; g->lr_scale = 1.0f;
    return g;
}

/* State of a new parameter: zero tensors of its shape (moments) and int32 counters. */
static ssl3d_status param_init(ssl3d_ctx *ctx, const ssl3d_optim *opt, optim_param *p) {
    int nbuf = opt->kind == SSL3D_OPTIM_SGD ? (opt->momentum > 0 ? 1 : 0) : 2;
    for (int b = 0; b < nbuf; b++) SSL3D_CHECK(ssl3d_tensor_new_like(ctx, p->p, &p->buf[b]));
    if (opt->kind != SSL3D_OPTIM_SGD) SSL3D_CHECK(ssl3d_tensor_new(ctx, SSL3D_I32, 1, one, &p->step));
    return SSL3D_OK;
}

static void param_clear(optim_param *p) {
    ssl3d_tensor_release(p->buf[0]);
    ssl3d_tensor_release(p->buf[1]);
    ssl3d_tensor_release(p->step);
}

ssl3d_status ssl3d_optim_add_params(ssl3d_ctx *ctx, ssl3d_optim *opt, ssl3d_tensor *const *params, int32_t n,
                                    int32_t group) {
    static const char fn[] = "ssl3d_optim_add_params";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK_ARG(ctx, params, "%s: params is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n must be >= 1, got %d", fn, (int)n);
    SSL3D_CHECK_ARG(ctx, group >= 0, "%s: group must be >= 0, got %d", fn, (int)group);
    SSL3D_CHECK_ARG(ctx, n <= INT32_MAX / 4 - opt->n_params, "%s: too many parameters", fn);
    char what[48];
    for (int32_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "params[%d]", (int)i);
        SSL3D_CHECK(ssl3d_check_f32(ctx, params[i], fn, what));
        for (int32_t j = 0; j < opt->n_params; j++)
            SSL3D_CHECK_ARG(ctx, opt->params[j].p != params[i], "%s: params[%d] is already parameter %d", fn, (int)i,
                            (int)j);
        for (int32_t j = 0; j < i; j++)
            SSL3D_CHECK_ARG(ctx, params[j] != params[i], "%s: params[%d] and params[%d] are the same tensor", fn,
                            (int)j, (int)i);
    }
    if (opt->n_params + n > opt->cap_params) {
        int32_t cap = opt->cap_params ? opt->cap_params : 16;
        while (cap < opt->n_params + n) cap *= 2;
        optim_param *np = realloc(opt->params, (size_t)cap * sizeof *np);
        if (!np) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        opt->params = np;
        opt->cap_params = cap;
    }
    if (!optim_group_get(ctx, opt, group, 1)) return SSL3D_ERR_NOMEM;
    int32_t base = opt->n_params;
    for (int32_t i = 0; i < n; i++) {
        optim_param *p = &opt->params[base + i];
        memset(p, 0, sizeof *p);
        p->p = params[i];
        p->group = group;
        ssl3d_status st = param_init(ctx, opt, p);
        if (st != SSL3D_OK) {
            for (int32_t j = 0; j <= i; j++) param_clear(&opt->params[base + j]);
            return st;
        }
    }
    opt->n_params += n;
    ssl3d_status st = optim_state_rebuild(ctx, opt);
    if (st != SSL3D_OK) {
        opt->n_params -= n;
        for (int32_t i = 0; i < n; i++) param_clear(&opt->params[base + i]);
        optim_state_rebuild(ctx, opt);
        return st;
    }
    for (int32_t i = 0; i < n; i++) ssl3d_tensor_retain(params[i]);
    return SSL3D_OK;
}

ssl3d_status ssl3d_optim_set_group_frozen(ssl3d_ctx *ctx, ssl3d_optim *opt, int32_t group, int32_t frozen) {
    static const char fn[] = "ssl3d_optim_set_group_frozen";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK_ARG(ctx, group >= 0, "%s: group must be >= 0, got %d", fn, (int)group);
    optim_group *g = optim_group_get(ctx, opt, group, 1);
    if (!g) return SSL3D_ERR_NOMEM;
    g->frozen = frozen ? 1 : 0;
    return SSL3D_OK;
}

int32_t ssl3d_optim_group_frozen(const ssl3d_optim *opt, int32_t group) {
    if (!opt) return -1;
    const optim_group *g = optim_group_get(NULL, (ssl3d_optim *)opt, group, 0);
    return g ? g->frozen : -1;
}

ssl3d_status ssl3d_optim_set_group_lr_scale(ssl3d_ctx *ctx, ssl3d_optim *opt, int32_t group, float scale) {
    static const char fn[] = "ssl3d_optim_set_group_lr_scale";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK_ARG(ctx, group >= 0, "%s: group must be >= 0, got %d", fn, (int)group);
    SSL3D_CHECK_ARG(ctx, isfinite(scale) && scale >= 0, "%s: scale must be finite and >= 0, got %g", fn, (double)scale);
    optim_group *g = optim_group_get(ctx, opt, group, 1);
    if (!g) return SSL3D_ERR_NOMEM;
    g->lr_scale = scale;
    return SSL3D_OK;
}

ssl3d_status ssl3d_optim_set_lr(ssl3d_ctx *ctx, ssl3d_optim *opt, float lr) {
    SSL3D_CHECK(optim_check(ctx, opt, "ssl3d_optim_set_lr"));
    SSL3D_CHECK(check_lr(ctx, "ssl3d_optim_set_lr", lr));
    opt->lr = lr;
    return SSL3D_OK;
}

float ssl3d_optim_lr(const ssl3d_optim *opt) { return opt ? opt->lr : NAN; }
