/* Classification metrics on host arrays: accuracy and quadratic weighted kappa. */
#include "metrics_internal.h"

ssl3d_status ssl3d_accuracy(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref, int64_t n,
                            double *accuracy) {
    static const char fn[] = "ssl3d_accuracy";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, pred, "%s: pred is NULL", fn);
    SSL3D_CHECK_ARG(ctx, ref, "%s: ref is NULL", fn);
    SSL3D_CHECK_ARG(ctx, accuracy, "%s: accuracy is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, need at least one sample", fn, (long long)n);
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++) hit += pred[i] == ref[i];
    *accuracy = (double)hit / (double)n;
    return SSL3D_OK;
}

/* With weights w_ij = (i-j)^2/(K-1)^2 the constant (K-1)^2 cancels between numerator
 * and denominator, and both sums have closed forms over the samples:
 *   sum_ij w O_ij  ~ sum_s (ref_s - pred_s)^2
 *   sum_ij w E_ij  ~ (1/n) sum_ij (i-j)^2 r_i c_j = n (var_r + var_c + (mean_r - mean_c)^2)
 * (population variances of the reference and predicted labels). Two passes in double
 * (means, then centred sums) keep this exact enough for any realistic n and K, with
 * no K x K confusion matrix. */
ssl3d_status ssl3d_quadratic_kappa(ssl3d_ctx *ctx, const int32_t *pred, const int32_t *ref, int64_t n,
                                   int32_t num_classes, double *kappa) {
    static const char fn[] = "ssl3d_quadratic_kappa";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, pred, "%s: pred is NULL", fn);
    SSL3D_CHECK_ARG(ctx, ref, "%s: ref is NULL", fn);
    SSL3D_CHECK_ARG(ctx, kappa, "%s: kappa is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, need at least one sample", fn, (long long)n);
    SSL3D_CHECK_ARG(ctx, num_classes >= 2, "%s: num_classes = %d, need >= 2", fn, (int)num_classes);
    SSL3D_CHECK(ssl3d_metrics_check_labels(ctx, pred, n, num_classes, fn, "pred"));
    SSL3D_CHECK(ssl3d_metrics_check_labels(ctx, ref, n, num_classes, fn, "ref"));
    double sr = 0, sc = 0, obs = 0;
    int constant = 1;
    for (int64_t i = 0; i < n; i++) {
        sr += ref[i];
        sc += pred[i];
        double d = (double)ref[i] - (double)pred[i];
        obs += d * d;
        constant &= ref[i] == ref[0] && pred[i] == ref[0];
    }
    if (constant) {   /* one class everywhere, in both: perfect agreement, 0/0 otherwise */
        *kappa = 1.0;
        return SSL3D_OK;
    }
    double mr = sr / (double)n, mc = sc / (double)n, vr = 0, vc = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = ref[i] - mr, b = pred[i] - mc;
        vr += a * a;
        vc += b * b;
    }
    /* One side constant: the observed disagreement equals the expected one exactly, so
     * kappa is 0 (computed, it would come out as +-4e-16). */
    if (vr == 0 || vc == 0) {
        *kappa = 0.0;
        return SSL3D_OK;
    }
    double expct = vr + vc + (double)n * (mr - mc) * (mr - mc);
    *kappa = 1.0 - obs / expct;
    return SSL3D_OK;
}
