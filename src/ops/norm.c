/* Batch norm and group norm (functional ops and parameter-owning handles).
 * x (N,C,...) is viewed as (N,C,S), S = product of the trailing dims, so one code path
 * serves (N,C), (N,C,H,W) and (N,C,D,H,W). */
#include <math.h>
#include <string.h>
#include "../core/internal.h"
#include "../backend/layer_kernels.h"
#include "norm_relu.h"
#include "norm_sync.h"

static void free_be(ssl3d_ctx *ctx, void *p) { ssl3d_be_free(ctx, p); }

/* Checks a per-channel vector argument: float32, shape (C). */
static ssl3d_status check_vec(ssl3d_ctx *ctx, const ssl3d_tensor *t, int64_t C, const char *fn,
                              const char *what) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, t, fn, what));
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, t->ndim == 1 && t->shape[0] == C, "%s: %s must have shape (%lld), has %s", fn,
                      what, (long long)C, ssl3d_shape_str(t, s, sizeof s));
    return SSL3D_OK;
}

static ssl3d_status check_image(ssl3d_ctx *ctx, const ssl3d_tensor *x, const char *fn) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim >= 2, "%s: x must be (N,C,...) with at least 2 dims, has %s", fn,
                      ssl3d_shape_str(x, s, sizeof s));
    return SSL3D_OK;
}

/* The gradient buffers of a norm node's x, gamma, beta (NULL where not needed); batch and
 * group norm, plain or fused with a ReLU. */
static ssl3d_status norm_grads(ssl3d_ctx *ctx, ssl3d_node *n, float **dx, float **dg, float **db) {
    *dx = *dg = *db = NULL;
    if (n->in[0]->requires_grad && !(*dx = ssl3d_grad_of(ctx, n->in[0]))) return SSL3D_ERR_NOMEM;
    if (n->in[1]->requires_grad && !(*dg = ssl3d_grad_of(ctx, n->in[1]))) return SSL3D_ERR_NOMEM;
    if (n->in[2]->requires_grad && !(*db = ssl3d_grad_of(ctx, n->in[2]))) return SSL3D_ERR_NOMEM;
    return SSL3D_OK;
}

/* ================================================================ batch norm */

/* The backward of batch_norm, or of batch_norm_relu when `relu` (one node: the saved
 * output y gives the ReLU's mask). */
static ssl3d_status batch_norm_grad(ssl3d_ctx *ctx, ssl3d_node *n, int relu) {
    ssl3d_tensor *x = n->in[0], *gamma = n->in[1];
    const int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C);
    float *dx, *dg, *db;
    if (norm_grads(ctx, n, &dx, &dg, &db) != SSL3D_OK) return SSL3D_ERR_NOMEM;
    const float *mean = n->saved, *invstd = (const float *)n->saved + C;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    if (relu)
        ctx->be->layer->batchnorm_relu_backward(&k, ssl3d_f32(x), ssl3d_f32(n->out), n->out->grad, N, C, S, mean,
                                                invstd, ssl3d_f32(gamma), (int32_t)n->iarg[0], dx, dg, db);
    else
        ctx->be->layer->batchnorm_backward(&k, ssl3d_f32(x), n->out->grad, N, C, S, mean, invstd,
                                           ssl3d_f32(gamma), (int32_t)n->iarg[0], dx, dg, db);
    return SSL3D_OK;
}

static ssl3d_status batch_norm_backward(ssl3d_ctx *ctx, ssl3d_node *n) { return batch_norm_grad(ctx, n, 0); }
static ssl3d_status batch_norm_relu_backward(ssl3d_ctx *ctx, ssl3d_node *n) { return batch_norm_grad(ctx, n, 1); }

/* ssl3d_batch_norm, followed by a ReLU when relu != 0: fused into one kernel and one tape
 * node where the backend has the fused slots (not with synchronised statistics, whose
 * backward is norm_sync.c's), else the two ops one after the other. */
