/* Student's t distribution and the paired t comparison (include/ssl3d/stats.h) against
 * published table values, closed forms and a paired example worked by hand. */
#include <math.h>
#include "harness.h"

static const double PI = 3.14159265358979323846;

/* Closed forms of the t CDF for 1, 2 and 3 degrees of freedom:
 *   df = 1 (Cauchy): 1/2 + atan(t)/pi
 *   df = 2:          1/2 + t / (2 sqrt(2 + t^2))
 *   df = 3:          1/2 + (theta + sin(theta) cos(theta)) / pi,  theta = atan(t / sqrt(3)) */
static double cdf_closed(double t, int df) {
    if (df == 1) return 0.5 + atan(t) / PI;
    if (df == 2) return 0.5 + t / (2.0 * sqrt(2.0 + t * t));
    double th = atan(t / sqrt(3.0));
    return 0.5 + (th + sin(th) * cos(th)) / PI;
}

TEST(stats_t_cdf_matches_closed_forms) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    const double ts[] = { -40, -7.5, -2, -0.3, 0, 0.1, 1, 2.5, 9, 120 };
    for (int df = 1; df <= 3; df++)
        for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
            double v = -1;
            CHECK_OK(ctx, ssl3d_student_t_cdf(ctx, ts[i], df, &v));
            CHECK_NEAR(v, cdf_closed(ts[i], df), 1e-13);
        }
    /* far tails keep relative precision: df = 1, P(T <= -1e6) = atan-tail ~ 1/(pi 1e6) */
    double v;
    CHECK_OK(ctx, ssl3d_student_t_cdf(ctx, -1e6, 1, &v));
    CHECK_NEAR(v / (1.0 / (PI * 1e6)), 1.0, 1e-9);
    CHECK_OK(ctx, ssl3d_student_t_cdf(ctx, INFINITY, 4, &v));
    CHECK(v == 1.0);
    CHECK_OK(ctx, ssl3d_student_t_cdf(ctx, -INFINITY, 4, &v));
    CHECK(v == 0.0);
    /* symmetry at large df, where the continued fraction runs on the other side */
    double lo, hi;
    CHECK_OK(ctx, ssl3d_student_t_cdf(ctx, -0.3, 1000, &lo));
    CHECK_OK(ctx, ssl3d_student_t_cdf(ctx, 0.3, 1000, &hi));
    CHECK_NEAR(lo + hi, 1.0, 1e-14);
    CHECK_NEAR(hi, 0.6178802479163779, 1e-12);   /* scipy.stats.t.cdf(0.3, 1000) */
    ssl3d_ctx_release(ctx);
}

