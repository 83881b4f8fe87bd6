/*
 * ssl3d/tasks.h — the five self-supervised proxy tasks. Included by <ssl3d.h>; do not
 * include directly.
 */
#ifndef SSL3D_TASKS_H
#define SSL3D_TASKS_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ sample builders
 *
 * CPU construction of training samples, one image at a time (docs/tasks.md). Inputs are
 * images float32 (C,D,H,W) in 3D or (C,H,W) in 2D (dims = ndim - 1). Every builder is a
 * pure function of (image, parameters, seed, index): the random draws come from the
 * Philox stream selected by (task, index) under `seed`, so sample `index` of an epoch
 * is reproducible and independent of the thread count. Patch outputs are
 * (K, C, p, p, p) in 3D and (K, C, p, p) in 2D. Labels are returned through int32_t
 * pointers. Builders need a host-memory (CPU) context.
 */

/* ---- 1. Rotation. Classes in 3D (R = 10): 0 identity; 1, 2, 3 = 90, 180, 270 degrees
 * about axis 0 (plane of axes 1, 2); 4, 5, 6 about axis 1 (plane 0, 2); 7, 8, 9 about
 * axis 2 (plane 0, 1) — rotation as ssl3d_rot90 in that plane. 2D (R = 4): r * 90
 * degrees in the plane (0, 1). All R classes are distinct rotations. */
/* R for dims 2 or 3 (4 or 10); 0 for other values. */
SSL3D_API int32_t ssl3d_rotation_classes(int32_t dims);
/* Class that undoes class r (identity -> identity, k about an axis -> 4 - k about it);
 * -1 when r is out of range. */
SSL3D_API int32_t ssl3d_rotation_inverse(int32_t dims, int32_t r);
/* Apply rotation class r to a cube x (C,S,S,S) / square (C,S,S) (image or int32 label
 * (S,S,S) / (S,S)). Non-cubes are SSL3D_ERR_SHAPE: make a cube with
 * ssl3d_pad_crop_center first. */
SSL3D_API ssl3d_status ssl3d_rotation_apply(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t r,
                                            ssl3d_tensor **out);
/* All R rotations of a cube x: out (R, C,S,S,S) / (R, C,S,S), slot r = class r. */
SSL3D_API ssl3d_status ssl3d_rotation_all(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                          ssl3d_tensor **out);
/* The same, written into preallocated memory (no allocation: for batch buffers reused
 * across steps). _apply_into writes rotation r of x into slot `slot` of out
 * (B, C,S,S,S) / (B, C,S,S) (same dtype as x, out != x); _all_into writes all R classes
 * into out (R, ...). */
SSL3D_API ssl3d_status ssl3d_rotation_apply_into(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t r,
                                                 ssl3d_tensor *out, int64_t slot);
SSL3D_API ssl3d_status ssl3d_rotation_all_into(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                               ssl3d_tensor *out);
/* Training sample: centred pad/crop of x to a cube of side `size` (size <= 0: the largest
 * spatial size; pad value 0), then a class r uniform in [0, R): out = rotation r,
 * *label = r. */
SSL3D_API ssl3d_status ssl3d_rotation_sample(ssl3d_ctx *ctx, const ssl3d_tensor *x, int64_t size,
                                             uint64_t seed, uint64_t index, ssl3d_tensor **out,
                                             int32_t *label);

/* ---- Grid of cells shared by RPL and Jigsaw. An n^dims grid of cubic cells of side
 * `cell` is centred in the volume (offset (S_a - n*cell) / 2 per axis; needs
 * n * cell <= S_a). cell <= 0 picks cell = min_a S_a / n. Each patch has side
 * p = cell - jitter (0 <= jitter < cell); in training (eval = 0) its origin inside the
 * cell is uniform in [0, jitter] per axis, in evaluation (eval != 0) it is jitter / 2
 * (centred). Cells are numbered in raster order (i, j, k), k fastest. */
