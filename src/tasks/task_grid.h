/* Shared pieces of the grid tasks (RPL, Jigsaw): options "grid", "cell", "jitter"
 * (cell 0 = auto: the largest cell that fits the smallest image of the call), batch
 * layout and the embed -> concatenate -> MLP -> cross-entropy head. */
#ifndef SSL3D_TASK_GRID_H
#define SSL3D_TASK_GRID_H
#include "task_internal.h"

/* Defaults: levels 3, grid `grid`, cell 24 (3D) / 32 (2D), jitter 8. */
void task_grid_defaults(ssl3d_task *t, int32_t grid);
/* Validate grid in [grid_lo, grid_hi], cell, jitter (patch >= 2^levels); set t->min_size. */
ssl3d_status task_grid_init(ssl3d_ctx *ctx, ssl3d_task *t, int32_t grid_lo, int32_t grid_hi);
/* Cell and patch side for this call's images. */
ssl3d_status task_grid_cell(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                            int64_t *cell, int64_t *patch);
/* New uninitialised batch (B, K, C, p,p,p) / (B, K, C, p,p): slot b is one sample of K
 * patches (ssl3d_batch_set). */
ssl3d_status task_grid_batch(ssl3d_ctx *ctx, const ssl3d_task *t, int64_t B, int64_t K, int64_t p,
                             ssl3d_tensor **out);
/* View the batch as (B*K, C, p,p,p) for the encoder (no copy). */
void task_grid_flatten(const ssl3d_task *t, ssl3d_tensor *batch);
/* batch (B*K, C, p..) -> encoder -> GAP (B*K, C_b) -> rows of a sample concatenated
 * (B, K*C_b) in slot order -> head t->modules[1] -> logits -> cross-entropy against
 * labels[0..B). */
ssl3d_status task_grid_head(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *batch, int64_t B, int32_t training,
                            const int32_t *labels, ssl3d_tensor **loss, int64_t *correct, int64_t *total);
#endif
