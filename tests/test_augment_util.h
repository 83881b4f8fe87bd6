/* The coordinate volume of the augmentation tests (test_finetune_recipe.c,
 * test_finetune_elastic.c) and the alignment check built on it. Header-only (static). */
#ifndef SSL3D_TEST_AUGMENT_UTIL_H
#define SSL3D_TEST_AUGMENT_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A (3, n0, n1, n2) image whose channel k is the coordinate along axis k, and a label
 * map holding 1 + the linear index of each voxel: after an augmentation the image gives
 * the exact continuous source point of each output voxel (linear interpolation is exact
 * on an affine function) and the label the source voxel that nearest-neighbour chose. */
#define N0 20
#define N1 24
#define N2 18
static inline void coord_volume(float *img, int32_t *lab) {
    const int64_t nv = N0 * N1 * N2;
    for (int64_t a = 0; a < N0; a++)
        for (int64_t b = 0; b < N1; b++)
            for (int64_t c = 0; c < N2; c++) {
                int64_t v = (a * N1 + b) * N2 + c;
                img[v] = (float)a; img[nv + v] = (float)b; img[2 * nv + v] = (float)c;
                lab[v] = (int32_t)(v + 1);
            }
}

/* Checks every output voxel whose label points at a voxel at least one voxel away from
 * the border: if aligned, the image's source point lies within half a voxel of it, so all
 * eight interpolation corners are inside and the image channels hold the exact point.
 * Returns the number of voxels checked; *bad counts those where the label's voxel is not
 * the nearest to the image's point. */
static inline int64_t check_aligned(const float *out, const int32_t *lout, const int64_t p[3], int64_t *bad) {
    const int64_t pv = p[0] * p[1] * p[2];
    const int64_t n[3] = { N0, N1, N2 };
    int64_t checked = 0;
    for (int64_t v = 0; v < pv; v++) {
        if (lout[v] <= 0) continue;
        int64_t s = lout[v] - 1, idx[3] = { s / (N1 * N2), (s / N2) % N1, s % N2 };
        int interior = 1;
        for (int k = 0; k < 3; k++) interior &= idx[k] >= 1 && idx[k] <= n[k] - 2;
        if (!interior) continue;
        checked++;
        double q[3] = { out[v], out[pv + v], out[2 * pv + v] };
        for (int k = 0; k < 3; k++)
            if (fabs(q[k] - (double)idx[k]) > 0.5 + 1e-4) {
                if (getenv("TF_VERBOSE") && *bad < 5)
                    fprintf(stderr, "v %lld q %g %g %g idx %lld %lld %lld\n", (long long)v, q[0], q[1], q[2],
                            (long long)idx[0], (long long)idx[1], (long long)idx[2]);
                (*bad)++;
                break;
            }
    }
    return checked;
}

#endif
