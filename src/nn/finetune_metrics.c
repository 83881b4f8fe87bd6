/* Small metrics on host arrays for fine-tuning (Dice, ROC AUC, quadratic weighted kappa),
 * the seeded permutation behind nested subsets, and the evaluation result handle. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "finetune_internal.h"

double ft_dice_class(const int32_t *pred, const int32_t *truth, int64_t n, int32_t k) {
    int64_t inter = 0, np = 0, nt = 0;
    for (int64_t i = 0; i < n; i++) {
        int p = pred[i] == k, t = truth[i] == k;
        inter += p & t; np += p; nt += t;
    }
    if (np + nt == 0) return 1.0;
    return 2.0 * (double)inter / (double)(np + nt);
}

typedef struct { float s; int32_t pos; } scored;

static int cmp_scored(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

double ft_auc_binary(const float *scores, int64_t stride, const int32_t *positive, int64_t n) {
    scored *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return NAN;
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) { v[i].s = scores[i * stride]; v[i].pos = positive[i] != 0; npos += v[i].pos; }
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0) { free(v); return NAN; }
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    /* Mann-Whitney U with mid-ranks for ties. */
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].s == v[i].s) j++;
        double mid = 0.5 * (double)(i + 1 + j);   /* ranks i+1..j */
        for (int64_t t = i; t < j; t++) if (v[t].pos) rank_sum += mid;
        i = j;
    }
    free(v);
    return (rank_sum - 0.5 * (double)npos * (double)(npos + 1)) / ((double)npos * (double)nneg);
}

double ft_auc(const float *probs, const int32_t *truth, int64_t n, int32_t K) {
    int32_t *pos = malloc((size_t)(n > 0 ? n : 1) * sizeof *pos);
    if (!pos) return NAN;
    double sum = 0;
    int32_t used = 0;
    for (int32_t k = (K == 2 ? 1 : 0); k < K; k++) {
        for (int64_t i = 0; i < n; i++) pos[i] = truth[i] == k;
        double a = ft_auc_binary(probs + k, K, pos, n);
        if (!isnan(a)) { sum += a; used++; }
    }
    free(pos);
    return used ? sum / used : NAN;
}

double ft_qwk(const int32_t *pred, const int32_t *truth, int64_t n, int32_t K) {
    if (n <= 0 || K < 2) return NAN;
    double *O = calloc((size_t)K * (size_t)K, sizeof *O), *hp = calloc((size_t)K, sizeof *hp),
           *ht = calloc((size_t)K, sizeof *ht);
    double r = NAN;
    if (O && hp && ht) {
        for (int64_t i = 0; i < n; i++) {
            int32_t p = pred[i] < 0 ? 0 : pred[i] >= K ? K - 1 : pred[i];
            int32_t t = truth[i] < 0 ? 0 : truth[i] >= K ? K - 1 : truth[i];
            O[t * K + p] += 1; ht[t] += 1; hp[p] += 1;
        }
        double num = 0, den = 0;
        for (int32_t i = 0; i < K; i++)
            for (int32_t j = 0; j < K; j++) {
                double w = (double)(i - j) * (i - j) / ((double)(K - 1) * (K - 1));
                num += w * O[i * K + j];
                den += w * ht[i] * hp[j] / (double)n;
            }
        r = den > 0 ? 1.0 - num / den : (num == 0 ? 1.0 : 0.0);
    }
    free(O); free(hp); free(ht);
    return r;
}

void ft_permutation(uint64_t seed, uint64_t stream, int64_t n, int64_t *perm) {
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, stream);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ssl3d_rng_below(&r, (uint32_t)(i + 1));
        int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Stream of the label-fraction permutation (fixed, so that subsets are reproducible). */
#define FT_SUBSET_STREAM 0x5b5e7ull

