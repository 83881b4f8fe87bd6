/* Inference: image preparation, whole-volume / sliding-window segmentation (3D, or a 2D
 * model slice by slice) and classification probabilities. Runs on host buffers around
 * the model's forward pass, without recording on the tape. */
#include <math.h>
#include <string.h>
#include "finetune_internal.h"

/* Host copy of a tensor with a new shape (same numel). */
static ssl3d_status reshaped(ssl3d_ctx *ctx, const ssl3d_tensor *t, int32_t ndim, const int64_t *shape,
                             ssl3d_tensor **out) {
    return ssl3d_tensor_from_data(ctx, t->dtype, ndim, shape, t->data, out);
}

static ssl3d_status prepare_host(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ssl3d_image *img, ssl3d_tensor **out);

ssl3d_status ssl3d_ftmodel_prepare_image(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ssl3d_image *img,
                                         ssl3d_tensor **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && img && out, "ssl3d_ftmodel_prepare_image: %s is NULL",
                    !m ? "model" : !img ? "image" : "out");
    if (ctx->be->host_memory) return prepare_host(ctx, m, img, out);
    /* A device context: prepared on the host, then copied to the device. */
    ssl3d_ctx *h = NULL;
    ssl3d_tensor *x = NULL;
    SSL3D_CHECK(ft_data_ctx(ctx, &h));
    ssl3d_status st = prepare_host(h, m, img, &x);
    if (st == SSL3D_OK) st = ssl3d_tensor_copy_to(ctx, x, out);
    ssl3d_tensor_release(x);
    return ft_data_ctx_done(ctx, h, st);
}

/* ssl3d_ftmodel_prepare_image in a host-memory context. */
static ssl3d_status prepare_host(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ssl3d_image *img, ssl3d_tensor **out) {
    int64_t d[4];
    SSL3D_CHECK(ssl3d_image_dims(ctx, img, d));
    if (d[0] != m->in_channels)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: %lld channel(s), the model expects %d",
                               ssl3d_image_path(img)[0] ? ssl3d_image_path(img) : "image", (long long)d[0],
                               (int)m->in_channels);
    if (m->kind == SSL3D_FT_CLASSIFY && m->dims == 2 && d[1] != 1)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: a 2D classifier needs 2D images, got depth %lld",
                               ssl3d_image_path(img), (long long)d[1]);
    ssl3d_tensor *x = NULL, *y = NULL;
    SSL3D_CHECK(ssl3d_tensor_from_data(ctx, SSL3D_F32, 4, d, ssl3d_image_data(img), &x));
    ssl3d_status st = SSL3D_OK;
    if (m->input_norm == SSL3D_FT_NORM_ZSCORE) st = ssl3d_normalize_zscore(ctx, x, &y);
    else if (m->input_norm == SSL3D_FT_NORM_MINMAX) st = ssl3d_normalize_minmax(ctx, x, &y);
    else y = ssl3d_tensor_retain(x);
    ssl3d_tensor_release(x);
    if (st != SSL3D_OK) return st;
    if (m->kind == SSL3D_FT_SEGMENT) { *out = y; return SSL3D_OK; }
    /* Classification: fixed input size, multiple of 2^levels. 2D works on (C,H,W). */
    if (m->dims == 2) {
        int64_t s3[3] = { d[0], d[2], d[3] };
        st = reshaped(ctx, y, 3, s3, &x);
        ssl3d_tensor_release(y);
        if (st != SSL3D_OK) return st;
        y = x;
    }
    if (m->patch > 0) {
        int64_t size[3] = { m->patch, m->patch, m->patch };
        st = ssl3d_pad_crop_center(ctx, y, size, 0.0f, &x);
        ssl3d_tensor_release(y);
        if (st != SSL3D_OK) return st;
        y = x;
    }
    st = ssl3d_pad_to_multiple(ctx, y, (int64_t)1 << m->levels, 0.0f, &x);
    ssl3d_tensor_release(y);
    if (st != SSL3D_OK) return st;
    if (m->dims == 2) {
        int64_t s4[4] = { x->shape[0], 1, x->shape[1], x->shape[2] };
        st = reshaped(ctx, x, 4, s4, &y);
        ssl3d_tensor_release(x);
        if (st != SSL3D_OK) return st;
        x = y;
    }
    *out = x;
    return SSL3D_OK;
}

