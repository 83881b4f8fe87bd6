/* Helpers for the I/O tests: tiny NIfTI files written with nifti_clib, byte patching,
 * truncation. Header-only (static) so each test file can include it. */
#ifndef SSL3D_TEST_NIFTI_UTIL_H
#define SSL3D_TEST_NIFTI_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <nifti2_io.h>

/* Orientation of a test file: sform (row-major 3x4, sform_code 1) or none. */
typedef struct {
    int use_sform;
    double sform[3][4];
    int use_qform;          /* qform_code 1 with quaternion b,c,d and qfac */
    double qb, qc, qd, qfac;
    double slope, inter;
    double pixdim[4];       /* pixdim[1..3]; 0 = 1 */
} tn_geom;

static const tn_geom TN_PLAIN = { 0 };

/* Write dims (dims[0] = ndim, dims[1..]) of `datatype` from `data` (nvox * bytes) to
 * path (.nii, .nii.gz, .hdr) as NIfTI `version` (1 or 2). Returns 0 on success. */
static inline int tn_write(const char *path, int version, const int64_t *dims, int datatype, const void *data,
                    const tn_geom *g) {
    nifti_set_debug_level(0);
    int64_t d[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    for (int i = 0; i <= dims[0]; i++) d[i] = dims[i];
    nifti_image *nim = nifti_make_new_nim(d, datatype, 0);
    if (!nim) return -1;
    size_t bytes = (size_t)nim->nvox * (size_t)nim->nbyper;
    nim->data = malloc(bytes ? bytes : 1);
    if (!nim->data) { nifti_image_free(nim); return -1; }
    memcpy(nim->data, data, bytes);
    for (int i = 1; i <= 3; i++)
        if (g->pixdim[i] > 0) nim->pixdim[i] = g->pixdim[i];
    nim->dx = nim->pixdim[1]; nim->dy = nim->pixdim[2]; nim->dz = nim->pixdim[3];
    if (g->use_sform) {
        nim->sform_code = 1;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) nim->sto_xyz.m[r][c] = g->sform[r][c];
        nim->sto_xyz.m[3][0] = nim->sto_xyz.m[3][1] = nim->sto_xyz.m[3][2] = 0;
        nim->sto_xyz.m[3][3] = 1;
    }
    if (g->use_qform) {
        nim->qform_code = 1;
        nim->quatern_b = g->qb; nim->quatern_c = g->qc; nim->quatern_d = g->qd;
        nim->qfac = g->qfac ? g->qfac : 1.0;
    }
    nim->scl_slope = g->slope;
    nim->scl_inter = g->inter;
    /* Written by hand: nifti_clib 3.0.1's nifti_image_write drops the header of
     * single-file NIfTI-2 images. */
    int is_pair = strstr(path, ".hdr") != NULL, gz = strstr(path, ".gz") != NULL;
    nifti_update_dims_from_array(nim);
    union { nifti_1_header h1; nifti_2_header h2; } h;
    size_t hlen = version == 2 ? sizeof h.h2 : sizeof h.h1;
    int rc = version == 2 ? nifti_convert_nim2n2hdr(nim, &h.h2) : nifti_convert_nim2n1hdr(nim, &h.h1);
    if (rc == 0) {
        if (version == 2) {
            memcpy(h.h2.magic, is_pair ? "ni2\0\r\n\032\n" : "n+2\0\r\n\032\n", 8);
            h.h2.vox_offset = is_pair ? 0 : 544;
        } else {
            memcpy(h.h1.magic, is_pair ? "ni1\0" : "n+1\0", 4);
            h.h1.vox_offset = is_pair ? 0.0f : 352.0f;
        }
        static const char ext[4] = { 0, 0, 0, 0 };
        gzFile f = gzopen(path, gz ? "wb" : "wbT");
        rc = !f || gzwrite(f, &h, (unsigned)hlen) != (int)hlen;
        if (f && !is_pair) rc |= gzwrite(f, ext, 4) != 4 || gzwrite(f, nim->data, (unsigned)bytes) != (int)bytes;
        if (f) rc |= gzclose(f) != Z_OK;
        if (is_pair && !rc) {
            char img[1024];
            snprintf(img, sizeof img, "%s", path);
            char *e = strstr(img, ".hdr");
            memcpy(e, ".img", 4);
            f = gzopen(img, gz ? "wb" : "wbT");
            rc = !f || gzwrite(f, nim->data, (unsigned)bytes) != (int)bytes;
            if (f) rc |= gzclose(f) != Z_OK;
        }
    }
    nifti_image_free(nim);
    if (rc) return -1;
    return access(path, F_OK) == 0 ? 0 : -1;
}

/* A 3D float32 file with values v[i] = i (stored order). */
static inline int tn_write_f32(const char *path, int64_t nx, int64_t ny, int64_t nz, const tn_geom *g) {
    int64_t dims[4] = { 3, nx, ny, nz };
    float *v = malloc((size_t)(nx * ny * nz) * sizeof *v);
    for (int64_t i = 0; i < nx * ny * nz; i++) v[i] = (float)i;
    int rc = tn_write(path, 1, dims, DT_FLOAT32, v, g);
    free(v);
    return rc;
}

/* Overwrite n bytes at offset of an (uncompressed) file. */
static inline int tn_patch(const char *path, long offset, const void *bytes, size_t n) {
    FILE *f = fopen(path, "r+b");
    if (!f) return -1;
    int ok = fseek(f, offset, SEEK_SET) == 0 && fwrite(bytes, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static inline long tn_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static inline int tn_truncate(const char *path, long size) { return truncate(path, size); }

/* tmpdir/name in a static buffer rotation (4 slots). */
static inline const char *tn_path(const char *dir, const char *name) {
    static char buf[4][512];
    static int k = 0;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

#endif
