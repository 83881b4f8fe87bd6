/*
 * safetensors reader: validates a whole file held in memory and indexes its tensors.
 *
 * Layout: u64 little-endian N | N bytes of UTF-8 JSON | data buffer. The JSON is an
 * object of "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} plus
 * an optional "__metadata__": {"key": "value"}. Offsets are relative to the data
 * buffer; the tensors must tile it exactly (no overlap, no hole, nothing after).
 *
 * The file is hostile until proven otherwise: every length is checked before use,
 * every count against overflow, and every failure names the file and the culprit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "safetensors.h"

/* ---------------------------------------------------------------- dtypes */

static const struct { const char *name; int32_t size; } st_dtypes[SSL3D_ST_N_DTYPES] = {
    [SSL3D_ST_BOOL] = { "BOOL", 1 },     [SSL3D_ST_U8] = { "U8", 1 },
    [SSL3D_ST_I8] = { "I8", 1 },         [SSL3D_ST_F8_E5M2] = { "F8_E5M2", 1 },
    [SSL3D_ST_F8_E4M3] = { "F8_E4M3", 1 }, [SSL3D_ST_F8_E8M0] = { "F8_E8M0", 1 },
    [SSL3D_ST_I16] = { "I16", 2 },       [SSL3D_ST_U16] = { "U16", 2 },
    [SSL3D_ST_F16] = { "F16", 2 },       [SSL3D_ST_BF16] = { "BF16", 2 },
    [SSL3D_ST_I32] = { "I32", 4 },       [SSL3D_ST_U32] = { "U32", 4 },
    [SSL3D_ST_F32] = { "F32", 4 },       [SSL3D_ST_F64] = { "F64", 8 },
    [SSL3D_ST_I64] = { "I64", 8 },       [SSL3D_ST_U64] = { "U64", 8 },
    [SSL3D_ST_C64] = { "C64", 8 },
};

/* Dtypes of the specification packed below one byte per element: valid names we
 * cannot validate sizes for, so they are refused as unsupported, not as malformed. */
static const char *const st_subbyte[] = { "F4", "F6_E2M3", "F6_E3M2" };

const char *ssl3d_st_dtype_name(int32_t dtype) {
    return (dtype >= 0 && dtype < SSL3D_ST_N_DTYPES) ? st_dtypes[dtype].name : "?";
}

int32_t ssl3d_st_dtype_size(int32_t dtype) {
    return (dtype >= 0 && dtype < SSL3D_ST_N_DTYPES) ? st_dtypes[dtype].size : 0;
}

/* ---------------------------------------------------------------- names */

size_t ssl3d_st_utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return n;
}

const char *ssl3d_st_name_problem(const char *s) {
    if (!s) return "it is NULL";
    size_t n = strlen(s);
    if (n == 0) return "it is empty";
    if (n > SSL3D_CHECKPOINT_NAME_MAX) return "it is longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return "it contains a control character";
    }
    if (ssl3d_st_utf8_check((const uint8_t *)s, n) != n) return "it is not valid UTF-8";
    return NULL;
}

const char *ssl3d_st_quote(const char *s, char *buf, size_t cap) {
    if (cap == 0) return "";
    if (!s) { snprintf(buf, cap, "(null)"); return buf; }
    size_t o = 0, i = 0;
    for (; s[i] && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[o] = '\0';
    if (s[i] && cap > 4) memcpy(buf + cap - 4, "...", 4);
    return buf;
}

/* ---------------------------------------------------------------- the handle */

ssl3d_checkpoint *ssl3d_st_new(const char *label) {
    ssl3d_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) return NULL;
    ck->label = strdup(label);
    if (!ck->label) { free(ck); return NULL; }
    return ck;
}

void ssl3d_st_free(ssl3d_checkpoint *ck) {
    if (!ck) return;
    for (int64_t i = 0; i < ck->n_t; i++) {
        free(ck->t[i].name);
        free(ck->t[i].shape);
        free(ck->t[i].owned);
    }
    for (int64_t i = 0; i < ck->n_m; i++) {
        free(ck->m[i].key);
        free(ck->m[i].value);
    }
    free(ck->t);
    free(ck->m);
    free(ck->blob);
    free(ck->label);
    free(ck);
}

