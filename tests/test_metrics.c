/* Evaluation metrics: Dice per class and per region (BraTS presets), the mean/sd
 * accumulator, accuracy, quadratic weighted kappa, ROC AUC (binary and one-vs-rest) and
 * ordinal decoding, against hand-computed values and naive reference implementations;
 * API misuse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "ssl3d/metrics.h"

static int has(ssl3d_ctx *ctx, const char *needle) { return strstr(ssl3d_ctx_last_error(ctx), needle) != NULL; }

TEST(metrics_dice_per_class_hand_values) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* class 1: P={1,2} R={1,5} -> 2*1/4; class 2: P={3,4} R={2,3,4} -> 2*2/5;
     * class 3 absent from both -> 1 (empty-empty convention). */
    int32_t pred[6] = { 0, 1, 1, 2, 2, 0 }, ref[6] = { 0, 1, 2, 2, 2, 1 };
    double d[3] = { -9, -9, -9 };
    REQUIRE_OK(ctx, ssl3d_dice_per_class(ctx, pred, ref, 6, 4, d));
    CHECK_NEAR(d[0], 0.5, 1e-15);
    CHECK_NEAR(d[1], 0.8, 1e-15);
    CHECK_NEAR(d[2], 1.0, 0);
    /* present in the reference only -> 0; identical maps -> 1 */
    int32_t zero[6] = { 0 };
    REQUIRE_OK(ctx, ssl3d_dice_per_class(ctx, zero, ref, 6, 3, d));
    CHECK_NEAR(d[0], 0.0, 0);
    CHECK_NEAR(d[1], 0.0, 0);
    REQUIRE_OK(ctx, ssl3d_dice_per_class(ctx, ref, ref, 6, 3, d));
    CHECK_NEAR(d[0], 1.0, 0);
    CHECK_NEAR(d[1], 1.0, 0);
    /* all background in both: every class is empty-empty */
    REQUIRE_OK(ctx, ssl3d_dice_per_class(ctx, zero, zero, 6, 3, d));
    CHECK(d[0] == 1.0 && d[1] == 1.0);
    ssl3d_ctx_release(ctx);
}

TEST(metrics_dice_tensor_wrapper) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int64_t shape[3] = { 1, 2, 3 };
    int32_t pred[6] = { 0, 1, 1, 2, 2, 0 }, ref[6] = { 0, 1, 2, 2, 2, 1 };
    ssl3d_tensor *p = NULL, *r = NULL, *f = NULL, *r2 = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 3, shape, pred, &p));
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 3, shape, ref, &r));
    double d[2];
    REQUIRE_OK(ctx, ssl3d_dice_per_class_tensor(ctx, p, r, 3, d));
    CHECK_NEAR(d[0], 0.5, 1e-15);
    CHECK_NEAR(d[1], 0.8, 1e-15);
    /* float tensor -> DTYPE; other shape -> SHAPE */
    REQUIRE_OK(ctx, ssl3d_tensor_create(ctx, SSL3D_F32, 3, shape, &f));
    CHECK_ST(ctx, ssl3d_dice_per_class_tensor(ctx, f, r, 3, d), SSL3D_ERR_DTYPE);
    int64_t shape2[2] = { 2, 3 };
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 2, shape2, ref, &r2));
    CHECK_ST(ctx, ssl3d_dice_per_class_tensor(ctx, p, r2, 3, d), SSL3D_ERR_SHAPE);
    CHECK(has(ctx, "ref (2,3)"));
    ssl3d_tensor_release(p); ssl3d_tensor_release(r); ssl3d_tensor_release(f); ssl3d_tensor_release(r2);
    ssl3d_ctx_release(ctx);
}

