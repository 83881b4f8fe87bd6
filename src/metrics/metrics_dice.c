/* Dice per class and region Dice (BraTS presets) on host label maps. One pass over the
 * voxels counts |P_k|, |R_k| and |P_k ∩ R_k| in 64-bit integers, so the result is
 * exact and independent of any thread count. */
#include <stdlib.h>
#include <string.h>
#include "metrics_internal.h"

ssl3d_status ssl3d_metrics_check_labels(ssl3d_ctx *ctx, const int32_t *a, int64_t n, int32_t k,
                                        const char *fn, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (a[i] < 0 || a[i] >= k)
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s[%lld] = %d is outside [0,%d)", fn,
                                   what, (long long)i, (int)a[i], (int)k);
    return SSL3D_OK;
}

/* Host view of an int32 tensor's values: the tensor's own memory when it lives on the
 * host (*owned = NULL), else a malloc'd copy that the caller frees (*owned = copy). */
static ssl3d_status host_i32(ssl3d_ctx *ctx, const ssl3d_tensor *t, const int32_t **view, int32_t **owned) {
    *owned = NULL;
    void *h = ssl3d_tensor_host_data((ssl3d_tensor *)t);
    if (h) { *view = h; return SSL3D_OK; }
    int32_t *copy = malloc((size_t)t->numel * sizeof *copy);
    if (!copy) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "metrics: cannot copy %lld labels to the host",
                                      (long long)t->numel);
    ssl3d_status st = ssl3d_tensor_read(ctx, t, copy, t->numel * 4);
    if (st != SSL3D_OK) { free(copy); return st; }
    *view = copy;
    *owned = copy;
    return SSL3D_OK;
}

ssl3d_status ssl3d_metrics_host_pair(ssl3d_ctx *ctx, const char *fn, const ssl3d_tensor *pred,
                                     const ssl3d_tensor *ref, const int32_t **p, const int32_t **r, int32_t **po,
                                     int32_t **ro) {
    *po = *ro = NULL;
    char sp[96], sr[96];
    int same = pred->ndim == ref->ndim;
    for (int d = 0; same && d < pred->ndim; d++) same = pred->shape[d] == ref->shape[d];
    SSL3D_CHECK_SHAPE(ctx, same, "%s: pred %s and ref %s differ in shape", fn,
                      ssl3d_shape_str(pred, sp, sizeof sp), ssl3d_shape_str(ref, sr, sizeof sr));
    SSL3D_CHECK(host_i32(ctx, pred, p, po));
    return host_i32(ctx, ref, r, ro);
}

/* Counts for classes 0..k-1 after range checks; dice[c-1] for c = 1..k-1. */
static ssl3d_status dice_counts(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref, int64_t n,
                                int32_t k, double *dice, const char *fn) {
    SSL3D_CHECK(ssl3d_metrics_check_labels(ctx, pred, n, k, fn, "pred"));
    SSL3D_CHECK(ssl3d_metrics_check_labels(ctx, ref, n, k, fn, "ref"));
    int64_t *cnt = calloc((size_t)k * 3u, sizeof *cnt);
    if (!cnt) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory for %d classes", fn, (int)k);
    int64_t *np = cnt, *nr = cnt + k, *ni = cnt + 2 * (size_t)k;
    for (int64_t i = 0; i < n; i++) {
        np[pred[i]]++;
        nr[ref[i]]++;
        if (pred[i] == ref[i]) ni[pred[i]]++;
    }
    for (int32_t c = 1; c < k; c++) dice[c - 1] = ssl3d_metrics_dice_of(ni[c], np[c], nr[c]);
    free(cnt);
    return SSL3D_OK;
}

ssl3d_status ssl3d_dice_per_class(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref, int64_t n,
                                  int32_t num_classes, double *dice) {
    static const char fn[] = "ssl3d_dice_per_class";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, pred, "%s: pred is NULL", fn);
    SSL3D_CHECK_ARG(ctx, ref, "%s: ref is NULL", fn);
    SSL3D_CHECK_ARG(ctx, dice, "%s: dice is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, need at least one voxel", fn, (long long)n);
    SSL3D_CHECK_ARG(ctx, num_classes >= 2, "%s: num_classes = %d, need >= 2 (background + 1)", fn,
                    (int)num_classes);
    return dice_counts(ctx, pred, ref, n, num_classes, dice, fn);
}

ssl3d_status ssl3d_dice_per_class_tensor(ssl3d_ctx *ctx, const ssl3d_tensor *pred, const ssl3d_tensor *ref,
                                         int32_t num_classes, double *dice) {
    static const char fn[] = "ssl3d_dice_per_class_tensor";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(ssl3d_check_i32(ctx, pred, fn, "pred"));
    SSL3D_CHECK(ssl3d_check_i32(ctx, ref, fn, "ref"));
    SSL3D_CHECK_ARG(ctx, dice, "%s: dice is NULL", fn);
    SSL3D_CHECK_ARG(ctx, num_classes >= 2, "%s: num_classes = %d, need >= 2", fn, (int)num_classes);
    const int32_t *p = NULL, *r = NULL;
    int32_t *po = NULL, *ro = NULL;
    ssl3d_status st = ssl3d_metrics_host_pair(ctx, fn, pred, ref, &p, &r, &po, &ro);
    if (st == SSL3D_OK) st = dice_counts(ctx, p, r, pred->numel, num_classes, dice, fn);
    free(po);
    free(ro);
    return st;
}

