/* Data-parallel pieces of the fine-tuning loop (finetune_dist.c): each rank of the
 * context's communicator (ssl3d/comm.h) trains on its share of every global batch and the
 * gradients are averaged before each optimiser step. Without a communicator every call is
 * a no-op, so the loop has no single-process special case. */
#ifndef SSL3D_FINETUNE_DIST_H
#define SSL3D_FINETUNE_DIST_H
#include "finetune_internal.h"

/* Before training: checks that the global batch splits evenly over the ranks and starts
 * every rank from rank 0's weights (all encoder, head and deep-supervision head tensors). */
ssl3d_status ft_dist_begin(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t batch);
/* Replace the global batch xb (B,...) / yb (B,...) by this rank's share (B/size,...). */
ssl3d_status ft_dist_shard(ssl3d_ctx *ctx, ssl3d_tensor **xb, ssl3d_tensor **yb);
/* The same for one tensor (the subsampled label maps of deep supervision). */
ssl3d_status ft_dist_shard_one(ssl3d_ctx *ctx, ssl3d_tensor **t);
/* Average the gradients of the encoder, the head and the deep-supervision heads over the
 * ranks. */
ssl3d_status ft_dist_average_grads(ssl3d_ctx *ctx, ssl3d_ftmodel *m);
/* Mean of a per-rank value over the ranks (e.g. the epoch's summed loss). */
double ft_dist_mean(ssl3d_ctx *ctx, double v, ssl3d_status *st);
/* This rank's share of n items (validation cases): [*first, *first + *count); all of them
 * without a communicator. */
void ft_dist_share(const ssl3d_ctx *ctx, int64_t n, int64_t *first, int64_t *count);
/* buf holds n items of item_bytes each, of which this rank filled its ft_dist_share; on
 * return every rank holds all n (each rank's share broadcast from it, bytes unchanged, so
 * what is computed from buf is what one process computes). */
ssl3d_status ft_dist_gather(ssl3d_ctx *ctx, void *buf, int64_t n, size_t item_bytes);
#endif