static ssl3d_status batch_norm(ssl3d_ctx *ctx, const char *fn, ssl3d_tensor *x, ssl3d_tensor *gamma,
                               ssl3d_tensor *beta, ssl3d_tensor *running_mean, ssl3d_tensor *running_var,
                               int32_t training, float momentum, float eps, int relu, ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_image(ctx, x, fn));
    const int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C);
    SSL3D_CHECK(check_vec(ctx, gamma, C, fn, "gamma"));
    SSL3D_CHECK(check_vec(ctx, beta, C, fn, "beta"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    SSL3D_CHECK_ARG(ctx, eps > 0.0f && isfinite(eps), "%s: eps must be > 0, is %g", fn, (double)eps);
    if (training) {
        SSL3D_CHECK_ARG(ctx, momentum >= 0.0f && momentum <= 1.0f, "%s: momentum must be in [0,1], is %g", fn,
                        (double)momentum);
        SSL3D_CHECK_ARG(ctx, (running_mean == NULL) == (running_var == NULL),
                        "%s: pass both running_mean and running_var, or neither", fn);
        SSL3D_CHECK_SHAPE(ctx, N * S >= 2, "%s: training needs more than one value per channel (N*spatial = %lld)",
                          fn, (long long)(N * S));
    } else {
        SSL3D_CHECK_ARG(ctx, running_mean && running_var, "%s: evaluation (training = 0) needs running_mean "
                        "and running_var", fn);
    }
    if (running_mean) {
        SSL3D_CHECK(check_vec(ctx, running_mean, C, fn, "running_mean"));
        SSL3D_CHECK(check_vec(ctx, running_var, C, fn, "running_var"));
    }
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_BATCHNORM, fn));
    if (relu) SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_ACTIVATION, fn));
    if (relu && (bn_sync_active(ctx, training) || !ctx->be->layer->batchnorm_relu_forward ||
                 !ctx->be->layer->batchnorm_relu_backward)) {
        ssl3d_tensor *t = NULL;
        SSL3D_CHECK(batch_norm(ctx, fn, x, gamma, beta, running_mean, running_var, training, momentum, eps, 0, &t));
        ssl3d_status st = ssl3d_relu(ctx, t, y);
        ssl3d_tensor_release(t);
        return st;
    }

    /* stats (backend memory): mean (C) then invstd (C); host copies for the small
     * per-channel arithmetic (C values) so that any backend fits. */
    float *stats = ssl3d_be_alloc(ctx, (size_t)(2 * C) * sizeof(float));
    float *h = malloc((size_t)(4 * C) * sizeof(float));
    ssl3d_tensor *o = NULL;
    ssl3d_status st = SSL3D_OK;
    if (!stats || !h) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto fail; }
    if ((st = ssl3d_tensor_new_uninit_like(ctx, x, &o)) != SSL3D_OK) goto fail;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    float *hm = h, *hv = h + C, *rm = h + 2 * C, *rv = h + 3 * C;
    const size_t cb = (size_t)C * sizeof(float);
    const int sync = bn_sync_active(ctx, training);
    int64_t count = N * S;   /* values per channel behind the statistics */
    if (training) {
        ctx->be->layer->batchnorm_stats(&k, ssl3d_f32(x), N, C, S, stats, stats + C);
        ctx->be->to_host(ctx->be_state, hm, stats, cb);
        ctx->be->to_host(ctx->be_state, hv, stats + C, cb);
        if (sync) {   /* the global batch's statistics (norm_sync.c) */
            if ((st = bn_sync_stats(ctx, hm, hv, C, &count)) != SSL3D_OK) goto fail;
            ctx->be->from_host(ctx->be_state, stats, hm, cb);
        }
        if (running_mean) {
            ctx->be->to_host(ctx->be_state, rm, running_mean->data, cb);
            ctx->be->to_host(ctx->be_state, rv, running_var->data, cb);
            const double unbias = (double)count / (double)(count - 1);
            for (int64_t c = 0; c < C; c++) {
                rm[c] = (1.0f - momentum) * rm[c] + momentum * hm[c];
                rv[c] = (float)((1.0 - momentum) * rv[c] + momentum * hv[c] * unbias);
            }
            ctx->be->from_host(ctx->be_state, running_mean->data, rm, cb);
            ctx->be->from_host(ctx->be_state, running_var->data, rv, cb);
        }
    } else {
        ctx->be->to_host(ctx->be_state, hm, running_mean->data, cb);
        ctx->be->to_host(ctx->be_state, hv, running_var->data, cb);
        ctx->be->from_host(ctx->be_state, stats, hm, cb);
    }
    for (int64_t c = 0; c < C; c++) hv[c] = (float)(1.0 / sqrt((double)hv[c] + (double)eps));
    ctx->be->from_host(ctx->be_state, stats + C, hv, cb);
    free(h); h = NULL;
    (relu ? ctx->be->layer->batchnorm_relu_forward : ctx->be->layer->batchnorm_forward)(
        &k, ssl3d_f32(x), ssl3d_f32(o), N, C, S, stats, stats + C, ssl3d_f32(gamma), ssl3d_f32(beta));
    ssl3d_tensor *in[3] = { x, gamma, beta };
    if (ssl3d_tape_wants(ctx, in, 3)) {
        ssl3d_node *n;
        ssl3d_backward_fn bw = relu ? batch_norm_relu_backward : sync ? bn_sync_backward : batch_norm_backward;
        if ((st = ssl3d_tape_record(ctx, relu ? "batch_norm_relu" : "batch_norm", bw, o, in, 3, &n)) != SSL3D_OK)
            goto fail;
        n->iarg[0] = training ? 1 : 0;
        n->iarg[1] = count;
        n->saved = stats; n->free_saved = free_be;
        stats = NULL;
    }
    ssl3d_be_free(ctx, stats);
    *y = o;
    return SSL3D_OK;
