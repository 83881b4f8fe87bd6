/* Ensembles of fine-tuned models, as nnU-Net predicts its test sets with its
 * cross-validation models: the softmax probabilities of every model (each with its own
 * sliding windows and test-time mirroring) averaged with equal weight, then the argmax.
 * One model is the single-model path itself, so that ssl3d_ftmodel_segment and
 * ssl3d_ft_evaluate are the ensembles of one, bit for bit. */
#include <stdio.h>
#include <string.h>
#include "finetune_internal.h"

static const char *kind_name(int32_t kind) { return kind == SSL3D_FT_SEGMENT ? "segment" : "classify"; }

ssl3d_status ft_ensemble_check(ssl3d_ctx *ctx, const char *fn, ssl3d_ftmodel *const *models, int32_t n, int32_t kind,
                               int32_t window) {
    SSL3D_CHECK_ARG(ctx, models && n >= 1, "%s: no models (%s)", fn, !models ? "models is NULL" : "n must be >= 1");
    for (int32_t i = 0; i < n; i++) SSL3D_CHECK_ARG(ctx, models[i], "%s: model %d is NULL", fn, (int)i);
    const ssl3d_ftmodel *a = models[0];
    SSL3D_CHECK_ARG(ctx, kind < 0 || a->kind == kind, "%s: model 0 is a %s model, not a %s model", fn,
                    kind_name(a->kind), kind_name(kind));
    for (int32_t i = 1; i < n; i++) {
        const ssl3d_ftmodel *b = models[i];
        /* What makes the probabilities comparable voxel for voxel and class for class, and
         * the input preparation that the models share (one prepared image for all). */
        const struct { const char *name; int32_t va, vb; } f[] = {
            { "kind", a->kind, b->kind }, { "dims", a->dims, b->dims },
            { "in_channels", a->in_channels, b->in_channels }, { "classes", a->classes, b->classes },
            { "normalisation", a->input_norm, b->input_norm },
        };
        for (size_t j = 0; j < sizeof f / sizeof *f; j++) {
            if (f[j].va == f[j].vb) continue;
            char sa[16], sb[16];
            const char *ta = sa, *tb = sb;
            if (j == 0) { ta = kind_name(f[j].va); tb = kind_name(f[j].vb); }
            else if (j == 4) { ta = ft_input_norm_name(f[j].va); tb = ft_input_norm_name(f[j].vb); }
            else { snprintf(sa, sizeof sa, "%d", (int)f[j].va); snprintf(sb, sizeof sb, "%d", (int)f[j].vb); }
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: model %d has %s %s, model 0 has %s: the models of "
                                   "an ensemble must agree", fn, (int)i, f[j].name, tb, ta);
        }
    }
    for (int32_t i = 0; i < n && a->kind == SSL3D_FT_SEGMENT && window > 0; i++)
        SSL3D_CHECK_ARG(ctx, window % (1 << models[i]->levels) == 0,
                        "%s: window %d is not a multiple of 2^levels = %d of model %d", fn, (int)window,
                        1 << models[i]->levels, (int)i);
    /* Ordinal classifiers decode their sigmoids, not a probability argmax: averaging their
     * class scores would not be the ordinal prediction of the averaged model. */
    for (int32_t i = 0; i < n && n > 1; i++)
        if (models[i]->kind == SSL3D_FT_CLASSIFY && models[i]->ordinal)
            return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "%s: model %d is an ordinal classifier; ensembles of "
                                   "ordinal classifiers are not supported", fn, (int)i);
    return SSL3D_OK;
}

ssl3d_status ft_ensemble_windows(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n, const ssl3d_tensor *x,
                                 int32_t window, int32_t **out) {
    int32_t *w = malloc((size_t)n * sizeof *w);
    if (!w) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ensemble: out of memory");
    for (int32_t i = 0; i < n; i++) w[i] = ft_auto_window(models[i], x, window);
    *out = w;
    return SSL3D_OK;
}

ssl3d_status ft_probs_argmax(ssl3d_ctx *dctx, const ssl3d_tensor *probs, ssl3d_tensor **labels) {
    const float *p = ssl3d_tensor_host_data((ssl3d_tensor *)probs);
    const int64_t K = probs->shape[0], V = probs->numel / K;
    int64_t ls[3] = { probs->shape[1], probs->shape[2], probs->shape[3] };
    ssl3d_tensor *lt = NULL;
    SSL3D_CHECK(ssl3d_tensor_new(dctx, SSL3D_I32, 3, ls, &lt));
    int32_t *lv = ssl3d_tensor_host_data(lt);
    for (int64_t v = 0; v < V; v++) {
        int32_t best = 0;
        for (int64_t k = 1; k < K; k++) if (p[k * V + v] > p[best * V + v]) best = (int32_t)k;
        lv[v] = best;
    }
    *labels = lt;
    return SSL3D_OK;
}

