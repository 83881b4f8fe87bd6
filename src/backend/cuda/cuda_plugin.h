/* The CUDA backend's slot functions, by file; cuda_backend.c gathers them into the table.
 * C linkage: some are defined in C (host code), some in CUDA C++ (cuda_kernels.cu). */
#ifndef SSL3D_CUDA_PLUGIN_H
#define SSL3D_CUDA_PLUGIN_H
#include "cuda_state.h"
#include "../conv_kernels.h"
#include "../layer_kernels.h"
#include "../loss_kernels.h"
#include "../optim_kernels.h"
#include "../rows_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cuda_init.c */
ssl3d_status cuda_state_init(void **state, int32_t device, char *msg, size_t cap);
ssl3d_status cuda_device_count(int32_t *count, char *msg, size_t cap);
void cuda_state_shutdown(void *state);
ssl3d_status cuda_sync(void *state, char *msg, size_t cap);

/* cuda_nccl.c (built when NCCL is found; the table's device_comm slot is NULL otherwise) */
extern const ssl3d_device_comm_ops cuda_nccl_ops;

/* cuda_memory.c */
void *cuda_alloc_zeroed(void *state, size_t bytes);
void *cuda_alloc_uninit(void *state, size_t bytes);
void cuda_free(void *state, void *p);
void cuda_memset0(void *state, void *p, size_t bytes);
void cuda_to_host(void *state, void *dst, const void *src, size_t bytes);
void cuda_from_host(void *state, void *dst, const void *src, size_t bytes);
void cuda_copy(void *state, void *dst, const void *src, size_t bytes);
/* The staging callbacks over cudaHostAlloc, cudaMemcpyAsync and the staged[] events. */
extern const ssl3d_staging_ops cuda_staging_ops;
/* Asynchronous uploads on the copy stream (cuda_upload.h), and their callbacks over
 * cudaHostAlloc, the two streams and the upload_done[] / compute_mark events. */
int64_t cuda_upload_begin(void *state, void *dst, const void *src, size_t bytes);
void cuda_upload_wait(void *state, int64_t ticket);
extern const ssl3d_uploader_ops cuda_uploader_ops;

/* cuda_kernels.cu: basic float kernels */
void cuda_fill(const ssl3d_kctx *k, float *x, int64_t n, float v);
void cuda_axpy(const ssl3d_kctx *k, float a, const float *x, float *y, int64_t n);
void cuda_add_scalar(const ssl3d_kctx *k, float a, float *y, int64_t n);
void cuda_scale_add(const ssl3d_kctx *k, float a, const float *x, float b, const float *y, float *out, int64_t n);
double cuda_dot(const ssl3d_kctx *k, const float *x, const float *w, int64_t n);
/* db (C) += sum over (n, s) of dy (N,C,S); deterministic two-pass reduction. */
void cuda_channel_sum(cuda_state *s, const float *dy, int64_t N, int64_t C, int64_t S, float *db);
/* y (N,C,S) += b[c] (in place). */
void cuda_add_channel_bias(cuda_state *s, float *y, const float *b, int64_t N, int64_t C, int64_t S);
/* y (M,Out) rows = b. */
void cuda_fill_rows(cuda_state *s, float *y, const float *b, int64_t M, int64_t Out);

/* kernel sub-tables, partly filled (the rest NULL, and supports_op says so) */
extern const struct ssl3d_conv_kernels cuda_conv_kernels;     /* cuda_conv.c + cuda_kernels.cu */
extern const struct ssl3d_layer_kernels cuda_layer_kernels;   /* cuda_kernels.cu + cuda_blas.c */
extern const struct ssl3d_optim_kernels cuda_optim_kernels;   /* cuda_kernels.cu */
extern const struct ssl3d_loss_kernels cuda_loss_kernels;     /* cuda_loss.cu */
extern const struct ssl3d_rows_kernels cuda_rows_kernels;     /* cuda_rows.cu */