fail:
    ssl3d_be_free(ctx, stats);
    free(h);
    ssl3d_tensor_release(o);
    return st;
}

ssl3d_status ssl3d_batch_norm(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *gamma, ssl3d_tensor *beta,
                              ssl3d_tensor *running_mean, ssl3d_tensor *running_var, int32_t training,
                              float momentum, float eps, ssl3d_tensor **y) {
    return batch_norm(ctx, "ssl3d_batch_norm", x, gamma, beta, running_mean, running_var, training, momentum, eps,
                      0, y);
}

ssl3d_status ssl3d_batch_norm_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *gamma, ssl3d_tensor *beta,
                                   ssl3d_tensor *running_mean, ssl3d_tensor *running_var, int32_t training,
                                   float momentum, float eps, ssl3d_tensor **y) {
    return batch_norm(ctx, "ssl3d_batch_norm_relu", x, gamma, beta, running_mean, running_var, training, momentum,
                      eps, 1, y);
}

/* ---- handle */
struct ssl3d_batchnorm {
    int32_t channels;
    float momentum, eps;
    ssl3d_tensor *t[4];   /* weight, bias, running_mean, running_var */
};
static const char *const bn_names[4] = { "weight", "bias", "running_mean", "running_var" };

ssl3d_status ssl3d_batchnorm_create(ssl3d_ctx *ctx, int32_t channels, float momentum, float eps,
                                    ssl3d_batchnorm **out) {
    static const char *fn = "ssl3d_batchnorm_create";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, channels >= 1, "%s: channels must be >= 1, is %d", fn, (int)channels);
    SSL3D_CHECK_ARG(ctx, momentum >= 0.0f && momentum <= 1.0f, "%s: momentum must be in [0,1], is %g", fn,
                    (double)momentum);
    SSL3D_CHECK_ARG(ctx, eps > 0.0f && isfinite(eps), "%s: eps must be > 0, is %g", fn, (double)eps);
    ssl3d_batchnorm *bn = calloc(1, sizeof *bn);
    if (!bn) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    bn->channels = channels; bn->momentum = momentum; bn->eps = eps;
    const int64_t shape[1] = { channels };
    ssl3d_status st = SSL3D_OK;
    for (int i = 0; i < 4 && st == SSL3D_OK; i++) st = ssl3d_tensor_new(ctx, SSL3D_F32, 1, shape, &bn->t[i]);
    if (st == SSL3D_OK) st = ssl3d_tensor_fill(ctx, bn->t[0], 1.0f);
    if (st == SSL3D_OK) st = ssl3d_tensor_fill(ctx, bn->t[3], 1.0f);
    if (st == SSL3D_OK) st = ssl3d_tensor_set_requires_grad(ctx, bn->t[0], 1);
    if (st == SSL3D_OK) st = ssl3d_tensor_set_requires_grad(ctx, bn->t[1], 1);
    if (st != SSL3D_OK) { ssl3d_batchnorm_release(bn); return st; }
    *out = bn;
    return SSL3D_OK;
}