ssl3d_status ssl3d_ft_subset(ssl3d_ctx *ctx, int64_t n, double fraction, uint64_t seed, int64_t *idx, int64_t cap,
                             int64_t *count) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, count, "ssl3d_ft_subset: count is NULL");
    SSL3D_CHECK_ARG(ctx, n >= 1 && n <= (int64_t)UINT32_MAX, "ssl3d_ft_subset: n must be >= 1, got %lld", (long long)n);
    SSL3D_CHECK_ARG(ctx, fraction > 0 && fraction <= 1, "ssl3d_ft_subset: fraction must be in (0, 1], got %g", fraction);
    int64_t k = (int64_t)llround(fraction * (double)n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    if (cap > 0) {
        SSL3D_CHECK_ARG(ctx, idx, "ssl3d_ft_subset: idx is NULL");
        int64_t *perm = malloc((size_t)n * sizeof *perm);
        if (!perm) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_ft_subset: out of memory");
        ft_permutation(seed, FT_SUBSET_STREAM, n, perm);
        qsort(perm, (size_t)k, sizeof *perm, cmp_i64);
        for (int64_t i = 0; i < k && i < cap; i++) idx[i] = perm[i];
        free(perm);
    }
    *count = k;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- results */

void ssl3d_ftresult_release(ssl3d_ftresult *r) {
    if (!r) return;
    free(r->dice_mean);
    free(r->dice_sd);
    free(r->json);
    free(r);
}

const char *ssl3d_ftresult_json(const ssl3d_ftresult *r) { return r && r->json ? r->json : ""; }

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

ssl3d_status ft_result_finish(ssl3d_ctx *ctx, ssl3d_ftresult *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "evaluation: out of memory");
    char key[16];
    if (r->kind == SSL3D_FT_SEGMENT) {
        cJSON *d = cJSON_AddObjectToObject(o, "dice"), *s = cJSON_AddObjectToObject(o, "dice_sd");
        for (int32_t k = 1; d && s && k < r->classes; k++) {
            snprintf(key, sizeof key, "%d", (int)k);
            cJSON_AddItemToObject(d, key, num(r->dice_mean[k]));
            cJSON_AddItemToObject(s, key, num(r->dice_sd[k]));
        }
        cJSON_AddItemToObject(o, "dice_mean", num(r->dice_all));
        cJSON_AddItemToObject(o, "dice_mean_sd", num(r->dice_all_sd));
    } else {
        cJSON_AddItemToObject(o, "accuracy", num(r->accuracy));
        cJSON_AddItemToObject(o, "auc", num(r->auc));
        cJSON_AddItemToObject(o, "qwk", num(r->qwk));
    }
    cJSON_AddNumberToObject(o, "cases", (double)r->cases);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "evaluation: out of memory");
    free(r->json);
    r->json = strdup(txt);
    cJSON_free(txt);
    if (!r->json) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "evaluation: out of memory");
    return SSL3D_OK;
}

ssl3d_status ssl3d_ftresult_get(ssl3d_ctx *ctx, const ssl3d_ftresult *r, const char *key, double *value) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, r && key && value, "ssl3d_ftresult_get: %s is NULL", !r ? "result" : !key ? "key" : "value");
    double v = NAN;
    int found = 1;
    if (!strcmp(key, "cases")) v = (double)r->cases;
    else if (r->kind == SSL3D_FT_SEGMENT && !strcmp(key, "dice_mean")) v = r->dice_all;
    else if (r->kind == SSL3D_FT_SEGMENT && !strcmp(key, "dice_mean_sd")) v = r->dice_all_sd;
    else if (r->kind == SSL3D_FT_SEGMENT && (!strncmp(key, "dice.", 5) || !strncmp(key, "dice_sd.", 8))) {
        const char *p = strchr(key, '.') + 1;
        char *end = NULL;
        long k = strtol(p, &end, 10);
        if (end != p && !*end && k >= 1 && k < r->classes) v = key[4] == '.' ? r->dice_mean[k] : r->dice_sd[k];
        else found = 0;
    } else if (r->kind == SSL3D_FT_CLASSIFY && !strcmp(key, "accuracy")) v = r->accuracy;
    else if (r->kind == SSL3D_FT_CLASSIFY && !strcmp(key, "auc")) v = r->auc;
    else if (r->kind == SSL3D_FT_CLASSIFY && !strcmp(key, "qwk")) v = r->qwk;
    else found = 0;
    if (!found) return ssl3d_set_error(ctx, SSL3D_ERR_NOT_FOUND, "ssl3d_ftresult_get: no value '%s' in this result", key);
    *value = v;
    return SSL3D_OK;
}
