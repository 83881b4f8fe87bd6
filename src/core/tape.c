/* The autodiff tape: ops append a node when any input requires a gradient; backward
 * walks the nodes in reverse. Gradients accumulate, so a weight used several times in
 * one step (one encoder over many patches, a GRU cell unrolled over a sequence) simply
 * receives the sum. Intermediate gradients are released as soon as their node is done. */
#include <string.h>
#include "internal.h"

int ssl3d_tape_wants(const ssl3d_ctx *ctx, ssl3d_tensor *const *in, int32_t n_in) {
    if (!ctx->grad_enabled) return 0;
    for (int32_t i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) return 1;
    return 0;
}

ssl3d_status ssl3d_tape_record(ssl3d_ctx *ctx, const char *name, ssl3d_backward_fn bw,
                               ssl3d_tensor *out, ssl3d_tensor *const *in, int32_t n_in,
                               ssl3d_node **node) {
    if (n_in > SSL3D_NODE_MAX_IN)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: too many inputs for the tape", name);
    if (ctx->tape_len == ctx->tape_cap) {
        int64_t cap = ctx->tape_cap ? 2 * ctx->tape_cap : 64;
        ssl3d_node *t = realloc(ctx->tape, (size_t)cap * sizeof *t);
        if (!t) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory growing the tape", name);
        ctx->tape = t; ctx->tape_cap = cap;
    }
    ssl3d_node *n = &ctx->tape[ctx->tape_len++];
    memset(n, 0, sizeof *n);
    n->name = name;
    n->backward = bw;
    n->out = ssl3d_tensor_retain(out);
    out->requires_grad = 1;
    n->n_in = n_in;
    for (int32_t i = 0; i < n_in; i++) n->in[i] = ssl3d_tensor_retain(in[i]);
    if (node) *node = n;
    return SSL3D_OK;
}

static void node_clear(ssl3d_ctx *ctx, ssl3d_node *n) {
    if (n->free_saved) n->free_saved(ctx, n->saved);
    else free(n->saved);
    n->saved = NULL;
    ssl3d_tensor_release(n->out);
    for (int32_t i = 0; i < n->n_in; i++) ssl3d_tensor_release(n->in[i]);
    n->out = NULL;
    n->n_in = 0;
}

/* An op output is an intermediate (not a user leaf): its gradient is scratch. */
static int is_intermediate(const ssl3d_ctx *ctx, const ssl3d_tensor *t, int64_t upto) {
    for (int64_t i = 0; i < upto; i++)
        if (ctx->tape[i].out == t) return 1;
    return 0;
}

void ssl3d_tape_reset(ssl3d_ctx *ctx) {
    if (!ctx) return;
    /* Intermediate gradients are freed so that the next forward starts clean. */
    for (int64_t i = ctx->tape_len - 1; i >= 0; i--) {
        ssl3d_tensor *o = ctx->tape[i].out;
        if (o && o->grad) { ssl3d_be_free(ctx, o->grad); o->grad = NULL; }
        node_clear(ctx, &ctx->tape[i]);
    }
    ctx->tape_len = 0;
}

int64_t ssl3d_tape_size(const ssl3d_ctx *ctx) { return ctx ? ctx->tape_len : 0; }

ssl3d_status ssl3d_backward(ssl3d_ctx *ctx, ssl3d_tensor *loss) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, loss, "ssl3d_backward", "loss"));
    if (loss->numel != 1)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "ssl3d_backward: loss must have one element, has %lld",
                               (long long)loss->numel);
    if (!loss->requires_grad || ctx->tape_len == 0 || !is_intermediate(ctx, loss, ctx->tape_len))
        return ssl3d_set_error(ctx, SSL3D_ERR_STATE,
                               "ssl3d_backward: loss was not computed by recorded ops (no parameter requires "
                               "grad, recording disabled, or the tape was reset)");
    float *g = ssl3d_grad_of(ctx, loss);
    if (!g) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->fill(&k, g, 1, 1.0f);
    ssl3d_status st = SSL3D_OK;
    for (int64_t i = ctx->tape_len - 1; i >= 0 && st == SSL3D_OK; i--) {
        ssl3d_node *n = &ctx->tape[i];
        if (n->out->grad) st = n->backward(ctx, n);
        /* The output's gradient is consumed; free it unless the output is a leaf the
         * user may read (it is only ever produced by this node). */
        if (n->out->grad) { ssl3d_be_free(ctx, n->out->grad); n->out->grad = NULL; }
        node_clear(ctx, n);
    }
    ctx->tape_len = 0;
    ssl3d_tape_reset(ctx);
    /* Device backends queue the backward kernels: a failure among them is reported here,
     * naming the failed call, rather than by some later unrelated call. */
    if (st == SSL3D_OK) st = ssl3d_be_sync(ctx, "ssl3d_backward");
    return st;
}
