/* Student's t distribution: CDF through the regularised incomplete beta function, and
 * its quantile by bisection. Written for the protocol's confidence intervals and paired
 * t-tests (a handful of evaluations per report), so it favours plain, verifiable steps
 * over speed.
 *
 *   two-sided tail  P(|T| >= |t|) = I_x(df/2, 1/2),   x = df / (df + t^2)
 *   CDF             P(T <= t) = 1 - tail/2 for t >= 0, tail/2 for t < 0
 *
 * I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1 / (1 + d1 / (1 + d2 / (1 + ...))) with
 *   d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),  d_{2m} = m(b-m) x / ((a+2m-1)(a+2m)),
 * the classical continued fraction (Abramowitz & Stegun 26.5.8), which converges fast for
 * x < (a+1)/(a+b+2); on the other side I_x(a, b) = 1 - I_{1-x}(b, a). Both x and 1-x are
 * formed from df and t^2 directly, so a tail near 1 or near 0 loses no digits to 1 - x. */
#include <float.h>
#include <math.h>
#include "metrics_internal.h"
#include "ssl3d/stats.h"

/* log Gamma(x), x > 0: shift x up to >= 10 with Gamma(x) = Gamma(x+k) / (x (x+1) ... (x+k-1)),
 * then Stirling's series (x-1/2) ln x - x + ln(2 pi)/2 + sum B_2j / (2j (2j-1) x^(2j-1)),
 * whose first omitted term at x = 10 is below 1e-17. (libm's lgamma would do, but it
 * writes the process-wide signgam, and the library changes nothing process-wide.) */
static double log_gamma(double x) {
    double shift = 0.0;
    while (x < 10.0) {
        shift += log(x);
        x += 1.0;
    }
    double r = 1.0 / x, r2 = r * r;
    double series = r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 * (1.0 / 1188)))));
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 /* ln(2 pi)/2 */ + series - shift;
}

/* The continued fraction of I_x(a, b) (without the prefactor), modified Lentz's method:
 * the convergents f_k = f_{k-1} C_k D_k with tiny values standing in for zero divisors. */
static double beta_fraction(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double f = d;
    for (int m = 1; m <= 10000; m++) {
        /* even step d_{2m} */
        double num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        if (fabs(d) < tiny) d = tiny;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        f *= c * d;
        /* odd step d_{2m+1} */
        num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        if (fabs(d) < tiny) d = tiny;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double step = c * d;
        f *= step;
        if (fabs(step - 1.0) < 4 * DBL_EPSILON) break;
    }
    return f;
}

/* I_x(a, b) given x and y = 1 - x computed separately by the caller. */
static double inc_beta(double a, double b, double x, double y) {
    if (x <= 0.0) return 0.0;
    if (y <= 0.0) return 1.0;
    double log_front = a * log(x) + b * log(y) - (log_gamma(a) + log_gamma(b) - log_gamma(a + b));
    if (x < (a + 1.0) / (a + b + 2.0)) return exp(log_front) * beta_fraction(a, b, x) / a;
    return 1.0 - exp(log_front) * beta_fraction(b, a, y) / b;
}

/* P(|T| >= |t|) for df degrees of freedom; t finite or infinite, df > 0. */
static double t_two_sided_tail(double t, double df) {
    if (isinf(t)) return 0.0;
    double t2 = t * t;
    return inc_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2));
}

static double t_cdf(double t, double df) {
    double tail = t_two_sided_tail(t, df) / 2.0;
    return t >= 0 ? 1.0 - tail : tail;
}

ssl3d_status ssl3d_student_t_cdf(ssl3d_ctx *ctx, double t, double df, double *out) {
    static const char fn[] = "ssl3d_student_t_cdf";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, !isnan(t), "%s: t is NaN", fn);
    SSL3D_CHECK_ARG(ctx, df > 0 && isfinite(df), "%s: df = %g, want a finite number > 0", fn, df);
    *out = t_cdf(t, df);
    return SSL3D_OK;
}

/* Quantile for p > 1/2: the t > 0 whose one-sided upper tail is q = 1 - p (passed as q to
 * keep its digits when p is close to 1). The tail falls monotonically in t: bracket by
 * doubling, then bisect until the bracket is a few ulps wide. */