ssl3d_status ft_segment_ensemble_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *const *models, int32_t n,
                                    const ssl3d_tensor *x, const int32_t *windows, float overlap, ssl3d_tensor **probs,
                                    ssl3d_tensor **labels) {
    if (n == 1) return ft_segment_in(ctx, dctx, models[0], x, windows[0], overlap, probs, labels);
    ssl3d_tensor *sum = NULL;
    ssl3d_status st = SSL3D_OK;
    for (int32_t i = 0; i < n && st == SSL3D_OK; i++) {
        ssl3d_tensor *p = NULL;
        st = ft_segment_in(ctx, dctx, models[i], x, windows[i], overlap, &p, NULL);
        if (st != SSL3D_OK) break;
        if (!sum) { sum = p; continue; }   /* a new tensor of ft_segment_in: ours to add into */
        float *s = ssl3d_tensor_host_data(sum);
        const float *q = ssl3d_tensor_host_data(p);
        for (int64_t v = 0; v < sum->numel; v++) s[v] += q[v];
        ssl3d_tensor_release(p);
    }
    if (st != SSL3D_OK) { ssl3d_tensor_release(sum); return st; }
    float *s = ssl3d_tensor_host_data(sum);
    for (int64_t v = 0; v < sum->numel; v++) s[v] /= (float)n;
    if (labels) {
        st = ft_probs_argmax(dctx, sum, labels);
        if (st != SSL3D_OK) { ssl3d_tensor_release(sum); return st; }
    }
    if (probs) *probs = sum; else ssl3d_tensor_release(sum);
    return SSL3D_OK;
}

ssl3d_status ft_segment_route(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n, const ssl3d_tensor *x,
                              const int32_t *windows, float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels,
                              const char *fn) {
    SSL3D_CHECK_CTX(ctx);
    if (ctx->be->host_memory && x && x->ctx == ctx)
        return ft_segment_ensemble_in(ctx, ctx, models, n, x, windows, overlap, probs, labels);
    /* x elsewhere, or a device context: x is copied to a host context (ctx itself on the
     * CPU), the windows go to the models, and the results are copied to ctx. */
    SSL3D_CHECK(ft_check_f32_any(ctx, x, fn));
    ssl3d_ctx *h = NULL;
    ssl3d_tensor *hx = NULL, *hp = NULL, *hl = NULL;
    SSL3D_CHECK(ft_data_ctx(ctx, &h));
    ssl3d_status st = ssl3d_tensor_copy_to(h, x, &hx);
    if (st == SSL3D_OK)
        st = ft_segment_ensemble_in(ctx, h, models, n, hx, windows, overlap, probs ? &hp : NULL, labels ? &hl : NULL);
    if (st == SSL3D_OK && hp) st = ft_to_ctx(ctx, &hp);
    if (st == SSL3D_OK && hl) st = ft_to_ctx(ctx, &hl);
    ssl3d_tensor_release(hx);
    if (st != SSL3D_OK) { ssl3d_tensor_release(hp); ssl3d_tensor_release(hl); return ft_data_ctx_done(ctx, h, st); }
    if (probs) *probs = hp;
    if (labels) *labels = hl;
    return ft_data_ctx_done(ctx, h, st);
}

ssl3d_status ssl3d_ft_segment_ensemble(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n, const ssl3d_tensor *x,
                                       int32_t window, float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels) {
    static const char fn[] = "ssl3d_ft_segment_ensemble";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ft_ensemble_check(ctx, fn, models, n, SSL3D_FT_SEGMENT, window));
    SSL3D_CHECK(ft_check_f32_any(ctx, x, fn));
    char sb[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 4 && x->shape[0] == models[0]->in_channels, "%s: x %s, expected (%d,D,H,W)", fn,
                      ssl3d_shape_str(x, sb, sizeof sb), (int)models[0]->in_channels);
    int32_t *windows = NULL;
    SSL3D_CHECK(ft_ensemble_windows(ctx, models, n, x, window, &windows));
    ssl3d_status st = ft_segment_route(ctx, models, n, x, windows, overlap, probs, labels, fn);
    free(windows);
    return st;
}