TEST(metrics_region_dice_brats_presets) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int32_t pred[6] = { 0, 1, 2, 4, 3, 0 }, ref[6] = { 1, 1, 4, 4, 0, 2 };
    double d[3];
    /* 2018: WT={1,2,4}: P={1,2,3} R={0,1,2,3,5} I=3 -> 6/8; TC={1,4}: P={1,3} R={0,1,2,3}
     * I=2 -> 4/6; ET={4}: P={3} R={2,3} -> 2/3. Label 3 lies outside every 2018 region. */
    REQUIRE_OK(ctx, ssl3d_brats_dice(ctx, pred, ref, 6, SSL3D_BRATS_2018, d));
    CHECK_NEAR(d[0], 0.75, 1e-15);
    CHECK_NEAR(d[1], 4.0 / 6.0, 1e-15);
    CHECK_NEAR(d[2], 2.0 / 3.0, 1e-15);
    /* 2013-2015: label 3 joins WT and TC. WT: P={1,2,3,4} R={0,1,2,3,5} I=3 -> 6/9;
     * TC={1,3,4}: P={1,3,4} R={0,1,2,3} I=2 -> 4/7; ET unchanged. */
    REQUIRE_OK(ctx, ssl3d_brats_dice(ctx, pred, ref, 6, SSL3D_BRATS_2013, d));
    CHECK_NEAR(d[0], 6.0 / 9.0, 1e-15);
    CHECK_NEAR(d[1], 4.0 / 7.0, 1e-15);
    CHECK_NEAR(d[2], 2.0 / 3.0, 1e-15);
    /* The same through ssl3d_region_dice with the preset's label lists. */
    int32_t labels[4], m = 0;
    double x;
    REQUIRE_OK(ctx, ssl3d_brats_region_labels(ctx, SSL3D_BRATS_2013, SSL3D_BRATS_TC, labels, 4, &m));
    CHECK(m == 3 && labels[0] == 1 && labels[1] == 3 && labels[2] == 4);
    REQUIRE_OK(ctx, ssl3d_region_dice(ctx, pred, ref, 6, labels, m, &x));
    CHECK_NEAR(x, 4.0 / 7.0, 1e-15);
    REQUIRE_OK(ctx, ssl3d_brats_region_labels(ctx, SSL3D_BRATS_2018, SSL3D_BRATS_WT, labels, 4, &m));
    CHECK(m == 3 && labels[0] == 1 && labels[1] == 2 && labels[2] == 4);
    REQUIRE_OK(ctx, ssl3d_brats_region_labels(ctx, SSL3D_BRATS_2018, SSL3D_BRATS_ET, labels, 4, &m));
    CHECK(m == 1 && labels[0] == 4);
    CHECK_ST(ctx, ssl3d_brats_region_labels(ctx, SSL3D_BRATS_2013, SSL3D_BRATS_WT, labels, 3, &m),
             SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_brats_region_labels(ctx, 7, SSL3D_BRATS_WT, labels, 4, &m), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_brats_dice(ctx, pred, ref, 6, 2, d), SSL3D_ERR_INVALID_ARG);
    /* no tumour anywhere: every region empty-empty -> 1 */
    int32_t zero[6] = { 0 };
    REQUIRE_OK(ctx, ssl3d_brats_dice(ctx, zero, zero, 6, SSL3D_BRATS_2018, d));
    CHECK(d[0] == 1.0 && d[1] == 1.0 && d[2] == 1.0);
    /* negative labels are rejected */
    int32_t neg[6] = { 0, 0, -1, 0, 0, 0 };
    CHECK_ST(ctx, ssl3d_region_dice(ctx, neg, ref, 6, labels, 1, &x), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "pred[2] = -1"));
    ssl3d_ctx_release(ctx);
}

