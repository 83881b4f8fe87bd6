/* Synchronised batch norm across the ranks of the context's communicator (ssl3d/comm.h,
 * ssl3d_ctx_set_sync_batch_norm): the statistics of a training-mode batch norm are those of
 * the global batch, and backward uses the global sums, so that N ranks x batch B/N compute
 * what one process with batch B computes. Used by ssl3d_batch_norm (norm.c). */
#ifndef SSL3D_NORM_SYNC_H
#define SSL3D_NORM_SYNC_H
#include "../core/internal.h"

/* Whether a batch norm in this mode must synchronise. */
int bn_sync_active(const ssl3d_ctx *ctx, int32_t training);
/* mean[0..C) and biased var[0..C) of this rank's `*count` values per channel become the
 * global batch's (pooled over the ranks); *count becomes the global count. Host memory. */
ssl3d_status bn_sync_stats(ssl3d_ctx *ctx, float *mean, float *var, int64_t C, int64_t *count);
/* Backward of a synchronised batch norm: node as batch_norm's, iarg[1] = global count. */
ssl3d_status bn_sync_backward(ssl3d_ctx *ctx, ssl3d_node *n);
#endif
