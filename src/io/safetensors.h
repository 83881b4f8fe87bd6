/*
 * Private: the in-memory form of a safetensors checkpoint and the format code shared
 * by src/io/safetensors*.c (parse, header writer, dtype conversion) and
 * src/io/checkpoint.c (public API, file I/O).
 */
#ifndef SSL3D_SAFETENSORS_H
#define SSL3D_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "../core/internal.h"

/* Upper bound on JSON arrays, objects and commas in a header we parse (bounds the
 * parser's memory to ~150 MB; a tensor entry uses about 6 + rank). */
#define SSL3D_ST_MAX_JSON_VALUES 2000000

/* Every dtype of the safetensors specification whose elements are whole bytes. */
typedef enum ssl3d_st_dtype {
    SSL3D_ST_BOOL, SSL3D_ST_U8, SSL3D_ST_I8, SSL3D_ST_F8_E5M2, SSL3D_ST_F8_E4M3,
    SSL3D_ST_F8_E8M0, SSL3D_ST_I16, SSL3D_ST_U16, SSL3D_ST_F16, SSL3D_ST_BF16,
    SSL3D_ST_I32, SSL3D_ST_U32, SSL3D_ST_F32, SSL3D_ST_F64, SSL3D_ST_I64, SSL3D_ST_U64,
    SSL3D_ST_C64, SSL3D_ST_N_DTYPES
} ssl3d_st_dtype;

/* One stored tensor. `data` holds nbytes little-endian bytes, either inside the
 * checkpoint's blob (loaded file) or in `owned` (added tensor). */
typedef struct ssl3d_st_entry {
    char *name;
    int32_t dtype;           /* ssl3d_st_dtype */
    int32_t ndim;            /* rank as in the file; 0 for a zero-dim (scalar) tensor */
    int64_t *shape;          /* ndim dims; NULL when ndim == 0 */
    int64_t numel;
    uint64_t begin, nbytes;  /* offset in the data buffer (parse only), byte size */
    const uint8_t *data;
    uint8_t *owned;
} ssl3d_st_entry;

typedef struct ssl3d_st_meta {
    char *key;
    char *value;
} ssl3d_st_meta;

struct ssl3d_checkpoint {
    ssl3d_st_entry *t;       /* sorted by name (strcmp) */
    int64_t n_t, cap_t;
    ssl3d_st_meta *m;        /* sorted by key (strcmp) */
    int64_t n_m, cap_m;
    uint8_t *blob;           /* the bytes of a loaded file, or NULL */
    char *label;             /* "'path'" or "(memory)" for error messages */
};

/* ---- dtypes */
const char *ssl3d_st_dtype_name(int32_t dtype);
int32_t ssl3d_st_dtype_size(int32_t dtype);
/* SSL3D_F32 / SSL3D_I32 that a stored dtype converts to, or -1 when it does not. */
int32_t ssl3d_st_target_dtype(int32_t dtype);
/* Convert e's numel elements to its target dtype (host order) into dst (numel * 4
 * bytes). SSL3D_ERR_UNSUPPORTED (message names `fn`, the checkpoint and the tensor)
 * when an integer does not fit in int32 or the dtype has no conversion. */
ssl3d_status ssl3d_st_convert(ssl3d_ctx *ctx, const char *fn, const ssl3d_checkpoint *ck,
                              const ssl3d_st_entry *e, void *dst);
/* Whether this machine stores integers little-endian (then F32/I32 bytes are used as is). */
int ssl3d_st_host_is_le(void);

/* ---- names and strings */
/* NULL when `s` is a valid name (1..255 bytes of UTF-8, no control characters), else
 * a static reason. */
const char *ssl3d_st_name_problem(const char *s);
/* Index of the first invalid UTF-8 byte of s[0..n), or n when it is all valid. */
size_t ssl3d_st_utf8_check(const uint8_t *s, size_t n);
/* `s` made safe for an error message: control bytes -> '?', cut to fit `cap` ("..."). */
const char *ssl3d_st_quote(const char *s, char *buf, size_t cap);

/* ---- the handle */
ssl3d_checkpoint *ssl3d_st_new(const char *label);
void ssl3d_st_free(ssl3d_checkpoint *ck);
/* Index of the tensor / metadata entry called `name`, or -1. */
int64_t ssl3d_st_find(const ssl3d_checkpoint *ck, const char *name);
int64_t ssl3d_st_find_meta(const ssl3d_checkpoint *ck, const char *key);

/* ---- format */
/* Validate and index a whole safetensors file held in `buf` (len bytes). Takes
 * ownership of buf (kept as the checkpoint's blob, freed on failure) and of `label`
 * (a malloc'd string naming the source in messages). */
ssl3d_status ssl3d_st_parse(ssl3d_ctx *ctx, char *label, uint8_t *buf, size_t len,
                            ssl3d_checkpoint **out);
/* The JSON header of ck as it will be written, padded with spaces to a multiple of 8
 * bytes; *hdr is malloc'd (free it), *hlen its length. */
ssl3d_status ssl3d_st_header(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, char **hdr,
                             size_t *hlen);

#endif
