/* Soft Dice over softmax probabilities, and the Dice + cross-entropy combination used
 * for segmentation fine-tuning. */
#include "loss_common.h"

static void be_free_saved(ssl3d_ctx *ctx, void *p) { ssl3d_be_free(ctx, p); }

/* in = {logits, labels}, iarg = {N, K, S}, saved = stats (N,K,3) doubles. */
static ssl3d_status dice_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *y = n->in[1];
    if (!x->requires_grad) return SSL3D_OK;
    float *gx = ssl3d_grad_of(ctx, x);
    if (!gx) return SSL3D_ERR_NOMEM;
    int64_t N = n->iarg[0], K = n->iarg[1], S = n->iarg[2];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    /* loss = 1 - (1/(N*K)) sum dice_nk */
    ctx->be->loss->dice_backward(&k, ssl3d_f32(x), ssl3d_i32(y), N, K, S, n->saved, SSL3D_DICE_EPS,
                                 -loss_upstream(ctx, n) / (float)(N * K), gx);
    return SSL3D_OK;
}

ssl3d_status ssl3d_soft_dice(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *labels, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_soft_dice";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    int64_t N, K, S;
    SSL3D_CHECK(loss_check_class_map(ctx, fn, logits, labels, 1, &N, &K, &S));
    double *stats = ssl3d_be_alloc(ctx, (size_t)(N * K * 3) * sizeof(double));
    double *work = ssl3d_be_alloc(ctx, (size_t)(N * SSL3D_LOSS_CHUNKS * K * 3) * sizeof(double));
    if (!stats || !work) { ssl3d_be_free(ctx, stats); ssl3d_be_free(ctx, work); return SSL3D_ERR_NOMEM; }
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->dice_stats(&k, ssl3d_f32(logits), ssl3d_i32(labels), N, K, S, work, stats);
    ssl3d_be_free(ctx, work);
    /* N*K values: a host copy is cheap and keeps the mean sequential. */
    double *h = malloc((size_t)(N * K * 3) * sizeof *h);
    if (!h) { ssl3d_be_free(ctx, stats); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    ctx->be->to_host(ctx->be_state, h, stats, (size_t)(N * K * 3) * sizeof *h);
    double dsum = 0.0;
    for (int64_t i = 0; i < N * K; i++)
        dsum += (2.0 * h[i * 3] + SSL3D_DICE_EPS) / (h[i * 3 + 1] + h[i * 3 + 2] + SSL3D_DICE_EPS);
    free(h);
    ssl3d_tensor *o;
    ssl3d_status st = loss_scalar(ctx, 1.0 - dsum / (double)(N * K), &o);
    if (st != SSL3D_OK) { ssl3d_be_free(ctx, stats); return st; }
    ssl3d_tensor *in[2] = { logits, (ssl3d_tensor *)labels };
    if (ssl3d_tape_wants(ctx, in, 1)) {
        ssl3d_node *node;
        st = ssl3d_tape_record(ctx, "soft_dice", dice_backward, o, in, 2, &node);
        if (st != SSL3D_OK) { ssl3d_be_free(ctx, stats); ssl3d_tensor_release(o); return st; }
        node->iarg[0] = N; node->iarg[1] = K; node->iarg[2] = S;
        node->saved = stats;
        node->free_saved = be_free_saved;
    } else {
        ssl3d_be_free(ctx, stats);
    }
    *out = o;
    return SSL3D_OK;
}

/* Shared by ssl3d_dice_ce and the loss handle: wd * dice + wc * ce. */
ssl3d_status loss_dice_ce_weighted(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *labels, float wd,
                                   float wc, ssl3d_tensor **out) {
    ssl3d_tensor *d = NULL, *c = NULL;
    ssl3d_status st = ssl3d_soft_dice(ctx, logits, labels, &d);
    if (st == SSL3D_OK) st = ssl3d_cross_entropy(ctx, logits, labels, &c);
    if (st == SSL3D_OK) st = ssl3d_axpby(ctx, wd, d, wc, c, out);
    ssl3d_tensor_release(d);
    ssl3d_tensor_release(c);
    return st;
}

ssl3d_status ssl3d_dice_ce(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *labels, ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_dice_ce: out is NULL");
    return loss_dice_ce_weighted(ctx, logits, labels, 1.0f, 1.0f, out);
}
