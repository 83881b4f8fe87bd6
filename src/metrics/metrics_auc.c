/* ROC AUC by the Mann-Whitney U statistic: sort the scores, give tied scores their
 * average rank, and AUC = (sum of positive ranks - P(P+1)/2) / (P N). Tie groups are
 * handled as a whole, so the result does not depend on the sort's order among ties. */
#include <math.h>
#include <stdlib.h>
#include "metrics_internal.h"

typedef struct { float s; int32_t pos; } scored;

static int cmp_scored(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

/* AUC of v[0..n) (sorted in place); needs 0 < positives < n. */
static double auc_sorted(scored *v, int64_t n, int64_t npos) {
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    double rank_sum = 0;   /* ranks are 1-based */
    for (int64_t i = 0; i < n;) {
        int64_t j = i, pos = 0;
        while (j < n && v[j].s == v[i].s) pos += v[j++].pos;
        double avg_rank = 0.5 * (double)(i + 1 + j);   /* mean of i+1 .. j */
        rank_sum += avg_rank * (double)pos;
        i = j;
    }
    double nneg = (double)(n - npos), p = (double)npos;
    return (rank_sum - p * (p + 1) / 2) / (p * nneg);
}

static ssl3d_status check_scores(ssl3d_ctx *ctx, const float *s, int64_t n, const char *fn) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(s[i]))
            return ssl3d_set_error(ctx, SSL3D_ERR_NUMERIC, "%s: scores[%lld] = %g is not finite", fn,
                                   (long long)i, (double)s[i]);
    return SSL3D_OK;
}

ssl3d_status ssl3d_roc_auc(ssl3d_ctx *ctx, const float *scores, const int32_t *labels, int64_t n, double *auc) {
    static const char fn[] = "ssl3d_roc_auc";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, scores, "%s: scores is NULL", fn);
    SSL3D_CHECK_ARG(ctx, labels, "%s: labels is NULL", fn);
    SSL3D_CHECK_ARG(ctx, auc, "%s: auc is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 2, "%s: n = %lld, need at least two samples", fn, (long long)n);
    SSL3D_CHECK(ssl3d_metrics_check_labels(ctx, labels, n, 2, fn, "labels"));
    SSL3D_CHECK(check_scores(ctx, scores, n, fn));
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) npos += labels[i];
    SSL3D_CHECK_ARG(ctx, npos > 0 && npos < n, "%s: labels are all %d; AUC needs both classes", fn,
                    npos > 0 ? 1 : 0);
    scored *v = malloc((size_t)n * sizeof *v);
    if (!v) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    for (int64_t i = 0; i < n; i++) v[i] = (scored){ scores[i], labels[i] };
    *auc = auc_sorted(v, n, npos);
    free(v);
    return SSL3D_OK;
}

ssl3d_status ssl3d_roc_auc_ovr(ssl3d_ctx *ctx, const float *scores, const int32_t *labels, int64_t n,
                               int32_t num_classes, double *macro_auc, double *per_class, int32_t *n_used) {
    static const char fn[] = "ssl3d_roc_auc_ovr";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, scores, "%s: scores is NULL", fn);
    SSL3D_CHECK_ARG(ctx, labels, "%s: labels is NULL", fn);
    SSL3D_CHECK_ARG(ctx, macro_auc, "%s: macro_auc is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 2, "%s: n = %lld, need at least two samples", fn, (long long)n);
    SSL3D_CHECK_ARG(ctx, num_classes >= 2, "%s: num_classes = %d, need >= 2", fn, (int)num_classes);
    SSL3D_CHECK_ARG(ctx, n <= INT64_MAX / num_classes, "%s: n * num_classes overflows", fn);
    SSL3D_CHECK(ssl3d_metrics_check_labels(ctx, labels, n, num_classes, fn, "labels"));
    SSL3D_CHECK(check_scores(ctx, scores, n * num_classes, fn));
    int64_t *count = calloc((size_t)num_classes, sizeof *count);
    scored *v = malloc((size_t)n * sizeof *v);
    double *pc = malloc((size_t)num_classes * sizeof *pc);
    if (!count || !v || !pc) {
        free(count); free(v); free(pc);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (int64_t i = 0; i < n; i++) count[labels[i]]++;
    double sum = 0;
    int32_t used = 0;
    for (int32_t k = 0; k < num_classes; k++) {
        pc[k] = -1.0;
        if (count[k] == 0 || count[k] == n) continue;   /* undefined for this class: skipped */
        for (int64_t i = 0; i < n; i++) v[i] = (scored){ scores[i * num_classes + k], labels[i] == k };
        pc[k] = auc_sorted(v, n, count[k]);
        sum += pc[k];
        used++;
    }
    free(count);
    free(v);
    if (used == 0) {
        free(pc);
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG,
                               "%s: labels hold a single class; one-vs-rest AUC needs two", fn);
    }
    *macro_auc = sum / used;
    if (per_class)
        for (int32_t k = 0; k < num_classes; k++) per_class[k] = pc[k];
    if (n_used) *n_used = used;
    free(pc);
    return SSL3D_OK;
}
