/* Shape ops: concat, narrow, reshape, flatten. Tensors are dense row-major, so a
 * tensor seen around `axis` is (outer, size[axis], inner): concat and narrow are
 * strided block copies of `outer` rows (kernel block_copy); reshape is a plain copy. */
#include <stdio.h>
#include <string.h>
#include "../core/internal.h"
#include "../backend/layer_kernels.h"

static void split_axis(const ssl3d_tensor *t, int32_t axis, int64_t *outer, int64_t *inner) {
    int64_t o = 1, in = 1;
    for (int32_t i = 0; i < axis; i++) o *= t->shape[i];
    for (int32_t i = axis + 1; i < t->ndim; i++) in *= t->shape[i];
    *outer = o; *inner = in;
}

/* ================================================================ concat */

/* The inputs live in `saved` (any number of them; the tape node holds at most
 * SSL3D_NODE_MAX_IN), retained there and released by free_concat. */
typedef struct concat_saved {
    int32_t n;
    ssl3d_tensor *t[];
} concat_saved;

static void free_concat(ssl3d_ctx *ctx, void *p) {
    (void)ctx;
    concat_saved *s = p;
    if (!s) return;
    for (int32_t i = 0; i < s->n; i++) ssl3d_tensor_release(s->t[i]);
    free(s);
}

static ssl3d_status concat_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    const concat_saved *s = n->saved;
    const int32_t axis = (int32_t)n->iarg[0];
    int64_t outer, inner;
    split_axis(n->out, axis, &outer, &inner);
    const int64_t total = n->out->shape[axis] * inner;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    int64_t off = 0;
    for (int32_t i = 0; i < s->n; i++) {
        ssl3d_tensor *t = s->t[i];
        const int64_t len = t->shape[axis] * inner;
        if (t->requires_grad) {
            float *g = ssl3d_grad_of(ctx, t);
            if (!g) return SSL3D_ERR_NOMEM;
            ctx->be->layer->block_copy(&k, n->out->grad + off, total, g, len, outer, len, 1);
        }
        off += len;
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_concat(ssl3d_ctx *ctx, ssl3d_tensor *const *tensors, int32_t n, int32_t axis, ssl3d_tensor **y) {
    static const char *fn = "ssl3d_concat";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, tensors, "%s: tensors is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n must be >= 1, is %d", fn, (int)n);
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    char what[32], s0[96], si[96];
    for (int32_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "tensors[%d]", (int)i);
        SSL3D_CHECK(ssl3d_check_f32(ctx, tensors[i], fn, what));
    }
    const ssl3d_tensor *t0 = tensors[0];
    SSL3D_CHECK_ARG(ctx, axis >= 0 && axis < t0->ndim, "%s: axis %d out of range for %d dims", fn, (int)axis,
                    (int)t0->ndim);
    int64_t shape[SSL3D_MAX_DIMS];
    memcpy(shape, t0->shape, sizeof shape);
    for (int32_t i = 1; i < n; i++) {
        const ssl3d_tensor *t = tensors[i];
        int ok = t->ndim == t0->ndim;
        for (int32_t d = 0; ok && d < t0->ndim; d++) ok = d == axis || t->shape[d] == t0->shape[d];
        SSL3D_CHECK_SHAPE(ctx, ok, "%s: tensors[%d] %s does not match tensors[0] %s outside axis %d", fn, (int)i,
                          ssl3d_shape_str(t, si, sizeof si), ssl3d_shape_str(t0, s0, sizeof s0), (int)axis);
        shape[axis] += t->shape[axis];
    }
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_CONCAT, fn));
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, SSL3D_F32, t0->ndim, shape, &o));   /* the blocks tile it */
    int64_t outer, inner;
    split_axis(o, axis, &outer, &inner);
    const int64_t total = shape[axis] * inner;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    int64_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        const int64_t len = tensors[i]->shape[axis] * inner;
        ctx->be->layer->block_copy(&k, ssl3d_f32(tensors[i]), len, ssl3d_f32(o) + off, total, outer, len, 0);
        off += len;
    }
    if (ssl3d_tape_wants(ctx, tensors, n)) {
        concat_saved *s = malloc(sizeof *s + (size_t)n * sizeof s->t[0]);
        if (!s) { ssl3d_tensor_release(o); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
        s->n = n;
        for (int32_t i = 0; i < n; i++) s->t[i] = ssl3d_tensor_retain(tensors[i]);
        ssl3d_node *node;
        ssl3d_status st = ssl3d_tape_record(ctx, "concat", concat_backward, o, NULL, 0, &node);
        if (st != SSL3D_OK) { free_concat(ctx, s); ssl3d_tensor_release(o); return st; }
        node->iarg[0] = axis;
        node->saved = s; node->free_saved = free_concat;
    }
    *y = o;
    return SSL3D_OK;
}

/* ================================================================ narrow */

static ssl3d_status narrow_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *g = ssl3d_grad_of(ctx, x);
    if (!g) return SSL3D_ERR_NOMEM;
    const int32_t axis = (int32_t)n->iarg[0];
    const int64_t start = n->iarg[1], length = n->iarg[2];
    int64_t outer, inner;
    split_axis(x, axis, &outer, &inner);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->block_copy(&k, n->out->grad, length * inner, g + start * inner, x->shape[axis] * inner,
                               outer, length * inner, 1);
    return SSL3D_OK;
}

