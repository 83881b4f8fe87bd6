/*
 * ssl3d/io.h — reading and writing medical images (NIfTI-1/-2, PNG) and dataset
 * manifests (Medical Segmentation Decathlon dataset.json, CSV `file,label,split`).
 * Included by <ssl3d.h>; do not include directly. docs/data.md has the details.
 *
 * Images. An ssl3d_image is a host-memory float32 volume with channels, laid out
 * (C,D,H,W) row-major (W fastest), plus the geometry needed to write results back.
 *
 *   NIfTI: every supported datatype (uint8, int8, int16, uint16, int32, uint32, int64,
 *   uint64, float32, float64) is converted to float32 and scaled by scl_slope/scl_inter
 *   (slope 0 means no scaling). Dimensions 4..7 are flattened into channels (a 4D file
 *   gives C = dim[4]). Voxels are REORIENTED (no resampling) to the canonical RAS+
 *   voxel order: the voxel axis closest to world +x (Right) becomes W, the one closest
 *   to +y (Anterior) becomes H, the one closest to +z (Superior) becomes D; axes are
 *   permuted and flipped as needed. The orientation comes from the sform when
 *   sform_code > 0, else from the qform (qform_code 0: pixdim scaling only, so the
 *   stored order is kept). Images and labels read this way stay aligned, and
 *   ssl3d_nifti_write undoes the reorientation.
 *   PNG: grey, grey+alpha, RGB, RGBA and palette images, 1..16 bits. Grey gives C = 1,
 *   colour (RGB, palette) gives C = 3; alpha is dropped; values are scaled to [0,1]
 *   (divided by 255, or 65535 for 16-bit files); no gamma correction; D = 1.
 *
 * Every failure sets the context message naming the file and the problem; a failed
 * read never returns a partially filled image.
 */
#ifndef SSL3D_IO_H
#define SSL3D_IO_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- images */

typedef struct ssl3d_image ssl3d_image;

/* Flags for ssl3d_image_read / ssl3d_image_read_channels (bitwise or). */
enum {
    /* NaN/Inf voxels (after scaling) are replaced by 0 instead of failing with
     * SSL3D_ERR_NUMERIC; ssl3d_image_nonfinite_count tells how many there were. */
    SSL3D_IMAGE_NONFINITE_TO_ZERO = 1
};

/* Read a NIfTI (.nii, .nii.gz, .hdr/.img[.gz]) or PNG (.png) file; the format is chosen
 * by extension, else by content. Errors: SSL3D_ERR_IO (missing/unreadable file),
 * SSL3D_ERR_FORMAT (malformed/hostile/truncated file, unsupported datatype),
 * SSL3D_ERR_NUMERIC (NaN/Inf voxels, with their count), SSL3D_ERR_NOMEM. */
SSL3D_API ssl3d_status ssl3d_image_read(ssl3d_ctx *ctx, const char *path, uint32_t flags,
                                        ssl3d_image **out);
/* Read `n` >= 1 single- or multi-channel files of the same subject (e.g. FLAIR and
 * T1c) and stack their channels in the given order. All must have the same canonical
 * dims and geometry (affine within 1e-3 mm), else SSL3D_ERR_SHAPE naming the file. */
SSL3D_API ssl3d_status ssl3d_image_read_channels(ssl3d_ctx *ctx, const char *const *paths,
                                                 int32_t n, uint32_t flags, ssl3d_image **out);
/* Release an image; NULL is accepted. */
SSL3D_API void ssl3d_image_release(ssl3d_image *img);

/* Canonical shape: dims[0..3] = C, D, H, W. */
SSL3D_API ssl3d_status ssl3d_image_dims(ssl3d_ctx *ctx, const ssl3d_image *img, int64_t dims[4]);
/* Voxel spacing of the canonical axes in (D, H, W) order (mm for NIfTI; 1 for PNG). */
SSL3D_API ssl3d_status ssl3d_image_spacing(ssl3d_ctx *ctx, const ssl3d_image *img, double spacing[3]);
/* Canonical affine, row-major 4x4: maps the canonical voxel index (w, h, d, 1) to world
 * (x, y, z, 1) in mm (RAS+ after reorientation). Identity for PNG. */
SSL3D_API ssl3d_status ssl3d_image_affine(ssl3d_ctx *ctx, const ssl3d_image *img, double affine[16]);
/* Dims and spacing exactly as stored in the file header: NIfTI dim[1..dim[0]] and
 * pixdim[1..dim[0]]; PNG [width, height] and [1, 1]. `cap` >= ssl3d_image_stored_ndim. */
SSL3D_API int32_t ssl3d_image_stored_ndim(const ssl3d_image *img);
SSL3D_API ssl3d_status ssl3d_image_stored_dims(ssl3d_ctx *ctx, const ssl3d_image *img,
                                               int64_t *dims, int32_t cap);
SSL3D_API ssl3d_status ssl3d_image_stored_spacing(ssl3d_ctx *ctx, const ssl3d_image *img,
                                                  double *spacing, int32_t cap);
/* Stored datatype name: "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64",
 * "uint64", "float32", "float64" ("" for NULL). */
