/*
 * ssl3d/core.h — status codes, the context, tensors and reverse-mode autodiff.
 * Included by <ssl3d.h>; do not include directly.
 */
#ifndef SSL3D_CORE_H
#define SSL3D_CORE_H

#include <stddef.h>
#include <stdint.h>

/* Export/import of the public functions. Building the library defines SSL3D_BUILDING
 * (the Makefile does); programs that link the static library on Windows define
 * SSL3D_STATIC; everything else including this header imports from the DLL. On ELF
 * targets the library is built with -fvisibility=hidden and only these are exported. */
#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(SSL3D_STATIC)
#    define SSL3D_API
#  elif defined(SSL3D_BUILDING)
#    define SSL3D_API __declspec(dllexport)
#  else
#    define SSL3D_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define SSL3D_API __attribute__((visibility("default")))
#else
#  define SSL3D_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

/* Every fallible call returns one of these. Values are part of the ABI. */
typedef enum ssl3d_status {
    SSL3D_OK = 0,
    SSL3D_ERR_INVALID_ARG = 1,          /* NULL handle or pointer, value out of range   */
    SSL3D_ERR_SHAPE = 2,                /* tensor shapes do not fit the operation       */
    SSL3D_ERR_DTYPE = 3,                /* wrong element type (float32 vs int32)        */
    SSL3D_ERR_NOMEM = 4,                /* allocation failed or size overflows          */
    SSL3D_ERR_IO = 5,                   /* file missing, unreadable or unwritable       */
    SSL3D_ERR_FORMAT = 6,               /* file or text is malformed or hostile         */
    SSL3D_ERR_BACKEND_UNAVAILABLE = 7,  /* backend not built, or no device present      */
    SSL3D_ERR_UNSUPPORTED = 8,          /* backend or build lacks this operation        */
    SSL3D_ERR_STATE = 9,                /* call out of order (e.g. backward, no graph)  */
    SSL3D_ERR_NUMERIC = 10,             /* NaN or Inf where finite values are required  */
    SSL3D_ERR_NOT_FOUND = 11,           /* named item (tensor, key, file) is absent     */
    SSL3D_ERR_DEVICE = 12               /* a device, driver or device-library call failed
                                           (CUDA, cuDNN, cuBLAS); the message names it   */
} ssl3d_status;

/* Static English name of a status ("SSL3D_ERR_SHAPE: ..."); never NULL. */
SSL3D_API const char *ssl3d_status_string(ssl3d_status status);

/* Runtime library version, e.g. "0.1.0"; compare with SSL3D_VERSION_STRING. */
SSL3D_API const char *ssl3d_version(void);
/* Runtime version as (major << 16) | (minor << 8) | patch. */
SSL3D_API uint32_t ssl3d_version_number(void);

/* ---------------------------------------------------------------- context */

/* Compute backends. The CUDA backend is a plugin behind the same dispatch table; asking
 * for a backend that is not built or has no device returns SSL3D_ERR_BACKEND_UNAVAILABLE,
 * never a silent CPU fallback, and an op the backend lacks returns SSL3D_ERR_UNSUPPORTED. */
typedef enum ssl3d_backend_kind {
    SSL3D_BACKEND_CPU = 0,
    SSL3D_BACKEND_CUDA = 1
} ssl3d_backend_kind;

/* A context owns a backend, a thread count, a seeded RNG, the autodiff tape and the
 * last error message. Contexts are independent: nothing is process-wide. One context
 * must not be used from two threads at once. */
typedef struct ssl3d_ctx ssl3d_ctx;

/* Create a context on `backend` (ssl3d_backend_kind). Defaults: threads = number of
 * online cores, seed = 0, gradient recording on. */
SSL3D_API ssl3d_status ssl3d_ctx_create(int32_t backend, ssl3d_ctx **out);
/* ssl3d_ctx_create on device `device` of `backend` (0 .. ssl3d_backend_device_count - 1;
 * ssl3d_ctx_create takes device 0). For a CUDA device the numbering is the CUDA runtime's,
 * after CUDA_VISIBLE_DEVICES. A device out of range is SSL3D_ERR_INVALID_ARG. */
SSL3D_API ssl3d_status ssl3d_ctx_create_on_device(int32_t backend, int32_t device, ssl3d_ctx **out);
/* Release a context. All tensors and handles made with it must be released first;
 * NULL is accepted. */
SSL3D_API void ssl3d_ctx_release(ssl3d_ctx *ctx);
/* Whether `backend` can be used here: SSL3D_OK, or SSL3D_ERR_BACKEND_UNAVAILABLE with a
 * reason written to `msg` (capacity `cap` bytes, always NUL-terminated; may be NULL).
 * The reason is one line that starts with its category: "plugin not found:" (with the
 * paths tried), "plugin cannot be loaded:", "CUDA libraries not loadable:", "plugin ABI
 * mismatch:", "plugin invalid:", "no NVIDIA driver:", "driver too old:", "no CUDA
 * device:", "compute capability too old:", "CUDA library failed:", or "unknown backend
 * kind". On SSL3D_OK, msg describes the backend (CUDA: device, compute capability, memory,
 * driver, cuDNN and cuBLAS versions). The CUDA backend is a plugin, libssl3d-cuda.so.0,
 * loaded on first use (docs/cuda.md); $SSL3D_CUDA_PLUGIN names its file explicitly. */
