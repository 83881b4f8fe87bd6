/*
 * ssl3d/data.h — CPU data path: preprocessing and augmentation of one image at a time.
 * Included by <ssl3d.h>; do not include directly.
 *
 * Conventions (one N-d implementation; 2D is the D = 1 case internally):
 *   image  float32 (C,D,H,W) in 3D, (C,H,W) in 2D
 *   label  int32   (D,H,W)   in 3D, (H,W)   in 2D
 * `dims` is inferred from the tensor: float32 -> ndim - 1, int32 -> ndim. Spatial axes
 * are numbered 0..dims-1 (3D: 0 = D, 1 = H, 2 = W; 2D: 0 = H, 1 = W).
 * Geometric transforms accept images and labels alike; a transform that interpolates
 * uses linear interpolation for float32 images and nearest-neighbour for int32 labels
 * (labels are never interpolated linearly). Every transform returns a new tensor and
 * never records on the autodiff tape. All randomness comes from an explicit seed and
 * index through the counter-based Philox RNG, so results do not depend on the number of
 * threads. These functions need a context whose tensors live in host memory (the CPU
 * backend); on another backend they return SSL3D_ERR_UNSUPPORTED.
 */
#ifndef SSL3D_DATA_H
#define SSL3D_DATA_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- intensity */

/* Z-score per channel over the non-zero voxels: x = (x - mean) / std where x != 0;
 * zero voxels (background) stay 0. A channel with no non-zero voxel is left as is; std
 * below 1e-8 is treated as 1. x: image (C,D,H,W) / (C,H,W). */
SSL3D_API ssl3d_status ssl3d_normalize_zscore(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                              ssl3d_tensor **out);
/* Clip each channel to its [lo_pct, hi_pct] percentiles (0 <= lo < hi <= 100; linear
 * interpolation between order statistics, as numpy.percentile). nonzero_only != 0
 * computes the percentiles over the non-zero voxels only (and leaves zeros at 0). */
SSL3D_API ssl3d_status ssl3d_clip_percentile(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                             float lo_pct, float hi_pct, int32_t nonzero_only,
                                             ssl3d_tensor **out);
/* Per-channel min-max scaling to [0, 1]; a constant channel becomes 0. */
SSL3D_API ssl3d_status ssl3d_normalize_minmax(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                              ssl3d_tensor **out);
/* out = x * contrast + brightness (all channels). */
SSL3D_API ssl3d_status ssl3d_brightness_contrast(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                                 float contrast, float brightness,
                                                 ssl3d_tensor **out);
/* out = x + N(0, std^2) noise; voxel i draws Philox element i of stream `index` under
 * `seed` (thread-count independent). */
SSL3D_API ssl3d_status ssl3d_gaussian_noise(ssl3d_ctx *ctx, const ssl3d_tensor *x, float std,
                                            uint64_t seed, uint64_t index, ssl3d_tensor **out);

/* ---------------------------------------------------------------- crop and pad */

/* Bounding box of the voxels that are non-zero in any channel: lo[a] inclusive, hi[a]
 * exclusive, a = 0..dims-1 (arrays of at least `dims` entries). An all-zero volume gives
 * the full extent. x: image or label. */
SSL3D_API ssl3d_status ssl3d_nonzero_bbox(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                          int64_t *lo, int64_t *hi);
/* Window of spatial size `size` (dims entries, each >= 1) whose origin is at `offset`
 * (dims entries, may be negative or run past the end) in x's coordinates:
 * out[o] = x[o + offset] where inside x, else `fill` (labels: (int32)fill). Covers crop,
 * pad and both at once. x: image or label. */
SSL3D_API ssl3d_status ssl3d_crop(ssl3d_ctx *ctx, const ssl3d_tensor *x, const int64_t *offset,
                                  const int64_t *size, float fill, ssl3d_tensor **out);
/* Centred pad and/or crop to `size` (dims entries): per axis the offset is
 * (n - size) / 2 when cropping (the extra voxel is cut at the end) and
 * -((size - n) / 2) when padding (the extra voxel is padded at the end), so a centred
 * crop back to the old size undoes a centred pad. Pads with `fill`. */
SSL3D_API ssl3d_status ssl3d_pad_crop_center(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                             const int64_t *size, float fill,
                                             ssl3d_tensor **out);
/* Centred pad with `fill` so every spatial size is a multiple of `multiple` (e.g.
 * 2^levels = 16). Sizes already multiples are unchanged. */
SSL3D_API ssl3d_status ssl3d_pad_to_multiple(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                             int64_t multiple, float fill, ssl3d_tensor **out);
/* Crop an image and (optionally, may be NULL) its label to the non-zero bounding box of
 * the image. label_out is written only when label is given. */
SSL3D_API ssl3d_status ssl3d_crop_to_nonzero(ssl3d_ctx *ctx, const ssl3d_tensor *image,
                                             const ssl3d_tensor *label, ssl3d_tensor **image_out,
                                             ssl3d_tensor **label_out);

/* ---------------------------------------------------------------- geometry */

/* Reverse spatial axis `axis` (0..dims-1). Exact copy; image or label. */
SSL3D_API ssl3d_status ssl3d_flip(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t axis,
                                  ssl3d_tensor **out);
/* Rotate by k * 90 degrees (k any integer, taken mod 4) in the plane of spatial axes
 * (axis_a, axis_b), from axis_a towards axis_b — numpy.rot90(x, k, (axis_a, axis_b))
 * on the spatial axes: for k = 1, out[.., i, j, ..] = x[.., j, n_a - 1 - i, ..]. The two
 * sizes swap for odd k. Exact copy; image or label. */