SSL3D_API const char *ssl3d_image_datatype(const ssl3d_image *img);
/* File format: "nifti1", "nifti2", "png" (stacked images report their first file's). */
SSL3D_API const char *ssl3d_image_format(const ssl3d_image *img);
/* Source orientation codes of the stored voxel axes i, j, k, e.g. "LPS" or "RAS" (the
 * direction each axis points to); "" for PNG. */
SSL3D_API const char *ssl3d_image_orientation(const ssl3d_image *img);
/* Path of the (first) file read; "" for derived images. */
SSL3D_API const char *ssl3d_image_path(const ssl3d_image *img);
/* Minimum and maximum of the float values (after scaling; NaN/Inf replaced by 0 are
 * included as 0). */
SSL3D_API ssl3d_status ssl3d_image_range(ssl3d_ctx *ctx, const ssl3d_image *img,
                                         double *min, double *max);
/* Number of NaN/Inf voxels replaced by 0 (SSL3D_IMAGE_NONFINITE_TO_ZERO). */
SSL3D_API int64_t ssl3d_image_nonfinite_count(const ssl3d_image *img);
/* Host pointer to the C*D*H*W float values; valid while the image lives. */
SSL3D_API const float *ssl3d_image_data(const ssl3d_image *img);

/* Image as a float tensor. dims = 3: (1,C,D,H,W). dims = 2: (D,C,H,W), one batch item
 * per slice (a PNG gives (1,C,H,W)). */
SSL3D_API ssl3d_status ssl3d_image_to_tensor(ssl3d_ctx *ctx, const ssl3d_image *img,
                                             int32_t dims, ssl3d_tensor **out);
/* A single-channel label map as an int32 tensor: dims = 3: (1,D,H,W); dims = 2: (D,H,W).
 * Every value must be an integer within int32 (else SSL3D_ERR_FORMAT naming the file,
 * the value and the voxel); C > 1 is SSL3D_ERR_SHAPE. */
SSL3D_API ssl3d_status ssl3d_image_to_label_tensor(ssl3d_ctx *ctx, const ssl3d_image *img,
                                                   int32_t dims, ssl3d_tensor **out);
/* SSL3D_OK when `a` and `b` have the same canonical D, H, W and the same canonical affine
 * (within 1e-3), else SSL3D_ERR_SHAPE with a message naming both files. Use it to check
 * an image against its label map. Channels may differ. */
SSL3D_API ssl3d_status ssl3d_image_check_aligned(ssl3d_ctx *ctx, const ssl3d_image *a,
                                                 const ssl3d_image *b);

/* In-plane resize of every (channel, slice) to out_h x out_w: bilinear (triangle
 * filter) when enlarging; when shrinking the triangle's support is scaled by the
 * factor (antialiasing, like PIL's BILINEAR). Pixel centres are aligned (half-pixel
 * convention). The result has no NIfTI geometry (cannot be a write reference); its
 * spacing is scaled. For label maps use nearest resampling elsewhere, never this. */
SSL3D_API ssl3d_status ssl3d_image_resize(ssl3d_ctx *ctx, const ssl3d_image *img,
                                          int64_t out_h, int64_t out_w, ssl3d_image **out);
/* Centre crop in-plane to out_h x out_w (<= H, W); offsets floor((H-out_h)/2). The result
 * has no NIfTI geometry. */
SSL3D_API ssl3d_status ssl3d_image_center_crop(ssl3d_ctx *ctx, const ssl3d_image *img,
                                               int64_t out_h, int64_t out_w, ssl3d_image **out);

/* ---------------------------------------------------------------- writers */

/* NIfTI datatypes for ssl3d_nifti_write (the NIfTI codes). */
enum {
    SSL3D_NIFTI_UINT8 = 2,
    SSL3D_NIFTI_INT16 = 4,
    SSL3D_NIFTI_FLOAT32 = 16
};

/* Write `t` in canonical order — (D,H,W), (C,D,H,W) or (1,C,D,H,W), float32 or int32 —
 * as a NIfTI file (.nii or .nii.gz by the name) with the geometry of `ref` (an image
 * read from NIfTI with the same D, H, W): the reorientation is undone so the result
 * overlays the source file. C > 1 writes a 4D file. `datatype` is one of
 * SSL3D_NIFTI_UINT8/INT16/FLOAT32; integer types need integral values in range
 * (SSL3D_ERR_INVALID_ARG otherwise, naming the value). Written atomically (temporary
 * file + rename). */
SSL3D_API ssl3d_status ssl3d_nifti_write(ssl3d_ctx *ctx, const char *path, const ssl3d_tensor *t,
                                         const ssl3d_image *ref, int32_t datatype);
/* Write a PNG. A float32 tensor (C,H,W) or (1,C,H,W), C = 1 (grey), 3 (RGB) or 4 (RGBA),
 * values in [0,1] (clamped), is stored with `bit_depth` 8 or 16. An int32 tensor (H,W),
 * (1,H,W) or (1,1,H,W) is a label map stored as 8-bit grey, values 0..255. Atomic. */
SSL3D_API ssl3d_status ssl3d_png_write(ssl3d_ctx *ctx, const char *path, const ssl3d_tensor *t,
                                       int32_t bit_depth);

