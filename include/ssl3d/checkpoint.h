/*
 * ssl3d/checkpoint.h — named tensors + string metadata in the safetensors format.
 * Included by <ssl3d.h>; do not include directly. Format and naming conventions:
 * docs/checkpoints.md.
 *
 * File layout (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * u64 N, N bytes of UTF-8 JSON header (padded with spaces so that the data starts at a
 * multiple of 8), then the raw little-endian tensor bytes. PyTorch users load our files
 * with `safetensors.torch.load_file(path)`.
 *
 * A checkpoint handle is a host-memory dictionary that does not belong to a context:
 * the `ctx` argument of each call only receives error messages and, for
 * get_tensor, the new tensor. Like a context, a handle must not be used from two
 * threads at once.
 *
 * Determinism: a handle keeps its tensors sorted by name and its metadata sorted by
 * key (bytewise), and save writes them in that order, so the same state always gives
 * the same bytes, whatever the order of the add / set calls.
 *
 * Names (tensor names and metadata keys): 1..255 bytes of valid UTF-8 without control
 * characters (bytes 0x00-0x1f and 0x7f); a tensor may not be called "__metadata__".
 * Metadata values: any valid UTF-8 string.
 */
#ifndef SSL3D_CHECKPOINT_H
#define SSL3D_CHECKPOINT_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Longest tensor name or metadata key, in bytes (without the NUL). */
#define SSL3D_CHECKPOINT_NAME_MAX 255
/* Largest JSON header accepted or written (as the reference implementation). */
#define SSL3D_CHECKPOINT_HEADER_MAX 100000000

typedef struct ssl3d_checkpoint ssl3d_checkpoint;

/* ---------------------------------------------------------------- building and saving */

/* New empty checkpoint. */
SSL3D_API ssl3d_status ssl3d_checkpoint_create(ssl3d_ctx *ctx, ssl3d_checkpoint **out);
/* Release a checkpoint and everything it holds. NULL is accepted. Tensors obtained from
 * it stay valid (they are copies). */
SSL3D_API void ssl3d_checkpoint_release(ssl3d_checkpoint *ck);

/* Store a COPY of the current values of `t` (float32 -> "F32", int32 -> "I32", any
 * shape) under `name`; later changes to t do not affect the checkpoint. A name already
 * present is an error (SSL3D_ERR_INVALID_ARG): names are unique. */
SSL3D_API ssl3d_status ssl3d_checkpoint_add_tensor(ssl3d_ctx *ctx, ssl3d_checkpoint *ck,
                                                   const char *name, const ssl3d_tensor *t);
/* Set metadata `key` to the string `value` (both copied); replaces an existing value. */
SSL3D_API ssl3d_status ssl3d_checkpoint_set_meta(ssl3d_ctx *ctx, ssl3d_checkpoint *ck,
                                                 const char *key, const char *value);

/* Write the checkpoint to `path` atomically: the bytes go to "<path>.tmp.<pid>" in the
 * same directory, which is flushed, fsync'ed and renamed over `path` (the directory is
 * then fsync'ed too). On any failure the temporary file is removed and an existing file
 * at `path` is left untouched (SSL3D_ERR_IO naming the path and the system error). */
SSL3D_API ssl3d_status ssl3d_checkpoint_save(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck,
                                             const char *path);

/* ---------------------------------------------------------------- loading */

/* Read and validate a safetensors file. Every violation of the format is
 * SSL3D_ERR_FORMAT with a message naming the file and the tensor or key at fault:
 * truncated files, header length past the end or over SSL3D_CHECKPOINT_HEADER_MAX,
 * headers with more than 2e6 JSON values (arrays, objects, commas),
 * header not UTF-8 / not a JSON object / followed by anything but spaces, entries that
 * are not objects, unknown dtype strings, bad shapes (not an array of non-negative
 * integers, element count overflow), bad data_offsets (not 2 integers, end < begin,
 * past the buffer), byte size != element count * dtype size, tensors that overlap,
 * leave holes or leave trailing bytes, duplicate names, metadata not an object of
 * strings, invalid names. Sub-byte dtypes (F4, F6_*) are SSL3D_ERR_UNSUPPORTED.
 * Missing or unreadable files: SSL3D_ERR_IO. The whole file is read into memory. */
