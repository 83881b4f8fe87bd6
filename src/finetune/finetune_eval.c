/* Case selection (splits, split-list files) and evaluation of a fine-tuned model on a
 * manifest: Dice per class per volume (segment), accuracy / AUC / QWK (classify), and
 * predictions written as NIfTI in the source geometry. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "finetune_internal.h"

static int case_labelled(const ssl3d_manifest *man, int64_t i) {
    return ssl3d_manifest_kind(man) == SSL3D_MANIFEST_MSD ? ssl3d_manifest_case_label_path(man, i) != NULL
                                                          : ssl3d_manifest_case_label(man, i) >= 0;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Index of the case whose first image matches `entry` (index, path, or file name); -1. */
static int64_t find_case(const ssl3d_manifest *man, const char *entry) {
    int64_t n = ssl3d_manifest_count(man);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(entry, &end, 10);
    if (end != entry && !*end && !errno) return (v >= 0 && v < n) ? v : -1;
    size_t le = strlen(entry);
    for (int64_t i = 0; i < n; i++) {
        const char *p = ssl3d_manifest_case_image(man, i, 0);
        if (!p) continue;
        size_t lp = strlen(p);
        if (!strcmp(p, entry) || !strcmp(base_name(p), entry)) return i;
        /* A relative path as written in the manifest: a suffix after a '/'. */
        if (lp > le && p[lp - le - 1] == '/' && !strcmp(p + lp - le, entry)) return i;
    }
    return -1;
}

ssl3d_status ssl3d_ft_select_cases(ssl3d_ctx *ctx, const ssl3d_manifest *man, int32_t split, const char *cases_file,
                                   int64_t *idx, int64_t cap, int64_t *count) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, man && count, "ssl3d_ft_select_cases: %s is NULL", man ? "count" : "manifest");
    SSL3D_CHECK_ARG(ctx, cap <= 0 || idx, "ssl3d_ft_select_cases: idx is NULL");
    SSL3D_CHECK_ARG(ctx, split >= -1 && split <= SSL3D_SPLIT_TEST, "ssl3d_ft_select_cases: unknown split %d", (int)split);
    int64_t n = ssl3d_manifest_count(man), k = 0;
    if (!cases_file) {
        int all = split < 0 || (ssl3d_manifest_kind(man) == SSL3D_MANIFEST_MSD && split == SSL3D_SPLIT_TEST);
        for (int64_t i = 0; i < n; i++) {
            if (!case_labelled(man, i) || (!all && ssl3d_manifest_case_split(man, i) != split)) continue;
            if (k < cap) idx[k] = i;
            k++;
        }
        *count = k;
        return SSL3D_OK;
    }
    FILE *f = fopen(cases_file, "r");
    if (!f) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: cannot open the case list (%s)", cases_file, strerror(errno));
    char line[4096];
    int64_t lineno = 0;
    ssl3d_status st = SSL3D_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line, *e;
        while (isspace((unsigned char)*s)) s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
        if (!*s || *s == '#') continue;
        int64_t c = find_case(man, s);
        if (c < 0) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s:%lld: '%s' is not a case of the manifest", cases_file,
                                 (long long)lineno, s);
            break;
        }
        if (!case_labelled(man, c)) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s:%lld: case '%s' has no label", cases_file,
                                 (long long)lineno, s);
            break;
        }
        if (k < cap) idx[k] = c;
        k++;
    }
    fclose(f);
    if (st != SSL3D_OK) return st;
    *count = k;
    return SSL3D_OK;
}

/* Window for evaluation: < 0 picks sliding windows of the model's patch when the padded
 * volume is more than 8 patches big (3D) / 16 (2D slices), else the whole volume. */
int32_t ft_auto_window(const ssl3d_ftmodel *m, const ssl3d_tensor *x, int32_t window) {
    if (window >= 0) return window;
    if (m->patch <= 0) return 0;
    int64_t M = (int64_t)1 << m->levels;
    double vol = 1, pv = 1;
    for (int a = (m->dims == 2 ? 2 : 1); a < 4; a++) {
        vol *= (double)((x->shape[a] + M - 1) / M * M);
        pv *= m->patch;
    }
    return vol > (m->dims == 2 ? 16 : 8) * pv ? m->patch : 0;
}