TEST(metrics_dice_misuse) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int32_t a[4] = { 0, 1, 5, 1 }, b[4] = { 0, 1, 1, 1 };
    double d[3] = { -9, -9, -9 };
    CHECK_ST(ctx, ssl3d_dice_per_class(ctx, a, b, 4, 3, d), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "pred[2] = 5 is outside [0,3)"));
    CHECK(d[0] == -9);   /* out-parameter untouched on error */
    CHECK_ST(ctx, ssl3d_dice_per_class(ctx, b, a, 4, 3, d), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "ref[2]"));
    CHECK_ST(ctx, ssl3d_dice_per_class(ctx, NULL, b, 4, 3, d), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "pred is NULL"));
    CHECK_ST(ctx, ssl3d_dice_per_class(ctx, b, b, 0, 3, d), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_dice_per_class(ctx, b, b, 4, 1, d), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_dice_per_class(ctx, b, b, 4, 3, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(ssl3d_dice_per_class(NULL, b, b, 4, 3, d) == SSL3D_ERR_INVALID_ARG);
    int32_t set[1] = { 1 };
    double x;
    CHECK_ST(ctx, ssl3d_region_dice(ctx, b, b, 4, set, 0, &x), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_region_dice(ctx, b, b, 4, NULL, 1, &x), SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx_release(ctx);
}

TEST(metrics_accum_mean_sd) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_metric_accum *acc = NULL;
    REQUIRE_OK(ctx, ssl3d_metric_accum_create(ctx, 2, &acc));
    CHECK(ssl3d_metric_accum_slots(acc) == 2 && ssl3d_metric_accum_count(acc) == 0);
    double m[2], s[2];
    CHECK_ST(ctx, ssl3d_metric_accum_mean(ctx, acc, m, 2), SSL3D_ERR_STATE);
    double v0[2] = { 1.0, 0.5 };
    REQUIRE_OK(ctx, ssl3d_metric_accum_add(ctx, acc, v0, 2));
    REQUIRE_OK(ctx, ssl3d_metric_accum_sd(ctx, acc, s, 2));
    CHECK(s[0] == 0.0 && s[1] == 0.0);   /* one observation: sd 0 by convention */
    for (int i = 2; i <= 4; i++) {
        double v[2] = { (double)i, 0.5 };
        REQUIRE_OK(ctx, ssl3d_metric_accum_add(ctx, acc, v, 2));
    }
    REQUIRE_OK(ctx, ssl3d_metric_accum_mean(ctx, acc, m, 2));
    REQUIRE_OK(ctx, ssl3d_metric_accum_sd(ctx, acc, s, 2));
    /* {1,2,3,4}: mean 2.5, sample sd sqrt(5/3) (divisor n-1); constant 0.5: sd 0 */
    CHECK_NEAR(m[0], 2.5, 1e-15);
    CHECK_NEAR(s[0], sqrt(5.0 / 3.0), 1e-15);
    CHECK_NEAR(m[1], 0.5, 1e-15);
    CHECK_NEAR(s[1], 0.0, 1e-15);
    CHECK(ssl3d_metric_accum_count(acc) == 4);
    /* misuse: wrong slot count, non-finite value (rejected, nothing added) */
    CHECK_ST(ctx, ssl3d_metric_accum_add(ctx, acc, v0, 3), SSL3D_ERR_INVALID_ARG);
    double bad[2] = { 1.0, NAN };
    CHECK_ST(ctx, ssl3d_metric_accum_add(ctx, acc, bad, 2), SSL3D_ERR_NUMERIC);
    CHECK(has(ctx, "values[1]"));
    CHECK(ssl3d_metric_accum_count(acc) == 4);
    CHECK_ST(ctx, ssl3d_metric_accum_mean(ctx, acc, m, 1), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_metric_accum_create(ctx, 0, &acc), SSL3D_ERR_INVALID_ARG);
    ssl3d_metric_accum_release(acc);
    ssl3d_metric_accum_release(NULL);
    CHECK(ssl3d_metric_accum_count(NULL) == 0);
    ssl3d_ctx_release(ctx);
}

TEST(metrics_accum_add_dice_per_volume) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* two volumes (2,1,2,3) of 6 voxels, 3 classes.
     * volume 0: the hand case above -> dice (0.5, 0.8); volume 1: identical -> (1, 1). */
    int32_t pred[12] = { 0, 1, 1, 2, 2, 0, 0, 1, 2, 2, 0, 0 };
    int32_t ref[12] = { 0, 1, 2, 2, 2, 1, 0, 1, 2, 2, 0, 0 };
    int64_t shape[4] = { 2, 1, 2, 3 };
    ssl3d_tensor *p = NULL, *r = NULL;
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 4, shape, pred, &p));
    REQUIRE_OK(ctx, ssl3d_tensor_from_data(ctx, SSL3D_I32, 4, shape, ref, &r));
    ssl3d_metric_accum *acc = NULL;
    REQUIRE_OK(ctx, ssl3d_metric_accum_create(ctx, 2, &acc));
    REQUIRE_OK(ctx, ssl3d_metric_accum_add_dice(ctx, acc, p, r));
    CHECK(ssl3d_metric_accum_count(acc) == 2);
    double m[2], s[2];
    REQUIRE_OK(ctx, ssl3d_metric_accum_mean(ctx, acc, m, 2));
    REQUIRE_OK(ctx, ssl3d_metric_accum_sd(ctx, acc, s, 2));
    CHECK_NEAR(m[0], 0.75, 1e-15);
    CHECK_NEAR(m[1], 0.9, 1e-15);
    CHECK_NEAR(s[0], sqrt(0.125), 1e-15);   /* two values a,b: sd = |a-b|/sqrt(2) */
    CHECK_NEAR(s[1], 0.2 / sqrt(2.0), 1e-15);
    /* a label out of range in volume 1 adds nothing and names the volume */
    ssl3d_metric_accum *acc2 = NULL;
    REQUIRE_OK(ctx, ssl3d_metric_accum_create(ctx, 1, &acc2));   /* K = 2: label 2 is out of range */
    CHECK_ST(ctx, ssl3d_metric_accum_add_dice(ctx, acc2, p, r), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "volume 0"));
    CHECK(ssl3d_metric_accum_count(acc2) == 0);
    ssl3d_metric_accum_release(acc);
    ssl3d_metric_accum_release(acc2);
    ssl3d_tensor_release(p); ssl3d_tensor_release(r);
    ssl3d_ctx_release(ctx);
}

