/* The seeded permutation of the epoch order and the evaluation result handle. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "finetune_internal.h"

void ft_permutation(uint64_t seed, uint64_t stream, int64_t n, int64_t *perm) {
    ssl3d_rng r;
    ssl3d_rng_init(&r, seed, stream);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ssl3d_rng_below(&r, (uint32_t)(i + 1));
        int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
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
    /* Only for ensembles: the object of a single model stays as it always was. */
    if (r->models > 1) cJSON_AddNumberToObject(o, "models", (double)r->models);
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
    else if (!strcmp(key, "models")) v = (double)r->models;
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
