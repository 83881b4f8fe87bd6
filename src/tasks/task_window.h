/* Where the proxy tasks take their crops (task_window.c): the crop region of an image (its
 * foreground box, or with region=inner the largest all-foreground square / cube in it) and
 * foreground-centred windows inside that region. */
#ifndef SSL3D_TASK_WINDOW_H
#define SSL3D_TASK_WINDOW_H
#include "task_internal.h"
#include "../core/rng.h"

/* Values of the common task option "region". */
enum { TASK_REGION_BOX = 0, TASK_REGION_INNER = 1 };

/* The crop region of one image: [lo[a], hi[a]) per spatial axis, and the foreground mask
 * it was found on (one byte per voxel, 1 = foreground; NULL where the rule is "non-zero in
 * some channel" and no mask was needed: region=box with fg_level=0, today's path, or an
 * image without foreground voxels). */
typedef struct task_region {
    int64_t lo[3], hi[3];
    uint8_t *mask;
} task_region;

/* The crop region of image x (C, spatial) for task t's options "region" and "fg_level":
 *  - region=box, fg_level=0: the foreground box ssl3d_nonzero_bbox (no mask; as before
 *    these options existed, bit for bit);
 *  - region=box, fg_level>0: the bounding box of the task_fg_mask voxels;
 *  - region=inner: the largest axis-aligned square (2D) / cube (3D) all of whose voxels
 *    are in task_fg_mask (task_inner_box).
 * An image without a foreground voxel gives the whole image (as an all-zero image always
 * did). `image` is x's index in the call, for messages. Free with task_region_free. */
ssl3d_status task_crop_region(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, int32_t image,
                              task_region *out);
void task_region_free(task_region *r);
/* SSL3D_ERR_INVALID_ARG unless every side of the region is at least `need`: the message
 * names images[image], the region options and `what` the task needs the size for. */
ssl3d_status task_region_require(ssl3d_ctx *ctx, const ssl3d_task *t, const task_region *r, int32_t image,
                                 int64_t need, const char *what);

/* Foreground mask of x (C, spatial; n voxels), one byte per voxel into mask (n bytes):
 * level == 0: non-zero in some channel (-0.0 counts as zero, NaN as non-zero, as
 * ssl3d_nonzero_bbox). level in (0, 1): some channel c has a non-zero value v with
 * v > min_c + level * (max_c - min_c), min_c / max_c over channel c's non-zero values —
 * per channel and over non-zero values so that the rule means the same before and after
 * the loaders' per-channel normalisations (z-score over the non-zero voxels keeps zeros
 * at zero and maps the rest affinely; min-max is affine). Returns the number of
 * foreground voxels. */
int64_t task_fg_mask(const ssl3d_tensor *x, int32_t dims, double level, uint8_t *mask);
/* Largest square (dims 2; n[0] must be 1) / cube (dims 3) of mask (n[0] x n[1] x n[2],
 * row-major) whose voxels are all 1: lo/hi per axis of n (for dims 2 lo[0] = 0, hi[0] = 1).
 * Among squares of the largest side, the one whose centre is closest (Euclidean) to the
 * centre of the bounding box of the mask, then the first in scan order of its last
 * voxel. The classic dynamic programme: side(v) = 1 + min(side of the 3 (2D) / 7 (3D)
 * neighbours before v), O(voxels) time and two planes of int32. Returns the side (0 with
 * lo = hi = 0 for an empty mask), or -1 when out of memory. */
int64_t task_inner_box(const uint8_t *mask, int32_t dims, const int64_t *n, int64_t *lo, int64_t *hi);

/* Origin off[a] of a window of side w[a] in the region r of x (C, spatial): in training
 * centred on a foreground voxel of the region drawn from rng (uniform over the region,
 * rejection-sampled against r->mask, or against "non-zero in some channel" when it is
 * NULL; at most 64 draws, then the region's centre), in evaluation centred on the region
 * (no draws); then moved so that it lies inside the region. Along an axis where w[a]
 * exceeds the region it is centred on the region (it overhangs by (w - extent) / 2
 * before and the rest after). */
void task_fg_window(const ssl3d_tensor *x, int32_t dims, const task_region *r, const int64_t *w, int32_t training,
                    ssl3d_rng *rng, int64_t *off);
#endif