/* Window starts along an axis of padded size P for window w: 0, step, ..., P - w. */
static int32_t window_starts(int64_t P, int64_t w, float overlap, int64_t *starts, int32_t cap) {
    if (w >= P) { starts[0] = 0; return 1; }
    int64_t step = (int64_t)floor((double)w * (1.0 - overlap));
    if (step < 1) step = 1;
    int32_t n = 0;
    for (int64_t s = 0; n < cap; s += step) {
        if (s + w >= P) { starts[n++] = P - w; break; }
        starts[n++] = s;
    }
    return n;
}

#define FT_MAX_STARTS 4096

/* One pass without test-time mirroring (ssl3d_ftmodel_segment in finetune_tta.c adds
 * the mirrored passes). */
ssl3d_status ft_segment_plain(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, const ssl3d_tensor *x,
                              int32_t window, float overlap, ssl3d_tensor **probs, ssl3d_tensor **labels) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && m->kind == SSL3D_FT_SEGMENT, "ssl3d_ftmodel_segment: model is NULL or not a segmenter");
    SSL3D_CHECK(ssl3d_check_f32(dctx, x, "ssl3d_ftmodel_segment", "x"));
    char sb[96];
    SSL3D_CHECK_SHAPE(ctx, x->ndim == 4 && x->shape[0] == m->in_channels,
                      "ssl3d_ftmodel_segment: x %s, expected (%d,D,H,W)", ssl3d_shape_str(x, sb, sizeof sb),
                      (int)m->in_channels);
    const int64_t M = (int64_t)1 << m->levels;
    SSL3D_CHECK_ARG(ctx, window >= 0 && window % M == 0,
                    "ssl3d_ftmodel_segment: window %d must be 0 or a positive multiple of 2^levels = %d", (int)window,
                    (int)M);
    SSL3D_CHECK_ARG(ctx, overlap >= 0 && overlap < 1, "ssl3d_ftmodel_segment: overlap %g must be in [0, 1)",
                    (double)overlap);
    const float *src = ssl3d_tensor_host_data((ssl3d_tensor *)x);
    if (!src) return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "ssl3d_ftmodel_segment: x must be in host memory here");
    const int64_t C = x->shape[0], D = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int32_t K = m->classes;
    const int is2d = m->dims == 2;
    /* Items: one volume (3D) or D slices (2D); spatial (Sd,Sh,Sw) with Sd = 1 for 2D. */
    const int64_t I = is2d ? D : 1, S[3] = { is2d ? 1 : D, H, W };
    int64_t P[3], o[3], w[3];
    for (int a = 0; a < 3; a++) {
        P[a] = (is2d && a == 0) ? 1 : (S[a] + M - 1) / M * M;
        o[a] = (P[a] - S[a]) / 2;
        w[a] = (window > 0 && window < P[a]) ? window : P[a];
    }
    const int64_t Pv = P[0] * P[1] * P[2], wv = w[0] * w[1] * w[2];
    int64_t *starts[3];
    int32_t ns[3];
    int64_t *sbuf = malloc(3 * FT_MAX_STARTS * sizeof *sbuf);
    float *psum = calloc((size_t)(I * K * Pv), sizeof *psum);
    float *cnt = calloc((size_t)Pv, sizeof *cnt);
    const int64_t B = is2d ? (I < 16 ? I : 16) : 1;
    float *in = malloc((size_t)(B * C * wv) * sizeof *in);
    float *lg = malloc((size_t)(B * K * wv) * sizeof *lg);
    ssl3d_status st = SSL3D_OK;
    if (!sbuf || !psum || !cnt || !in || !lg) {
        st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ftmodel_segment: out of memory (volume %lldx%lldx%lld)",
                             (long long)D, (long long)H, (long long)W);
        goto done;
    }
    for (int a = 0; a < 3; a++) {
        starts[a] = sbuf + a * FT_MAX_STARTS;
        ns[a] = window_starts(P[a], w[a], overlap, starts[a], FT_MAX_STARTS);
    }
    int32_t prev = ssl3d_set_grad_enabled(ctx, 0);
    for (int32_t za = 0; za < ns[0] && st == SSL3D_OK; za++)
        for (int32_t zb = 0; zb < ns[1] && st == SSL3D_OK; zb++)
            for (int32_t zc = 0; zc < ns[2] && st == SSL3D_OK; zc++) {
                const int64_t z0 = starts[0][za], z1 = starts[1][zb], z2 = starts[2][zc];
                for (int64_t i0 = 0; i0 < I && st == SSL3D_OK; i0 += B) {
                    const int64_t b = (I - i0 < B) ? I - i0 : B;
                    /* Gather the window of items i0..i0+b-1 from the (virtually) padded input. */
                    for (int64_t bi = 0; bi < b; bi++)
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t p0 = 0; p0 < w[0]; p0++)
                                for (int64_t p1 = 0; p1 < w[1]; p1++) {
                                    float *dst = in + (((bi * C + c) * w[0] + p0) * w[1] + p1) * w[2];
                                    const int64_t s0 = z0 + p0 - o[0], s1 = z1 + p1 - o[1];
                                    if (s0 < 0 || s0 >= S[0] || s1 < 0 || s1 >= S[1]) {
                                        memset(dst, 0, (size_t)w[2] * sizeof *dst);
                                        continue;
                                    }
                                    const int64_t dd = is2d ? i0 + bi : s0;
                                    const float *row = src + ((c * D + dd) * H + s1) * W;
                                    for (int64_t p2 = 0; p2 < w[2]; p2++) {
                                        const int64_t s2 = z2 + p2 - o[2];
                                        dst[p2] = (s2 >= 0 && s2 < S[2]) ? row[s2] : 0.0f;
                                    }
                                }
                    int64_t shp[5];
                    int32_t nd;
                    if (is2d) { shp[0] = b; shp[1] = C; shp[2] = w[1]; shp[3] = w[2]; nd = 4; }
                    else { shp[0] = b; shp[1] = C; shp[2] = w[0]; shp[3] = w[1]; shp[4] = w[2]; nd = 5; }
                    ssl3d_tensor *xt = NULL, *lt = NULL;
                    st = ssl3d_tensor_from_data(ctx, SSL3D_F32, nd, shp, in, &xt);
                    if (st == SSL3D_OK) st = ssl3d_ftmodel_forward(ctx, m, xt, 0, 0, &lt);
                    if (st == SSL3D_OK) st = ssl3d_tensor_read(ctx, lt, lg, b * K * wv * 4);
                    ssl3d_tensor_release(xt);
                    ssl3d_tensor_release(lt);
                    if (st != SSL3D_OK) break;
                    /* Softmax over classes per voxel, accumulated into the padded sum. */
                    for (int64_t bi = 0; bi < b; bi++)
                        for (int64_t v = 0; v < wv; v++) {
                            const float *l = lg + bi * K * wv + v;
                            float mx = l[0];
                            for (int32_t k = 1; k < K; k++) mx = l[k * wv] > mx ? l[k * wv] : mx;
                            double z = 0;
                            for (int32_t k = 0; k < K; k++) z += exp((double)(l[k * wv] - mx));
                            const int64_t p0 = v / (w[1] * w[2]), p1 = (v / w[2]) % w[1], p2 = v % w[2];
                            const int64_t pv = ((z0 + p0) * P[1] + z1 + p1) * P[2] + z2 + p2;
                            float *ps = psum + (i0 + bi) * K * Pv + pv;
                            for (int32_t k = 0; k < K; k++) ps[k * Pv] += (float)(exp((double)(l[k * wv] - mx)) / z);
                        }
                }
                for (int64_t p0 = 0; p0 < w[0]; p0++)
                    for (int64_t p1 = 0; p1 < w[1]; p1++)
                        for (int64_t p2 = 0; p2 < w[2]; p2++) cnt[((z0 + p0) * P[1] + z1 + p1) * P[2] + z2 + p2] += 1;
            }
    ssl3d_set_grad_enabled(ctx, prev);
    if (st != SSL3D_OK) goto done;
    {
        int64_t ps[4] = { K, D, H, W }, ls[3] = { D, H, W };
        ssl3d_tensor *pt = NULL, *lt = NULL;
        st = ssl3d_tensor_new(dctx, SSL3D_F32, 4, ps, &pt);
        if (st == SSL3D_OK) st = ssl3d_tensor_new(dctx, SSL3D_I32, 3, ls, &lt);
        if (st != SSL3D_OK) { ssl3d_tensor_release(pt); goto done; }
        float *pv = ssl3d_tensor_host_data(pt);
        int32_t *lv = ssl3d_tensor_host_data(lt);
        const int64_t V = D * H * W;
        for (int64_t dd = 0; dd < D; dd++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t ww = 0; ww < W; ww++) {
                    const int64_t item = is2d ? dd : 0, q0 = is2d ? 0 : dd + o[0];
                    const int64_t q = (q0 * P[1] + h + o[1]) * P[2] + ww + o[2];
                    const int64_t v = (dd * H + h) * W + ww;
                    const float c = cnt[q] > 0 ? cnt[q] : 1;
                    int32_t best = 0;
                    float bp = -1;
                    for (int32_t k = 0; k < K; k++) {
                        float p = psum[(item * K + k) * Pv + q] / c;
                        pv[k * V + v] = p;
                        if (p > bp) { bp = p; best = k; }
                    }
                    lv[v] = best;
                }
        if (probs) *probs = pt; else ssl3d_tensor_release(pt);
        if (labels) *labels = lt; else ssl3d_tensor_release(lt);
    }