void ssl3d_batchnorm_release(ssl3d_batchnorm *bn) {
    if (!bn) return;
    for (int i = 0; i < 4; i++) ssl3d_tensor_release(bn->t[i]);
    free(bn);
}

ssl3d_status ssl3d_batchnorm_forward(ssl3d_ctx *ctx, ssl3d_batchnorm *bn, ssl3d_tensor *x, int32_t training,
                                     ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, bn, "ssl3d_batchnorm_forward: bn is NULL");
    SSL3D_CHECK(check_image(ctx, x, "ssl3d_batchnorm_forward"));
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, x->shape[1] == bn->channels, "ssl3d_batchnorm_forward: x %s has %lld channels, the "
                      "layer %d", ssl3d_shape_str(x, s, sizeof s), (long long)x->shape[1], (int)bn->channels);
    return ssl3d_batch_norm(ctx, x, bn->t[0], bn->t[1], bn->t[2], bn->t[3], training, bn->momentum, bn->eps, y);
}

int32_t ssl3d_batchnorm_channels(const ssl3d_batchnorm *bn) { return bn ? bn->channels : 0; }
int32_t ssl3d_batchnorm_tensor_count(const ssl3d_batchnorm *bn) { return bn ? 4 : 0; }
ssl3d_tensor *ssl3d_batchnorm_tensor(const ssl3d_batchnorm *bn, int32_t i) {
    return bn && i >= 0 && i < 4 ? bn->t[i] : NULL;
}
const char *ssl3d_batchnorm_tensor_name(const ssl3d_batchnorm *bn, int32_t i) {
    return bn && i >= 0 && i < 4 ? bn_names[i] : NULL;
}
int32_t ssl3d_batchnorm_tensor_trainable(const ssl3d_batchnorm *bn, int32_t i) {
    return bn && (i == 0 || i == 1) ? 1 : 0;
}

/* ================================================================ group norm */

/* The backward of group_norm, or of group_norm_relu when `relu` (as batch_norm_grad). */
static ssl3d_status group_norm_grad(ssl3d_ctx *ctx, ssl3d_node *n, int relu) {
    ssl3d_tensor *x = n->in[0], *gamma = n->in[1];
    const int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C), G = n->iarg[0];
    float *dx, *dg, *db;
    if (norm_grads(ctx, n, &dx, &dg, &db) != SSL3D_OK) return SSL3D_ERR_NOMEM;
    const float *mean = n->saved, *invstd = (const float *)n->saved + N * G;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    if (relu)
        ctx->be->layer->groupnorm_relu_backward(&k, ssl3d_f32(x), ssl3d_f32(n->out), n->out->grad, N, C, S, G,
                                                mean, invstd, ssl3d_f32(gamma), dx, dg, db);
    else
        ctx->be->layer->groupnorm_backward(&k, ssl3d_f32(x), n->out->grad, N, C, S, G, mean, invstd,
                                           ssl3d_f32(gamma), dx, dg, db);
    return SSL3D_OK;
}

