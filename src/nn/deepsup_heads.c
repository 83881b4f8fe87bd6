/* Deep-supervision heads: one 1x1 conv (with bias) per supervised decoder level. */
#include <stdio.h>
#include "block.h"
#include "deepsup.h"

int32_t nn_encoder_filters(const ssl3d_module *enc, int32_t l);

typedef struct ds_impl {
    int32_t n;
    nn_conv *heads;     /* heads[l-1] for level l */
} ds_impl;

static void ds_free(void *p) {
    ds_impl *d = p;
    if (d) free(d->heads);
    free(d);
}

ssl3d_status nn_ds_heads_create(ssl3d_ctx *ctx, const ssl3d_module *encoder, int32_t classes, int32_t n,
                                ssl3d_module **out) {
    SSL3D_CHECK_ARG(ctx, encoder && encoder->kind == SSL3D_MODULE_ENCODER && out,
                    "deep supervision: encoder is NULL or not an encoder");
    SSL3D_CHECK_ARG(ctx, n >= 1 && n < ssl3d_encoder_levels(encoder),
                    "deep supervision: %d heads do not fit %d levels", (int)n, (int)ssl3d_encoder_levels(encoder));
    ssl3d_module *m;
    SSL3D_CHECK(nn_module_new(ctx, NN_MODULE_DS_HEADS, encoder->dims, &m));
    ds_impl *d = calloc(1, sizeof *d);
    if (d) d->heads = calloc((size_t)n, sizeof *d->heads);
    m->impl = d; m->impl_free = ds_free;
    if (!d || !d->heads) { ssl3d_module_release(m); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "deep supervision: out of memory"); }
    d->n = n;
    ssl3d_status st = SSL3D_OK;
    char prefix[NN_NAME_CAP];
    for (int32_t l = 1; l <= n && st == SSL3D_OK; l++) {
        snprintf(prefix, sizeof prefix, "ds%d", (int)l);
        st = nn_conv_init(m, &d->heads[l - 1], nn_encoder_filters(encoder, l), classes, 1, prefix);
    }
    if (st != SSL3D_OK) { ssl3d_module_release(m); return st; }
    *out = m;
    return SSL3D_OK;
}

int32_t nn_ds_heads_count(const ssl3d_module *heads) {
    return heads && heads->kind == NN_MODULE_DS_HEADS ? ((const ds_impl *)heads->impl)->n : 0;
}

ssl3d_status nn_ds_head_forward(ssl3d_ctx *ctx, const ssl3d_module *heads, int32_t l, ssl3d_tensor *f,
                                ssl3d_tensor **logits) {
    SSL3D_CHECK_ARG(ctx, l >= 1 && l <= nn_ds_heads_count(heads), "deep supervision: no head for level %d", (int)l);
    const ds_impl *d = heads->impl;
    return ssl3d_conv(ctx, f, d->heads[l - 1].w, d->heads[l - 1].b, 1, 0, logits);
}
