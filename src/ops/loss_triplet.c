/* Triplet losses with squared L2 distance: explicit triplets and batch-hard mining. */
#include <string.h>
#include "loss_common.h"

/* ---- explicit triplets: in = {anchor, positive, negative}, iarg = {N, D}, farg[0] = margin */
static ssl3d_status triplet_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    float *g[3] = { NULL, NULL, NULL };
    for (int i = 0; i < 3; i++)
        if (n->in[i]->requires_grad && !(g[i] = ssl3d_grad_of(ctx, n->in[i]))) return SSL3D_ERR_NOMEM;
    int64_t N = n->iarg[0], D = n->iarg[1];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->triplet_backward(&k, ssl3d_f32(n->in[0]), ssl3d_f32(n->in[1]), ssl3d_f32(n->in[2]), N, D,
                                    n->farg[0], loss_upstream(ctx, n) / (float)N, g[0], g[1], g[2]);
    return SSL3D_OK;
}

ssl3d_status ssl3d_triplet(ssl3d_ctx *ctx, ssl3d_tensor *anchor, ssl3d_tensor *positive, ssl3d_tensor *negative,
                           float margin, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_triplet";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(loss_check_matrix(ctx, fn, anchor, "anchor"));
    SSL3D_CHECK(loss_check_matrix(ctx, fn, positive, "positive"));
    SSL3D_CHECK(loss_check_matrix(ctx, fn, negative, "negative"));
    char sa[96], sb[96];
    SSL3D_CHECK_SHAPE(ctx, !memcmp(anchor->shape, positive->shape, 2 * sizeof anchor->shape[0]),
                      "%s: positive %s must have the shape of anchor %s", fn,
                      ssl3d_shape_str(positive, sb, sizeof sb), ssl3d_shape_str(anchor, sa, sizeof sa));
    SSL3D_CHECK_SHAPE(ctx, !memcmp(anchor->shape, negative->shape, 2 * sizeof anchor->shape[0]),
                      "%s: negative %s must have the shape of anchor %s", fn,
                      ssl3d_shape_str(negative, sb, sizeof sb), ssl3d_shape_str(anchor, sa, sizeof sa));
    SSL3D_CHECK(loss_check_positive(ctx, fn, "margin", margin, 1));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
    int64_t N = anchor->shape[0], D = anchor->shape[1];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    double sum = ctx->be->loss->triplet_forward(&k, ssl3d_f32(anchor), ssl3d_f32(positive), ssl3d_f32(negative),
                                                N, D, margin);
    ssl3d_tensor *o;
    SSL3D_CHECK(loss_scalar(ctx, sum / (double)N, &o));
    ssl3d_tensor *in[3] = { anchor, positive, negative };
    if (ssl3d_tape_wants(ctx, in, 3)) {
        ssl3d_node *node;
        ssl3d_status st = ssl3d_tape_record(ctx, "triplet", triplet_backward, o, in, 3, &node);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
        node->iarg[0] = N; node->iarg[1] = D;
        node->farg[0] = margin;
    }
    *out = o;
    return SSL3D_OK;
}

/* ---- batch-hard: in = {z}, saved = mined negatives (N) int32 in backend memory */
static void be_free_saved(ssl3d_ctx *ctx, void *p) { ssl3d_be_free(ctx, p); }

static ssl3d_status triplet_hard_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *z = n->in[0];
    if (!z->requires_grad) return SSL3D_OK;
    float *gz = ssl3d_grad_of(ctx, z);
    if (!gz) return SSL3D_ERR_NOMEM;
    int64_t N = n->iarg[0], D = n->iarg[1];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->triplet_hard_backward(&k, ssl3d_f32(z), N, D, n->farg[0], n->saved,
                                         loss_upstream(ctx, n) / (float)N, gz);
    return SSL3D_OK;
}

ssl3d_status ssl3d_triplet_batch_hard(ssl3d_ctx *ctx, ssl3d_tensor *z, float margin, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_triplet_batch_hard";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(loss_check_matrix(ctx, fn, z, "z"));
    char sz[96];
    SSL3D_CHECK_SHAPE(ctx, z->shape[0] >= 4 && z->shape[0] % 2 == 0,
                      "%s: z must be (N,D) with N even and >= 4 (rows i and i+N/2 are positives), got %s", fn,
                      ssl3d_shape_str(z, sz, sizeof sz));
    SSL3D_CHECK(loss_check_positive(ctx, fn, "margin", margin, 1));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
    int64_t N = z->shape[0], D = z->shape[1];
    int32_t *neg = ssl3d_be_alloc(ctx, (size_t)N * sizeof(int32_t));
    if (!neg) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    double sum = ctx->be->loss->triplet_hard_forward(&k, ssl3d_f32(z), N, D, margin, neg);
    ssl3d_tensor *o;
    ssl3d_status st = loss_scalar(ctx, sum / (double)N, &o);
    if (st != SSL3D_OK) { ssl3d_be_free(ctx, neg); return st; }
    if (ssl3d_tape_wants(ctx, &z, 1)) {
        ssl3d_node *node;
        st = ssl3d_tape_record(ctx, "triplet_batch_hard", triplet_hard_backward, o, &z, 1, &node);
        if (st != SSL3D_OK) { ssl3d_be_free(ctx, neg); ssl3d_tensor_release(o); return st; }
        node->iarg[0] = N; node->iarg[1] = D;
        node->farg[0] = margin;
        node->saved = neg;
        node->free_saved = be_free_saved;
    } else {
        ssl3d_be_free(ctx, neg);
    }
    *out = o;
    return SSL3D_OK;
}
