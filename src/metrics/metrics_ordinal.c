/* Ordinal grading with K-1 sigmoid outputs (output j estimates P(grade > j)): decode to
 * grades, expected grades, and per-class scores for one-vs-rest AUC. */
#include <math.h>
#include "metrics_internal.h"

static ssl3d_status check_ordinal(ssl3d_ctx *ctx, const float *out, int64_t n, int32_t k, const char *fn) {
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, need at least one sample", fn, (long long)n);
    SSL3D_CHECK_ARG(ctx, k >= 2, "%s: num_classes = %d, need >= 2", fn, (int)k);
    SSL3D_CHECK_ARG(ctx, n <= INT64_MAX / k, "%s: n * num_classes overflows", fn);
    for (int64_t i = 0; i < n * (k - 1); i++)
        if (isnan(out[i]))
            return ssl3d_set_error(ctx, SSL3D_ERR_NUMERIC, "%s: out[%lld] is NaN", fn, (long long)i);
    return SSL3D_OK;
}

static double prob(float v, int32_t are_logits) {
    if (!are_logits) return v;
    return 1.0 / (1.0 + exp(-(double)v));   /* exp(+inf) -> 0, exp(-inf) -> 1: fine */
}

ssl3d_status ssl3d_ordinal_decode(ssl3d_ctx *ctx, const float *out, int64_t n, int32_t num_classes,
                                  int32_t are_logits, int32_t *grades, double *expected) {
    static const char fn[] = "ssl3d_ordinal_decode";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, grades || expected, "%s: grades and expected are both NULL", fn);
    SSL3D_CHECK(check_ordinal(ctx, out, n, num_classes, fn));
    int32_t m = num_classes - 1;
    for (int64_t i = 0; i < n; i++) {
        int32_t g = 0;
        double e = 0;
        for (int32_t j = 0; j < m; j++) {
            /* Decide on the raw value for logits (> 0) so no rounding of the sigmoid
             * near 0.5 can flip a grade. */
            float v = out[i * m + j];
            g += are_logits ? v > 0.0f : v > 0.5f;
            e += prob(v, are_logits);
        }
        if (grades) grades[i] = g;
        if (expected) expected[i] = e;
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_ordinal_class_scores(ssl3d_ctx *ctx, const float *out, int64_t n, int32_t num_classes,
                                        int32_t are_logits, float *scores) {
    static const char fn[] = "ssl3d_ordinal_class_scores";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, scores, "%s: scores is NULL", fn);
    SSL3D_CHECK(check_ordinal(ctx, out, n, num_classes, fn));
    int32_t m = num_classes - 1;
    for (int64_t i = 0; i < n; i++) {
        const float *o = out + i * m;
        float *s = scores + i * num_classes;
        for (int32_t k = 0; k < num_classes; k++) {
            double above = k == 0 ? 1.0 : prob(o[k - 1], are_logits);   /* P(grade > k-1) */
            double beyond = k == m ? 0.0 : prob(o[k], are_logits);      /* P(grade > k)   */
            s[k] = (float)fmax(above - beyond, 0.0);
        }
    }
    return SSL3D_OK;
}