/* cuda_kernels.cu slots used by the tables */
void cuda_activation_forward(const ssl3d_kctx *k, int32_t kind, float slope, const float *x, float *y, int64_t n);
void cuda_activation_backward(const ssl3d_kctx *k, int32_t kind, float slope, const float *x, const float *y,
                              const float *dy, float *dx, int64_t n);
void cuda_dropout_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t n, float p, uint64_t seed,
                          uint64_t stream);
void cuda_dropout_backward(const ssl3d_kctx *k, const float *dy, float *dx, int64_t n, float p, uint64_t seed,
                           uint64_t stream);
void cuda_add_forward(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t N, int64_t C, int64_t S,
                      int32_t per_channel);
void cuda_add_backward(const ssl3d_kctx *k, const float *dy, int64_t N, int64_t C, int64_t S, int32_t per_channel,
                       float *da, float *db);
void cuda_mul_forward(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t n);
void cuda_mul_backward(const ssl3d_kctx *k, const float *a, const float *b, const float *dy, float *da, float *db,
                       int64_t n);
void cuda_block_copy(const ssl3d_kctx *k, const float *src, int64_t src_stride, float *dst, int64_t dst_stride,
                     int64_t rows, int64_t len, int32_t accumulate);
void cuda_maxpool2_forward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3], const float *x,
                           float *y, int32_t *argmax);
void cuda_maxpool2_backward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3], const float *dy,
                            const int32_t *argmax, float *dx);
void cuda_global_avgpool_forward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *x, float *y);
void cuda_global_avgpool_backward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *dy, float *dx);

/* cuda_norm.cu */
void cuda_batchnorm_stats(const ssl3d_kctx *k, const float *x, int64_t N, int64_t C, int64_t S, float *mean,
                          float *var);
void cuda_batchnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C, int64_t S,
                            const float *mean, const float *invstd, const float *gamma, const float *beta);
void cuda_batchnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N, int64_t C, int64_t S,
                             const float *mean, const float *invstd, const float *gamma, int32_t training, float *dx,
                             float *dgamma, float *dbeta);
void cuda_groupnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C, int64_t S, int64_t G,
                            float eps, const float *gamma, const float *beta, float *mean, float *invstd);
void cuda_groupnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N, int64_t C, int64_t S,
                             int64_t G, const float *mean, const float *invstd, const float *gamma, float *dx,
                             float *dgamma, float *dbeta);
void cuda_l2norm_forward(const ssl3d_kctx *k, const float *x, float *y, float *norm, int64_t M, int64_t D, float eps);
void cuda_l2norm_backward(const ssl3d_kctx *k, const float *y, const float *norm, const float *dy, float *dx,
                          int64_t M, int64_t D, float eps);

/* cuda_blas.c */
void cuda_linear_forward(const ssl3d_kctx *k, const float *x, const float *w, const float *b, float *y, int64_t M,
                         int64_t In, int64_t Out);
void cuda_linear_backward(const ssl3d_kctx *k, const float *x, const float *w, const float *dy, int64_t M,
                          int64_t In, int64_t Out, float *dx, float *dw, float *db);

/* cuda_conv.c */
ssl3d_status cuda_conv_forward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x, const float *w,
                               const float *b, float *y);
ssl3d_status cuda_conv_backward(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x, const float *w,
                                const float *dy, float *dx, float *dw, float *db);
ssl3d_status cuda_conv_transpose_forward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin, int64_t cout,
                                         const int64_t in[3], const float *x, const float *w, const float *b,
                                         float *y);
ssl3d_status cuda_conv_transpose_backward(const ssl3d_kctx *k, int32_t dims, int64_t n, int64_t cin, int64_t cout,
                                          const int64_t in[3], const float *x, const float *w, const float *dy,
                                          float *dx, float *dw, float *db);
void cuda_conv_plans_free(cuda_state *s);

#ifdef __cplusplus
}
#endif
#endif