int64_t ssl3d_st_find(const ssl3d_checkpoint *ck, const char *name) {
    int64_t lo = 0, hi = ck->n_t;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ck->t[mid].name, name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

int64_t ssl3d_st_find_meta(const ssl3d_checkpoint *ck, const char *key) {
    int64_t lo = 0, hi = ck->n_m;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ck->m[mid].key, key);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

/* ---------------------------------------------------------------- parsing */

#define QCAP 96
/* Fail with the checkpoint's label in front of the message. */
#define FAIL(st, ...) return st_fail(ctx, (st), ck->label, __VA_ARGS__)

__attribute__((format(printf, 4, 5)))
static ssl3d_status st_fail(ssl3d_ctx *ctx, ssl3d_status st, const char *label, const char *fmt, ...) {
    char msg[SSL3D_ERRMSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ssl3d_set_error(ctx, st, "ssl3d_checkpoint_load: checkpoint %s: %s", label, msg);
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static const char *json_type(const cJSON *x) {
    if (cJSON_IsObject(x)) return "object";
    if (cJSON_IsArray(x)) return "array";
    if (cJSON_IsString(x)) return "string";
    if (cJSON_IsNumber(x)) return "number";
    if (cJSON_IsBool(x)) return "boolean";
    if (cJSON_IsNull(x)) return "null";
    return "value";
}

/* A JSON number that is an exact non-negative integer (<= 2^53, beyond which doubles
 * are not exact and no real file goes). */
static int json_uint(const cJSON *x, uint64_t *v) {
    if (!cJSON_IsNumber(x)) return 0;
    double d = x->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0) return 0;
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return 0;
    *v = u;
    return 1;
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const ssl3d_st_entry *)a)->name, ((const ssl3d_st_entry *)b)->name);
}
static int cmp_meta_key(const void *a, const void *b) {
    return strcmp(((const ssl3d_st_meta *)a)->key, ((const ssl3d_st_meta *)b)->key);
}
static int cmp_entry_offsets(const void *a, const void *b) {
    const ssl3d_st_entry *x = *(const ssl3d_st_entry *const *)a, *y = *(const ssl3d_st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    uint64_t xe = x->begin + x->nbytes, ye = y->begin + y->nbytes;
    if (xe != ye) return xe < ye ? -1 : 1;
    return strcmp(x->name, y->name);   /* total order: qsort result is deterministic */
}

/* "[2, 3, 4]" for messages, cut when long. */
static const char *shape_text(const int64_t *shape, int32_t ndim, char *buf, size_t cap) {
    size_t o = 0;
    o += (size_t)snprintf(buf, cap, "[");
    for (int32_t i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

/* Dtype string -> table index; returns 1 known, 0 unknown, -1 known but sub-byte. */
static int parse_dtype(const char *s, int32_t *dtype) {
    for (int32_t d = 0; d < SSL3D_ST_N_DTYPES; d++)
        if (!strcmp(s, st_dtypes[d].name)) { *dtype = d; return 1; }
    for (size_t i = 0; i < sizeof st_subbyte / sizeof *st_subbyte; i++)
        if (!strcmp(s, st_subbyte[i])) return -1;
    return 0;
}

/* One tensor entry of the header. `buffer_len` is the size of the data buffer. */
static ssl3d_status parse_tensor(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, const cJSON *item,
                                 uint64_t buffer_len, ssl3d_st_entry *e) {
    char q[QCAP], q2[QCAP];
    const char *name = item->string;
    const char *why = ssl3d_st_name_problem(name);
    if (why) FAIL(SSL3D_ERR_FORMAT, "tensor name '%s' is invalid: %s", ssl3d_st_quote(name, q, sizeof q), why);
    ssl3d_st_quote(name, q, sizeof q);
    if (!cJSON_IsObject(item))
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': entry is a JSON %s, not an object", q, json_type(item));
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = item->child; f; f = f->next) {
        const cJSON **slot = !strcmp(f->string, "dtype") ? &dtype
                           : !strcmp(f->string, "shape") ? &shape
                           : !strcmp(f->string, "data_offsets") ? &offs : NULL;
        if (!slot) continue;   /* unknown fields are ignored, as by the reference reader */
        if (*slot) FAIL(SSL3D_ERR_FORMAT, "tensor '%s': field \"%s\" appears twice", q, f->string);
        *slot = f;
    }
    if (!dtype) FAIL(SSL3D_ERR_FORMAT, "tensor '%s': no \"dtype\"", q);
    if (!shape) FAIL(SSL3D_ERR_FORMAT, "tensor '%s': no \"shape\"", q);
    if (!offs) FAIL(SSL3D_ERR_FORMAT, "tensor '%s': no \"data_offsets\"", q);

    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': \"dtype\" is a JSON %s, not a string", q, json_type(dtype));
    int known = parse_dtype(dtype->valuestring, &e->dtype);
    if (known < 0)
        FAIL(SSL3D_ERR_UNSUPPORTED, "tensor '%s': sub-byte dtype \"%s\" is not supported", q,
             ssl3d_st_quote(dtype->valuestring, q2, sizeof q2));
    if (!known)
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': unknown dtype \"%s\"", q,
             ssl3d_st_quote(dtype->valuestring, q2, sizeof q2));

    if (!cJSON_IsArray(shape))
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': \"shape\" is a JSON %s, not an array", q, json_type(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > 0) {
        e->shape = malloc((size_t)ndim * sizeof *e->shape);
        if (!e->shape) FAIL(SSL3D_ERR_NOMEM, "tensor '%s': out of memory for %d dims", q, ndim);
    }
    e->ndim = ndim;
    int zero = 0, i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint(d, &v)) {
            if (cJSON_IsNumber(d))
                FAIL(SSL3D_ERR_FORMAT, "tensor '%s': shape[%d] is %g, not a non-negative integer", q, i, d->valuedouble);
            FAIL(SSL3D_ERR_FORMAT, "tensor '%s': shape[%d] is a JSON %s, not a non-negative integer", q, i, json_type(d));
        }
        e->shape[i] = (int64_t)v;
        zero |= v == 0;
    }
    /* Element count and byte size; a zero dim makes the product 0 whatever the rest. */
    uint64_t numel = 1, esize = (uint64_t)st_dtypes[e->dtype].size;
    char sh[QCAP];
    if (zero) numel = 0;
    else
        for (i = 0; i < ndim; i++) {
            uint64_t d = (uint64_t)e->shape[i];
            if (numel > (UINT64_MAX / esize) / d || numel * d > (uint64_t)INT64_MAX / esize)
                FAIL(SSL3D_ERR_FORMAT, "tensor '%s': shape %s element count overflows", q,
                     shape_text(e->shape, e->ndim, sh, sizeof sh));
            numel *= d;
        }
    e->numel = (int64_t)numel;

    uint64_t b, en;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &b) ||
        !json_uint(offs->child->next, &en))
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': \"data_offsets\" is not an array of 2 non-negative integers", q);
    if (en < b)
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] end before they begin", q,
             (unsigned long long)b, (unsigned long long)en);
    if (en > buffer_len)
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] run past the %llu-byte data buffer", q,
             (unsigned long long)b, (unsigned long long)en, (unsigned long long)buffer_len);
    if (en - b != numel * esize)
        FAIL(SSL3D_ERR_FORMAT, "tensor '%s': %s shape %s needs %llu bytes but data_offsets [%llu, %llu] give %llu", q,
             st_dtypes[e->dtype].name, shape_text(e->shape, e->ndim, sh, sizeof sh),
             (unsigned long long)(numel * esize), (unsigned long long)b, (unsigned long long)en,
             (unsigned long long)(en - b));
    e->begin = b;
    e->nbytes = en - b;
    return SSL3D_OK;
}

