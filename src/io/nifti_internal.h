/* Private helpers of the NIfTI reader and writer. */
#ifndef SSL3D_NIFTI_INTERNAL_H
#define SSL3D_NIFTI_INTERNAL_H
#include <stdint.h>
#include "image_internal.h"

/* Canonical RAS+ order from the 4x4 voxel-to-world matrix m (rows x, y, z, 1):
 * canonical axis a (0 = x/W, 1 = y/H, 2 = z/D) is stored axis perm[a], reversed when flip[a]. */
void ssl3d_orient_from_affine(const double m[4][4], int32_t perm[3], int32_t flip[3]);
/* Direction codes of the stored axes i, j, k ("LPS"...). */
void ssl3d_orient_codes(const int32_t perm[3], const int32_t flip[3], char codes[4]);
/* Affine of the canonical index (row-major 4x4). */
void ssl3d_orient_canonical_affine(const double m[4][4], const int32_t perm[3], const int32_t flip[3],
                                   const int64_t src_dims[3], double out[16]);

#endif
