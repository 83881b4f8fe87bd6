/* The optimiser step, zero_grad and gradient clipping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "optim_internal.h"

static int param_active(ssl3d_optim *opt, const optim_param *p, float *lr_scale) {
    const optim_group *g = optim_group_get(NULL, opt, p->group, 0);
    if (lr_scale) *lr_scale = g ? g->lr_scale : 1.0f;
    return p->p->grad && !(g && g->frozen);
}

ssl3d_status ssl3d_optim_step(ssl3d_ctx *ctx, ssl3d_optim *opt) {
    static const char fn[] = "ssl3d_optim_step";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_OPTIM, fn));
    const struct ssl3d_optim_kernels *K = ctx->be->optim;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    int32_t gstep = optim_read_i32(ctx, opt->step);
    if (gstep == INT32_MAX) return ssl3d_set_error(ctx, SSL3D_ERR_STATE, "%s: step counter is at its maximum", fn);
    /* Pass 1: every gradient that will be used must be finite; nothing changes otherwise. */
    for (int32_t i = 0; i < opt->n_params; i++) {
        optim_param *p = &opt->params[i];
        if (!param_active(opt, p, NULL)) continue;
        int64_t bad = K->first_nonfinite(&k, p->p->grad, p->p->numel);
        if (bad >= 0) {
            float v;
            ctx->be->to_host(ctx->be_state, &v, p->p->grad + bad, sizeof v);
            return ssl3d_set_error(ctx, SSL3D_ERR_NUMERIC,
                                   "%s: gradient of parameter %d (group %d) is %g at element %lld; nothing updated",
                                   fn, (int)i, (int)p->group, (double)v, (long long)bad);
        }
    }
    /* A device backend's failed check reads as "no non-finite element": ask it (the
     * deferred error names the failed call); nothing is updated then. */
    SSL3D_CHECK(ssl3d_be_sync(ctx, fn));
    /* Pass 2: updates. */
    for (int32_t i = 0; i < opt->n_params; i++) {
        optim_param *p = &opt->params[i];
        float scale;
        if (!param_active(opt, p, &scale)) continue;
        float lr = opt->lr * scale;
        float *w = ssl3d_f32(p->p);
        if (opt->kind == SSL3D_OPTIM_SGD) {
            K->sgd_update(&k, w, p->p->grad, p->buf[0] ? ssl3d_f32(p->buf[0]) : NULL, p->p->numel, lr, opt->momentum,
                          opt->weight_decay, opt->nesterov);
        } else {
            int32_t t = optim_read_i32(ctx, p->step);
            if (t < INT32_MAX) t++;
            /* bias corrections in double on the host, once per tensor */
            float bc1 = (float)(1.0 - pow((double)opt->beta1, (double)t));
            float bc2 = (float)(1.0 - pow((double)opt->beta2, (double)t));
            K->adam_update(&k, w, p->p->grad, ssl3d_f32(p->buf[0]), ssl3d_f32(p->buf[1]), p->p->numel, lr, opt->beta1,
                           opt->beta2, opt->eps, opt->weight_decay, opt->kind == SSL3D_OPTIM_ADAMW, bc1, bc2);
            optim_write_i32(ctx, p->step, t);
        }
    }
    optim_write_i32(ctx, opt->step, gstep + 1);
    return ssl3d_be_sync(ctx, fn);   /* device backends: report a failed update now */
}

ssl3d_status ssl3d_optim_zero_grad(ssl3d_ctx *ctx, ssl3d_optim *opt) {
    SSL3D_CHECK(optim_check(ctx, opt, "ssl3d_optim_zero_grad"));
    for (int32_t i = 0; i < opt->n_params; i++) SSL3D_CHECK(ssl3d_tensor_zero_grad(ctx, opt->params[i].p));
    return SSL3D_OK;
}

/* Shared by both clipping entry points: the tensors are already validated. */
static ssl3d_status clip(ssl3d_ctx *ctx, const char *fn, ssl3d_tensor *const *t, int32_t n, float max_norm,
                         float *total_norm) {
    SSL3D_CHECK_ARG(ctx, isfinite(max_norm) && max_norm > 0, "%s: max_norm must be finite and > 0, got %g", fn,
                    (double)max_norm);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_OPTIM, fn));
    const struct ssl3d_optim_kernels *K = ctx->be->optim;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    double ss = 0.0;
    for (int32_t i = 0; i < n; i++)
        if (t[i] && t[i]->grad) ss += K->sumsq(&k, t[i]->grad, t[i]->numel);
    double total = sqrt(ss);
    if (!isfinite(total))
        return ssl3d_set_error(ctx, SSL3D_ERR_NUMERIC, "%s: gradient norm is not finite; gradients left unchanged", fn);
    if (total > max_norm) {
        float coef = (float)(max_norm / (total + 1e-6));
        for (int32_t i = 0; i < n; i++)
            if (t[i] && t[i]->grad) K->scale(&k, t[i]->grad, t[i]->numel, coef);
    }
    if (total_norm) *total_norm = (float)total;
    return SSL3D_OK;
}

ssl3d_status ssl3d_clip_grad_norm(ssl3d_ctx *ctx, ssl3d_tensor *const *tensors, int32_t n, float max_norm,
                                  float *total_norm) {
    static const char fn[] = "ssl3d_clip_grad_norm";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, tensors, "%s: tensors is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 0, "%s: n must be >= 0, got %d", fn, (int)n);
    char what[40];
    for (int32_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "tensors[%d]", (int)i);
        SSL3D_CHECK(ssl3d_check_f32(ctx, tensors[i], fn, what));
        for (int32_t j = 0; j < i; j++)
            SSL3D_CHECK_ARG(ctx, tensors[j] != tensors[i], "%s: tensors[%d] and tensors[%d] are the same tensor", fn,
                            (int)j, (int)i);
    }
    return clip(ctx, fn, tensors, n, max_norm, total_norm);
}

ssl3d_status ssl3d_optim_clip_grad_norm(ssl3d_ctx *ctx, ssl3d_optim *opt, float max_norm, float *total_norm) {
    static const char fn[] = "ssl3d_optim_clip_grad_norm";
    SSL3D_CHECK(optim_check(ctx, opt, fn));
    ssl3d_tensor **t = malloc((size_t)(opt->n_params ? opt->n_params : 1) * sizeof *t);
    if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    int32_t n = 0;
    for (int32_t i = 0; i < opt->n_params; i++)
        if (param_active(opt, &opt->params[i], NULL)) t[n++] = opt->params[i].p;
    ssl3d_status st = clip(ctx, fn, t, n, max_norm, total_norm);
    free(t);
    return st;
}
