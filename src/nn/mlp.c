/* MLP head: linear -> ReLU -> linear, or a single linear when hidden == 0. */
#include <math.h>
#include "module.h"

typedef struct mlp_impl {
    int32_t in, hidden, out;
    ssl3d_tensor *w1, *b1, *w2, *b2;     /* w2/b2 unused when hidden == 0 */
} mlp_impl;

static ssl3d_status linear_init(ssl3d_module *m, int32_t in, int32_t out, ssl3d_tensor **w, ssl3d_tensor **b,
                                const char *wname, const char *bname) {
    int64_t ws[2] = { out, in }, bs[1] = { out };
    float bound = 1.0f / sqrtf((float)in);
    SSL3D_CHECK(nn_param_uniform(m, 2, ws, bound, w, wname));
    return nn_param_uniform(m, 1, bs, bound, b, bname);
}

ssl3d_status ssl3d_mlp_create(ssl3d_ctx *ctx, int32_t in_features, int32_t hidden, int32_t out_features,
                              ssl3d_module **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_mlp_create: out is NULL");
    SSL3D_CHECK_ARG(ctx, in_features >= 1 && out_features >= 1 && hidden >= 0,
                    "ssl3d_mlp_create: sizes must be positive (in %d, hidden %d, out %d)", (int)in_features,
                    (int)hidden, (int)out_features);
    ssl3d_module *m;
    SSL3D_CHECK(nn_module_new(ctx, SSL3D_MODULE_MLP, 0, &m));
    mlp_impl *p = calloc(1, sizeof *p);
    m->impl = p;
    if (!p) { ssl3d_module_release(m); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_mlp_create: out of memory"); }
    p->in = in_features; p->hidden = hidden; p->out = out_features;
    ssl3d_status st;
    if (hidden > 0) {
        st = linear_init(m, in_features, hidden, &p->w1, &p->b1, "fc1.weight", "fc1.bias");
        if (st == SSL3D_OK) st = linear_init(m, hidden, out_features, &p->w2, &p->b2, "fc2.weight", "fc2.bias");
    } else {
        st = linear_init(m, in_features, out_features, &p->w1, &p->b1, "fc.weight", "fc.bias");
    }
    if (st != SSL3D_OK) { ssl3d_module_release(m); return st; }
    *out = m;
    return SSL3D_OK;
}

static mlp_impl *mlp_of(const ssl3d_module *m) { return (m && m->kind == SSL3D_MODULE_MLP) ? m->impl : NULL; }
int32_t ssl3d_mlp_in_features(const ssl3d_module *m) { mlp_impl *p = mlp_of(m); return p ? p->in : 0; }
int32_t ssl3d_mlp_out_features(const ssl3d_module *m) { mlp_impl *p = mlp_of(m); return p ? p->out : 0; }

ssl3d_status ssl3d_mlp_forward(ssl3d_ctx *ctx, ssl3d_module *mlp, ssl3d_tensor *x, ssl3d_tensor **y) {
    SSL3D_CHECK_CTX(ctx);
    mlp_impl *p = mlp_of(mlp);
    SSL3D_CHECK_ARG(ctx, p, "ssl3d_mlp_forward: module is NULL or not an MLP");
    SSL3D_CHECK_ARG(ctx, y, "ssl3d_mlp_forward: y is NULL");
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, "ssl3d_mlp_forward", "x"));
    char sb[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 2 && x->shape[1] == p->in, "ssl3d_mlp_forward: x %s, expected (N,%d)",
                      ssl3d_shape_str(x, sb, sizeof sb), (int)p->in);
    if (p->hidden == 0) return ssl3d_linear(ctx, x, p->w1, p->b1, y);
    ssl3d_tensor *h = NULL, *r = NULL;
    ssl3d_status st = ssl3d_linear(ctx, x, p->w1, p->b1, &h);
    if (st == SSL3D_OK) st = ssl3d_relu(ctx, h, &r);
    ssl3d_tensor_release(h);
    if (st == SSL3D_OK) st = ssl3d_linear(ctx, r, p->w2, p->b2, y);
    ssl3d_tensor_release(r);
    return st;
}
