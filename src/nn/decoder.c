/* U-Net decoder: per level from the deepest, transposed conv 2/2 -> concat skip -> block;
 * then a 1x1 conv to class logits. */
#include <math.h>
#include <stdio.h>
#include "block.h"
#include "deepsup.h"

int32_t nn_encoder_filters(const ssl3d_module *enc, int32_t l);
int32_t nn_encoder_norm(const ssl3d_module *enc);

typedef struct decoder_impl {
    int32_t levels, classes;
    nn_conv *up;               /* levels: up[l] maps level l+1 features to level l */
    nn_block *blocks;          /* levels */
    nn_conv head;              /* 1x1 conv */
} decoder_impl;

static void decoder_free(void *p) {
    decoder_impl *d = p;
    if (d) { free(d->up); free(d->blocks); }
    free(d);
}

/* Transposed conv weight (Cin, Cout, 2^dims) as PyTorch ConvTranspose: fan_in = Cout*2^dims. */
static ssl3d_status up_init(ssl3d_module *m, nn_conv *c, int32_t cin, int32_t cout, const char *prefix) {
    int64_t shape[5] = { cin, cout, 2, 2, 2 };
    float bound = 1.0f / sqrtf((float)(cout << m->dims));
    char name[2 * NN_NAME_CAP];
    snprintf(name, sizeof name, "%s.weight", prefix);
    SSL3D_CHECK(nn_param_uniform(m, 2 + m->dims, shape, bound, &c->w, name));
    int64_t bshape[1] = { cout };
    snprintf(name, sizeof name, "%s.bias", prefix);
    return nn_param_uniform(m, 1, bshape, bound, &c->b, name);
}

ssl3d_status ssl3d_decoder_create(ssl3d_ctx *ctx, const ssl3d_module *encoder, int32_t classes, ssl3d_module **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_decoder_create: out is NULL");
    SSL3D_CHECK_ARG(ctx, encoder && encoder->kind == SSL3D_MODULE_ENCODER,
                    "ssl3d_decoder_create: encoder is NULL or not an encoder");
    SSL3D_CHECK_ARG(ctx, classes >= 1 && classes <= 4096, "ssl3d_decoder_create: classes %d out of range", (int)classes);
    ssl3d_module *m;
    SSL3D_CHECK(nn_module_new(ctx, SSL3D_MODULE_DECODER, encoder->dims, &m));
    int32_t levels = ssl3d_encoder_levels(encoder);
    decoder_impl *d = calloc(1, sizeof *d);
    if (d) { d->up = calloc((size_t)levels, sizeof *d->up); d->blocks = calloc((size_t)levels, sizeof *d->blocks); }
    m->impl = d; m->impl_free = decoder_free;
    if (!d || !d->up || !d->blocks) { ssl3d_module_release(m); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_decoder_create: out of memory"); }
    d->levels = levels; d->classes = classes;
    int32_t c = ssl3d_encoder_out_channels(encoder), norm = nn_encoder_norm(encoder);
    ssl3d_status st = SSL3D_OK;
    char prefix[NN_NAME_CAP];
    for (int32_t l = levels - 1; l >= 0 && st == SSL3D_OK; l--) {
        int32_t co = nn_encoder_filters(encoder, l);
        snprintf(prefix, sizeof prefix, "up%d", (int)l);
        st = up_init(m, &d->up[l], c, co, prefix);
        snprintf(prefix, sizeof prefix, "dec%d", (int)l);
        if (st == SSL3D_OK) st = nn_block_init(m, &d->blocks[l], 2 * co, co, norm, prefix);
        c = co;
    }
    if (st == SSL3D_OK) st = nn_conv_init(m, &d->head, c, classes, 1, "head");
    if (st != SSL3D_OK) { ssl3d_module_release(m); return st; }
    *out = m;
    return SSL3D_OK;
}

ssl3d_status ssl3d_decoder_forward(ssl3d_ctx *ctx, ssl3d_module *dec, ssl3d_tensor *bottleneck,
                                   ssl3d_tensor *const *skips, int32_t training, ssl3d_tensor **logits) {
    SSL3D_CHECK_CTX(ctx);
    return nn_decoder_forward_feats(ctx, dec, bottleneck, skips, training, 0, NULL, logits);
}

ssl3d_status nn_decoder_forward_feats(ssl3d_ctx *ctx, ssl3d_module *dec, ssl3d_tensor *bottleneck,
                                      ssl3d_tensor *const *skips, int32_t training, int32_t n_feats,
                                      ssl3d_tensor **feats, ssl3d_tensor **logits) {
    SSL3D_CHECK_ARG(ctx, dec && dec->kind == SSL3D_MODULE_DECODER, "ssl3d_decoder_forward: module is NULL or not a decoder");
    SSL3D_CHECK_ARG(ctx, skips && logits, "ssl3d_decoder_forward: %s is NULL", skips ? "logits" : "skips");
    decoder_impl *d = dec->impl;
    SSL3D_CHECK_ARG(ctx, n_feats >= 0 && n_feats < d->levels && (!n_feats || feats),
                    "ssl3d_decoder_forward: %d supervised levels of %d", (int)n_feats, (int)d->levels);
    for (int32_t i = 0; i < n_feats; i++) feats[i] = NULL;
    SSL3D_CHECK(ssl3d_check_f32(ctx, bottleneck, "ssl3d_decoder_forward", "bottleneck"));
    ssl3d_tensor *h = ssl3d_tensor_retain(bottleneck);
    ssl3d_status st = SSL3D_OK;
    for (int32_t l = d->levels - 1; l >= 0 && st == SSL3D_OK; l--) {
        ssl3d_tensor *u = NULL, *cat = NULL, *y = NULL;
        st = ssl3d_check_f32(ctx, skips[l], "ssl3d_decoder_forward", "skip");
        if (st == SSL3D_OK) st = ssl3d_conv_transpose(ctx, h, d->up[l].w, d->up[l].b, &u);
        if (st == SSL3D_OK) {
            char su[96], ss[96];
            int same = u->ndim == skips[l]->ndim;
            for (int i = 2; same && i < u->ndim; i++) same = u->shape[i] == skips[l]->shape[i];
            if (!same)
                st = ssl3d_set_error(ctx, SSL3D_ERR_SHAPE,
                                     "ssl3d_decoder_forward: upsampled %s does not match skip %d %s (input sizes must "
                                     "be multiples of 2^levels)", ssl3d_shape_str(u, su, sizeof su), (int)l,
                                     ssl3d_shape_str(skips[l], ss, sizeof ss));
        }
        if (st == SSL3D_OK) {
            ssl3d_tensor *parts[2] = { u, skips[l] };
            st = ssl3d_concat(ctx, parts, 2, 1, &cat);
        }
        ssl3d_tensor_release(u);
        if (st == SSL3D_OK) st = nn_block_forward(ctx, &d->blocks[l], cat, training, &y);
        ssl3d_tensor_release(cat);
        ssl3d_tensor_release(h);
        h = y;
        if (st == SSL3D_OK && l >= 1 && l <= n_feats) feats[l - 1] = ssl3d_tensor_retain(h);
    }
    ssl3d_tensor *out = NULL;
    if (st == SSL3D_OK) st = ssl3d_conv(ctx, h, d->head.w, d->head.b, 1, 0, &out);
    ssl3d_tensor_release(h);
    if (st == SSL3D_OK) *logits = out;
    for (int32_t i = 0; i < n_feats && st != SSL3D_OK; i++) { ssl3d_tensor_release(feats[i]); feats[i] = NULL; }
    return st;
}