/* All n^dims patches in raster order: out (n^dims, C, p,p,p). Draws per cell in raster
 * order (axis 0 first). `origins` (may be NULL) receives n^dims * dims int64 voxel
 * coordinates of each patch origin in x. */
SSL3D_API ssl3d_status ssl3d_grid_patches(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t n,
                                          int64_t cell, int64_t jitter, int32_t eval,
                                          uint64_t seed, uint64_t index, ssl3d_tensor **out,
                                          int64_t *origins);

/* ---- 2. Relative patch location. Pair (centre patch, query patch) of the grid
 * (n odd >= 3; n = 3 default): the query is one of the n^dims - 1 non-centre cells,
 * uniform; label = the query's position among the non-centre cells in raster order
 * (query raster index q, label = q < centre ? q : q - 1; for n = 3 in 3D the 26 labels
 * run over (i,j,k) in {0,1,2}^3 \ {(1,1,1)}, k fastest). out (2, C, p,p,p): slot 0 the
 * centre patch, slot 1 the query. Same geometry and draws as ssl3d_grid_patches, then
 * the query draw. */
SSL3D_API ssl3d_status ssl3d_rpl_sample(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t n,
                                        int64_t cell, int64_t jitter, int32_t eval,
                                        uint64_t seed, uint64_t index, ssl3d_tensor **out,
                                        int32_t *label);
/* Number of RPL classes: n^dims - 1 (26 for n = 3 in 3D, 8 in 2D); 0 if invalid. */
SSL3D_API int32_t ssl3d_rpl_classes(int32_t dims, int32_t n);

/* ---- 3. Jigsaw. The permutation set is an int32 tensor (P, n_cells), row p a
 * permutation of 0..n_cells-1, chosen by the greedy maximal-minimum-Hamming-distance
 * algorithm (Noroozi & Favaro): M = max(10 P, 5000) candidate permutations are drawn
 * (Fisher-Yates, Philox under `seed`; all n_cells! when that is <= 5000); the set starts
 * with candidate 0 and repeatedly adds the candidate whose minimum Hamming distance to
 * the set is largest (ties -> lowest candidate index). Needs 2 <= P <= number of
 * distinct candidates, 2 <= n_cells <= 64. Store it with the checkpoint as a tensor. */
SSL3D_API ssl3d_status ssl3d_jigsaw_perms_create(ssl3d_ctx *ctx, int32_t P, int32_t n_cells,
                                                 uint64_t seed, ssl3d_tensor **out);
/* Minimum and mean pairwise Hamming distance over all pairs of rows of `perms`
 * (P >= 2). Also validates the set: SSL3D_ERR_FORMAT if a row is not a permutation. */
SSL3D_API ssl3d_status ssl3d_jigsaw_perms_stats(ssl3d_ctx *ctx, const ssl3d_tensor *perms,
                                                int32_t *min_distance, double *mean_distance);
/* Puzzle: the n^dims grid patches (as ssl3d_grid_patches, n_cells = n^dims must equal
 * perms' second dim), then p uniform in [0, P): output slot j holds cell perms[p][j].
 * out (n_cells, C, p,p,p), *label = p. */
SSL3D_API ssl3d_status ssl3d_jigsaw_sample(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                           const ssl3d_tensor *perms, int32_t n, int64_t cell,
                                           int64_t jitter, int32_t eval, uint64_t seed,
                                           uint64_t index, ssl3d_tensor **out, int32_t *label);

/* ---- 4. Contrastive predictive coding. The volume is cut into a G^dims grid of equal
 * cubic patches of side p, neighbours `overlap` * p apart less than p: stride s and
 * side p per ssl3d_cpc_grid over the smallest spatial size, the grid covering
 * (G - 1) s + p voxels per axis, centred. Patches in raster order: index of (i, j, k) is
 * (i * G + j) * G + k (2D: i * G + j); axis 0 (i) is the prediction direction.
 * overlap = 0 (the CPC task's default): disjoint patches, so a target never shares a
 * voxel with its context; overlap = 0.5: the 50%-overlap grid (s = size / (G + 1),
 * p = 2 s) of ssl3d_cpc_patches. */
