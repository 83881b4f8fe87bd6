/* Canonical (RAS+) voxel order from a NIfTI affine: which stored voxel axis is closest to
 * each world axis, and whether it runs backwards. Axis-aligned only: oblique volumes are
 * read in the nearest axis-aligned order, never resampled. */
#include <math.h>
#include <string.h>
#include "nifti_internal.h"

void ssl3d_orient_from_affine(const double m[4][4], int32_t perm[3], int32_t flip[3]) {
    /* Greedy assignment (as nibabel's io_orientation): take the largest |m[r][c]| among
     * unused world rows r and voxel columns c, assign voxel axis c to world axis r, repeat.
     * A degenerate matrix (zero column) falls back to the stored order for what is left. */
    int row_used[3] = { 0, 0, 0 }, col_used[3] = { 0, 0, 0 };
    for (int a = 0; a < 3; a++) { perm[a] = -1; flip[a] = 0; }
    for (int step = 0; step < 3; step++) {
        int br = -1, bc = -1;
        double best = 0.0;
        for (int r = 0; r < 3; r++) {
            if (row_used[r]) continue;
            for (int c = 0; c < 3; c++) {
                if (col_used[c]) continue;
                double v = fabs(m[r][c]);
                if (v > best) { best = v; br = r; bc = c; }
            }
        }
        if (br < 0) break;
        row_used[br] = col_used[bc] = 1;
        perm[br] = bc;
        flip[br] = m[br][bc] < 0.0;
    }
    for (int r = 0; r < 3; r++) {
        if (perm[r] >= 0) continue;
        for (int c = 0; c < 3; c++)
            if (!col_used[c]) { perm[r] = c; col_used[c] = 1; break; }
    }
}

void ssl3d_orient_codes(const int32_t perm[3], const int32_t flip[3], char codes[4]) {
    static const char pos[3] = { 'R', 'A', 'S' }, neg[3] = { 'L', 'P', 'I' };
    for (int r = 0; r < 3; r++) codes[perm[r]] = flip[r] ? neg[r] : pos[r];
    codes[3] = '\0';
}

void ssl3d_orient_canonical_affine(const double m[4][4], const int32_t perm[3], const int32_t flip[3],
                                   const int64_t src_dims[3], double out[16]) {
    /* Canonical index c maps to stored index s with s[perm[a]] = flip[a] ? n-1-c[a] : c[a],
     * so A_can = A * [P b; 0 1]. */
    double a[4][4];
    memset(a, 0, sizeof a);
    for (int r = 0; r < 4; r++) a[r][3] = m[r][3];
    for (int ax = 0; ax < 3; ax++) {
        int s = perm[ax];
        double sign = flip[ax] ? -1.0 : 1.0;
        for (int r = 0; r < 4; r++) {
            a[r][ax] = sign * m[r][s];
            if (flip[ax]) a[r][3] += m[r][s] * (double)(src_dims[s] - 1);
        }
    }
    a[3][0] = a[3][1] = a[3][2] = 0.0;
    a[3][3] = 1.0;
    memcpy(out, a, sizeof a);
}