SSL3D_API ssl3d_status ssl3d_backend_probe(int32_t backend, char *msg, size_t cap);
/* Number of devices of `backend` this process can use, without creating a context: 1 for
 * the CPU; for CUDA the devices the runtime sees. SSL3D_ERR_BACKEND_UNAVAILABLE with the
 * reason in msg (as ssl3d_backend_probe's) when there is none. msg may be NULL. */
SSL3D_API ssl3d_status ssl3d_backend_device_count(int32_t backend, int32_t *count, char *msg, size_t cap);
/* Name of the context's backend ("cpu", "cuda"). */
SSL3D_API const char *ssl3d_ctx_backend_name(const ssl3d_ctx *ctx);
/* Threads used by this context's kernels (OpenMP and BLAS), >= 1. */
SSL3D_API ssl3d_status ssl3d_ctx_set_threads(ssl3d_ctx *ctx, int32_t threads);
SSL3D_API int32_t ssl3d_ctx_threads(const ssl3d_ctx *ctx);
/* Seed of the context's counter-based RNG (Philox-4x32-10). Resets every stream: the
 * same seed and thread count give the same results. */
SSL3D_API ssl3d_status ssl3d_ctx_set_seed(ssl3d_ctx *ctx, uint64_t seed);
SSL3D_API uint64_t ssl3d_ctx_seed(const ssl3d_ctx *ctx);
/* Message of the last failed call on this context ("" if none). The pointer stays
 * valid until the next call on the context. With ctx NULL, a fixed message. */
SSL3D_API const char *ssl3d_ctx_last_error(const ssl3d_ctx *ctx);
/* Clear the last error message. */
SSL3D_API void ssl3d_ctx_clear_error(ssl3d_ctx *ctx);

/* ---------------------------------------------------------------- tensors */

typedef enum ssl3d_dtype {
    SSL3D_F32 = 0,   /* images, activations, parameters */
    SSL3D_I32 = 1    /* class labels, label maps        */
} ssl3d_dtype;

#define SSL3D_MAX_DIMS 8

/* A dense, row-major tensor living in the context's backend memory. Image tensors are
 * (N,C,H,W) in 2D and (N,C,D,H,W) in 3D. Tensors are reference counted; every create
 * or op output hands the caller one reference, dropped by ssl3d_tensor_release. */
typedef struct ssl3d_tensor ssl3d_tensor;

/* New zero-filled tensor of `ndim` (1..SSL3D_MAX_DIMS) dims, each >= 1. */
SSL3D_API ssl3d_status ssl3d_tensor_create(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim,
                                           const int64_t *shape, ssl3d_tensor **out);
/* New tensor holding a copy of `data` (numel elements of dtype, host memory). */
SSL3D_API ssl3d_status ssl3d_tensor_from_data(ssl3d_ctx *ctx, int32_t dtype, int32_t ndim,
                                              const int64_t *shape, const void *data,
                                              ssl3d_tensor **out);
/* Drop one reference; frees at zero. NULL is accepted. */
SSL3D_API void ssl3d_tensor_release(ssl3d_tensor *t);
/* Take one more reference (for callers that store a tensor). Returns t. */
SSL3D_API ssl3d_tensor *ssl3d_tensor_retain(ssl3d_tensor *t);

/* Shape queries; return 0 / -1 for NULL or an index out of range. */
SSL3D_API int32_t ssl3d_tensor_ndim(const ssl3d_tensor *t);
SSL3D_API int64_t ssl3d_tensor_dim(const ssl3d_tensor *t, int32_t i);
SSL3D_API int64_t ssl3d_tensor_numel(const ssl3d_tensor *t);
SSL3D_API int32_t ssl3d_tensor_dtype(const ssl3d_tensor *t);
/* Copy the shape into `shape` (capacity `cap` >= ndim). */
SSL3D_API ssl3d_status ssl3d_tensor_shape(ssl3d_ctx *ctx, const ssl3d_tensor *t,
                                          int64_t *shape, int32_t cap);

/* Where values live: in the memory of the tensor's context's backend — host memory on the
 * CPU backend, device memory on CUDA. Host code never dereferences device memory: these
 * calls are the explicit copies between the two, and they return only when the copy is
 * complete (the host buffer may be reused at once).
 *
 * Copy the values out to host memory (device -> host) / in from host memory
 * (host -> device); `nbytes` must equal numel*4. On a device backend an error from
 * earlier queued work on the context is reported here too (naming the failed call). */
SSL3D_API ssl3d_status ssl3d_tensor_read(ssl3d_ctx *ctx, const ssl3d_tensor *t,
                                         void *dst, int64_t nbytes);
SSL3D_API ssl3d_status ssl3d_tensor_write(ssl3d_ctx *ctx, ssl3d_tensor *t,
                                          const void *src, int64_t nbytes);