TEST(metrics_accuracy_and_kappa_hand_values) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    int32_t ref[4] = { 0, 1, 2, 2 }, pred[4] = { 0, 2, 2, 1 };
    double a, k;
    REQUIRE_OK(ctx, ssl3d_accuracy(ctx, pred, ref, 4, &a));
    CHECK_NEAR(a, 0.5, 0);
    /* K=3, w=(i-j)^2/4. sum wO = 1/4 + 1/4 = 1/2. Row sums (ref) r=(1,1,2), column sums
     * (pred) c=(1,1,2), E=rc^T/4: sum wE = (1/16)(1+8+1+2+8+2) = 22/16. kappa = 1 - 8/22 = 7/11. */
    REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, pred, ref, 4, 3, &k));
    CHECK_NEAR(k, 7.0 / 11.0, 1e-14);
    REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, ref, ref, 4, 3, &k));
    CHECK_NEAR(k, 1.0, 1e-15);
    /* Everything one class in both: 0/0, defined as 1. Constant but different: 0. */
    int32_t ones[3] = { 1, 1, 1 }, zeros[3] = { 0, 0, 0 };
    REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, ones, ones, 3, 2, &k));
    CHECK(k == 1.0);
    REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, zeros, ones, 3, 2, &k));
    CHECK_NEAR(k, 0.0, 1e-15);
    /* A constant prediction against varied grades (and the reverse): exactly 0, not a
     * rounding residue. */
    int32_t g5[5] = { 0, 1, 2, 4, 3 }, c5[5] = { 2, 2, 2, 2, 2 };
    REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, c5, g5, 5, 5, &k));
    CHECK_MSG(k == 0.0, "constant prediction: kappa %.17g, want exactly 0", k);
    REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, g5, c5, 5, 5, &k));
    CHECK_MSG(k == 0.0, "constant reference: kappa %.17g, want exactly 0", k);
    /* Reversed order of 2 classes: pred = 1 - ref, balanced -> kappa = -1. */
    int32_t r2[4] = { 0, 0, 1, 1 }, p2[4] = { 1, 1, 0, 0 };
    REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, p2, r2, 4, 2, &k));
    CHECK_NEAR(k, -1.0, 1e-15);
    /* misuse */
    int32_t bad[4] = { 0, 3, 0, 0 };
    CHECK_ST(ctx, ssl3d_quadratic_kappa(ctx, bad, ref, 4, 3, &k), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "pred[1] = 3 is outside [0,3)"));
    CHECK_ST(ctx, ssl3d_quadratic_kappa(ctx, pred, ref, 4, 1, &k), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_accuracy(ctx, pred, NULL, 4, &a), SSL3D_ERR_INVALID_ARG);
    CHECK_ST(ctx, ssl3d_accuracy(ctx, pred, ref, 0, &a), SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx_release(ctx);
}