static ssl3d_status parse_metadata(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, const cJSON *meta) {
    char q[QCAP];
    if (!cJSON_IsObject(meta))
        FAIL(SSL3D_ERR_FORMAT, "\"__metadata__\" is a JSON %s, not an object", json_type(meta));
    int n = cJSON_GetArraySize(meta);
    ck->m = calloc(n > 0 ? (size_t)n : 1, sizeof *ck->m);
    if (!ck->m) FAIL(SSL3D_ERR_NOMEM, "out of memory for %d metadata entries", n);
    ck->cap_m = n;
    for (const cJSON *it = meta->child; it; it = it->next) {
        const char *why = ssl3d_st_name_problem(it->string);
        if (why) FAIL(SSL3D_ERR_FORMAT, "metadata key '%s' is invalid: %s", ssl3d_st_quote(it->string, q, sizeof q), why);
        if (!cJSON_IsString(it) || !it->valuestring)
            FAIL(SSL3D_ERR_FORMAT, "metadata key '%s': value is a JSON %s, not a string",
                 ssl3d_st_quote(it->string, q, sizeof q), json_type(it));
        ssl3d_st_meta *m = &ck->m[ck->n_m];
        m->key = strdup(it->string);
        m->value = strdup(it->valuestring);
        ck->n_m++;   /* counted now so that ssl3d_st_free releases a half-made pair */
        if (!m->key || !m->value) FAIL(SSL3D_ERR_NOMEM, "out of memory for metadata");
    }
    qsort(ck->m, (size_t)ck->n_m, sizeof *ck->m, cmp_meta_key);
    for (int64_t i = 1; i < ck->n_m; i++)
        if (!strcmp(ck->m[i - 1].key, ck->m[i].key))
            FAIL(SSL3D_ERR_FORMAT, "metadata key '%s' appears twice", ssl3d_st_quote(ck->m[i].key, q, sizeof q));
    return SSL3D_OK;
}

