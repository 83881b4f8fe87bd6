#include <math.h>
#include <stdio.h>
#include "block.h"
#include "../ops/norm_relu.h"

ssl3d_status nn_conv_init(ssl3d_module *m, nn_conv *c, int32_t cin, int32_t cout, int32_t k, const char *prefix) {
    int64_t shape[5] = { cout, cin, k, k, k };
    int64_t fan_in = cin;
    for (int i = 0; i < m->dims; i++) fan_in *= k;
    /* PyTorch's default (kaiming_uniform with a = sqrt(5)) reduces to U(+-1/sqrt(fan_in)). */
    float bound = 1.0f / sqrtf((float)fan_in);
    char name[2 * NN_NAME_CAP];
    snprintf(name, sizeof name, "%s.weight", prefix);
    SSL3D_CHECK(nn_param_uniform(m, 2 + m->dims, shape, bound, &c->w, name));
    int64_t bshape[1] = { cout };
    snprintf(name, sizeof name, "%s.bias", prefix);
    return nn_param_uniform(m, 1, bshape, bound, &c->b, name);
}

static ssl3d_status add_filled(ssl3d_module *m, int32_t channels, float v, int32_t trainable, ssl3d_tensor **out,
                               const char *prefix, const char *what) {
    int64_t shape[1] = { channels };
    ssl3d_tensor *t;
    SSL3D_CHECK(ssl3d_tensor_new(m->ctx, SSL3D_F32, 1, shape, &t));
    ssl3d_status st = v != 0.0f ? ssl3d_tensor_fill(m->ctx, t, v) : SSL3D_OK;
    if (st == SSL3D_OK) st = nn_module_add(m, t, trainable, "%s.%s", prefix, what);
    ssl3d_tensor_release(t);
    if (st == SSL3D_OK) *out = t;
    return st;
}

ssl3d_status nn_norm_init(ssl3d_module *m, nn_norm *n, int32_t kind, int32_t channels, const char *prefix) {
    n->kind = kind;
    if (kind == SSL3D_NORM_NONE) return SSL3D_OK;
    if (kind == SSL3D_NORM_INSTANCE) n->groups = channels;
    else if (kind == SSL3D_NORM_GROUP) {
        n->groups = channels < 8 ? channels : 8;
        while (channels % n->groups) n->groups--;
    }
    SSL3D_CHECK(add_filled(m, channels, 1.0f, 1, &n->gamma, prefix, "weight"));
    SSL3D_CHECK(add_filled(m, channels, 0.0f, 1, &n->beta, prefix, "bias"));
    if (kind == SSL3D_NORM_BATCH) {
        SSL3D_CHECK(add_filled(m, channels, 0.0f, 0, &n->running_mean, prefix, "running_mean"));
        SSL3D_CHECK(add_filled(m, channels, 1.0f, 0, &n->running_var, prefix, "running_var"));
    }
    return SSL3D_OK;
}

ssl3d_status nn_block_init(ssl3d_module *m, nn_block *b, int32_t cin, int32_t cout, int32_t norm, const char *prefix) {
    char name[2 * NN_NAME_CAP];
    snprintf(name, sizeof name, "%s.conv1", prefix);
    SSL3D_CHECK(nn_conv_init(m, &b->c1, cin, cout, 3, name));
    snprintf(name, sizeof name, "%s.norm1", prefix);
    SSL3D_CHECK(nn_norm_init(m, &b->n1, norm, cout, name));
    snprintf(name, sizeof name, "%s.conv2", prefix);
    SSL3D_CHECK(nn_conv_init(m, &b->c2, cout, cout, 3, name));
    snprintf(name, sizeof name, "%s.norm2", prefix);
    return nn_norm_init(m, &b->n2, norm, cout, name);
}

ssl3d_status nn_norm_forward(ssl3d_ctx *ctx, const nn_norm *n, ssl3d_tensor *x, int32_t training, ssl3d_tensor **y) {
    switch (n->kind) {
    case SSL3D_NORM_BATCH:
        return ssl3d_batch_norm(ctx, x, n->gamma, n->beta, n->running_mean, n->running_var, training, 0.1f, 1e-5f, y);
    case SSL3D_NORM_GROUP:
    case SSL3D_NORM_INSTANCE:
        return ssl3d_group_norm(ctx, x, n->groups, n->gamma, n->beta, 1e-5f, y);
    default:
        *y = ssl3d_tensor_retain(x);
        return SSL3D_OK;
    }
}

/* norm -> ReLU as one fused op (src/ops/norm_relu.h). */
static ssl3d_status norm_relu(ssl3d_ctx *ctx, const nn_norm *n, ssl3d_tensor *x, int32_t training, ssl3d_tensor **y) {
    switch (n->kind) {
    case SSL3D_NORM_BATCH:
        return ssl3d_batch_norm_relu(ctx, x, n->gamma, n->beta, n->running_mean, n->running_var, training, 0.1f,
                                     1e-5f, y);
    case SSL3D_NORM_GROUP:
    case SSL3D_NORM_INSTANCE:
        return ssl3d_group_norm_relu(ctx, x, n->groups, n->gamma, n->beta, 1e-5f, y);
    default:
        return ssl3d_relu(ctx, x, y);
    }
}

/* conv -> norm -> ReLU, consuming (releasing) nothing of the caller's. */
static ssl3d_status conv_norm_relu(ssl3d_ctx *ctx, const nn_conv *c, const nn_norm *n, ssl3d_tensor *x,
                                   int32_t training, ssl3d_tensor **y) {
    ssl3d_tensor *a = NULL;
    ssl3d_status st = ssl3d_conv(ctx, x, c->w, c->b, 1, 1, &a);
    if (st == SSL3D_OK) st = norm_relu(ctx, n, a, training, y);
    ssl3d_tensor_release(a);
    return st;
}

ssl3d_status nn_block_forward(ssl3d_ctx *ctx, const nn_block *b, ssl3d_tensor *x, int32_t training, ssl3d_tensor **y) {
    ssl3d_tensor *h = NULL;
    SSL3D_CHECK(conv_norm_relu(ctx, &b->c1, &b->n1, x, training, &h));
    ssl3d_status st = conv_norm_relu(ctx, &b->c2, &b->n2, h, training, y);
    ssl3d_tensor_release(h);
    return st;
}