SSL3D_API ssl3d_status ssl3d_rot90(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t k,
                                   int32_t axis_a, int32_t axis_b, ssl3d_tensor **out);
/* Rotate by `degrees` about the volume centre in the plane (axis_a, axis_b), same
 * direction as ssl3d_rot90 (so 90 degrees ~ rot90 k = 1). Output has x's size; voxels
 * mapped from outside become 0. Trilinear for images, nearest for labels. In 3D,
 * "rotation about axis a" is the plane of the two other axes. */
SSL3D_API ssl3d_status ssl3d_rotate(ssl3d_ctx *ctx, const ssl3d_tensor *x, double degrees,
                                    int32_t axis_a, int32_t axis_b, ssl3d_tensor **out);
/* Isotropic zoom by `factor` (> 0; 0.8..1.2 typical) about the centre, cropped / padded
 * (with 0) back to x's size: factor > 1 magnifies. factor 1 is the identity. Linear for
 * images, nearest for labels. */
SSL3D_API ssl3d_status ssl3d_zoom(ssl3d_ctx *ctx, const ssl3d_tensor *x, double factor,
                                  ssl3d_tensor **out);
/* Resample from voxel spacing `spacing_in` to `spacing_out` (dims entries each, > 0, in
 * axis order). New size per axis: max(1, round(n * in / out)); voxel centres aligned
 * (out voxel o samples x at (o + 0.5) * n / n_new - 0.5), edges clamped. Linear for
 * images, nearest for labels. */
SSL3D_API ssl3d_status ssl3d_resample_spacing(ssl3d_ctx *ctx, const ssl3d_tensor *x,
                                              const double *spacing_in,
                                              const double *spacing_out, ssl3d_tensor **out);

/* ---------------------------------------------------------------- augmentation */

/* Random augmentation settings. Applying it draws, from (seed, index), in this order:
 *  1. a flip of each spatial axis with probability flip_prob;
 *  2. with probability rot90_prob, a 90-degree rotation: a plane (one of the dims
 *     pairs of axes) and k in {1, 2, 3};
 *  3. with probability rotate_prob, an arbitrary rotation: a plane and an angle uniform
 *     in [-max_degrees, max_degrees];
 *  4. a zoom factor uniform in [zoom_lo, zoom_hi];
 *  5. contrast uniform in [c_lo, c_hi] and brightness uniform in [b_lo, b_hi]
 *     (x * contrast + brightness; images only);
 *  6. Gaussian noise of std noise_std (images only; none when 0).
 * Steps 1-4 are composed into one affine map about the centre and applied in a single
 * resampling pass (trilinear for the image, nearest for the label; outside -> 0), so
 * image and label stay aligned and the output keeps the input size. Flips and 90-degree
 * rotations alone are exact copies.
 * Defaults (the Exemplar task's): flip_prob 0.5, rot90_prob 0.5, rotate_prob 1,
 * max_degrees 180, zoom 0.8..1.2, contrast 0.5..1.5, brightness -0.125..0.125, noise 0. */
typedef struct ssl3d_augment ssl3d_augment;

SSL3D_API ssl3d_status ssl3d_augment_create(ssl3d_ctx *ctx, ssl3d_augment **out);
SSL3D_API void ssl3d_augment_release(ssl3d_augment *aug);
/* Probabilities in [0, 1]; max_degrees in [0, 360]. */
SSL3D_API ssl3d_status ssl3d_augment_set_geometry(ssl3d_ctx *ctx, ssl3d_augment *aug,
                                                  float flip_prob, float rot90_prob,
                                                  float rotate_prob, float max_degrees);
/* 0 < zoom_lo <= zoom_hi; (1, 1) disables zoom. */
SSL3D_API ssl3d_status ssl3d_augment_set_zoom(ssl3d_ctx *ctx, ssl3d_augment *aug,
                                              float zoom_lo, float zoom_hi);
/* c_lo <= c_hi, b_lo <= b_hi, noise_std >= 0; (1,1,0,0,0) disables intensity changes. */
SSL3D_API ssl3d_status ssl3d_augment_set_intensity(ssl3d_ctx *ctx, ssl3d_augment *aug,
                                                   float c_lo, float c_hi, float b_lo,
                                                   float b_hi, float noise_std);
/* Apply one random draw of `aug` (deterministic in (seed, index)) to `image` and, when
 * given (may be NULL), its `label` with the same geometry. image: (C,D,H,W) / (C,H,W);
 * label: (D,H,W) / (H,W) with the same spatial size. label_out is written only when
 * label is given. */
SSL3D_API ssl3d_status ssl3d_augment_apply(ssl3d_ctx *ctx, const ssl3d_augment *aug,
                                           const ssl3d_tensor *image, const ssl3d_tensor *label,
                                           uint64_t seed, uint64_t index,
                                           ssl3d_tensor **image_out, ssl3d_tensor **label_out);

/* ---------------------------------------------------------------- batching */

/* Copy `sample` into slot `index` of `batch`: batch has shape (B, sample's shape...) and
 * the same dtype, 0 <= index < B. For the training loop's batch assembly. */
SSL3D_API ssl3d_status ssl3d_batch_set(ssl3d_ctx *ctx, ssl3d_tensor *batch, int64_t index,
                                       const ssl3d_tensor *sample);

#ifdef __cplusplus
}
#endif
#endif
