/* Row gathers and candidate scores (rows.h) over the rows kernels of the dispatch table.
 * Backward needs, for each destination row, the outputs that read it in increasing
 * order (the inverse map, CSR): built here on the host from the index list, uploaded once
 * per call and kept on the tape as extra (gradient-free) inputs of the node. */
#include <stdlib.h>
#include <string.h>
#include "rows.h"
#include "../backend/rows_kernels.h"

/* An int32 tensor (n) in ctx holding v[0..n). */
static ssl3d_status upload_i32(ssl3d_ctx *ctx, const int32_t *v, int64_t n, ssl3d_tensor **out) {
    return ssl3d_tensor_from_data(ctx, SSL3D_I32, 1, &n, v, out);
}

/* The inverse of idx[0..n) (values in [0,M)) uploaded as off (M+1) and src (n): the
 * positions e with idx[e] == m are src[off[m] .. off[m+1]), increasing. */
static ssl3d_status upload_inverse(ssl3d_ctx *ctx, const int32_t *idx, int64_t n, int64_t M, const char *fn,
                                   ssl3d_tensor **off_t, ssl3d_tensor **src_t) {
    int32_t *off = calloc((size_t)M + 1, sizeof *off), *src = malloc((size_t)(n ? n : 1) * sizeof *src);
    int32_t *fill = malloc((size_t)M * sizeof *fill);
    ssl3d_status st = SSL3D_OK;
    if (!off || !src || !fill) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    if (st == SSL3D_OK) {
        for (int64_t e = 0; e < n; e++) off[idx[e] + 1]++;
        for (int64_t m = 0; m < M; m++) { off[m + 1] += off[m]; fill[m] = off[m]; }
        for (int64_t e = 0; e < n; e++) src[fill[idx[e]]++] = (int32_t)e;
        st = upload_i32(ctx, off, M + 1, off_t);
    }
    if (st == SSL3D_OK) st = upload_i32(ctx, src, n, src_t);
    if (st != SSL3D_OK) { ssl3d_tensor_release(*off_t); *off_t = NULL; }
    free(off); free(src); free(fill);
    return st;
}

/* ---------------------------------------------------------------- gather */

/* in: x, idx, off, src */
static ssl3d_status gather_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad || !n->out->grad) return SSL3D_OK;
    float *dx = ssl3d_grad_of(ctx, x);
    if (!dx) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->rows->gather_backward(&k, n->out->grad, ssl3d_i32(n->in[2]), ssl3d_i32(n->in[3]), x->shape[0],
                                   x->shape[1], dx);
    return SSL3D_OK;
}

ssl3d_status ssl3d_rows_gather(ssl3d_ctx *ctx, ssl3d_tensor *x, const int32_t *idx, int64_t R, int32_t ndim,
                               const int64_t *shape, const char *fn, ssl3d_tensor **y) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 2, "%s: x %s must be (M,D)", fn, ssl3d_shape_str(x, s, sizeof s));
    SSL3D_CHECK_ARG(ctx, idx && y && shape && ndim >= 1 && ndim <= SSL3D_MAX_DIMS, "%s: bad arguments", fn);
    SSL3D_CHECK_ARG(ctx, R >= 1 && R < INT32_MAX, "%s: %lld rows outside [1, 2^31)", fn, (long long)R);
    const int64_t M = x->shape[0], D = x->shape[1];
    int64_t numel = 1;
    for (int32_t i = 0; i < ndim; i++) numel *= shape[i];
    SSL3D_CHECK_SHAPE(ctx, numel == R * D, "%s: output shape does not hold %lld x %lld values", fn, (long long)R,
                      (long long)D);
    for (int64_t r = 0; r < R; r++)
        SSL3D_CHECK_ARG(ctx, idx[r] >= 0 && idx[r] < M, "%s: index %lld = %d outside [0,%lld)", fn, (long long)r,
                        (int)idx[r], (long long)M);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_ROWS, fn));
    ssl3d_tensor *idx_t = NULL, *off_t = NULL, *src_t = NULL, *out = NULL;
    ssl3d_status st = upload_i32(ctx, idx, R, &idx_t);
    if (st == SSL3D_OK) st = ssl3d_tensor_new_uninit(ctx, SSL3D_F32, ndim, shape, &out);
    if (st == SSL3D_OK) {
        ssl3d_kctx k = ssl3d_kctx_of(ctx);
        ctx->be->rows->gather_forward(&k, ssl3d_f32(x), ssl3d_i32(idx_t), R, D, ssl3d_f32(out));
    }
    if (st == SSL3D_OK && ssl3d_tape_wants(ctx, &x, 1)) {
        st = upload_inverse(ctx, idx, R, M, fn, &off_t, &src_t);
        ssl3d_tensor *in[4] = { x, idx_t, off_t, src_t };
        ssl3d_node *node;
        if (st == SSL3D_OK) st = ssl3d_tape_record(ctx, "gather_rows", gather_backward, out, in, 4, &node);
    }
    ssl3d_tensor_release(idx_t); ssl3d_tensor_release(off_t); ssl3d_tensor_release(src_t);
    if (st != SSL3D_OK) { ssl3d_tensor_release(out); return st; }
    *y = out;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- candidate scores */