static ssl3d_status group_norm_backward(ssl3d_ctx *ctx, ssl3d_node *n) { return group_norm_grad(ctx, n, 0); }
static ssl3d_status group_norm_relu_backward(ssl3d_ctx *ctx, ssl3d_node *n) { return group_norm_grad(ctx, n, 1); }

/* ssl3d_group_norm, followed by a ReLU when relu != 0 (fused as batch_norm's). */
static ssl3d_status group_norm(ssl3d_ctx *ctx, const char *fn, ssl3d_tensor *x, int32_t groups, ssl3d_tensor *gamma,
                               ssl3d_tensor *beta, float eps, int relu, ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_image(ctx, x, fn));
    const int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C);
    SSL3D_CHECK_ARG(ctx, groups >= 1, "%s: groups must be >= 1, is %d", fn, (int)groups);
    SSL3D_CHECK_SHAPE(ctx, C % groups == 0, "%s: channels (%lld) must be divisible by groups (%d)", fn,
                      (long long)C, (int)groups);
    SSL3D_CHECK(check_vec(ctx, gamma, C, fn, "gamma"));
    SSL3D_CHECK(check_vec(ctx, beta, C, fn, "beta"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    SSL3D_CHECK_ARG(ctx, eps > 0.0f && isfinite(eps), "%s: eps must be > 0, is %g", fn, (double)eps);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_GROUPNORM, fn));
    if (relu) SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_ACTIVATION, fn));
    if (relu && (!ctx->be->layer->groupnorm_relu_forward || !ctx->be->layer->groupnorm_relu_backward)) {
        ssl3d_tensor *t = NULL;
        SSL3D_CHECK(group_norm(ctx, fn, x, groups, gamma, beta, eps, 0, &t));
        ssl3d_status st = ssl3d_relu(ctx, t, y);
        ssl3d_tensor_release(t);
        return st;
    }
    const int64_t G = groups;
    float *stats = ssl3d_be_alloc(ctx, (size_t)(2 * N * G) * sizeof(float));
    if (!stats) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    ssl3d_tensor *o;
    ssl3d_status st = ssl3d_tensor_new_uninit_like(ctx, x, &o);
    if (st != SSL3D_OK) { ssl3d_be_free(ctx, stats); return st; }
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    (relu ? ctx->be->layer->groupnorm_relu_forward : ctx->be->layer->groupnorm_forward)(
        &k, ssl3d_f32(x), ssl3d_f32(o), N, C, S, G, eps, ssl3d_f32(gamma), ssl3d_f32(beta), stats, stats + N * G);
    ssl3d_tensor *in[3] = { x, gamma, beta };
    if (ssl3d_tape_wants(ctx, in, 3)) {
        ssl3d_node *n;
        st = ssl3d_tape_record(ctx, relu ? "group_norm_relu" : "group_norm",
                               relu ? group_norm_relu_backward : group_norm_backward, o, in, 3, &n);
        if (st != SSL3D_OK) { ssl3d_be_free(ctx, stats); ssl3d_tensor_release(o); return st; }
        n->iarg[0] = G;
        n->saved = stats; n->free_saved = free_be;
        stats = NULL;
    }
    ssl3d_be_free(ctx, stats);
    *y = o;
    return SSL3D_OK;
}

ssl3d_status ssl3d_group_norm(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t groups, ssl3d_tensor *gamma,
                              ssl3d_tensor *beta, float eps, ssl3d_tensor **y) {
    return group_norm(ctx, "ssl3d_group_norm", x, groups, gamma, beta, eps, 0, y);
}

ssl3d_status ssl3d_group_norm_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t groups, ssl3d_tensor *gamma,
                                   ssl3d_tensor *beta, float eps, ssl3d_tensor **y) {
    return group_norm(ctx, "ssl3d_group_norm_relu", x, groups, gamma, beta, eps, 1, y);
}