ssl3d_status ssl3d_narrow(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t axis, int64_t start, int64_t length,
                          ssl3d_tensor **y) {
    static const char *fn = "ssl3d_narrow";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, fn, "x"));
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    SSL3D_CHECK_ARG(ctx, axis >= 0 && axis < x->ndim, "%s: axis %d out of range for %d dims", fn, (int)axis,
                    (int)x->ndim);
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, start >= 0 && length >= 1 && start <= x->shape[axis] - length,
                      "%s: [%lld, %lld + %lld) is outside axis %d of x %s", fn, (long long)start, (long long)start,
                      (long long)length, (int)axis, ssl3d_shape_str(x, s, sizeof s));
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_CONCAT, fn));
    int64_t shape[SSL3D_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = length;
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, SSL3D_F32, x->ndim, shape, &o));
    int64_t outer, inner;
    split_axis(x, axis, &outer, &inner);
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->block_copy(&k, ssl3d_f32(x) + start * inner, x->shape[axis] * inner, ssl3d_f32(o),
                               length * inner, outer, length * inner, 0);
    if (ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_node *n;
        ssl3d_status st = ssl3d_tape_record(ctx, "narrow", narrow_backward, o, &x, 1, &n);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
        n->iarg[0] = axis; n->iarg[1] = start; n->iarg[2] = length;
    }
    *y = o;
    return SSL3D_OK;
}

/* ================================================================ reshape / flatten */

static ssl3d_status reshape_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0];
    if (!x->requires_grad) return SSL3D_OK;
    float *g = ssl3d_grad_of(ctx, x);
    if (!g) return SSL3D_ERR_NOMEM;
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->axpy(&k, 1.0f, n->out->grad, g, x->numel);
    return SSL3D_OK;
}

ssl3d_status ssl3d_reshape(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t ndim, const int64_t *shape, ssl3d_tensor **y) {
    static const char *fn = "ssl3d_reshape";
    SSL3D_CHECK_CTX(ctx);
    if (x) SSL3D_CHECK_ARG(ctx, x->dtype == SSL3D_F32 || x->dtype == SSL3D_I32, "%s: x has a bad dtype", fn);
    SSL3D_CHECK_ARG(ctx, x && x->ctx == ctx, "%s: x is %s", fn, x ? "from another context" : "NULL");
    SSL3D_CHECK_ARG(ctx, shape, "%s: shape is NULL", fn);
    SSL3D_CHECK_ARG(ctx, y, "%s: y is NULL", fn);
    SSL3D_CHECK_ARG(ctx, ndim >= 1 && ndim <= SSL3D_MAX_DIMS, "%s: ndim must be 1..%d, is %d", fn, SSL3D_MAX_DIMS,
                    (int)ndim);
    int64_t sh[SSL3D_MAX_DIMS], known = 1;
    int32_t infer = -1;
    for (int32_t i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (shape[i] == -1) {
            SSL3D_CHECK_ARG(ctx, infer < 0, "%s: more than one -1 in shape", fn);
            infer = i;
        } else {
            SSL3D_CHECK_ARG(ctx, shape[i] >= 1, "%s: shape[%d] = %lld must be >= 1 or -1", fn, (int)i,
                            (long long)shape[i]);
            SSL3D_CHECK_SHAPE(ctx, shape[i] <= x->numel && known <= x->numel / shape[i],
                              "%s: shape has more elements than x (%lld)", fn, (long long)x->numel);
            known *= shape[i];
        }
    }
    char s[96];
    if (infer >= 0) {
        SSL3D_CHECK_SHAPE(ctx, x->numel % known == 0, "%s: cannot infer shape[%d]: %lld elements of x %s are not a "
                          "multiple of %lld", fn, (int)infer, (long long)x->numel, ssl3d_shape_str(x, s, sizeof s),
                          (long long)known);
        sh[infer] = x->numel / known;
        known = x->numel;
    }
    SSL3D_CHECK_SHAPE(ctx, known == x->numel, "%s: new shape has %lld elements, x %s has %lld", fn, (long long)known,
                      ssl3d_shape_str(x, s, sizeof s), (long long)x->numel);
    SSL3D_CHECK(ssl3d_check_supported(ctx, SSL3D_OP_CONCAT, fn));
    ssl3d_tensor *o;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, x->dtype, ndim, sh, &o));
    ctx->be->copy(ctx->be_state, o->data, x->data, (size_t)x->numel * 4u);
    if (x->dtype == SSL3D_F32 && ssl3d_tape_wants(ctx, &x, 1)) {
        ssl3d_status st = ssl3d_tape_record(ctx, "reshape", reshape_backward, o, &x, 1, NULL);
        if (st != SSL3D_OK) { ssl3d_tensor_release(o); return st; }
    }
    *y = o;
    return SSL3D_OK;
}

ssl3d_status ssl3d_flatten(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, x, "ssl3d_flatten: x is NULL");
    const int64_t shape[2] = { x->shape[0], -1 };
    return ssl3d_reshape(ctx, x, 2, shape, y);
}
