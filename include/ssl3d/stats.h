/*
 * ssl3d/stats.h — the statistics of the data-efficiency protocol: Student's t
 * distribution and the paired comparison of two methods over seeds (mean difference,
 * confidence interval, two-sided paired t-test). Included by <ssl3d.h>.
 *
 * Plain doubles in, plain doubles out; no function returns NaN or writes one: a value
 * that is undefined for the input (a confidence interval from one pair, a p-value when
 * every pair has the same difference) is flagged as absent, not computed.
 *
 * How it is computed (src/metrics/stats_t.c): the t distribution's CDF is the regularised
 * incomplete beta function, I_x(df/2, 1/2) with x = df / (df + t^2) for the two-sided
 * tail, evaluated by its continued fraction (modified Lentz), with the symmetry
 * I_x(a, b) = 1 - I_{1-x}(b, a) on the side where the fraction converges slowly; log-gamma
 * by a shifted Stirling series (libm's lgamma writes the process-wide signgam). Quantiles
 * invert the CDF by bisection to double precision. Accuracy: about 1e-14 absolute on the
 * CDF, agreement with published t tables to every printed digit (tests/test_stats.c).
 */
#ifndef SSL3D_STATS_H
#define SSL3D_STATS_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* P(T <= t) for Student's t with df > 0 degrees of freedom (df need not be an integer).
 * t may be +-infinity (0 or 1); NaN t or df <= 0 is SSL3D_ERR_INVALID_ARG. */
SSL3D_API ssl3d_status ssl3d_student_t_cdf(ssl3d_ctx *ctx, double t, double df, double *out);

/* The p-quantile: the t with P(T <= t) = p, for 0 < p < 1 and df > 0. Example: p = 0.975,
 * df = 4 gives 2.776445 (the half-width factor of a 95% interval from 5 observations). */
SSL3D_API ssl3d_status ssl3d_student_t_quantile(ssl3d_ctx *ctx, double p, double df, double *out);

/* Indices of ssl3d_paired_t's out[] array. */
enum {
    SSL3D_PAIRED_MEAN = 0,    /* mean of d_i = a_i - b_i                                        */
    SSL3D_PAIRED_SD = 1,      /* sample sd of the d_i (divisor n-1)              needs n >= 2   */
    SSL3D_PAIRED_CI_LOW = 2,  /* mean - t_{(1+level)/2, n-1} sd / sqrt(n)        needs n >= 2   */
    SSL3D_PAIRED_CI_HIGH = 3, /* mean + t_{(1+level)/2, n-1} sd / sqrt(n)        needs n >= 2   */
    SSL3D_PAIRED_T = 4,       /* mean / (sd / sqrt(n))                           needs sd > 0   */
    SSL3D_PAIRED_DF = 5,      /* n - 1                                                          */
    SSL3D_PAIRED_P = 6,       /* two-sided p-value of H0: E[d] = 0, = P(|T_{n-1}| >= |t|), sd > 0 */
    SSL3D_PAIRED_NVALUES = 7
};
/* Bits of ssl3d_paired_t's *defined. */
#define SSL3D_PAIRED_HAS_CI 1   /* SD, CI_LOW, CI_HIGH are set (n >= 2)                         */
#define SSL3D_PAIRED_HAS_P 2    /* T and P are set (n >= 2 and the d_i are not all equal)      */

/* Paired comparison of a[i] against b[i], i < n (n >= 1; pair i is one seed of both
 * methods). Writes out[0..SSL3D_PAIRED_NVALUES) and *defined; values whose bit is not
 * set in *defined are written as 0. Conventions:
 *   n = 1: the mean (= the one difference) only; no sd, interval or p-value.
 *   every d_i equal (zero variance): sd = 0 and the interval is the point [mean, mean]
 *   (HAS_CI), but no t statistic or p-value (0/0 or a division by zero; HAS_P unset).
 * level is the confidence level, 0 < level < 1 (0.95 for a 95% interval). Every a[i],
 * b[i] must be finite (SSL3D_ERR_NUMERIC names the first that is not). */
SSL3D_API ssl3d_status ssl3d_paired_t(ssl3d_ctx *ctx, const double *a, const double *b, int64_t n,
                                      double level, double *out, int32_t *defined);

#ifdef __cplusplus
}
#endif
#endif
