/* The data-efficiency protocol's label subsets: one seeded permutation of the labelled
 * training cases whose prefixes are the nested fractions, and a seeded train /
 * validation split of a pool for model selection. Draws depend on the seed alone (not
 * on the context's RNG state), so any program reproduces the same subsets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../metrics/metrics_internal.h"

/* Philox streams reserved for these draws. SUBSET_STREAM is the one the fine-tuning
 * code (ssl3d_ft_subset, branch finetune) uses with the same Fisher-Yates, so both give
 * the same subsets for n < 2^32. SPLIT_STREAM spells "TRNVAL" in ASCII. */
#define SUBSET_STREAM 0x5b5e7ull
#define SPLIT_STREAM 0x54524E56414Cull

/* Uniform integer in [0, n), n >= 1, unbiased (rejection on 64 bits). */
static uint64_t below64(ssl3d_rng *r, uint64_t n) {
    if (n <= UINT32_MAX) return ssl3d_rng_below(r, (uint32_t)n);
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = ((uint64_t)ssl3d_rng_u32(r) << 32) | ssl3d_rng_u32(r);
        if (x < limit) return x % n;
    }
}

/* Fisher-Yates shuffle of a[0..n) with (seed, stream). */
static void shuffle(int64_t *a, int64_t n, uint64_t seed, uint64_t stream) {
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, stream);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below64(&r, (uint64_t)i + 1u);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t ssl3d_subset_size(int64_t n, double fraction) {
    if (n < 1 || !(fraction > 0.0 && fraction <= 1.0)) return 0;
    double s = round(fraction * (double)n);   /* half away from zero */
    int64_t m = s < 1.0 ? 1 : (int64_t)s;
    return m > n ? n : m;
}

static ssl3d_status check_fraction(ssl3d_ctx *ctx, double f, const char *fn, const char *what) {
    SSL3D_CHECK_ARG(ctx, f > 0.0 && f <= 1.0, "%s: %s = %g, want a fraction in (0, 1] (e.g. 0.05 for 5%%)",
                    fn, what, f);
    return SSL3D_OK;
}

/* perm = the seeded permutation of 0..n-1 (malloc'd). */
static ssl3d_status make_perm(ssl3d_ctx *ctx, int64_t n, uint64_t seed, int64_t **out, const char *fn) {
    if ((uint64_t)n > SIZE_MAX / sizeof(int64_t))
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: n = %lld is too large", fn, (long long)n);
    int64_t *p = malloc((size_t)n * sizeof *p);
    if (!p) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory for %lld indices", fn, (long long)n);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    shuffle(p, n, seed, SUBSET_STREAM);
    *out = p;
    return SSL3D_OK;
}

ssl3d_status ssl3d_subset_nested(ssl3d_ctx *ctx, int64_t n, uint64_t seed, const double *fractions,
                                 int32_t n_fractions, int64_t *perm, int64_t *sizes) {
    static const char fn[] = "ssl3d_subset_nested";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, need at least one labelled case", fn, (long long)n);
    SSL3D_CHECK_ARG(ctx, n_fractions >= 0, "%s: n_fractions = %d is negative", fn, (int)n_fractions);
    SSL3D_CHECK_ARG(ctx, n_fractions == 0 || fractions, "%s: fractions is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_fractions == 0 || sizes || perm, "%s: perm and sizes are both NULL", fn);
    for (int32_t i = 0; i < n_fractions; i++) {
        char what[32];
        snprintf(what, sizeof what, "fractions[%d]", (int)i);
        SSL3D_CHECK(check_fraction(ctx, fractions[i], fn, what));
    }
    if (perm) {
        for (int64_t i = 0; i < n; i++) perm[i] = i;
        shuffle(perm, n, seed, SUBSET_STREAM);
    }
    if (sizes)
        for (int32_t i = 0; i < n_fractions; i++) sizes[i] = ssl3d_subset_size(n, fractions[i]);
    return SSL3D_OK;
}

ssl3d_status ssl3d_subset_indices(ssl3d_ctx *ctx, int64_t n, uint64_t seed, double fraction, int64_t *idx,
                                  int64_t cap, int64_t *count) {
    static const char fn[] = "ssl3d_subset_indices";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, n >= 1, "%s: n = %lld, need at least one labelled case", fn, (long long)n);
    SSL3D_CHECK(check_fraction(ctx, fraction, fn, "fraction"));
    SSL3D_CHECK_ARG(ctx, idx, "%s: idx is NULL", fn);
    SSL3D_CHECK_ARG(ctx, count, "%s: count is NULL", fn);
    int64_t m = ssl3d_subset_size(n, fraction);
    SSL3D_CHECK_ARG(ctx, cap >= m, "%s: cap = %lld, the subset has %lld cases", fn, (long long)cap,
                    (long long)m);
    int64_t *p = NULL;
    SSL3D_CHECK(make_perm(ctx, n, seed, &p, fn));
    qsort(p, (size_t)m, sizeof *p, cmp_i64);
    memcpy(idx, p, (size_t)m * sizeof *p);
    free(p);
    *count = m;
    return SSL3D_OK;
}

ssl3d_status ssl3d_split_train_val(ssl3d_ctx *ctx, const int64_t *pool, int64_t n_pool, double val_fraction,
                                   uint64_t seed, int64_t *train, int64_t *n_train, int64_t *val,
                                   int64_t *n_val) {
    static const char fn[] = "ssl3d_split_train_val";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, pool, "%s: pool is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_pool >= 1, "%s: n_pool = %lld, need at least one case", fn, (long long)n_pool);
    SSL3D_CHECK_ARG(ctx, val_fraction >= 0.0 && val_fraction < 1.0,
                    "%s: val_fraction = %g, want a fraction in [0, 1)", fn, val_fraction);
    SSL3D_CHECK_ARG(ctx, train, "%s: train is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_train, "%s: n_train is NULL", fn);
    SSL3D_CHECK_ARG(ctx, n_val, "%s: n_val is NULL", fn);
    int64_t nv = 0;
    if (val_fraction > 0.0 && n_pool >= 2) {
        nv = (int64_t)round(val_fraction * (double)n_pool);
        if (nv < 1) nv = 1;
        if (nv > n_pool - 1) nv = n_pool - 1;
    }
    SSL3D_CHECK_ARG(ctx, nv == 0 || val, "%s: val is NULL but the validation part has %lld cases", fn,
                    (long long)nv);
    if ((uint64_t)n_pool > SIZE_MAX / sizeof(int64_t))
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: n_pool = %lld is too large", fn, (long long)n_pool);
    int64_t *s = malloc((size_t)n_pool * sizeof *s);
    if (!s) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    memcpy(s, pool, (size_t)n_pool * sizeof *s);
    qsort(s, (size_t)n_pool, sizeof *s, cmp_i64);
    for (int64_t i = 0; i < n_pool; i++) {
        if (s[i] < 0 || (i > 0 && s[i] == s[i - 1])) {
            int64_t bad = s[i];
            free(s);
            return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: pool index %lld is %s", fn, (long long)bad,
                                   bad < 0 ? "negative" : "repeated");
        }
    }
    shuffle(s, n_pool, seed, SPLIT_STREAM);
    qsort(s, (size_t)nv, sizeof *s, cmp_i64);
    qsort(s + nv, (size_t)(n_pool - nv), sizeof *s, cmp_i64);
    if (nv) memcpy(val, s, (size_t)nv * sizeof *s);
    memcpy(train, s + nv, (size_t)(n_pool - nv) * sizeof *s);
    *n_val = nv;
    *n_train = n_pool - nv;
    free(s);
    return SSL3D_OK;
}