#define SSL3D_CPC_MAX_OVERLAP 0.75
/* Geometry of the grid along an axis of `size` voxels: overlap f in [0, 0.75],
 * s = floor(size / (G - 1 + 1 / (1 - f))), p = floor(s / (1 - f)) (>= s), and the
 * centring margin (size - ((G - 1) s + p)) / 2. Writes the non-NULL outputs; returns 0,
 * or -1 when the arguments are invalid or s < 1 (size too small for G patches). */
SSL3D_API int32_t ssl3d_cpc_grid(int64_t size, int32_t G, double overlap, int64_t *stride,
                                 int64_t *side, int64_t *offset);
/* All patches: out (G^dims, C, p,p,p). Deterministic (no randomness). `origins` (may be
 * NULL) receives G^dims * dims int64 voxel coordinates of each patch origin in x. */
SSL3D_API ssl3d_status ssl3d_cpc_patches_overlap(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t G,
                                                 double overlap, ssl3d_tensor **out,
                                                 int64_t *origins);
/* The same with overlap = 0.5 (the original 50%-overlap grid; kept for the ABI). */
SSL3D_API ssl3d_status ssl3d_cpc_patches(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t G,
                                         ssl3d_tensor **out);
/* Context of patch `pos` (raster index): the 3 x 3 block (3D) / 3 patches (2D) of row
 * i - 1 in raster order — (i-1, j-1, k-1), (i-1, j-1, k), (i-1, j-1, k+1), (i-1, j, k-1),
 * ..., (i-1, j+1, k+1) — followed by the patch itself last (10 indices in 3D, 4 in 2D).
 * Out-of-range indices are mirrored symmetrically at the border (-1 -> 0, G -> G - 1),
 * so row i = 0 uses row 0 and a context never contains rows below i (the targets).
 * idx: capacity `cap` >= 10 (3D) / 4 (2D); returns the count, or -1 on bad arguments. */
SSL3D_API int32_t ssl3d_cpc_context(int32_t dims, int32_t G, int32_t pos, int32_t *idx,
                                    int32_t cap);
/* Target of patch `pos` at step l >= 1: raster index of (i + l, j, k), or -1 if
 * i + l >= G. */
SSL3D_API int32_t ssl3d_cpc_target(int32_t dims, int32_t G, int32_t pos, int32_t step);
/* InfoNCE index table for a batch of B images, each with G^dims latents stored at
 * b * G^dims + pos. One row per (b, pos, step) with a valid target, in that order
 * (b outer, step inner), steps 1..n_steps; columns: b, pos, step, positive, then
 * n_neg negatives — distinct latent indices drawn uniformly from all B * G^dims latents
 * of the batch except the positive (other positions of the same image and any position
 * of other images). out int32 (rows, 4 + n_neg). Needs 1 <= n_neg < B * G^dims. */
SSL3D_API ssl3d_status ssl3d_cpc_negatives(ssl3d_ctx *ctx, int32_t dims, int32_t G, int32_t B,
                                           int32_t n_steps, int32_t n_neg, uint64_t seed,
                                           uint64_t index, ssl3d_tensor **out);

/* ---- 5. Exemplar. Two views of x, each an ssl3d_augment_apply of `aug` (NULL: the
 * default augmentation, data.h) with its own stream: view v in {0, 1} uses index
 * 2 * index + v. */
struct ssl3d_augment;
SSL3D_API ssl3d_status ssl3d_exemplar_view(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                           const struct ssl3d_augment *aug, uint64_t seed,
                                           uint64_t index, int32_t view, ssl3d_tensor **out);
SSL3D_API ssl3d_status ssl3d_exemplar_pair(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                           const struct ssl3d_augment *aug, uint64_t seed,
                                           uint64_t index, ssl3d_tensor **view0,
                                           ssl3d_tensor **view1);

#ifdef __cplusplus
}
#endif
#endif