/* ---- handle */
struct ssl3d_groupnorm {
    int32_t groups, channels;
    float eps;
    ssl3d_tensor *t[2];   /* weight, bias */
};

ssl3d_status ssl3d_groupnorm_create(ssl3d_ctx *ctx, int32_t groups, int32_t channels, float eps,
                                    ssl3d_groupnorm **out) {
    static const char *fn = "ssl3d_groupnorm_create";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, channels >= 1, "%s: channels must be >= 1, is %d", fn, (int)channels);
    SSL3D_CHECK_ARG(ctx, groups >= 1 && channels % groups == 0,
                    "%s: groups (%d) must be >= 1 and divide channels (%d)", fn, (int)groups, (int)channels);
    SSL3D_CHECK_ARG(ctx, eps > 0.0f && isfinite(eps), "%s: eps must be > 0, is %g", fn, (double)eps);
    ssl3d_groupnorm *gn = calloc(1, sizeof *gn);
    if (!gn) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    gn->groups = groups; gn->channels = channels; gn->eps = eps;
    const int64_t shape[1] = { channels };
    ssl3d_status st = SSL3D_OK;
    for (int i = 0; i < 2 && st == SSL3D_OK; i++) {
        st = ssl3d_tensor_new(ctx, SSL3D_F32, 1, shape, &gn->t[i]);
        if (st == SSL3D_OK) st = ssl3d_tensor_set_requires_grad(ctx, gn->t[i], 1);
    }
    if (st == SSL3D_OK) st = ssl3d_tensor_fill(ctx, gn->t[0], 1.0f);
    if (st != SSL3D_OK) { ssl3d_groupnorm_release(gn); return st; }
    *out = gn;
    return SSL3D_OK;
}

ssl3d_status ssl3d_instancenorm_create(ssl3d_ctx *ctx, int32_t channels, float eps, ssl3d_groupnorm **out) {
    return ssl3d_groupnorm_create(ctx, channels, channels, eps, out);
}

void ssl3d_groupnorm_release(ssl3d_groupnorm *gn) {
    if (!gn) return;
    for (int i = 0; i < 2; i++) ssl3d_tensor_release(gn->t[i]);
    free(gn);
}

ssl3d_status ssl3d_groupnorm_forward(ssl3d_ctx *ctx, ssl3d_groupnorm *gn, ssl3d_tensor *x, ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, gn, "ssl3d_groupnorm_forward: gn is NULL");
    SSL3D_CHECK(check_image(ctx, x, "ssl3d_groupnorm_forward"));
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, x->shape[1] == gn->channels, "ssl3d_groupnorm_forward: x %s has %lld channels, the "
                      "layer %d", ssl3d_shape_str(x, s, sizeof s), (long long)x->shape[1], (int)gn->channels);
    return ssl3d_group_norm(ctx, x, gn->groups, gn->t[0], gn->t[1], gn->eps, y);
}

int32_t ssl3d_groupnorm_groups(const ssl3d_groupnorm *gn) { return gn ? gn->groups : 0; }
int32_t ssl3d_groupnorm_channels(const ssl3d_groupnorm *gn) { return gn ? gn->channels : 0; }
int32_t ssl3d_groupnorm_tensor_count(const ssl3d_groupnorm *gn) { return gn ? 2 : 0; }
ssl3d_tensor *ssl3d_groupnorm_tensor(const ssl3d_groupnorm *gn, int32_t i) {
    return gn && i >= 0 && i < 2 ? gn->t[i] : NULL;
}
const char *ssl3d_groupnorm_tensor_name(const ssl3d_groupnorm *gn, int32_t i) {
    return gn && i >= 0 && i < 2 ? (i == 0 ? "weight" : "bias") : NULL;
}
int32_t ssl3d_groupnorm_tensor_trainable(const ssl3d_groupnorm *gn, int32_t i) {
    return gn && i >= 0 && i < 2 ? 1 : 0;
}
