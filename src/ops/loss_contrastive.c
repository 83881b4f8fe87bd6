/* InfoNCE and NT-Xent: softmax cross-entropy over similarity logits q k^T / T. Both go
 * through the simce kernels; NT-Xent is InfoNCE of z against itself with the diagonal
 * masked and positives (i+B) mod 2B. */
#include <stdlib.h>
#include "loss_common.h"

typedef struct simce_saved {
    float *probs;      /* (N,M) softmax of the logits, backend memory */
    int32_t *pos;      /* (N) positives when made by the op (NT-Xent), else NULL */
} simce_saved;

static void simce_free(ssl3d_ctx *ctx, void *p) {
    simce_saved *s = p;
    if (!s) return;
    ssl3d_be_free(ctx, s->probs);
    ssl3d_be_free(ctx, s->pos);
    free(s);
}

/* Node layout: in[0] queries, in[1] keys, in[2] positives tensor (InfoNCE) or NULL;
 * iarg = {N, M, D}; farg[0] = 1/temperature. */
static ssl3d_status simce_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *q = n->in[0], *kt = n->in[1], *pt = n->in[2];
    simce_saved *s = n->saved;
    int64_t N = n->iarg[0], M = n->iarg[1], D = n->iarg[2];
    float *dq = NULL, *dk = NULL;
    if (q->requires_grad && !(dq = ssl3d_grad_of(ctx, q))) return SSL3D_ERR_NOMEM;
    if (kt->requires_grad && !(dk = ssl3d_grad_of(ctx, kt))) return SSL3D_ERR_NOMEM;
    if (!dq && !dk) return SSL3D_OK;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->loss->simce_backward(&k, s->probs, pt ? ssl3d_i32(pt) : s->pos, N, M, D, n->farg[0],
                                  loss_upstream(ctx, n) / (float)N, ssl3d_f32(q), ssl3d_f32(kt), dq, dk);
    return SSL3D_OK;
}

/* Shared forward: takes ownership of s (freed on every path that does not hand it to
 * the tape). */
static ssl3d_status simce_run(ssl3d_ctx *ctx, const char *name, ssl3d_tensor *q, ssl3d_tensor *kt,
                              ssl3d_tensor *pt, simce_saved *s, float inv_temp, int mask_diag, ssl3d_tensor **out) {
    int64_t N = q->shape[0], M = kt->shape[0], D = q->shape[1];
    s->probs = ssl3d_be_alloc(ctx, (size_t)(N * M) * sizeof(float));
    if (!s->probs) { simce_free(ctx, s); return SSL3D_ERR_NOMEM; }
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    double sum = ctx->be->loss->simce_forward(&k, ssl3d_f32(q), N, ssl3d_f32(kt), M, D, inv_temp,
                                              pt ? ssl3d_i32(pt) : s->pos, mask_diag, s->probs);
    ssl3d_tensor *o;
    ssl3d_status st = loss_scalar(ctx, sum / (double)N, &o);
    if (st != SSL3D_OK) { simce_free(ctx, s); return st; }
    ssl3d_tensor *in[3] = { q, kt, pt };
    if (ssl3d_tape_wants(ctx, in, 2)) {
        ssl3d_node *node;
        st = ssl3d_tape_record(ctx, name, simce_backward, o, in, 3, &node);
        if (st != SSL3D_OK) { simce_free(ctx, s); ssl3d_tensor_release(o); return st; }
        node->iarg[0] = N; node->iarg[1] = M; node->iarg[2] = D;
        node->farg[0] = inv_temp;
        node->saved = s;
        node->free_saved = simce_free;
    } else {
        simce_free(ctx, s);
    }
    *out = o;
    return SSL3D_OK;
}

ssl3d_status ssl3d_infonce(ssl3d_ctx *ctx, ssl3d_tensor *queries, ssl3d_tensor *keys,
                           const ssl3d_tensor *positives, float temperature, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_infonce";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(loss_check_matrix(ctx, fn, queries, "queries"));
    SSL3D_CHECK(loss_check_matrix(ctx, fn, keys, "keys"));
    SSL3D_CHECK(ssl3d_check_i32(ctx, positives, fn, "positives"));
    char sq[96], sk[96];
    SSL3D_CHECK_SHAPE(ctx, queries->shape[1] == keys->shape[1], "%s: queries %s and keys %s differ in D", fn,
                      ssl3d_shape_str(queries, sq, sizeof sq), ssl3d_shape_str(keys, sk, sizeof sk));
    SSL3D_CHECK_SHAPE(ctx, positives->ndim == 1 && positives->shape[0] == queries->shape[0],
                      "%s: positives must be (N) = (%lld), got %s", fn, (long long)queries->shape[0],
                      ssl3d_shape_str(positives, sk, sizeof sk));
    SSL3D_CHECK(loss_check_positive(ctx, fn, "temperature", temperature, 0));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    int64_t M = keys->shape[0];
    int64_t bad = ctx->be->loss->label_check(&k, ssl3d_i32(positives), positives->numel, M);
    if (bad >= 0) {
        int32_t v;
        ctx->be->to_host(ctx->be_state, &v, ssl3d_i32(positives) + bad, sizeof v);
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: positives[%lld] = %d is not a key index in [0,%lld)",
                               fn, (long long)bad, (int)v, (long long)M);
    }
    simce_saved *s = calloc(1, sizeof *s);
    if (!s) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    return simce_run(ctx, "infonce", queries, keys, (ssl3d_tensor *)positives, s, 1.0f / temperature, 0, out);
}

ssl3d_status ssl3d_ntxent(ssl3d_ctx *ctx, ssl3d_tensor *z, float temperature, ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_ntxent";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK(loss_check_matrix(ctx, fn, z, "z"));
    char sz[96];
    SSL3D_CHECK_SHAPE(ctx, z->shape[0] >= 2 && z->shape[0] % 2 == 0,
                      "%s: z must be (2B,D) with an even number of rows >= 2, got %s", fn,
                      ssl3d_shape_str(z, sz, sizeof sz));
    SSL3D_CHECK(loss_check_positive(ctx, fn, "temperature", temperature, 0));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_LOSS, fn));
    int64_t N = z->shape[0], B = N / 2;
    simce_saved *s = calloc(1, sizeof *s);
    int32_t *host = malloc((size_t)N * sizeof *host);
    if (s) s->pos = ssl3d_be_alloc(ctx, (size_t)N * sizeof(int32_t));
    if (!s || !host || !s->pos) {
        simce_free(ctx, s);
        free(host);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (int64_t i = 0; i < N; i++) host[i] = (int32_t)((i + B) % N);
    ctx->be->from_host(ctx->be_state, s->pos, host, (size_t)N * sizeof *host);
    free(host);
    return simce_run(ctx, "ntxent", z, z, NULL, s, 1.0f / temperature, 1, out);
}