/* in: p, z, q, cand, off, src (the inverse of cand); iarg[0] = C; farg[0] = inv_t */
static ssl3d_status scores_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *p = n->in[0], *z = n->in[1];
    const float *g = n->out->grad;
    if (!g) return SSL3D_OK;
    const int64_t R = n->out->shape[0], C = n->iarg[0], D = z->shape[1];
    const float inv_t = n->farg[0];
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    if (p->requires_grad) {
        float *dp = ssl3d_grad_of(ctx, p);
        if (!dp) return SSL3D_ERR_NOMEM;
        ctx->be->rows->scores_backward_p(&k, ssl3d_f32(z), ssl3d_i32(n->in[2]), ssl3d_i32(n->in[3]), g, R, C, D,
                                         inv_t, dp);
    }
    if (z->requires_grad) {
        float *dz = ssl3d_grad_of(ctx, z);
        if (!dz) return SSL3D_ERR_NOMEM;
        ctx->be->rows->scores_backward_z(&k, ssl3d_f32(p), ssl3d_i32(n->in[2]), g, ssl3d_i32(n->in[4]),
                                         ssl3d_i32(n->in[5]), z->shape[0], C, D, inv_t, dz);
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_rows_scores(ssl3d_ctx *ctx, ssl3d_tensor *p, ssl3d_tensor *z, const int32_t *q,
                               const int32_t *cand, int64_t R, int64_t C, float inv_t, const char *fn,
                               ssl3d_tensor **s) {
    SSL3D_CHECK(ssl3d_check_f32(ctx, p, fn, "pred"));
    SSL3D_CHECK(ssl3d_check_f32(ctx, z, fn, "z"));
    char sp[96], sz[96];
    SSL3D_CHECK_SHAPE(ctx, p->ndim == 2 && z->ndim == 2 && p->shape[1] == z->shape[1],
                      "%s: pred %s and z %s must be (P,D) and (M,D)", fn, ssl3d_shape_str(p, sp, sizeof sp),
                      ssl3d_shape_str(z, sz, sizeof sz));
    SSL3D_CHECK_ARG(ctx, q && cand && s, "%s: bad arguments", fn);
    SSL3D_CHECK_ARG(ctx, R >= 1 && C >= 1 && R * C < INT32_MAX, "%s: %lld x %lld scores outside [1, 2^31)", fn,
                    (long long)R, (long long)C);
    SSL3D_CHECK_ARG(ctx, inv_t > 0.0f, "%s: inverse temperature must be > 0", fn);
    const int64_t P = p->shape[0], M = z->shape[0], D = z->shape[1];
    /* Distinct query rows: the backward pass adds into them in parallel. */
    unsigned char *seen = calloc((size_t)P, 1);
    if (!seen) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    int64_t bad = -1;
    for (int64_t r = 0; r < R && bad < 0; r++) {
        if (q[r] < 0 || q[r] >= P || seen[q[r]]) bad = r;
        else seen[q[r]] = 1;
    }
    free(seen);
    if (bad >= 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: query row %lld = %d is outside [0,%lld) or repeated",
                               fn, (long long)bad, (int)q[bad], (long long)P);
    for (int64_t e = 0; e < R * C; e++)
        SSL3D_CHECK_ARG(ctx, cand[e] >= 0 && cand[e] < M, "%s: candidate %lld = %d outside [0,%lld)", fn,
                        (long long)e, (int)cand[e], (long long)M);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_ROWS, fn));
    ssl3d_tensor *q_t = NULL, *c_t = NULL, *off_t = NULL, *src_t = NULL, *out = NULL;
    int64_t shape[2] = { R, C };
    ssl3d_status st = upload_i32(ctx, q, R, &q_t);
    if (st == SSL3D_OK) st = upload_i32(ctx, cand, R * C, &c_t);
    if (st == SSL3D_OK) st = ssl3d_tensor_new_uninit(ctx, SSL3D_F32, 2, shape, &out);
    if (st == SSL3D_OK) {
        ssl3d_kctx k = ssl3d_kctx_of(ctx);
        ctx->be->rows->scores_forward(&k, ssl3d_f32(p), ssl3d_f32(z), ssl3d_i32(q_t), ssl3d_i32(c_t), R, C, D, inv_t,
                                      ssl3d_f32(out));
    }
    ssl3d_tensor *want[2] = { p, z };
    if (st == SSL3D_OK && ssl3d_tape_wants(ctx, want, 2)) {
        st = upload_inverse(ctx, cand, R * C, M, fn, &off_t, &src_t);
        ssl3d_tensor *in[6] = { p, z, q_t, c_t, off_t, src_t };
        ssl3d_node *node = NULL;
        if (st == SSL3D_OK) st = ssl3d_tape_record(ctx, "cpc_logits", scores_backward, out, in, 6, &node);
        if (st == SSL3D_OK) { node->iarg[0] = C; node->farg[0] = inv_t; }
    }
    ssl3d_tensor_release(q_t); ssl3d_tensor_release(c_t);
    ssl3d_tensor_release(off_t); ssl3d_tensor_release(src_t);
    if (st != SSL3D_OK) { ssl3d_tensor_release(out); return st; }
    *s = out;
    return SSL3D_OK;
}
