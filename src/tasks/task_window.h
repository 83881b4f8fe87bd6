/* Foreground-centred crop windows of the proxy tasks (task_window.c). */
#ifndef SSL3D_TASK_WINDOW_H
#define SSL3D_TASK_WINDOW_H
#include "task_internal.h"
#include "../core/rng.h"

/* The box is the foreground box of x (C, spatial), ssl3d_nonzero_bbox: the voxels
 * non-zero in any channel, lo[a] inclusive, hi[a] exclusive (the whole image if all zero).
 * Origin off[a] of a window of side w[a] in the box [lo, hi) of x: in training centred
 * on a foreground voxel drawn from r (uniform over the box, rejection-sampled), in
 * evaluation centred on the box (no draws); then moved so that it lies inside the box.
 * Along an axis where w[a] exceeds the box it is centred on the box (it overhangs by
 * (w - extent) / 2 before and the rest after). */
void task_fg_window(const ssl3d_tensor *x, int32_t dims, const int64_t *lo, const int64_t *hi, const int64_t *w,
                    int32_t training, ssl3d_rng *r, int64_t *off);
#endif