TEST(stats_t_quantile_matches_published_tables) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* Two-sided 95% / 99% critical values as printed in standard t tables (6 decimals,
     * e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2, and 12.706205 for df = 1) */
    const struct { double df, p, t; } tab[] = {
        { 1, 0.975, 12.706205 }, { 2, 0.975, 4.302653 }, { 3, 0.975, 3.182446 }, { 4, 0.975, 2.776445 },
        { 5, 0.975, 2.570582 },  { 10, 0.975, 2.228139 }, { 30, 0.995, 2.749996 }, { 100, 0.975, 1.983972 },
        { 1, 0.90, 3.077684 },   { 4, 0.05, -2.131847 },
    };
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++) {
        double q = 0;
        CHECK_OK(ctx, ssl3d_student_t_quantile(ctx, tab[i].p, tab[i].df, &q));
        CHECK_MSG(fabs(q - tab[i].t) <= 6e-7, "t quantile p=%g df=%g: %.9f, table %.6f", tab[i].p, tab[i].df, q,
                  tab[i].t);
    }
    /* df = 2 has a closed form: t_p = (2p - 1) / sqrt(2 p (1 - p)) */
    const double ps[] = { 0.6, 0.9, 0.975, 0.999 };
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
        double q;
        CHECK_OK(ctx, ssl3d_student_t_quantile(ctx, ps[i], 2, &q));
        CHECK_NEAR(q, (2 * ps[i] - 1) / sqrt(2 * ps[i] * (1 - ps[i])), 1e-11);
    }
    /* quantile and CDF invert each other, non-integer df included, deep tail included */
    const double dfs[] = { 1, 2.5, 7, 250 }, pp[] = { 1e-6, 0.03, 0.5, 0.8, 0.999999 };
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 5; j++) {
            double q, c;
            CHECK_OK(ctx, ssl3d_student_t_quantile(ctx, pp[j], dfs[i], &q));
            CHECK_OK(ctx, ssl3d_student_t_cdf(ctx, q, dfs[i], &c));
            CHECK_MSG(fabs(c - pp[j]) <= 1e-10 * fmin(pp[j], 1 - pp[j]) + 4e-16,
                      "cdf(quantile(%g, df %g)) = %.17g", pp[j], dfs[i], c);
        }
    double q;
    CHECK_OK(ctx, ssl3d_student_t_quantile(ctx, 0.999999, 1, &q));
    CHECK_NEAR(q / 318309.8861736347, 1.0, 1e-10);   /* tan(pi (p - 1/2)) */
    /* bad input: named errors, out untouched */
    q = 42;
    CHECK_ST(ctx, ssl3d_student_t_quantile(ctx, 1.0, 3, &q), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_student_t_quantile(ctx, 0.5, 0, &q), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_student_t_cdf(ctx, NAN, 3, &q), SSL3D_ERR_INVALID_ARG);
    CHECK(q == 42);
    ssl3d_ctx_release(ctx);
}

TEST(stats_paired_t_hand_computed_example) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* Four seeds; differences d = a - b = 0.01, 0.02, 0.03, 0.06.
     *   mean = 0.12 / 4 = 0.03
     *   deviations -0.02, -0.01, 0, 0.03: sum of squares 0.0004 + 0.0001 + 0 + 0.0009 = 0.0014
     *   sd = sqrt(0.0014 / 3) = 0.0216024690,  se = sd / sqrt(4) = 0.0108012345
     *   t = 0.03 / se = 2.7774602993, df = 3
     *   95% CI: t_{0.975,3} = 3.182446 (table), half-width 3.182446 * 0.0108012345 = 0.0343743
     *           -> [0.03 - 0.0343743, 0.03 + 0.0343743] = [-0.0043743, 0.0643743]
     *   p = 2 P(T_3 >= 2.77746); with the df = 3 closed form, theta = atan(2.77746 / sqrt 3)
     *       = 1.0130618, p = 1 - (2/pi)(theta + sin theta cos theta) = 0.0691369.
     * (scipy.stats.ttest_rel gives t = 2.77746030, p = 0.06913687: same.) */
    const double a[] = { 0.71, 0.62, 0.55, 0.80 };
    const double b[] = { 0.70, 0.60, 0.52, 0.74 };
    double out[SSL3D_PAIRED_NVALUES];
    int32_t def = -1;
    REQUIRE_OK(ctx, ssl3d_paired_t(ctx, a, b, 4, 0.95, out, &def));
    CHECK(def == (SSL3D_PAIRED_HAS_CI | SSL3D_PAIRED_HAS_P));
    CHECK_NEAR(out[SSL3D_PAIRED_MEAN], 0.03, 1e-12);
    CHECK_NEAR(out[SSL3D_PAIRED_SD], sqrt(0.0014 / 3), 1e-12);
    CHECK_NEAR(out[SSL3D_PAIRED_T], 0.03 / (sqrt(0.0014 / 3) / 2), 1e-9);
    CHECK(out[SSL3D_PAIRED_DF] == 3);
    CHECK_NEAR(out[SSL3D_PAIRED_CI_LOW], -0.0043743, 1e-7);
    CHECK_NEAR(out[SSL3D_PAIRED_CI_HIGH], 0.0643743, 1e-7);
    double th = atan(out[SSL3D_PAIRED_T] / sqrt(3.0));
    CHECK_NEAR(out[SSL3D_PAIRED_P], 1 - 2 / PI * (th + sin(th) * cos(th)), 1e-12);
    CHECK_NEAR(out[SSL3D_PAIRED_P], 0.0691369, 1e-7);
    /* the same pairs swapped: the difference changes sign, p does not */
    double sw[SSL3D_PAIRED_NVALUES];
    REQUIRE_OK(ctx, ssl3d_paired_t(ctx, b, a, 4, 0.95, sw, &def));
    CHECK_NEAR(sw[SSL3D_PAIRED_CI_LOW], -out[SSL3D_PAIRED_CI_HIGH], 1e-12);
    CHECK_NEAR(sw[SSL3D_PAIRED_P], out[SSL3D_PAIRED_P], 1e-14);
    /* a 90% interval is narrower: t_{0.95,3} = 2.353363 (table) */
    REQUIRE_OK(ctx, ssl3d_paired_t(ctx, a, b, 4, 0.90, out, &def));
    CHECK_NEAR(out[SSL3D_PAIRED_CI_HIGH] - 0.03, 2.353363 * sqrt(0.0014 / 3) / 2, 1e-7);
    ssl3d_ctx_release(ctx);
}