/* Kappa from the full K x K confusion-matrix definition. */
static double kappa_naive(const int32_t *p, const int32_t *r, int n, int K) {
    double O[8][8] = { { 0 } }, rs[8] = { 0 }, cs[8] = { 0 }, num = 0, den = 0;
    for (int i = 0; i < n; i++) { O[r[i]][p[i]] += 1; rs[r[i]] += 1; cs[p[i]] += 1; }
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double w = (double)((i - j) * (i - j)) / ((K - 1) * (K - 1));
            num += w * O[i][j];
            den += w * rs[i] * cs[j] / n;
        }
    return 1.0 - num / den;
}

TEST(metrics_kappa_matches_confusion_matrix_definition) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    srand(7);
    for (int trial = 0; trial < 50; trial++) {
        int K = 2 + trial % 6, n = 5 + trial * 3;
        int32_t p[200], r[200];
        for (int i = 0; i < n; i++) {
            r[i] = rand() % K;
            p[i] = rand() % 3 == 0 ? rand() % K : r[i];
        }
        p[0] = 0; r[1] = K - 1;   /* never degenerate */
        double k;
        REQUIRE_OK(ctx, ssl3d_quadratic_kappa(ctx, p, r, n, K, &k));
        CHECK_NEAR(k, kappa_naive(p, r, n, K), 1e-12);
    }
    ssl3d_ctx_release(ctx);
}

/* AUC by counting pairs: P(s_pos > s_neg) + 0.5 P(s_pos == s_neg). */
static double auc_pairs(const float *s, const int32_t *y, int n, int stride, int k) {
    double num = 0, cnt = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] == k && y[j] != k) {
                float a = s[i * stride], b = s[j * stride];
                num += a > b ? 1.0 : a == b ? 0.5 : 0.0;
                cnt += 1;
            }
    return num / cnt;
}

TEST(metrics_auc_binary_hand_values_and_ties) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    double auc;
    float s1[4] = { 0.1f, 0.4f, 0.35f, 0.8f };
    int32_t y1[4] = { 0, 0, 1, 1 };
    REQUIRE_OK(ctx, ssl3d_roc_auc(ctx, s1, y1, 4, &auc));
    CHECK_NEAR(auc, 0.75, 1e-15);   /* pairs: .35>.1, .35<.4, .8>.1, .8>.4 -> 3/4 */
    /* ties: positives {0.5, 0.9}, negatives {0.5, 0.5}: 0.5 vs 0.5 counts 1/2 twice,
     * 0.9 wins twice -> 3/4 */
    float s2[4] = { 0.5f, 0.5f, 0.5f, 0.9f };
    int32_t y2[4] = { 0, 1, 0, 1 };
    REQUIRE_OK(ctx, ssl3d_roc_auc(ctx, s2, y2, 4, &auc));
    CHECK_NEAR(auc, 0.75, 1e-15);
    float s3[4] = { 1, 1, 1, 1 };
    REQUIRE_OK(ctx, ssl3d_roc_auc(ctx, s3, y2, 4, &auc));
    CHECK_NEAR(auc, 0.5, 1e-15);
    float s4[4] = { 0, 3, 1, 2 };   /* y2: negatives 0,1 below positives 2,3 */
    REQUIRE_OK(ctx, ssl3d_roc_auc(ctx, s4, y2, 4, &auc));
    CHECK_NEAR(auc, 1.0, 1e-15);
    float s5[4] = { 3, 0, 2, 1 };
    REQUIRE_OK(ctx, ssl3d_roc_auc(ctx, s5, y2, 4, &auc));
    CHECK_NEAR(auc, 0.0, 1e-15);
    /* random scores quantised to force many ties, against pair counting */
    srand(3);
    float s[300];
    int32_t y[300];
    for (int i = 0; i < 300; i++) { s[i] = (float)(rand() % 17) * 0.25f; y[i] = rand() % 3 == 0; }
    y[0] = 0; y[1] = 1;
    REQUIRE_OK(ctx, ssl3d_roc_auc(ctx, s, y, 300, &auc));
    CHECK_NEAR(auc, auc_pairs(s, y, 300, 1, 1), 1e-12);
    /* misuse: single class, labels not 0/1, NaN or Inf score */
    int32_t same[4] = { 1, 1, 1, 1 }, three[4] = { 0, 2, 1, 0 };
    CHECK_ST(ctx, ssl3d_roc_auc(ctx, s1, same, 4, &auc), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "both classes"));
    CHECK_ST(ctx, ssl3d_roc_auc(ctx, s1, three, 4, &auc), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "labels[1] = 2"));
    float sn[4] = { 0, NAN, 1, 2 }, si[4] = { 0, 1, INFINITY, 2 };
    CHECK_ST(ctx, ssl3d_roc_auc(ctx, sn, y1, 4, &auc), SSL3D_ERR_NUMERIC);
    CHECK(has(ctx, "scores[1]"));
    CHECK_ST(ctx, ssl3d_roc_auc(ctx, si, y1, 4, &auc), SSL3D_ERR_NUMERIC);
    CHECK_ST(ctx, ssl3d_roc_auc(ctx, s1, y1, 1, &auc), SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx_release(ctx);
}