done:
    free(sbuf); free(psum); free(cnt); free(in); free(lg);
    return st;
}

ssl3d_status ssl3d_ftmodel_classify(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_tensor *x, ssl3d_tensor **probs,
                                    ssl3d_tensor **pred) {
    return ft_classify_in(ctx, ctx, m, x, probs, pred);
}

ssl3d_status ft_classify_in(ssl3d_ctx *ctx, ssl3d_ctx *octx, ssl3d_ftmodel *m, const ssl3d_tensor *x,
                            ssl3d_tensor **probs, ssl3d_tensor **pred) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && m->kind == SSL3D_FT_CLASSIFY, "ssl3d_ftmodel_classify: model is NULL or not a classifier");
    SSL3D_CHECK(ft_check_f32_any(ctx, x, "ssl3d_ftmodel_classify"));
    /* The batch goes to the model's context; the logits come back to the host. */
    ssl3d_tensor *xm = ssl3d_tensor_retain((ssl3d_tensor *)x), *lt = NULL;
    ssl3d_status st = ft_to_ctx(ctx, &xm);
    if (st != SSL3D_OK) { ssl3d_tensor_release(xm); return st; }
    int32_t prev = ssl3d_set_grad_enabled(ctx, 0);
    st = ssl3d_ftmodel_forward(ctx, m, xm, 0, 0, &lt);
    ssl3d_set_grad_enabled(ctx, prev);
    ssl3d_tensor_release(xm);
    if (st != SSL3D_OK) return st;
    const int64_t N = lt->shape[0];
    const int32_t K = m->classes, O = ssl3d_ftmodel_outputs(m);
    int64_t ps[2] = { N, K }, ls[1] = { N };
    float *l = malloc((size_t)lt->numel * sizeof *l), *p = malloc((size_t)(N * K) * sizeof *p);
    int32_t *y = malloc((size_t)N * sizeof *y);
    if (!l || !p || !y) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ftmodel_classify: out of memory");
    if (st == SSL3D_OK) st = ssl3d_tensor_read(ctx, lt, l, lt->numel * 4);
    ssl3d_tensor_release(lt);
    if (st == SSL3D_OK && m->ordinal) {
        /* s_j = sigmoid(logit_j) = P(y > j): class scores and grades as ssl3d/metrics.h. */
        st = ssl3d_ordinal_class_scores(ctx, l, N, K, 1, p);
        if (st == SSL3D_OK) st = ssl3d_ordinal_decode(ctx, l, N, K, 1, y, NULL);
    } else if (st == SSL3D_OK) {
        for (int64_t n = 0; n < N; n++) {
            const float *ln = l + n * O;
            float *pn = p + n * K;
            float mx = ln[0];
            int32_t best = 0;
            for (int32_t k = 1; k < K; k++) if (ln[k] > mx) { mx = ln[k]; best = k; }
            double z = 0;
            for (int32_t k = 0; k < K; k++) z += exp((double)(ln[k] - mx));
            for (int32_t k = 0; k < K; k++) pn[k] = (float)(exp((double)(ln[k] - mx)) / z);
            y[n] = best;
        }
    }
    ssl3d_tensor *pt = NULL, *yt = NULL;
    if (st == SSL3D_OK) st = ssl3d_tensor_from_data(octx, SSL3D_F32, 2, ps, p, &pt);
    if (st == SSL3D_OK) st = ssl3d_tensor_from_data(octx, SSL3D_I32, 1, ls, y, &yt);
    free(l); free(p); free(y);
    if (st != SSL3D_OK) { ssl3d_tensor_release(pt); ssl3d_tensor_release(yt); return st; }
    if (probs) *probs = pt; else ssl3d_tensor_release(pt);
    if (pred) *pred = yt; else ssl3d_tensor_release(yt);
    return SSL3D_OK;
}