/* Host pointer to the values for zero-copy access (NumPy), or NULL when the tensor
 * lives on a device (then use ssl3d_tensor_read / ssl3d_tensor_copy_to). Valid while
 * the tensor is alive. */
SSL3D_API void *ssl3d_tensor_host_data(ssl3d_tensor *t);
/* Copies between contexts, and so between backends (a model trained on the CPU continued
 * on a GPU, or GPU results brought back to a CPU context). `src` may belong to any
 * context; errors are reported on `dst_ctx` (an error while reading `src` is also left
 * on src's context). The two contexts must not be in use by other threads meanwhile.
 *
 * New tensor in dst_ctx's memory with the dtype, shape and values of `src`: no gradient,
 * requires_grad off, not recorded on any tape. Same context: a plain copy. */
SSL3D_API ssl3d_status ssl3d_tensor_copy_to(ssl3d_ctx *dst_ctx, const ssl3d_tensor *src,
                                            ssl3d_tensor **out);
/* Copy the values of `src` (any context) into `dst` (a tensor of dst_ctx): same dtype and
 * number of elements (shapes may differ, like ssl3d_tensor_write). `dst` keeps its
 * gradient and flags; after an argument error (dtype, size) its values are unchanged. */
SSL3D_API ssl3d_status ssl3d_tensor_copy_into(ssl3d_ctx *dst_ctx, ssl3d_tensor *dst,
                                              const ssl3d_tensor *src);
/* Fill a float tensor with N(mean, std^2) / U[lo, hi) draws from the context RNG. */
SSL3D_API ssl3d_status ssl3d_tensor_fill_normal(ssl3d_ctx *ctx, ssl3d_tensor *t,
                                                float mean, float std);
SSL3D_API ssl3d_status ssl3d_tensor_fill_uniform(ssl3d_ctx *ctx, ssl3d_tensor *t,
                                                 float lo, float hi);
SSL3D_API ssl3d_status ssl3d_tensor_fill(ssl3d_ctx *ctx, ssl3d_tensor *t, float value);
/* New tensor with the same values and a new shape of the same numel; not recorded. */
SSL3D_API ssl3d_status ssl3d_tensor_clone(ssl3d_ctx *ctx, const ssl3d_tensor *t,
                                          ssl3d_tensor **out);

/* ---------------------------------------------------------------- autodiff */

/* Mark a float tensor as a leaf whose gradient backward() accumulates (parameters). */
SSL3D_API ssl3d_status ssl3d_tensor_set_requires_grad(ssl3d_ctx *ctx, ssl3d_tensor *t,
                                                      int32_t requires_grad);
SSL3D_API int32_t ssl3d_tensor_requires_grad(const ssl3d_tensor *t);
/* Copy the accumulated gradient out (numel floats). A tensor that received no
 * gradient reads as zeros. */
SSL3D_API ssl3d_status ssl3d_tensor_read_grad(ssl3d_ctx *ctx, const ssl3d_tensor *t,
                                              float *dst, int64_t n);
/* Reset a tensor's gradient to zero (parameters, before a step). */
SSL3D_API ssl3d_status ssl3d_tensor_zero_grad(ssl3d_ctx *ctx, ssl3d_tensor *t);

/* While enabled (default), ops whose inputs require gradients record themselves on the
 * context's tape. Disable for evaluation and inference. Returns the previous setting. */
SSL3D_API int32_t ssl3d_set_grad_enabled(ssl3d_ctx *ctx, int32_t enabled);
/* Back-propagate from a one-element float tensor `loss` through everything recorded
 * since the last reset, accumulating into leaf gradients; then resets the tape. */
SSL3D_API ssl3d_status ssl3d_backward(ssl3d_ctx *ctx, ssl3d_tensor *loss);
/* Drop the recorded tape without back-propagating (e.g. after an evaluation that ran
 * with recording on). */
SSL3D_API void ssl3d_tape_reset(ssl3d_ctx *ctx);
/* Number of operations currently recorded (for tests and diagnostics). */
SSL3D_API int64_t ssl3d_tape_size(const ssl3d_ctx *ctx);

/* ---------------------------------------------------------------- reductions */

/* out = sum_i x_i * w_i, a one-element tensor; `w` (same numel as x) is a constant.
 * w may be NULL for a plain sum. Differentiable in x. */
SSL3D_API ssl3d_status ssl3d_weighted_sum(ssl3d_ctx *ctx, ssl3d_tensor *x,
                                          const ssl3d_tensor *w, ssl3d_tensor **out);
/* out = mean of all elements of x, a one-element tensor. Differentiable. */
SSL3D_API ssl3d_status ssl3d_mean(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **out);
/* out = a*x + b*y, elementwise, same shapes (used to combine losses). Differentiable. */
SSL3D_API ssl3d_status ssl3d_axpby(ssl3d_ctx *ctx, float a, ssl3d_tensor *x, float b,
                                   ssl3d_tensor *y, ssl3d_tensor **out);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_CORE_H */
