/* Medical Segmentation Decathlon dataset.json (cJSON). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "manifest_internal.h"

static int line_of(const char *text, const char *at) {
    int line = 1;
    for (const char *p = text; p < at && *p; p++) line += *p == '\n';
    return line;
}

static ssl3d_status nomem(ssl3d_ctx *ctx, const char *fn) {
    return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
}

/* One case from an item of "training"/"validation"/"test". */
static ssl3d_status add_item(ssl3d_ctx *ctx, const char *fn, ssl3d_manifest *m, const cJSON *item, const char *list,
                             int index, int32_t split) {
    const char *mp = m->path;
    const cJSON *image = item, *label = NULL;
    if (cJSON_IsObject(item)) {
        image = cJSON_GetObjectItemCaseSensitive(item, "image");
        label = cJSON_GetObjectItemCaseSensitive(item, "label");
        if (!image)
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: %s[%d] has no \"image\"", fn, mp, list, index);
    }
    int n_img = cJSON_IsString(image) ? 1 : cJSON_IsArray(image) ? cJSON_GetArraySize(image) : 0;
    if (n_img < 1 || n_img > 4096)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                               "%s: %s: %s[%d]: \"image\" must be a path or a non-empty array of paths", fn, mp, list,
                               index);
    if (label && !cJSON_IsNull(label) && !cJSON_IsString(label))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: %s[%d]: \"label\" must be a path", fn, mp, list, index);
    ssl3d_mcase *c = ssl3d_manifest_add_case(m);
    if (!c) return nomem(ctx, fn);
    c->split = split;
    char where[96];
    snprintf(where, sizeof where, "%s[%d]", list, index);
    c->where = strdup(where);
    c->images = calloc((size_t)n_img, sizeof *c->images);
    if (!c->where || !c->images) return nomem(ctx, fn);
    for (int j = 0; j < n_img; j++) {
        const cJSON *p = cJSON_IsString(image) ? image : cJSON_GetArrayItem(image, j);
        if (!cJSON_IsString(p) || !p->valuestring[0])
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: %s[%d]: image path %d is not a non-empty string", fn,
                                   mp, list, index, j);
        c->images[j] = ssl3d_manifest_resolve(m, p->valuestring);
        if (!c->images[j]) return nomem(ctx, fn);
        c->n_images = j + 1;
    }
    if (cJSON_IsString(label)) {
        if (!label->valuestring[0])
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: %s[%d]: empty label path", fn, mp, list, index);
        c->label_path = ssl3d_manifest_resolve(m, label->valuestring);
        if (!c->label_path) return nomem(ctx, fn);
    }
    return SSL3D_OK;
}

static ssl3d_status add_list(ssl3d_ctx *ctx, const char *fn, ssl3d_manifest *m, const cJSON *root, const char *key,
                             int32_t split, int *found) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!list) return SSL3D_OK;
    if (!cJSON_IsArray(list))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: \"%s\" must be an array", fn, m->path, key);
    *found = 1;
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        SSL3D_CHECK(add_item(ctx, fn, m, item, key, i, split));
        i++;
    }
    return SSL3D_OK;
}

static int parse_int_key(const char *s, int32_t *v) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!s[0] || *end || errno || x < 0 || x > 1000000) return 0;
    *v = (int32_t)x;
    return 1;
}

/* "modality": {"0": "FLAIR", ...} and "labels": {"0": "background", ...} (also the
 * nnU-Net v2 form {"background": 0, ...}); both are returned ordered by value. */
static ssl3d_status parse_names(ssl3d_ctx *ctx, const char *fn, const ssl3d_manifest *m, const cJSON *root,
                                const char *key, int32_t **values, char ***names, int32_t *count) {
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!obj) return SSL3D_OK;
    if (!cJSON_IsObject(obj))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: \"%s\" must be an object", fn, m->path, key);
    int n = cJSON_GetArraySize(obj);
    if (n == 0) return SSL3D_OK;
    *values = calloc((size_t)n, sizeof **values);
    *names = calloc((size_t)n, sizeof **names);
    if (!*values || !*names) return nomem(ctx, fn);
    const cJSON *it;
    int k = 0;
    cJSON_ArrayForEach(it, obj) {
        int32_t v;
        const char *name;
        if (cJSON_IsString(it) && it->string && parse_int_key(it->string, &v)) name = it->valuestring;
        else if (cJSON_IsNumber(it) && it->string && it->valuedouble >= 0 && it->valuedouble <= 1000000 &&
                 it->valuedouble == (double)(int32_t)it->valuedouble) {
            v = (int32_t)it->valuedouble;
            name = it->string;
        } else
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: \"%s\" entry \"%s\" must map an integer to a name",
                                   fn, m->path, key, it->string ? it->string : "?");
        for (int j = 0; j < k; j++)
            if ((*values)[j] == v)
                return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: \"%s\" has value %d twice", fn, m->path, key,
                                       (int)v);
        /* insertion sort by value */
        int at = k;
        while (at > 0 && (*values)[at - 1] > v) {
            (*values)[at] = (*values)[at - 1];
            (*names)[at] = (*names)[at - 1];
            at--;
        }
        (*values)[at] = v;
        (*names)[at] = strdup(name);
        k++;
        *count = k;
        if (!(*names)[at]) return nomem(ctx, fn);
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_manifest_parse_msd(ssl3d_ctx *ctx, const char *fn, ssl3d_manifest *m, const char *text,
                                      size_t len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: malformed JSON at line %d", fn, m->path,
                               end ? line_of(text, end) : 0);
    ssl3d_status st = SSL3D_OK;
    int found = 0;
    if (!cJSON_IsObject(root))
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: the top level must be a JSON object", fn, m->path);
    if (st == SSL3D_OK) st = add_list(ctx, fn, m, root, "training", SSL3D_SPLIT_TRAIN, &found);
    if (st == SSL3D_OK) st = add_list(ctx, fn, m, root, "validation", SSL3D_SPLIT_VAL, &found);
    if (st == SSL3D_OK) st = add_list(ctx, fn, m, root, "test", SSL3D_SPLIT_TEST, &found);
    if (st == SSL3D_OK && !found)
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: no \"training\" or \"test\" list (not an MSD dataset.json)",
                             fn, m->path);
    int32_t *chan_values = NULL;
    if (st == SSL3D_OK)
        st = parse_names(ctx, fn, m, root, "modality", &chan_values, &m->channels, &m->n_channels);
    free(chan_values);
    if (st == SSL3D_OK)
        st = parse_names(ctx, fn, m, root, "labels", &m->label_values, &m->label_names, &m->n_labels);
    cJSON_Delete(root);
    return st;
}