/* ---------------------------------------------------------------- manifests */

typedef struct ssl3d_manifest ssl3d_manifest;

enum { SSL3D_MANIFEST_MSD = 0, SSL3D_MANIFEST_CSV = 1 };
enum { SSL3D_SPLIT_TRAIN = 0, SSL3D_SPLIT_VAL = 1, SSL3D_SPLIT_TEST = 2 };
/* Flags for ssl3d_manifest_load. */
enum {
    /* Do not check at load that every referenced file exists and is readable
     * (by default the first missing one is named and the load fails). */
    SSL3D_MANIFEST_SKIP_FILE_CHECK = 1
};

/* Load a manifest: MSD dataset.json (chosen by a .json name or a leading '{') or CSV
 * with a header containing `file,label,split` (extra columns ignored). Paths are
 * resolved relative to the manifest's directory (a leading "./" is dropped; absolute
 * paths are kept).
 * MSD: "training" cases [{"image": "...", "label": "..."}] -> split train; optional
 * "validation" (same form) -> val; "test" ["..."] or [{"image": "..."}] -> test. An
 * "image" may also be an array of paths (one file per channel, stacked in order).
 * "modality" {"0": "FLAIR", ...} gives channel names, "labels" {"0": "background", ...}
 * label names.
 * CSV: label is an integer (empty = unlabelled, -1); split is train, val (also
 * "valid"/"validation") or test; CRLF line ends and double-quoted fields ("" escapes)
 * are accepted; empty lines are skipped. Malformed JSON/CSV: SSL3D_ERR_FORMAT with the
 * line number. Missing files: SSL3D_ERR_IO naming the first one (see flags). */
SSL3D_API ssl3d_status ssl3d_manifest_load(ssl3d_ctx *ctx, const char *path, uint32_t flags,
                                           ssl3d_manifest **out);
SSL3D_API void ssl3d_manifest_release(ssl3d_manifest *m);
/* Check now that every referenced file is readable; SSL3D_ERR_IO names the first one. */
SSL3D_API ssl3d_status ssl3d_manifest_check_files(ssl3d_ctx *ctx, const ssl3d_manifest *m);

/* SSL3D_MANIFEST_MSD or SSL3D_MANIFEST_CSV; -1 for NULL. */
SSL3D_API int32_t ssl3d_manifest_kind(const ssl3d_manifest *m);
/* Number of cases (all splits); 0 for NULL. */
SSL3D_API int64_t ssl3d_manifest_count(const ssl3d_manifest *m);
/* Number of cases in one split (SSL3D_SPLIT_*). */
SSL3D_API int64_t ssl3d_manifest_count_split(const ssl3d_manifest *m, int32_t split);
/* Split of case i (SSL3D_SPLIT_*), -1 when i is out of range. */
SSL3D_API int32_t ssl3d_manifest_case_split(const ssl3d_manifest *m, int64_t i);
/* Number of image files of case i (1 unless an MSD "image" is an array); 0 if out of range. */
SSL3D_API int32_t ssl3d_manifest_case_num_images(const ssl3d_manifest *m, int64_t i);
/* Resolved path of image file j of case i; NULL when out of range. */
SSL3D_API const char *ssl3d_manifest_case_image(const ssl3d_manifest *m, int64_t i, int32_t j);
/* Resolved label-map path of case i (MSD training/validation); NULL when none. */
SSL3D_API const char *ssl3d_manifest_case_label_path(const ssl3d_manifest *m, int64_t i);
/* Integer class label of case i (CSV); -1 when none or out of range. */
SSL3D_API int32_t ssl3d_manifest_case_label(const ssl3d_manifest *m, int64_t i);
/* Channel names (MSD "modality", ordered by key); 0 / NULL when absent. */
SSL3D_API int32_t ssl3d_manifest_num_channels(const ssl3d_manifest *m);
SSL3D_API const char *ssl3d_manifest_channel_name(const ssl3d_manifest *m, int32_t j);
/* Label names (MSD "labels"), ordered by value: entry k has value and name. */
SSL3D_API int32_t ssl3d_manifest_num_label_names(const ssl3d_manifest *m);
SSL3D_API int32_t ssl3d_manifest_label_value(const ssl3d_manifest *m, int32_t k);
SSL3D_API const char *ssl3d_manifest_label_name(const ssl3d_manifest *m, int32_t k);
/* Read case i: its image file(s) stacked as channels (ssl3d_image_read_channels) and, when
 * `label` is not NULL, its label map (*label = NULL when the case has none), checked to be
 * aligned with the image (SSL3D_ERR_SHAPE naming both files otherwise). Both outputs are
 * written only on success. */
SSL3D_API ssl3d_status ssl3d_manifest_case_read(ssl3d_ctx *ctx, const ssl3d_manifest *m, int64_t i,
                                                uint32_t flags, ssl3d_image **image, ssl3d_image **label);
/* Number of distinct class labels for a CSV (max label + 1), 0 when none. */
SSL3D_API int32_t ssl3d_manifest_num_classes(const ssl3d_manifest *m);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_IO_H */
