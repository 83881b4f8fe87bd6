/* Test-time mirroring: the softmax probabilities of the volume and of its mirror images
 * along every combination of spatial axes (8 passes in 3D; 4 for a 2D model, which
 * mirrors H and W only), each mirrored back and averaged, as nnU-Net's inference does.
 * Off by default (ssl3d_ftmodel_set_tta). */
#include <string.h>
#include "finetune_internal.h"

ssl3d_status ssl3d_ftmodel_set_tta(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t mirror) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m, "ssl3d_ftmodel_set_tta: model is NULL");
    SSL3D_CHECK_ARG(ctx, mirror == 0 || mirror == 1, "ssl3d_ftmodel_set_tta: mirror must be 0 or 1, got %d", (int)mirror);
    m->tta = mirror;
    return SSL3D_OK;
}

int32_t ssl3d_ftmodel_tta(const ssl3d_ftmodel *m) { return m ? m->tta : 0; }

/* out = x flipped along every spatial axis a (0..2) whose bit is set in mask. */
static ssl3d_status flip_mask(ssl3d_ctx *ctx, const ssl3d_tensor *x, int mask, ssl3d_tensor **out) {
    ssl3d_tensor *cur = ssl3d_tensor_retain((ssl3d_tensor *)x);
    for (int a = 0; a < 3; a++) {
        if (!(mask & (1 << a))) continue;
        ssl3d_tensor *f = NULL;
        ssl3d_status st = ssl3d_flip(ctx, cur, a, &f);
        ssl3d_tensor_release(cur);
        if (st != SSL3D_OK) return st;
        cur = f;
    }
    *out = cur;
    return SSL3D_OK;
}

ssl3d_status ssl3d_ftmodel_segment(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_tensor *x, int32_t window,
                                   float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels) {
    /* The ensemble of one (finetune_ensemble.c): the host/device routing, then ft_segment_in. */
    return ft_segment_route(ctx, &m, 1, x, &window, overlap, probs, labels, "ssl3d_ftmodel_segment");
}

ssl3d_status ft_segment_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, const ssl3d_tensor *x, int32_t window,
                           float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels) {
    SSL3D_CHECK_ARG(ctx, m && m->kind == SSL3D_FT_SEGMENT, "ssl3d_ftmodel_segment: model is NULL or not a segmenter");
    if (!m->tta) return ft_segment_plain(ctx, dctx, m, x, window, overlap, probs, labels);
    SSL3D_CHECK(ssl3d_check_f32(dctx, x, "ssl3d_ftmodel_segment", "x"));
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 4, "ssl3d_ftmodel_segment: x must be (C,D,H,W)");
    /* 2D models: mirror H and W (spatial axes 1 and 2), never across slices. */
    const int axes = m->dims == 2 ? 6 : 7;
    ssl3d_tensor *sum = NULL;
    ssl3d_status st = SSL3D_OK;
    int passes = 0;
    for (int mask = 0; mask < 8 && st == SSL3D_OK; mask++) {
        if (mask & ~axes) continue;
        ssl3d_tensor *xf = NULL, *pf = NULL, *pb = NULL;
        st = flip_mask(dctx, x, mask, &xf);
        if (st == SSL3D_OK) st = ft_segment_plain(ctx, dctx, m, xf, window, overlap, &pf, NULL);
        if (st == SSL3D_OK) st = flip_mask(dctx, pf, mask, &pb);
        if (st == SSL3D_OK) {
            if (!sum) sum = ssl3d_tensor_retain(pb);
            else {
                float *s = ssl3d_tensor_host_data(sum);
                const float *p = ssl3d_tensor_host_data(pb);
                for (int64_t i = 0; i < sum->numel; i++) s[i] += p[i];
            }
            passes++;
        }
        ssl3d_tensor_release(xf); ssl3d_tensor_release(pf); ssl3d_tensor_release(pb);
    }
    if (st != SSL3D_OK) { ssl3d_tensor_release(sum); return st; }
    /* sum may alias the first pass's tensor, which nothing else holds now. */
    float *p = ssl3d_tensor_host_data(sum);
    for (int64_t i = 0; i < sum->numel; i++) p[i] /= (float)passes;
    if (labels) {
        st = ft_probs_argmax(dctx, sum, labels);
        if (st != SSL3D_OK) { ssl3d_tensor_release(sum); return st; }
    }
    if (probs) *probs = sum; else ssl3d_tensor_release(sum);
    return SSL3D_OK;
}