static double t_upper_quantile(double q, double df) {
    double lo = 0.0, hi = 1.0;
    while (t_two_sided_tail(hi, df) / 2.0 > q && hi < 1e300) {
        lo = hi;
        hi *= 2.0;
    }
    for (int it = 0; it < 2200 && hi - lo > 2 * DBL_EPSILON * hi; it++) {
        double mid = lo + (hi - lo) / 2.0;
        if (mid <= lo || mid >= hi) break;
        if (t_two_sided_tail(mid, df) / 2.0 > q) lo = mid;
        else hi = mid;
    }
    return lo + (hi - lo) / 2.0;
}

ssl3d_status ssl3d_student_t_quantile(ssl3d_ctx *ctx, double p, double df, double *out) {
    static const char fn[] = "ssl3d_student_t_quantile";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    SSL3D_CHECK_ARG(ctx, p > 0 && p < 1, "%s: p = %g, want 0 < p < 1", fn, p);
    SSL3D_CHECK_ARG(ctx, df > 0 && isfinite(df), "%s: df = %g, want a finite number > 0", fn, df);
    if (p == 0.5) *out = 0.0;
    else if (p > 0.5) *out = t_upper_quantile(1.0 - p, df);
    else *out = -t_upper_quantile(p, df);
    return SSL3D_OK;
}

ssl3d_status ssl3d_paired_t(ssl3d_ctx *ctx, const double *a, const double *b, int64_t n, double level, double *out,
                            int32_t *defined) {
    static const char fn[] = "ssl3d_paired_t";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, a && b, "%s: %s is NULL", fn, a ? "b" : "a");
    SSL3D_CHECK_ARG(ctx, out && defined, "%s: %s is NULL", fn, out ? "defined" : "out");
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, want at least one pair", fn, (long long)n);
    SSL3D_CHECK_ARG(ctx, level > 0 && level < 1, "%s: level = %g, want 0 < level < 1", fn, level);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return ssl3d_set_error(ctx, SSL3D_ERR_NUMERIC, "%s: %s[%lld] = %g is not finite", fn,
                                   isfinite(a[i]) ? "b" : "a", (long long)i, isfinite(a[i]) ? b[i] : a[i]);
    /* two passes: the mean, then squared deviations from it */
    double sum = 0.0;
    int all_equal = 1;
    double d0 = a[0] - b[0];
    for (int64_t i = 0; i < n; i++) {
        double d = a[i] - b[i];
        sum += d;
        all_equal &= d == d0;
    }
    double v[SSL3D_PAIRED_NVALUES] = { 0 };
    int32_t def = 0;
    /* equal differences: the mean is that difference exactly (sum / n may round) */
    v[SSL3D_PAIRED_MEAN] = all_equal ? d0 : sum / (double)n;
    v[SSL3D_PAIRED_DF] = (double)(n - 1);
    if (n >= 2) {
        double ss = 0.0;
        for (int64_t i = 0; i < n && !all_equal; i++) {
            double e = (a[i] - b[i]) - v[SSL3D_PAIRED_MEAN];
            ss += e * e;
        }
        double df = (double)(n - 1), sd = sqrt(ss / df), se = sd / sqrt((double)n);
        double tq = t_upper_quantile((1.0 - level) / 2.0, df);
        v[SSL3D_PAIRED_SD] = sd;
        v[SSL3D_PAIRED_CI_LOW] = v[SSL3D_PAIRED_MEAN] - tq * se;
        v[SSL3D_PAIRED_CI_HIGH] = v[SSL3D_PAIRED_MEAN] + tq * se;
        def |= SSL3D_PAIRED_HAS_CI;
        if (!all_equal && se > 0) {
            double t = v[SSL3D_PAIRED_MEAN] / se;
            v[SSL3D_PAIRED_T] = t;
            v[SSL3D_PAIRED_P] = t_two_sided_tail(t, df);
            def |= SSL3D_PAIRED_HAS_P;
        }
    }
    for (int i = 0; i < SSL3D_PAIRED_NVALUES; i++) out[i] = v[i];
    *defined = def;
    return SSL3D_OK;
}
