/* Mean and sample standard deviation of per-slot metrics over observations (volumes,
 * runs, seeds), by Welford's update in double: stable, and a pure function of the
 * sequence of observations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "metrics_internal.h"

struct ssl3d_metric_accum {
    int32_t slots;
    int64_t count;
    double *mean;   /* running mean per slot */
    double *m2;     /* sum of squared deviations from the running mean per slot */
};

ssl3d_status ssl3d_metric_accum_create(ssl3d_ctx *ctx, int32_t n_slots, ssl3d_metric_accum **out) {
    static const char fn[] = "ssl3d_metric_accum_create";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_slots >= 1 && n_slots <= (1 << 24), "%s: n_slots = %d, want 1..2^24", fn,
                    (int)n_slots);
    ssl3d_metric_accum *a = calloc(1, sizeof *a);
    double *buf = calloc((size_t)n_slots * 2u, sizeof *buf);
    if (!a || !buf) {
        free(a);
        free(buf);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    a->slots = n_slots;
    a->mean = buf;
    a->m2 = buf + n_slots;
    *out = a;
    return SSL3D_OK;
}

void ssl3d_metric_accum_release(ssl3d_metric_accum *acc) {
    if (!acc) return;
    free(acc->mean);   /* m2 shares the buffer */
    free(acc);
}

int64_t ssl3d_metric_accum_count(const ssl3d_metric_accum *acc) { return acc ? acc->count : 0; }
int32_t ssl3d_metric_accum_slots(const ssl3d_metric_accum *acc) { return acc ? acc->slots : 0; }

ssl3d_status ssl3d_metric_accum_add(ssl3d_ctx *ctx, ssl3d_metric_accum *acc, const double *values, int32_t n) {
    static const char fn[] = "ssl3d_metric_accum_add";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, acc, "%s: acc is NULL", fn);
    SSL3D_CHECK_ARG(ctx, values, "%s: values is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n == acc->slots, "%s: n = %d, the accumulator has %d slots", fn, (int)n,
                    (int)acc->slots);
    for (int32_t s = 0; s < n; s++)
        if (!isfinite(values[s]))
            return ssl3d_set_error(ctx, SSL3D_ERR_NUMERIC, "%s: values[%d] = %g is not finite", fn, (int)s,
                                   values[s]);
    acc->count++;
    for (int32_t s = 0; s < n; s++) {
        double d = values[s] - acc->mean[s];
        acc->mean[s] += d / (double)acc->count;
        acc->m2[s] += d * (values[s] - acc->mean[s]);
    }
    return SSL3D_OK;
}

static ssl3d_status check_read(ssl3d_ctx *ctx, const ssl3d_metric_accum *acc, const double *out, int32_t n,
                               const char *fn) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, acc, "%s: acc is NULL", fn);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n == acc->slots, "%s: n = %d, the accumulator has %d slots", fn, (int)n,
                    (int)acc->slots);
    if (acc->count < 1)
        return ssl3d_set_error(ctx, SSL3D_ERR_STATE, "%s: no observation added yet", fn);
    return SSL3D_OK;
}

ssl3d_status ssl3d_metric_accum_mean(ssl3d_ctx *ctx, const ssl3d_metric_accum *acc, double *out, int32_t n) {
    SSL3D_CHECK(check_read(ctx, acc, out, n, "ssl3d_metric_accum_mean"));
    memcpy(out, acc->mean, (size_t)n * sizeof *out);
    return SSL3D_OK;
}

ssl3d_status ssl3d_metric_accum_sd(ssl3d_ctx *ctx, const ssl3d_metric_accum *acc, double *out, int32_t n) {
    SSL3D_CHECK(check_read(ctx, acc, out, n, "ssl3d_metric_accum_sd"));
    for (int32_t s = 0; s < n; s++)
        out[s] = acc->count < 2 ? 0.0 : sqrt(fmax(acc->m2[s], 0.0) / (double)(acc->count - 1));
    return SSL3D_OK;
}

ssl3d_status ssl3d_metric_accum_add_dice(ssl3d_ctx *ctx, ssl3d_metric_accum *acc, const ssl3d_tensor *pred,
                                         const ssl3d_tensor *ref) {
    static const char fn[] = "ssl3d_metric_accum_add_dice";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, acc, "%s: acc is NULL", fn);
    SSL3D_CHECK(ssl3d_check_i32(ctx, pred, fn, "pred"));
    SSL3D_CHECK(ssl3d_check_i32(ctx, ref, fn, "ref"));
    const int32_t *p = NULL, *r = NULL;
    int32_t *po = NULL, *ro = NULL;
    ssl3d_status st = ssl3d_metrics_host_pair(ctx, fn, pred, ref, &p, &r, &po, &ro);
    int64_t nvol = pred->shape[0], per = pred->numel / nvol;
    int32_t k = acc->slots + 1;
    double *d = st == SSL3D_OK ? malloc((size_t)nvol * (size_t)acc->slots * sizeof *d) : NULL;
    if (st == SSL3D_OK && !d) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    /* Compute every volume first, then add: a bad label leaves the accumulator unchanged. */
    for (int64_t v = 0; st == SSL3D_OK && v < nvol; v++) {
        st = ssl3d_dice_per_class(ctx, p + v * per, r + v * per, per, k, d + v * acc->slots);
        if (st != SSL3D_OK) {
            char prev[SSL3D_ERRMSG_CAP];
            memcpy(prev, ctx->err, sizeof prev);
            prev[sizeof prev - 1] = 0;
            ssl3d_set_error(ctx, st, "%s: volume %lld: %s", fn, (long long)v, prev);
        }
    }
    for (int64_t v = 0; st == SSL3D_OK && v < nvol; v++) st = ssl3d_metric_accum_add(ctx, acc, d + v * acc->slots, acc->slots);
    free(d);
    free(po);
    free(ro);
    return st;
}