SSL3D_API ssl3d_status ssl3d_checkpoint_load(ssl3d_ctx *ctx, const char *path,
                                             ssl3d_checkpoint **out);
/* Same as ssl3d_checkpoint_load, from `nbytes` bytes in memory (copied). */
SSL3D_API ssl3d_status ssl3d_checkpoint_load_memory(ssl3d_ctx *ctx, const void *data,
                                                    int64_t nbytes, ssl3d_checkpoint **out);

/* ---------------------------------------------------------------- queries */

/* Number of tensors (0 for NULL). */
SSL3D_API int64_t ssl3d_checkpoint_tensor_count(const ssl3d_checkpoint *ck);
/* Name of tensor i in name order, or NULL when ck is NULL or i is out of range. The
 * string stays valid while the handle lives; adding a tensor shifts the indices. */
SSL3D_API const char *ssl3d_checkpoint_tensor_name(const ssl3d_checkpoint *ck, int64_t i);
/* The dtype (SSL3D_F32 / SSL3D_I32) and shape that ssl3d_checkpoint_get_tensor would
 * give for `name`, without building the tensor. `ndim` receives the rank, `shape` (may
 * be NULL when cap is 0) the dims; cap must be >= the rank when shape is not NULL.
 * Any of dtype / ndim may be NULL. Errors as for get_tensor. */
SSL3D_API ssl3d_status ssl3d_checkpoint_tensor_info(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck,
                                                    const char *name, int32_t *dtype,
                                                    int32_t *ndim, int64_t *shape, int32_t cap);
/* New tensor (one reference for the caller) holding the values stored under `name`.
 * SSL3D_ERR_NOT_FOUND if absent. Conversions: F32, F16, BF16 exactly and F64 rounded
 * to nearest -> float32; BOOL, U8, I8, U16, I16, I32 exactly and U32, I64, U64 when
 * every value fits -> int32. A zero-dim tensor (shape []) comes back as shape (1).
 * SSL3D_ERR_UNSUPPORTED (naming the tensor) for other dtypes (F8_*, C64, ...), integer
 * values that do not fit in int32, tensors with a zero dim or more than SSL3D_MAX_DIMS
 * dims. */
SSL3D_API ssl3d_status ssl3d_checkpoint_get_tensor(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck,
                                                   const char *name, ssl3d_tensor **out);
/* Copy the values stored under `name` into the existing tensor `dst` (restoring model
 * weights in place). The stored tensor, after the conversions of get_tensor, must have
 * dst's dtype (SSL3D_ERR_DTYPE) and exactly dst's shape (SSL3D_ERR_SHAPE, the message
 * gives both shapes). Not recorded on the autodiff tape. */
SSL3D_API ssl3d_status ssl3d_checkpoint_copy_into(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck,
                                                  const char *name, ssl3d_tensor *dst);

/* Number of metadata entries (0 for NULL). */
SSL3D_API int64_t ssl3d_checkpoint_meta_count(const ssl3d_checkpoint *ck);
/* Key of metadata entry i in key order, or NULL when out of range. */
SSL3D_API const char *ssl3d_checkpoint_meta_key(const ssl3d_checkpoint *ck, int64_t i);
/* *value = the string stored under `key` (SSL3D_ERR_NOT_FOUND if absent). The pointer
 * stays valid while the handle lives and the key is not set again. */
SSL3D_API ssl3d_status ssl3d_checkpoint_get_meta(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck,
                                                 const char *key, const char **value);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_CHECKPOINT_H */
