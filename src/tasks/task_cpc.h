/* Private pieces of the contrastive tasks (task_cpc.c, task_exemplar.c) shared with each
 * other and with their tests: two small differentiable ops on row tables (gather, and
 * the CPC candidate scores), the input crop, and test hooks. Not part of the ABI. */
#ifndef SSL3D_TASK_CPC_H
#define SSL3D_TASK_CPC_H
#include "task_internal.h"
#include "task_window.h"

/* Philox stream purposes of the tasks' own draws (the sample builders use 1..8). */
enum { TASK_STREAM_CPC_CROP = 16, TASK_STREAM_EXEMPLAR_CROP = 17, TASK_STREAM_EXEMPLAR_NEG = 18,
       TASK_STREAM_EXEMPLAR_CROP2 = 20 };   /* 19: the grid tasks' window (task_grid.h) */

/* y[r, :] = x[idx[r], :]: x (M,D) float32, idx[0..R) in [0,M) -> y of shape `shape`
 * (ndim dims, numel R*D; e.g. (R,D) or (N,T,D)). Differentiable in x (the backward
 * scatter-adds in a fixed order: deterministic). */
ssl3d_status task_gather_rows(ssl3d_ctx *ctx, ssl3d_tensor *x, const int32_t *idx, int64_t R, int32_t ndim,
                              const int64_t *shape, ssl3d_tensor **y);

/* CPC candidate scores. pred (S*M, D): row (l-1)*M + m is the step-l prediction from
 * context m; z (M,D) the latents; table int32 (R, 4+n) as ssl3d_cpc_negatives (columns
 * b, pos, step, positive, negatives) with M = B*K latents.
 * logits (R, 1+n): logits[r][0] = pred[q_r] . z[positive_r] / temperature and
 * logits[r][1+e] = pred[q_r] . z[negative_{r,e}] / temperature, q_r = (step-1)*M + b*K + pos.
 * Differentiable in pred and z. */
ssl3d_status task_cpc_logits(ssl3d_ctx *ctx, ssl3d_tensor *pred, ssl3d_tensor *z, const ssl3d_tensor *table,
                             int32_t K, float temperature, ssl3d_tensor **logits);

/* InfoNCE of candidate logits (R, C) whose true candidate is column 0: loss = mean_r
 * -log softmax(logits_r)[0] (a new one-element tensor, recorded); *correct = rows where
 * column 0 is strictly larger than every other column. */
ssl3d_status task_infonce_first(ssl3d_ctx *ctx, ssl3d_tensor *logits, ssl3d_tensor **loss, int64_t *correct);

/* Window of side `size` from image x (images[image] of the call) inside its crop region
 * (task_crop_region, task_fg_window: centred on a foreground voxel drawn from Philox
 * (seed, data_stream(purpose, sample)) when training, centred on the region otherwise;
 * zeros where it overhangs the image). With region=inner the window must fit in the
 * region (else SSL3D_ERR_INVALID_ARG naming the image): overhanging it would show the
 * outline that option is there to hide. */
ssl3d_status task_crop_input(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, int32_t image, int64_t size,
                             int32_t training, uint64_t seed, int purpose, uint64_t sample, ssl3d_tensor **out);
/* task_crop_input in two parts, for several windows of one image (exemplar's two views)
 * from one region computation: the region (with the region=inner check; *rg to free with
 * task_region_free on success), then a window in it. */
ssl3d_status task_input_region(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, int32_t image,
                               int64_t size, task_region *rg);
ssl3d_status task_crop_window(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, const task_region *rg,
                              int64_t size, int32_t training, uint64_t seed, int purpose, uint64_t sample,
                              ssl3d_tensor **out);

/* Test hooks: the negatives table used by the last CPC forward (borrowed; NULL before
 * the first), and the embeddings z (2B, D) of the last Exemplar forward (borrowed). */
const ssl3d_tensor *task_cpc_last_table(const ssl3d_task *t);
const ssl3d_tensor *task_exemplar_last_embeddings(const ssl3d_task *t);
/* The head input of the last Exemplar forward (2B, C_b): pooled, standardised features. */
const ssl3d_tensor *task_exemplar_last_features(const ssl3d_task *t);
#endif
