/* Helpers for the loader and pretrain CLI tests: tiny synthetic NIfTI volumes (a noisy
 * blob on a zero background) and manifests pointing at them. Header-only. */
#ifndef SSL3D_TEST_LOADER_UTIL_H
#define SSL3D_TEST_LOADER_UTIL_H
#include <stdio.h>
#include <stdint.h>
#include "test_nifti_util.h"

/* Volume k of size nx x ny x nz (W, H, D as stored): an ellipsoid of values
 * 100 + 10 * (deterministic noise) + 5 * k, zero outside. Returns 0 on success. */
static inline int tl_write_volume(const char *path, int k, int64_t nx, int64_t ny, int64_t nz) {
    int64_t dims[4] = { 3, nx, ny, nz };
    float *v = malloc((size_t)(nx * ny * nz) * sizeof(float));
    if (!v) return -1;
    uint32_t s = 12345u + 977u * (uint32_t)k;
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++) {
                double dx = (x - (nx - 1) / 2.0) / (0.45 * nx), dy = (y - (ny - 1) / 2.0) / (0.45 * ny);
                double dz = (z - (nz - 1) / 2.0) / (0.45 * nz);
                s = s * 1664525u + 1013904223u;
                float noise = (float)(s >> 8) / 16777216.0f;
                /* An asymmetric pattern so that rotations are distinguishable. */
                float ramp = (float)(x + 2 * y + 3 * z) / (float)(nx + 2 * ny + 3 * nz);
                v[(z * ny + y) * nx + x] = dx * dx + dy * dy + dz * dz <= 1.0
                    ? 100.0f + 40.0f * ramp + 10.0f * noise + 5.0f * (float)k : 0.0f;
            }
    int rc = tn_write(path, 1, dims, NIFTI_TYPE_FLOAT32, v, &TN_PLAIN);
    free(v);
    return rc;
}

/* n volumes img<k>.nii.gz in dir and an MSD dataset.json listing them as training
 * cases (labels point at the images themselves; the loader does not read them).
 * Writes the manifest path into out (cap bytes). Returns 0 on success. */
static inline int tl_write_dataset(const char *dir, int n, int64_t nx, int64_t ny, int64_t nz, char *out,
                                   size_t cap) {
    char p[1024];
    for (int k = 0; k < n; k++) {
        snprintf(p, sizeof p, "%s/img%d.nii.gz", dir, k);
        if (tl_write_volume(p, k, nx + (k % 2), ny, nz + (k % 3 == 2)) != 0) return -1;
    }
    snprintf(out, cap, "%s/dataset.json", dir);
    FILE *f = fopen(out, "w");
    if (!f) return -1;
    fprintf(f, "{\"name\": \"tiny\", \"modality\": {\"0\": \"MRI\"}, \"labels\": {\"0\": \"background\"},\n"
               " \"training\": [");
    for (int k = 0; k < n; k++)
        fprintf(f, "%s{\"image\": \"./img%d.nii.gz\", \"label\": \"./img%d.nii.gz\"}", k ? ", " : "", k, k);
    fprintf(f, "], \"test\": []}\n");
    return fclose(f) == 0 ? 0 : -1;
}
#endif