ssl3d_status ft_segment_case(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *const *models, int32_t n,
                             const ssl3d_tensor *x, const ssl3d_tensor *truth, int32_t window, float overlap,
                             double *dice, ssl3d_tensor **pred_out) {
    ssl3d_tensor *pred = NULL;
    int32_t *windows = NULL;
    SSL3D_CHECK(ft_ensemble_windows(ctx, models, n, x, window, &windows));
    ssl3d_status st = ft_segment_ensemble_in(ctx, dctx, models, n, x, windows, overlap, NULL, &pred);
    free(windows);
    if (st != SSL3D_OK) return st;
    if (pred->numel != truth->numel) {
        ssl3d_tensor_release(pred);
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "evaluation: prediction and label map differ in size");
    }
    st = ssl3d_dice_per_class_tensor(dctx, pred, truth, models[0]->classes, dice + 1);
    if (st == SSL3D_OK && pred_out) *pred_out = pred;
    else ssl3d_tensor_release(pred);
    return st;
}

static ssl3d_status write_prediction(ssl3d_ctx *ctx, const char *dir, const ssl3d_image *img, const ssl3d_tensor *pred,
                                     int32_t classes) {
    const char *src = ssl3d_image_path(img);
    const char *b = base_name(src[0] ? src : "prediction");
    size_t lb = strlen(b);
    int nii = (lb > 4 && !strcmp(b + lb - 4, ".nii")) || (lb > 7 && !strcmp(b + lb - 7, ".nii.gz"));
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s%s", dir, b, nii ? "" : ".nii.gz") >= (int)sizeof path)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "--predictions: path too long in %s", dir);
    if (strcmp(ssl3d_image_format(img), "png") == 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "%s: predictions are written for NIfTI images only", src);
    return ssl3d_nifti_write(ctx, path, pred, img, classes <= 255 ? SSL3D_NIFTI_UINT8 : SSL3D_NIFTI_INT16);
}

static void mean_sd(const double *v, int64_t n, int64_t stride, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++) s += v[i * stride];
    double mu = n ? s / (double)n : NAN;
    for (int64_t i = 0; i < n; i++) q += (v[i * stride] - mu) * (v[i * stride] - mu);
    *mean = mu;
    *sd = n > 1 ? sqrt(q / (double)(n - 1)) : (n == 1 ? 0.0 : NAN);
}

/* Read case i and prepare it; label tensor (D,H,W) for segment, class for classify. */
ssl3d_status ft_load_case(ssl3d_ctx *ctx, const ssl3d_ftmodel *m, const ssl3d_manifest *man, int64_t i,
                          ssl3d_image **img_out, ssl3d_tensor **x, ssl3d_tensor **label_map, int32_t *label) {
    ssl3d_image *img = NULL, *lab = NULL;
    int want_map = m->kind == SSL3D_FT_SEGMENT;
    SSL3D_CHECK(ssl3d_manifest_case_read(ctx, man, i, 0, &img, want_map ? &lab : NULL));
    ssl3d_status st = SSL3D_OK;
    if (want_map && !lab)
        st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: the case has no label map",
                             ssl3d_manifest_case_image(man, i, 0));
    if (st == SSL3D_OK) st = ssl3d_ftmodel_prepare_image(ctx, m, img, x);
    if (st == SSL3D_OK && want_map) {
        ssl3d_tensor *l4 = NULL;
        st = ssl3d_image_to_label_tensor(ctx, lab, 3, &l4);
        if (st == SSL3D_OK) {
            int64_t s3[3] = { l4->shape[1], l4->shape[2], l4->shape[3] };
            st = ssl3d_tensor_from_data(ctx, SSL3D_I32, 3, s3, l4->data, label_map);
            if (st != SSL3D_OK) { ssl3d_tensor_release(*x); *x = NULL; }
        } else { ssl3d_tensor_release(*x); *x = NULL; }
        ssl3d_tensor_release(l4);
    }
    if (st == SSL3D_OK && !want_map && label) {
        *label = ssl3d_manifest_case_label(man, i);
        if (*label < 0 || *label >= m->classes) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: label %d is outside the model's %d classes",
                                 ssl3d_manifest_case_image(man, i, 0), (int)*label, (int)m->classes);
            ssl3d_tensor_release(*x); *x = NULL;
        }
    }
    ssl3d_image_release(lab);
    if (st == SSL3D_OK && img_out) *img_out = img;
    else ssl3d_image_release(img);
    return st;
}

/* Classification metrics of probs (n,K) against truth (ssl3d/metrics.h). AUC is NaN when
 * it is undefined (a single class among the cases). */
ssl3d_status ft_class_metrics(ssl3d_ctx *ctx, const float *probs, const int32_t *pred, const int32_t *truth, int64_t n,
                              int32_t K, double *acc, double *auc, double *qwk) {
    SSL3D_CHECK(ssl3d_accuracy(ctx, pred, truth, n, acc));
    SSL3D_CHECK(ssl3d_quadratic_kappa(ctx, pred, truth, n, K, qwk));
    if (ssl3d_roc_auc_ovr(ctx, probs, truth, n, K, auc, NULL, NULL) != SSL3D_OK) {
        *auc = NAN;
        ssl3d_ctx_clear_error(ctx);
    }
    return SSL3D_OK;
}

