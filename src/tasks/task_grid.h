/* Shared pieces of the grid tasks (RPL, Jigsaw): options "grid", "cell", "jitter"
 * (cell 0 = auto: the largest cell that fits the smallest foreground box of the call;
 * a cell too large for a box is shrunk to fit it), the grid's window inside each image's
 * foreground box, batch layout and the embed -> concatenate -> MLP -> cross-entropy head. */
#ifndef SSL3D_TASK_GRID_H
#define SSL3D_TASK_GRID_H
#include "task_internal.h"
#include "task_window.h"

/* Defaults: levels 3, grid `grid`, cell 24 (3D) / 32 (2D), jitter 8. */
void task_grid_defaults(ssl3d_task *t, int32_t grid);
/* Validate grid in [grid_lo, grid_hi], cell, jitter (patch >= 2^levels); set t->min_size. */
ssl3d_status task_grid_init(ssl3d_ctx *ctx, ssl3d_task *t, int32_t grid_lo, int32_t grid_hi);
/* Philox purpose of the grid window's draws (the builders use 1..8, other tasks 16..18). */
#define TASK_STREAM_GRID_WINDOW 19
/* The crop region (task_crop_region: the foreground box, or the inner square / cube with
 * region=inner) of every image of the call, computed once for both its uses, the call's
 * cell (task_grid_cell) and each image's window (task_grid_window): with region=inner
 * the mask and the square search are O(voxels). *regions: n_images of them, freed with
 * task_grid_regions_free; with region=inner or fg_level > 0 each keeps its mask (a byte
 * per voxel), so a call holds the masks of all its images at once. */
ssl3d_status task_grid_regions(ssl3d_ctx *ctx, const ssl3d_task *t, ssl3d_tensor *const *images, int32_t n_images,
                               task_region **regions);
void task_grid_regions_free(task_region *regions, int32_t n_images);
/* Cell, jitter and patch side for this call's images (their regions from
 * task_grid_regions): the option `cell` (0: auto), made no larger than the smallest
 * region of the call divided by `grid`, so that the grid fits inside every image's region;
 * when it shrinks, the jitter shrinks in proportion (the patch stays >= 2^levels; a region
 * smaller than grid * 2^levels is SSL3D_ERR_INVALID_ARG naming the image). */
ssl3d_status task_grid_cell(ssl3d_ctx *ctx, const ssl3d_task *t, const task_region *regions, int32_t n_images,
                            int64_t *cell, int64_t *jitter, int64_t *patch);
/* The grid's window of image x, whose crop region is rg: side grid * cell per axis, inside
 * the region (task_fg_window: foreground-centred in training from (seed, key), centred in
 * evaluation). A new tensor (C, grid*cell, ...). */
ssl3d_status task_grid_window(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, const task_region *rg,
                              int64_t cell, int32_t training, uint64_t seed, uint64_t key, ssl3d_tensor **out);
/* New uninitialised batch (B, K, C, p,p,p) / (B, K, C, p,p): slot b is one sample of K
 * patches (ssl3d_batch_set). */
ssl3d_status task_grid_batch(ssl3d_ctx *ctx, const ssl3d_task *t, int64_t B, int64_t K, int64_t p,
                             ssl3d_tensor **out);
/* View the batch as (B*K, C, p,p,p) for the encoder (no copy). */
void task_grid_flatten(const ssl3d_task *t, ssl3d_tensor *batch);
/* batch (B*K, C, p..) -> encoder -> GAP (B*K, C_b) -> rows of a sample concatenated
 * (B, K*C_b) in slot order -> head t->modules[1] -> logits -> cross-entropy against
 * the labels of s (task_samples_labels: B of them). */
ssl3d_status task_grid_head(ssl3d_ctx *ctx, ssl3d_task *t, ssl3d_tensor *batch, int64_t B, int32_t training,
                            const task_samples *s, ssl3d_tensor **loss, int64_t *correct, int64_t *total);
#endif