TEST(metrics_auc_ovr_macro) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* class 0: positive .7 above .2,.1,.3 -> 1; class 1: .5 above .2,.3,.4 -> 1;
     * class 2: positives {.6,.3}, negatives {.1,.3}: 1+1+1+0.5 over 4 = 0.875. */
    float s[12] = { 0.7f, 0.2f, 0.1f, 0.2f, 0.5f, 0.3f, 0.1f, 0.3f, 0.6f, 0.3f, 0.4f, 0.3f };
    int32_t y[4] = { 0, 1, 2, 2 };
    double macro, pc[8];
    int32_t used = 0;
    REQUIRE_OK(ctx, ssl3d_roc_auc_ovr(ctx, s, y, 4, 3, &macro, pc, &used));
    CHECK_NEAR(pc[0], 1.0, 1e-15);
    CHECK_NEAR(pc[1], 1.0, 1e-15);
    CHECK_NEAR(pc[2], 0.875, 1e-15);
    CHECK_NEAR(macro, 2.875 / 3.0, 1e-15);
    CHECK(used == 3);
    /* a 4th class absent from the labels is skipped: per_class -1, macro over 3 */
    float s4[16] = { 0.7f, 0.2f, 0.1f, 0.0f, 0.2f, 0.5f, 0.3f, 0.0f,
                     0.1f, 0.3f, 0.6f, 0.0f, 0.3f, 0.4f, 0.3f, 0.0f };
    REQUIRE_OK(ctx, ssl3d_roc_auc_ovr(ctx, s4, y, 4, 4, &macro, pc, &used));
    CHECK(used == 3 && pc[3] == -1.0);
    CHECK_NEAR(macro, 2.875 / 3.0, 1e-15);
    REQUIRE_OK(ctx, ssl3d_roc_auc_ovr(ctx, s4, y, 4, 4, &macro, NULL, NULL));
    /* random, against pair counting per class */
    srand(11);
    enum { N = 120, K = 5 };
    float sr[N * K];
    int32_t yr[N];
    for (int i = 0; i < N; i++) {
        yr[i] = rand() % K;
        for (int k = 0; k < K; k++) sr[i * K + k] = (float)(rand() % 9) / 8.0f + (k == yr[i] ? 0.3f : 0.0f);
    }
    REQUIRE_OK(ctx, ssl3d_roc_auc_ovr(ctx, sr, yr, N, K, &macro, pc, &used));
    double want = 0;
    for (int k = 0; k < K; k++) {
        double a = auc_pairs(sr + k, yr, N, K, k);
        CHECK_NEAR(pc[k], a, 1e-12);
        want += a / K;
    }
    CHECK_NEAR(macro, want, 1e-12);
    /* binary via OvR with complementary scores equals the binary AUC */
    float sb[8] = { 0.9f, 0.1f, 0.6f, 0.4f, 0.65f, 0.35f, 0.2f, 0.8f };
    int32_t yb[4] = { 0, 0, 1, 1 };
    float pos[4] = { 0.1f, 0.4f, 0.35f, 0.8f };
    double bin;
    REQUIRE_OK(ctx, ssl3d_roc_auc(ctx, pos, yb, 4, &bin));
    REQUIRE_OK(ctx, ssl3d_roc_auc_ovr(ctx, sb, yb, 4, 2, &macro, NULL, NULL));
    CHECK_NEAR(macro, bin, 1e-15);
    /* a single class in the labels: nothing to average */
    int32_t one[4] = { 2, 2, 2, 2 };
    CHECK_ST(ctx, ssl3d_roc_auc_ovr(ctx, s, one, 4, 3, &macro, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    int32_t bad[4] = { 0, 1, 3, 2 };
    CHECK_ST(ctx, ssl3d_roc_auc_ovr(ctx, s, bad, 4, 3, &macro, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    CHECK(has(ctx, "labels[2] = 3"));
    ssl3d_ctx_release(ctx);
}

TEST(metrics_ordinal_decode_and_scores) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    /* K = 4, three outputs per sample: P(grade>0), P(grade>1), P(grade>2) */
    float p[9] = { 0.9f, 0.6f, 0.2f,    /* grade 2, expected 1.7 */
                   0.4f, 0.7f, 0.1f,    /* non-monotone: count gives 1, expected 1.2 */
                   0.5f, 0.5f, 0.5f };  /* exactly 0.5 is not above: grade 0, expected 1.5 */
    int32_t g[3];
    double e[3];
    REQUIRE_OK(ctx, ssl3d_ordinal_decode(ctx, p, 3, 4, 0, g, e));
    CHECK(g[0] == 2 && g[1] == 1 && g[2] == 0);
    CHECK_NEAR(e[0], 1.7, 1e-6);
    CHECK_NEAR(e[1], 1.2, 1e-6);
    CHECK_NEAR(e[2], 1.5, 1e-6);
    float lg[3] = { 2.0f, -1.0f, 0.0f };
    REQUIRE_OK(ctx, ssl3d_ordinal_decode(ctx, lg, 1, 4, 1, g, e));
    CHECK(g[0] == 1);
    CHECK_NEAR(e[0], 1.0 / (1.0 + exp(-2.0)) + 1.0 / (1.0 + exp(1.0)) + 0.5, 1e-12);
    REQUIRE_OK(ctx, ssl3d_ordinal_decode(ctx, p, 3, 4, 0, NULL, e));
    REQUIRE_OK(ctx, ssl3d_ordinal_decode(ctx, p, 3, 4, 0, g, NULL));
    CHECK_ST(ctx, ssl3d_ordinal_decode(ctx, p, 3, 4, 0, NULL, NULL), SSL3D_ERR_INVALID_ARG);
    /* class scores: [1-p0, p0-p1, p1-p2, p2], clamped at 0 */
    float s[12];
    REQUIRE_OK(ctx, ssl3d_ordinal_class_scores(ctx, p, 3, 4, 0, s));
    CHECK_NEAR(s[0], 0.1, 1e-6); CHECK_NEAR(s[1], 0.3, 1e-6);
    CHECK_NEAR(s[2], 0.4, 1e-6); CHECK_NEAR(s[3], 0.2, 1e-6);
    CHECK_NEAR(s[4], 0.6, 1e-6); CHECK(s[5] == 0.0f);
    CHECK_NEAR(s[6], 0.6, 1e-6); CHECK_NEAR(s[7], 0.1, 1e-6);
    /* K = 2 is plain binary: scores (1-p, p) */
    float b[1] = { 0.25f };
    REQUIRE_OK(ctx, ssl3d_ordinal_class_scores(ctx, b, 1, 2, 0, s));
    CHECK_NEAR(s[0], 0.75, 1e-7); CHECK_NEAR(s[1], 0.25, 1e-7);
    float nanv[3] = { 0.1f, NAN, 0.2f };
    CHECK_ST(ctx, ssl3d_ordinal_decode(ctx, nanv, 1, 4, 0, g, e), SSL3D_ERR_NUMERIC);
    CHECK_ST(ctx, ssl3d_ordinal_class_scores(ctx, p, 3, 1, 0, s), SSL3D_ERR_INVALID_ARG);
    ssl3d_ctx_release(ctx);
}
