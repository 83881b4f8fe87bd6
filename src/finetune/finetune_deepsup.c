/* Deep supervision for segmentation fine-tuning (finetune_deepsup.h). */
#include <string.h>
#include "finetune_deepsup.h"
#include "../nn/deepsup.h"

int32_t ft_ds_outputs(int32_t levels) { return levels >= 3 ? levels - 1 : 0; }

void ft_ds_weights(int32_t n, double *w) {
    double sum = 0;
    for (int32_t l = 0; l < n; l++) { w[l] = 1.0 / (double)((int64_t)1 << l); sum += w[l]; }
    for (int32_t l = 0; l < n; l++) w[l] /= sum;
}

ssl3d_status ft_ds_create(ssl3d_ctx *ctx, ssl3d_ftmodel *m) {
    if (m->kind != SSL3D_FT_SEGMENT)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: deep_supervision=1 is for segmentation "
                                                           "models only");
    if (ft_ds_outputs(m->levels) < 2)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: deep_supervision=1 needs levels >= 3 (the "
                                "model has %d: nnU-Net supervises the decoder outputs above the lowest one, and there "
                                "is none)", (int)m->levels);
    ft_ds_release(m);
    return nn_ds_heads_create(ctx, m->encoder, m->classes, ft_ds_outputs(m->levels) - 1, &m->aux);
}

void ft_ds_release(ssl3d_ftmodel *m) {
    ssl3d_module_release(m->aux);
    m->aux = NULL;
}

ssl3d_status ft_ds_labels(ssl3d_ctx *dctx, const ssl3d_tensor *y, int32_t f, ssl3d_tensor **out) {
    char sb[96];
    SSL3D_CHECK(ssl3d_check_i32(dctx, y, "deep supervision", "labels"));
    SSL3D_CHECK_ARG(dctx, ssl3d_tensor_host_data((ssl3d_tensor *)y), "deep supervision: labels are not in host memory");
    SSL3D_CHECK_SHAPE(dctx, y->ndim == 3 || y->ndim == 4, "deep supervision: labels %s are not (B, H, W) or (B, D, H, W)",
                      ssl3d_shape_str(y, sb, sizeof sb));
    int64_t S[3] = { 1, 1, 1 }, T[3] = { 1, 1, 1 }, shape[4] = { y->shape[0], 0, 0, 0 };
    const int32_t nsp = y->ndim - 1;
    for (int32_t a = 0; a < nsp; a++) {
        SSL3D_CHECK_SHAPE(dctx, y->shape[1 + a] % f == 0, "deep supervision: labels %s: spatial sizes must be "
                          "multiples of %d", ssl3d_shape_str(y, sb, sizeof sb), (int)f);
        S[3 - nsp + a] = y->shape[1 + a];
        T[3 - nsp + a] = shape[1 + a] = y->shape[1 + a] / f;
    }
    SSL3D_CHECK(ssl3d_tensor_new(dctx, SSL3D_I32, y->ndim, shape, out));
    const int32_t *src = ssl3d_tensor_host_data((ssl3d_tensor *)y);
    int32_t *dst = ssl3d_tensor_host_data(*out);
    /* f on an axis of size 1 (the padding axis of 2D) is index 0 every time. */
    const int64_t f0 = nsp == 3 ? f : 1;
    for (int64_t b = 0; b < y->shape[0]; b++)
        for (int64_t i = 0; i < T[0]; i++)
            for (int64_t j = 0; j < T[1]; j++)
                for (int64_t k = 0; k < T[2]; k++)
                    dst[((b * T[0] + i) * T[1] + j) * T[2] + k] = src[((b * S[0] + i * f0) * S[1] + j * f) * S[2] + k * f];
    return SSL3D_OK;
}

ssl3d_status ft_ds_forward(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_tensor *x, int32_t training, int32_t encoder_training,
                           ssl3d_tensor **outs) {
    const int32_t n = ft_ds_outputs(m->levels);
    SSL3D_CHECK_ARG(ctx, m->aux && nn_ds_heads_count(m->aux) == n - 1, "deep supervision: the model has no heads");
    char sb[96];
    for (int32_t i = 2; i < x->ndim; i++)
        SSL3D_CHECK_SHAPE(ctx, x->shape[i] % ((int64_t)1 << m->levels) == 0,
                          "ssl3d_ftmodel_forward: x %s: spatial sizes must be multiples of 2^levels = %d",
                          ssl3d_shape_str(x, sb, sizeof sb), 1 << m->levels);
    ssl3d_tensor *b = NULL, *skips[16] = { 0 }, *feats[16] = { 0 };
    for (int32_t l = 0; l < n; l++) outs[l] = NULL;
    ssl3d_status st = ssl3d_encoder_forward(ctx, m->encoder, x, training && encoder_training, &b, skips);
    if (st == SSL3D_OK) st = nn_decoder_forward_feats(ctx, m->head, b, skips, training, n - 1, feats, &outs[0]);
    for (int32_t l = 0; l < m->levels; l++) ssl3d_tensor_release(skips[l]);
    ssl3d_tensor_release(b);
    for (int32_t l = 1; l < n && st == SSL3D_OK; l++) st = nn_ds_head_forward(ctx, m->aux, l, feats[l - 1], &outs[l]);
    for (int32_t l = 1; l < n; l++) ssl3d_tensor_release(feats[l - 1]);
    if (st != SSL3D_OK)
        for (int32_t l = 0; l < n; l++) { ssl3d_tensor_release(outs[l]); outs[l] = NULL; }
    return st;
}

ssl3d_status ft_ds_loss(ssl3d_ctx *ctx, int32_t n, ssl3d_tensor *const *outs, ssl3d_tensor *const *labels,
                        const double *w, ssl3d_tensor **loss) {
    ssl3d_tensor *total = NULL;
    ssl3d_status st = SSL3D_OK;
    for (int32_t l = 0; l < n && st == SSL3D_OK; l++) {
        ssl3d_tensor *ll = NULL, *wt = NULL, *part = NULL, *sum = NULL;
        const float wf = (float)w[l];
        const int64_t one = 1;
        st = ssl3d_dice_ce(ctx, outs[l], labels[l], &ll);
        if (st == SSL3D_OK) st = ssl3d_tensor_from_data(ctx, SSL3D_F32, 1, &one, &wf, &wt);
        if (st == SSL3D_OK) st = ssl3d_mul(ctx, ll, wt, &part);
        if (st == SSL3D_OK && total) st = ssl3d_add(ctx, total, part, &sum);
        else if (st == SSL3D_OK) sum = ssl3d_tensor_retain(part);
        ssl3d_tensor_release(ll); ssl3d_tensor_release(wt); ssl3d_tensor_release(part);
        ssl3d_tensor_release(total);
        total = sum;
    }
    if (st != SSL3D_OK) { ssl3d_tensor_release(total); return st; }
    *loss = total;
    return SSL3D_OK;
}