/* Classify prepared images xs[0..n) in batches: probs (n,K) and pred (n). Each batch is
 * assembled in dctx and copied to the model's context by ft_classify_in. */
ssl3d_status ft_classify_many(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *m, ssl3d_tensor *const *xs, int64_t n,
                              float *probs, int32_t *pred) {
    const int64_t B = 32;
    for (int64_t i0 = 0; i0 < n; i0 += B) {
        int64_t b = n - i0 < B ? n - i0 : B;
        const ssl3d_tensor *x0 = xs[i0];
        int64_t shp[5] = { b, x0->shape[0], x0->shape[1], x0->shape[2], x0->shape[3] };
        int32_t nd = 5;
        if (m->dims == 2) { shp[2] = x0->shape[2]; shp[3] = x0->shape[3]; nd = 4; }
        ssl3d_tensor *bt = NULL, *pt = NULL, *yt = NULL;
        SSL3D_CHECK(ssl3d_tensor_new(dctx, SSL3D_F32, nd, shp, &bt));
        float *bv = ssl3d_tensor_host_data(bt);
        for (int64_t j = 0; j < b; j++) {
            if (xs[i0 + j]->numel != x0->numel) {
                ssl3d_tensor_release(bt);
                return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "classification: images differ in size (set a patch / "
                                                             "input size so that every image is padded or cropped "
                                                             "to it)");
            }
            memcpy(bv + j * x0->numel, xs[i0 + j]->data, (size_t)x0->numel * 4);
        }
        ssl3d_status st = ft_classify_in(ctx, dctx, m, bt, &pt, &yt);
        ssl3d_tensor_release(bt);
        if (st != SSL3D_OK) return st;
        memcpy(probs + i0 * m->classes, pt->data, (size_t)(b * m->classes) * 4);
        memcpy(pred + i0, yt->data, (size_t)b * 4);
        ssl3d_tensor_release(pt);
        ssl3d_tensor_release(yt);
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_ft_evaluate(ssl3d_ctx *ctx, ssl3d_ftmodel *m, const ssl3d_manifest *man, const int64_t *cases,
                               int64_t n_cases, int32_t window, float overlap, const char *pred_dir,
                               ssl3d_ftresult **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m, "ssl3d_ft_evaluate: model is NULL");
    return ssl3d_ft_evaluate_ensemble(ctx, &m, 1, man, cases, n_cases, window, overlap, pred_dir, out);
}

ssl3d_status ssl3d_ft_evaluate_ensemble(ssl3d_ctx *ctx, ssl3d_ftmodel *const *models, int32_t n,
                                        const ssl3d_manifest *man, const int64_t *cases, int64_t n_cases,
                                        int32_t window, float overlap, const char *pred_dir, ssl3d_ftresult **out) {
    SSL3D_CHECK_CTX(ctx);
    ssl3d_ctx *dctx = NULL;
    SSL3D_CHECK(ft_data_ctx(ctx, &dctx));
    ssl3d_status st = ft_evaluate_in(ctx, dctx, models, n, man, cases, n_cases, window, overlap, pred_dir, out);
    return ft_data_ctx_done(ctx, dctx, st);
}

/* Classification of cases[0..n_cases) by the ensemble: probs (n_cases,K) averaged over
 * the models, pred their argmax (n = 1: the model's own probabilities and predictions).
 * Each model prepares the images for itself (its patch and levels decide the input size). */
static ssl3d_status classify_cases(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *const *models, int32_t n,
                                   const ssl3d_manifest *man, const int64_t *cases, int64_t n_cases, float *probs,
                                   int32_t *pred, int32_t *truth) {
    const int32_t K = models[0]->classes;
    ssl3d_tensor **xs = calloc((size_t)n_cases, sizeof *xs);
    float *pj = n > 1 ? malloc((size_t)(n_cases * K) * sizeof *pj) : NULL;
    ssl3d_status st = SSL3D_OK;
    if (!xs || (n > 1 && !pj)) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "evaluation: out of memory");
    for (int32_t j = 0; j < n && st == SSL3D_OK; j++) {
        for (int64_t i = 0; i < n_cases && st == SSL3D_OK; i++)
            st = ft_load_case(dctx, models[j], man, cases[i], NULL, &xs[i], NULL, &truth[i]);
        if (st == SSL3D_OK) st = ft_classify_many(ctx, dctx, models[j], xs, n_cases, j ? pj : probs, pred);
        for (int64_t i = 0; st == SSL3D_OK && j > 0 && i < n_cases * K; i++) probs[i] += pj[i];
        for (int64_t i = 0; i < n_cases; i++) { ssl3d_tensor_release(xs[i]); xs[i] = NULL; }
    }
    if (st == SSL3D_OK && n > 1)
        for (int64_t i = 0; i < n_cases; i++) {
            float *p = probs + i * K;
            int32_t best = 0;
            for (int32_t k = 0; k < K; k++) {
                p[k] /= (float)n;
                if (p[k] > p[best]) best = k;
            }
            pred[i] = best;
        }
    free(xs); free(pj);
    return st;
}