/* Tensors sorted by (begin, end) must tile [0, buffer_len) exactly. */
static ssl3d_status check_coverage(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, uint64_t buffer_len) {
    char q[QCAP], q2[QCAP];
    ssl3d_st_entry **by = malloc((ck->n_t > 0 ? (size_t)ck->n_t : 1) * sizeof *by);
    if (!by) FAIL(SSL3D_ERR_NOMEM, "out of memory sorting %lld tensors", (long long)ck->n_t);
    for (int64_t i = 0; i < ck->n_t; i++) by[i] = &ck->t[i];
    qsort(by, (size_t)ck->n_t, sizeof *by, cmp_entry_offsets);
    uint64_t pos = 0;
    ssl3d_status st = SSL3D_OK;
    for (int64_t i = 0; i < ck->n_t && st == SSL3D_OK; i++) {
        const ssl3d_st_entry *e = by[i];
        if (e->begin < pos)
            st = st_fail(ctx, SSL3D_ERR_FORMAT, ck->label,
                         "tensor '%s' (bytes [%llu, %llu)) overlaps tensor '%s' (ending at %llu)",
                         ssl3d_st_quote(e->name, q, sizeof q), (unsigned long long)e->begin,
                         (unsigned long long)(e->begin + e->nbytes), ssl3d_st_quote(by[i - 1]->name, q2, sizeof q2),
                         (unsigned long long)pos);
        else if (e->begin > pos)
            st = st_fail(ctx, SSL3D_ERR_FORMAT, ck->label,
                         "bytes [%llu, %llu) of the data buffer belong to no tensor (hole before tensor '%s')",
                         (unsigned long long)pos, (unsigned long long)e->begin, ssl3d_st_quote(e->name, q, sizeof q));
        pos = e->begin + e->nbytes;
    }
    free(by);
    if (st != SSL3D_OK) return st;
    if (pos != buffer_len)
        FAIL(SSL3D_ERR_FORMAT, "%llu trailing bytes after the last tensor (data buffer is %llu bytes, tensors cover %llu)",
             (unsigned long long)(buffer_len - pos), (unsigned long long)buffer_len, (unsigned long long)pos);
    return SSL3D_OK;
}

