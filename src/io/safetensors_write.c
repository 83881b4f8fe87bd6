/*
 * safetensors header writer. Layout is deterministic: "__metadata__" first (keys in
 * strcmp order), then the tensors in strcmp name order, each as
 * {"dtype":..,"shape":[..],"data_offsets":[begin,end]}, data packed in the same order
 * from offset 0. The JSON is padded with spaces so that the data buffer starts at a
 * multiple of 8 bytes, as the reference writer does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "safetensors.h"

/* Integers go in as raw JSON text: cJSON would print doubles >= 1e15 in exponent form,
 * which readers that want integers refuse. */
static int add_uint(cJSON *arr, uint64_t v) {
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    cJSON *x = cJSON_CreateRaw(num);
    return x && cJSON_AddItemToArray(arr, x);
}

static cJSON *build(const ssl3d_checkpoint *ck) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (ck->n_m > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        if (!meta) goto fail;
        for (int64_t i = 0; i < ck->n_m; i++)
            if (!cJSON_AddStringToObject(meta, ck->m[i].key, ck->m[i].value)) goto fail;
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < ck->n_t; i++) {
        const ssl3d_st_entry *e = &ck->t[i];
        cJSON *obj = cJSON_AddObjectToObject(root, e->name);
        if (!obj || !cJSON_AddStringToObject(obj, "dtype", ssl3d_st_dtype_name(e->dtype))) goto fail;
        cJSON *shape = cJSON_AddArrayToObject(obj, "shape");
        if (!shape) goto fail;
        for (int32_t d = 0; d < e->ndim; d++)
            if (!add_uint(shape, (uint64_t)e->shape[d])) goto fail;
        cJSON *offs = cJSON_AddArrayToObject(obj, "data_offsets");
        if (!offs || !add_uint(offs, offset) || !add_uint(offs, offset + e->nbytes)) goto fail;
        offset += e->nbytes;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

ssl3d_status ssl3d_st_header(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, char **hdr, size_t *hlen) {
    cJSON *root = build(ck);
    if (!root) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_checkpoint_save: out of memory building the header");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_checkpoint_save: out of memory printing the header");
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    if (padded > SSL3D_CHECKPOINT_HEADER_MAX) {
        cJSON_free(text);
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG,
                               "ssl3d_checkpoint_save: the header would be %zu bytes, over the %d-byte limit of "
                               "safetensors readers (too many tensors or too much metadata)",
                               padded, SSL3D_CHECKPOINT_HEADER_MAX);
    }
    char *out = malloc(padded);
    if (!out) {
        cJSON_free(text);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_checkpoint_save: out of memory for the header");
    }
    memcpy(out, text, len);
    memset(out + len, ' ', padded - len);
    cJSON_free(text);
    *hdr = out;
    *hlen = padded;
    return SSL3D_OK;
}