static int in_set(int32_t v, const int32_t *labels, int32_t n_labels) {
    for (int32_t j = 0; j < n_labels; j++)
        if (labels[j] == v) return 1;
    return 0;
}

ssl3d_status ssl3d_region_dice(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref, int64_t n,
                               const int32_t *labels, int32_t n_labels, double *dice) {
    static const char fn[] = "ssl3d_region_dice";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, pred, "%s: pred is NULL", fn);
    SSL3D_CHECK_ARG(ctx, ref, "%s: ref is NULL", fn);
    SSL3D_CHECK_ARG(ctx, labels, "%s: labels is NULL", fn);
    SSL3D_CHECK_ARG(ctx, dice, "%s: dice is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, need at least one voxel", fn, (long long)n);
    SSL3D_CHECK_ARG(ctx, n_labels >= 1, "%s: n_labels = %d, a region needs at least one label", fn,
                    (int)n_labels);
    for (int32_t j = 0; j < n_labels; j++)
        SSL3D_CHECK_ARG(ctx, labels[j] >= 0, "%s: labels[%d] = %d is negative", fn, (int)j, (int)labels[j]);
    int64_t np = 0, nr = 0, ni = 0;
    for (int64_t i = 0; i < n; i++) {
        SSL3D_CHECK_ARG(ctx, pred[i] >= 0, "%s: pred[%lld] = %d is negative", fn, (long long)i, (int)pred[i]);
        SSL3D_CHECK_ARG(ctx, ref[i] >= 0, "%s: ref[%lld] = %d is negative", fn, (long long)i, (int)ref[i]);
        int a = in_set(pred[i], labels, n_labels), b = in_set(ref[i], labels, n_labels);
        np += a;
        nr += b;
        ni += a & b;
    }
    *dice = ssl3d_metrics_dice_of(ni, np, nr);
    return SSL3D_OK;
}

/* Region label sets, [preset][region], terminated by -1. */
static const int32_t brats_sets[2][3][5] = {
    { { 1, 2, 4, -1 }, { 1, 4, -1 }, { 4, -1 } },          /* 2018 */
    { { 1, 2, 3, 4, -1 }, { 1, 3, 4, -1 }, { 4, -1 } },    /* 2013-2015 */
};

static int32_t set_len(const int32_t *s) {
    int32_t m = 0;
    while (s[m] >= 0) m++;
    return m;
}

ssl3d_status ssl3d_brats_region_labels(ssl3d_ctx *ctx, int32_t preset, int32_t region, int32_t *labels,
                                       int32_t cap, int32_t *n_labels) {
    static const char fn[] = "ssl3d_brats_region_labels";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, preset == SSL3D_BRATS_2018 || preset == SSL3D_BRATS_2013,
                    "%s: preset = %d, want SSL3D_BRATS_2018 (0) or SSL3D_BRATS_2013 (1)", fn, (int)preset);
    SSL3D_CHECK_ARG(ctx, region >= 0 && region <= 2, "%s: region = %d, want WT (0), TC (1) or ET (2)", fn,
                    (int)region);
    SSL3D_CHECK_ARG(ctx, labels, "%s: labels is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_labels, "%s: n_labels is NULL", fn);
    const int32_t *s = brats_sets[preset][region];
    int32_t m = set_len(s);
    SSL3D_CHECK_ARG(ctx, cap >= m, "%s: cap = %d, the region has %d labels", fn, (int)cap, (int)m);
    memcpy(labels, s, (size_t)m * sizeof *labels);
    *n_labels = m;
    return SSL3D_OK;
}

ssl3d_status ssl3d_brats_dice(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref, int64_t n,
                              int32_t preset, double *dice) {
    static const char fn[] = "ssl3d_brats_dice";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, preset == SSL3D_BRATS_2018 || preset == SSL3D_BRATS_2013,
                    "%s: preset = %d, want SSL3D_BRATS_2018 (0) or SSL3D_BRATS_2013 (1)", fn, (int)preset);
    SSL3D_CHECK_ARG(ctx, dice, "%s: dice is NULL", fn);
    double d[3];
    for (int r = 0; r < 3; r++) {
        const int32_t *s = brats_sets[preset][r];
        ssl3d_status st = ssl3d_region_dice(ctx, pred, ref, n, s, set_len(s), &d[r]);
        if (st != SSL3D_OK) return st;
    }
    memcpy(dice, d, sizeof d);
    return SSL3D_OK;
}