static ssl3d_status parse_into(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, const uint8_t *buf, size_t len,
                               cJSON **root_out, char **text_out) {
    char q[QCAP];
    if (len < 8) FAIL(SSL3D_ERR_FORMAT, "file is %zu bytes, shorter than the 8-byte header length", len);
    uint64_t n = le64(buf);
    if (n > SSL3D_CHECKPOINT_HEADER_MAX)
        FAIL(SSL3D_ERR_FORMAT, "header length %llu exceeds the limit of %d bytes", (unsigned long long)n,
             SSL3D_CHECKPOINT_HEADER_MAX);
    if (n > len - 8)
        FAIL(SSL3D_ERR_FORMAT, "header length %llu runs past the end of the file (%zu bytes follow the length)",
             (unsigned long long)n, len - 8);
    const uint8_t *h = buf + 8;
    if (n == 0 || h[0] != '{') FAIL(SSL3D_ERR_FORMAT, "header does not start with '{'");
    /* JSON allows no raw control bytes but blanks; refusing them here also keeps NUL
     * bytes, which would cut C strings, out of the parser. */
    for (uint64_t i = 0; i < n; i++)
        if (h[i] < 0x20 && h[i] != '\t' && h[i] != '\n' && h[i] != '\r')
            FAIL(SSL3D_ERR_FORMAT, "header has control byte 0x%02x at header offset %llu", h[i], (unsigned long long)i);
    size_t bad = ssl3d_st_utf8_check(h, (size_t)n);
    if (bad != n) FAIL(SSL3D_ERR_FORMAT, "header is not valid UTF-8 (at header offset %zu)", bad);

    /* The parser allocates a node of ~64 bytes per JSON value: a 100 MB header of
     * "[0,0,0,..." would cost gigabytes. Count the values outside strings first. */
    uint64_t values = 0;
    int in_str = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t c = h[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') in_str = 1;
        else values += c == ',' || c == '[' || c == '{';
    }
    if (values > SSL3D_ST_MAX_JSON_VALUES)
        FAIL(SSL3D_ERR_FORMAT, "header has more than %d JSON values (too many tensors or dims)",
             SSL3D_ST_MAX_JSON_VALUES);

    /* A NUL-terminated copy: the parser never sees bytes past the header. */
    char *text = malloc((size_t)n + 1);
    if (!text) FAIL(SSL3D_ERR_NOMEM, "out of memory for a %llu-byte header", (unsigned long long)n);
    memcpy(text, h, (size_t)n);
    text[n] = '\0';
    *text_out = text;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root)
        FAIL(SSL3D_ERR_FORMAT, "header is not valid JSON (error near header offset %lld)",
             end ? (long long)(end - text) : -1LL);
    *root_out = root;
    for (const char *p = end; p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            FAIL(SSL3D_ERR_FORMAT, "header has bytes after its JSON object (at header offset %lld)",
                 (long long)(p - text));
    if (!cJSON_IsObject(root)) FAIL(SSL3D_ERR_FORMAT, "header is a JSON %s, not an object", json_type(root));

    uint64_t buffer_len = (uint64_t)(len - 8) - n;
    int count = cJSON_GetArraySize(root);
    ck->t = calloc(count > 0 ? (size_t)count : 1, sizeof *ck->t);
    if (!ck->t) FAIL(SSL3D_ERR_NOMEM, "out of memory for %d header entries", count);
    ck->cap_t = count;
    const cJSON *meta = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (it->string && !strcmp(it->string, "__metadata__")) {
            if (meta) FAIL(SSL3D_ERR_FORMAT, "\"__metadata__\" appears twice");
            meta = it;
            continue;
        }
        ssl3d_st_entry *e = &ck->t[ck->n_t];
        ck->n_t++;   /* counted first so that a failure frees what was allocated */
        SSL3D_CHECK(parse_tensor(ctx, ck, it, buffer_len, e));
        e->name = strdup(it->string);
        if (!e->name) FAIL(SSL3D_ERR_NOMEM, "out of memory for tensor names");
        e->data = buf + 8 + n + e->begin;
    }
    if (meta) SSL3D_CHECK(parse_metadata(ctx, ck, meta));
    qsort(ck->t, (size_t)ck->n_t, sizeof *ck->t, cmp_entry_name);
    for (int64_t i = 1; i < ck->n_t; i++)
        if (!strcmp(ck->t[i - 1].name, ck->t[i].name))
            FAIL(SSL3D_ERR_FORMAT, "tensor '%s' appears twice in the header", ssl3d_st_quote(ck->t[i].name, q, sizeof q));
    return check_coverage(ctx, ck, buffer_len);
}

ssl3d_status ssl3d_st_parse(ssl3d_ctx *ctx, char *label, uint8_t *buf, size_t len, ssl3d_checkpoint **out) {
    ssl3d_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        free(buf);
        free(label);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_checkpoint_load: out of memory");
    }
    ck->label = label;
    ck->blob = buf;
    cJSON *root = NULL;
    char *text = NULL;
    ssl3d_status st = parse_into(ctx, ck, buf, len, &root, &text);
    cJSON_Delete(root);
    free(text);
    if (st != SSL3D_OK) {
        ssl3d_st_free(ck);
        return st;
    }
    *out = ck;
    return SSL3D_OK;
}