ssl3d_status ft_evaluate_in(ssl3d_ctx *ctx, ssl3d_ctx *dctx, ssl3d_ftmodel *const *models, int32_t n,
                            const ssl3d_manifest *man, const int64_t *cases, int64_t n_cases, int32_t window,
                            float overlap, const char *pred_dir, ssl3d_ftresult **out) {
    const char *fn = n == 1 ? "ssl3d_ft_evaluate" : "ssl3d_ft_evaluate_ensemble";
    SSL3D_CHECK(ft_ensemble_check(ctx, fn, models, n, -1, window));
    ssl3d_ftmodel *m = models[0];   /* kind, classes and the segmenters' input preparation: shared */
    SSL3D_CHECK_ARG(ctx, man && out, "%s: %s is NULL", fn, !man ? "manifest" : "out");
    SSL3D_CHECK_ARG(ctx, n_cases >= 1 && cases, "%s: no cases to evaluate", fn);
    for (int64_t i = 0; i < n_cases; i++)
        SSL3D_CHECK_ARG(ctx, cases[i] >= 0 && cases[i] < ssl3d_manifest_count(man),
                        "%s: case index %lld out of range", fn, (long long)cases[i]);
    SSL3D_CHECK_ARG(ctx, !pred_dir || m->kind == SSL3D_FT_SEGMENT,
                    "%s: predictions are written for segmentation models only", fn);
    ssl3d_ftresult *r = calloc(1, sizeof *r);
    if (!r) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    r->kind = m->kind; r->classes = m->classes; r->cases = n_cases; r->models = n;
    r->dice_all = r->dice_all_sd = r->accuracy = r->auc = r->qwk = NAN;
    ssl3d_status st = SSL3D_OK;
    const int32_t K = m->classes;
    if (m->kind == SSL3D_FT_SEGMENT) {
        double *dice = calloc((size_t)(n_cases * K), sizeof *dice), *dmean = calloc((size_t)n_cases, sizeof *dmean);
        r->dice_mean = calloc((size_t)K, sizeof(double));
        r->dice_sd = calloc((size_t)K, sizeof(double));
        if (!dice || !dmean || !r->dice_mean || !r->dice_sd) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        for (int64_t i = 0; i < n_cases && st == SSL3D_OK; i++) {
            ssl3d_image *img = NULL;
            ssl3d_tensor *x = NULL, *lab = NULL, *pred = NULL;
            st = ft_load_case(dctx, m, man, cases[i], &img, &x, &lab, NULL);
            if (st == SSL3D_OK)
                st = ft_segment_case(ctx, dctx, models, n, x, lab, window, overlap, dice + i * K, pred_dir ? &pred : NULL);
            if (st == SSL3D_OK && pred_dir) st = write_prediction(dctx, pred_dir, img, pred, K);
            if (st == SSL3D_OK) {
                double s = 0;
                for (int32_t k = 1; k < K; k++) s += dice[i * K + k];
                dmean[i] = s / (K - 1);
            }
            ssl3d_tensor_release(x); ssl3d_tensor_release(lab); ssl3d_tensor_release(pred);
            ssl3d_image_release(img);
        }
        if (st == SSL3D_OK) {
            for (int32_t k = 1; k < K; k++) mean_sd(dice + k, n_cases, K, &r->dice_mean[k], &r->dice_sd[k]);
            mean_sd(dmean, n_cases, 1, &r->dice_all, &r->dice_all_sd);
        }
        free(dice); free(dmean);
    } else {
        int32_t *truth = calloc((size_t)n_cases, sizeof *truth), *pred = calloc((size_t)n_cases, sizeof *pred);
        float *probs = calloc((size_t)(n_cases * K), sizeof *probs);
        if (!truth || !pred || !probs) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        if (st == SSL3D_OK) st = classify_cases(ctx, dctx, models, n, man, cases, n_cases, probs, pred, truth);
        if (st == SSL3D_OK) st = ft_class_metrics(ctx, probs, pred, truth, n_cases, K, &r->accuracy, &r->auc, &r->qwk);
        free(truth); free(pred); free(probs);
    }
    if (st == SSL3D_OK) st = ft_result_finish(ctx, r);
    if (st != SSL3D_OK) { ssl3d_ftresult_release(r); return st; }
    *out = r;
    return SSL3D_OK;
}
