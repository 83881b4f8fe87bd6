/* U-Net encoder (down path + bottleneck), one implementation for dims 2 and 3. */
#include <stdio.h>
#include "block.h"

typedef struct encoder_impl {
    int32_t in_channels, base_filters, levels, norm;
    nn_block *blocks;          /* levels + 1: the last is the bottleneck */
} encoder_impl;

static void encoder_free(void *p) {
    encoder_impl *e = p;
    if (e) free(e->blocks);
    free(e);
}

ssl3d_status ssl3d_encoder_create(ssl3d_ctx *ctx, int32_t dims, int32_t in_channels, int32_t base_filters,
                                  int32_t levels, int32_t norm, ssl3d_module **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_encoder_create: out is NULL");
    SSL3D_CHECK_ARG(ctx, dims == 2 || dims == 3, "ssl3d_encoder_create: dims must be 2 or 3, got %d", (int)dims);
    SSL3D_CHECK_ARG(ctx, in_channels >= 1 && in_channels <= 4096, "ssl3d_encoder_create: in_channels %d out of range",
                    (int)in_channels);
    SSL3D_CHECK_ARG(ctx, levels >= 1 && levels <= 8, "ssl3d_encoder_create: levels must be 1..8, got %d", (int)levels);
    SSL3D_CHECK_ARG(ctx, base_filters >= 1 && ((int64_t)base_filters << levels) <= 65536,
                    "ssl3d_encoder_create: base_filters %d out of range", (int)base_filters);
    SSL3D_CHECK_ARG(ctx, norm >= SSL3D_NORM_BATCH && norm <= SSL3D_NORM_NONE,
                    "ssl3d_encoder_create: unknown norm kind %d", (int)norm);
    ssl3d_module *m;
    SSL3D_CHECK(nn_module_new(ctx, SSL3D_MODULE_ENCODER, dims, &m));
    encoder_impl *e = calloc(1, sizeof *e);
    if (e) e->blocks = calloc((size_t)levels + 1, sizeof *e->blocks);
    m->impl = e; m->impl_free = encoder_free;
    if (!e || !e->blocks) { ssl3d_module_release(m); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_encoder_create: out of memory"); }
    e->in_channels = in_channels; e->base_filters = base_filters; e->levels = levels; e->norm = norm;
    int32_t cin = in_channels;
    ssl3d_status st = SSL3D_OK;
    char prefix[NN_NAME_CAP];
    for (int32_t l = 0; l < levels && st == SSL3D_OK; l++) {
        int32_t cout = base_filters << l;
        snprintf(prefix, sizeof prefix, "down%d", (int)l);
        st = nn_block_init(m, &e->blocks[l], cin, cout, norm, prefix);
        cin = cout;
    }
    if (st == SSL3D_OK) st = nn_block_init(m, &e->blocks[levels], cin, 2 * cin, norm, "bottleneck");
    if (st != SSL3D_OK) { ssl3d_module_release(m); return st; }
    *out = m;
    return SSL3D_OK;
}

static encoder_impl *encoder_of(const ssl3d_module *m) {
    return (m && m->kind == SSL3D_MODULE_ENCODER) ? m->impl : NULL;
}

int32_t ssl3d_encoder_out_channels(const ssl3d_module *enc) {
    encoder_impl *e = encoder_of(enc);
    return e ? 2 * (e->base_filters << (e->levels - 1)) : 0;
}

int32_t ssl3d_encoder_levels(const ssl3d_module *enc) {
    encoder_impl *e = encoder_of(enc);
    return e ? e->levels : 0;
}

/* Filters of level l, for the decoder. */
int32_t nn_encoder_filters(const ssl3d_module *enc, int32_t l) {
    encoder_impl *e = encoder_of(enc);
    return e ? e->base_filters << l : 0;
}
int32_t nn_encoder_norm(const ssl3d_module *enc) {
    encoder_impl *e = encoder_of(enc);
    return e ? e->norm : 0;
}

ssl3d_status ssl3d_encoder_forward(ssl3d_ctx *ctx, ssl3d_module *enc, ssl3d_tensor *x, int32_t training,
                                   ssl3d_tensor **bottleneck, ssl3d_tensor **skips) {
    SSL3D_CHECK_CTX(ctx);
    encoder_impl *e = encoder_of(enc);
    SSL3D_CHECK_ARG(ctx, e, "ssl3d_encoder_forward: module is NULL or not an encoder");
    SSL3D_CHECK_ARG(ctx, bottleneck, "ssl3d_encoder_forward: bottleneck is NULL");
    SSL3D_CHECK(ssl3d_check_f32(ctx, x, "ssl3d_encoder_forward", "x"));
    char sb[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == enc->dims + 2 && x->shape[1] == e->in_channels,
                      "ssl3d_encoder_forward: x %s, expected (N,%d,%s) for this %dD encoder",
                      ssl3d_shape_str(x, sb, sizeof sb), (int)e->in_channels, enc->dims == 3 ? "D,H,W" : "H,W",
                      (int)enc->dims);
    for (int i = 2; i < x->ndim; i++)
        SSL3D_CHECK_SHAPE(ctx, x->shape[i] >= ((int64_t)1 << e->levels),
                          "ssl3d_encoder_forward: x %s is smaller than 2^levels = %d along dim %d",
                          ssl3d_shape_str(x, sb, sizeof sb), 1 << e->levels, i);
    ssl3d_tensor *h = ssl3d_tensor_retain(x), *s = NULL, *p = NULL;
    ssl3d_tensor *kept[8] = { 0 };
    ssl3d_status st = SSL3D_OK;
    for (int32_t l = 0; l < e->levels && st == SSL3D_OK; l++) {
        st = nn_block_forward(ctx, &e->blocks[l], h, training, &s);
        ssl3d_tensor_release(h); h = NULL;
        if (st != SSL3D_OK) break;
        st = ssl3d_maxpool2(ctx, s, &p);
        kept[l] = s; s = NULL;
        h = p; p = NULL;
    }
    ssl3d_tensor *b = NULL;
    if (st == SSL3D_OK) st = nn_block_forward(ctx, &e->blocks[e->levels], h, training, &b);
    ssl3d_tensor_release(h);
    if (st != SSL3D_OK) {
        for (int32_t l = 0; l < e->levels; l++) ssl3d_tensor_release(kept[l]);
        return st;
    }
    for (int32_t l = 0; l < e->levels; l++) {
        if (skips) skips[l] = kept[l];
        else ssl3d_tensor_release(kept[l]);
    }
    *bottleneck = b;
    return SSL3D_OK;
}
