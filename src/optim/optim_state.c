/* Optimiser state for checkpoints: the named list of state tensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "optim_internal.h"

ssl3d_status optim_state_rebuild(ssl3d_ctx *ctx, ssl3d_optim *opt) {
    int32_t n = 1 + 3 * opt->n_params;
    optim_state_entry *s = calloc((size_t)n, sizeof *s);
    if (!s) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "optimiser: out of memory for the state list");
    int32_t m = 0;
    snprintf(s[m].name, OPTIM_NAME_CAP, "optim.step");
    s[m++].t = opt->step;
    for (int32_t i = 0; i < opt->n_params; i++) {
        const optim_param *p = &opt->params[i];
        if (opt->kind == SSL3D_OPTIM_SGD) {
            if (p->buf[0]) { snprintf(s[m].name, OPTIM_NAME_CAP, "sgd.momentum.%d", (int)i); s[m++].t = p->buf[0]; }
        } else {
            snprintf(s[m].name, OPTIM_NAME_CAP, "adam.m.%d", (int)i); s[m++].t = p->buf[0];
            snprintf(s[m].name, OPTIM_NAME_CAP, "adam.v.%d", (int)i); s[m++].t = p->buf[1];
            snprintf(s[m].name, OPTIM_NAME_CAP, "adam.step.%d", (int)i); s[m++].t = p->step;
        }
    }
    free(opt->state);
    opt->state = s;
    opt->n_state = m;
    return SSL3D_OK;
}

int64_t ssl3d_optim_step_count(const ssl3d_optim *opt) {
    return opt ? optim_read_i32(opt->ctx, opt->step) : 0;
}

ssl3d_status ssl3d_optim_set_step_count(ssl3d_ctx *ctx, ssl3d_optim *opt, int64_t step) {
    static const char fn[] = "ssl3d_optim_set_step_count";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK_ARG(ctx, step >= 0 && step <= INT32_MAX, "%s: step must be in [0, 2^31), got %lld", fn,
                    (long long)step);
    optim_write_i32(ctx, opt->step, (int32_t)step);
    return SSL3D_OK;
}

int32_t ssl3d_optim_num_state(const ssl3d_optim *opt) { return opt ? opt->n_state : 0; }

ssl3d_status ssl3d_optim_state_at(ssl3d_ctx *ctx, const ssl3d_optim *opt, int32_t index, const char **name,
                                  ssl3d_tensor **tensor) {
    static const char fn[] = "ssl3d_optim_state_at";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK_ARG(ctx, index >= 0 && index < opt->n_state, "%s: index %d is outside [0,%d)", fn, (int)index,
                    (int)opt->n_state);
    if (name) *name = opt->state[index].name;
    if (tensor) *tensor = opt->state[index].t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_optim_state_find(ssl3d_ctx *ctx, const ssl3d_optim *opt, const char *name, ssl3d_tensor **tensor) {
    static const char fn[] = "ssl3d_optim_state_find";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK_ARG(ctx, name && tensor, "%s: %s is NULL", fn, name ? "tensor" : "name");
    for (int32_t i = 0; i < opt->n_state; i++)
        if (!strcmp(opt->state[i].name, name)) { *tensor = opt->state[i].t; return SSL3D_OK; }
    return ssl3d_set_error(ctx, SSL3D_ERR_NOT_FOUND, "%s: no state tensor named \"%.80s\"", fn, name);
}