TEST(stats_paired_t_edge_cases_give_no_nan) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    double out[SSL3D_PAIRED_NVALUES];
    int32_t def = -1;
    /* one pair: the difference only */
    const double a1[] = { 0.7 }, b1[] = { 0.5 };
    REQUIRE_OK(ctx, ssl3d_paired_t(ctx, a1, b1, 1, 0.95, out, &def));
    CHECK(def == 0);
    CHECK_NEAR(out[SSL3D_PAIRED_MEAN], 0.2, 1e-15);
    for (int i = 0; i < SSL3D_PAIRED_NVALUES; i++) CHECK(isfinite(out[i]));
    CHECK(out[SSL3D_PAIRED_DF] == 0 && out[SSL3D_PAIRED_P] == 0);
    /* zero variance: every seed the same difference -> point interval, no p-value */
    const double a3[] = { 0.75, 0.5, 0.25 }, b3[] = { 0.5, 0.25, 0.0 };
    REQUIRE_OK(ctx, ssl3d_paired_t(ctx, a3, b3, 3, 0.95, out, &def));
    CHECK(def == SSL3D_PAIRED_HAS_CI);
    CHECK(out[SSL3D_PAIRED_MEAN] == 0.25 && out[SSL3D_PAIRED_SD] == 0);
    CHECK(out[SSL3D_PAIRED_CI_LOW] == 0.25 && out[SSL3D_PAIRED_CI_HIGH] == 0.25);
    for (int i = 0; i < SSL3D_PAIRED_NVALUES; i++) CHECK(isfinite(out[i]));
    /* identical methods: difference 0 everywhere, still no NaN */
    REQUIRE_OK(ctx, ssl3d_paired_t(ctx, a3, a3, 3, 0.95, out, &def));
    CHECK(def == SSL3D_PAIRED_HAS_CI && out[SSL3D_PAIRED_MEAN] == 0);
    for (int i = 0; i < SSL3D_PAIRED_NVALUES; i++) CHECK(isfinite(out[i]));
    /* bad input */
    const double bad[] = { 0.1, NAN };
    out[0] = 42;
    CHECK_ST(ctx, ssl3d_paired_t(ctx, a3, bad, 2, 0.95, out, &def), SSL3D_ERR_NUMERIC);
    CHECK(out[0] == 42);
    CHECK_ST(ctx, ssl3d_paired_t(ctx, a3, b3, 0, 0.95, out, &def), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_paired_t(ctx, a3, b3, 3, 1.0, out, &def), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_paired_t(ctx, a3, NULL, 3, 0.95, out, &def), SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx_release(ctx);
}
