/* Tiny generated data sets for the fine-tuning tests: an MSD segmentation set (NIfTI
 * volumes with a bright cube labelled 1 and a dimmer box labelled 2, written with an
 * oblique-free but flipped sform so that reorientation matters) and a CSV classification
 * set of small RGB PNGs. Header-only (static). */
#ifndef SSL3D_TEST_FINETUNE_UTIL_H
#define SSL3D_TEST_FINETUNE_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "test_nifti_util.h"
#include "ssl3d/finetune.h"

/* Stored volume size (x, y, z) of the segmentation cases: odd sizes, not multiples of 4. */
#define TF_NX 14
#define TF_NY 10
#define TF_NZ 11

static inline uint32_t tf_rand(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }

/* Geometry: x flipped (LAS-like), spacing 1.5 x 1 x 2, an offset. */
static const tn_geom TF_GEOM = { 1, { { -1.5, 0, 0, 30 }, { 0, 1, 0, -12 }, { 0, 0, 2, 7 } }, 0, 0, 0, 0, 0, 0, 0,
                                 { 0, 1.5, 1, 2 } };

/* Write n cases into dir/imagesTr, dir/labelsTr and dir/dataset.json. Returns 0 on success. */
static inline int tf_make_seg_set(const char *dir, int n, uint32_t seed) {
    char p[1024];
    snprintf(p, sizeof p, "mkdir -p '%s/imagesTr' '%s/labelsTr'", dir, dir);
    if (system(p) != 0) return -1;
    snprintf(p, sizeof p, "%s/dataset.json", dir);
    FILE *js = fopen(p, "w");
    if (!js) return -1;
    fprintf(js, "{\"name\": \"tiny\", \"modality\": {\"0\": \"MRI\"},\n \"labels\": {\"0\": \"background\", "
                "\"1\": \"cube\", \"2\": \"box\"},\n \"training\": [");
    const int64_t nv = TF_NX * TF_NY * TF_NZ;
    float *img = malloc((size_t)nv * sizeof *img);
    uint8_t *lab = malloc((size_t)nv);
    uint32_t s = seed * 7919u + 17u;
    for (int c = 0; c < n; c++) {
        for (int64_t i = 0; i < nv; i++) { img[i] = 0.2f + 0.05f * (float)(tf_rand(&s) % 1000) / 1000.0f; lab[i] = 0; }
        /* cube 4x4x4 in the low-x half, box 3x5x3 in the high-x half */
        int cx = (int)(tf_rand(&s) % 3), cy = (int)(tf_rand(&s) % (TF_NY - 4)), cz = (int)(tf_rand(&s) % (TF_NZ - 4));
        int bx = 8 + (int)(tf_rand(&s) % 3), by = (int)(tf_rand(&s) % (TF_NY - 5)), bz = (int)(tf_rand(&s) % (TF_NZ - 3));
        for (int z = 0; z < TF_NZ; z++)
            for (int y = 0; y < TF_NY; y++)
                for (int x = 0; x < TF_NX; x++) {
                    int64_t i = ((int64_t)z * TF_NY + y) * TF_NX + x;
                    if (x >= cx && x < cx + 4 && y >= cy && y < cy + 4 && z >= cz && z < cz + 4) { img[i] = 1.0f; lab[i] = 1; }
                    if (x >= bx && x < bx + 3 && y >= by && y < by + 5 && z >= bz && z < bz + 3) { img[i] = 0.6f; lab[i] = 2; }
                }
        int64_t dims[4] = { 3, TF_NX, TF_NY, TF_NZ };
        snprintf(p, sizeof p, "%s/imagesTr/case_%03d.nii.gz", dir, c);
        if (tn_write(p, 1, dims, DT_FLOAT32, img, &TF_GEOM)) { fclose(js); free(img); free(lab); return -1; }
        snprintf(p, sizeof p, "%s/labelsTr/case_%03d.nii.gz", dir, c);
        if (tn_write(p, 1, dims, DT_UINT8, lab, &TF_GEOM)) { fclose(js); free(img); free(lab); return -1; }
        fprintf(js, "%s\n  {\"image\": \"./imagesTr/case_%03d.nii.gz\", \"label\": \"./labelsTr/case_%03d.nii.gz\"}",
                c ? "," : "", c, c);
    }
    fprintf(js, "],\n \"test\": []}\n");
    free(img); free(lab);
    return fclose(js) == 0 ? 0 : -1;
}

/* CSV classification set of RGB PNGs (3 x size x size): a bright square in the top-left
 * (label 0), bottom-right (label 1) or, with classes 3, both corners (label 2). Splits:
 * n_train / n_val / n_test. Returns 0 on success. */
static inline int tf_make_cls_set(ssl3d_ctx *ctx, const char *dir, int size, int classes, int n_train, int n_val, int n_test,
                           uint32_t seed) {
    char p[1024];
    snprintf(p, sizeof p, "%s/labels.csv", dir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fprintf(f, "file,label,split\n");
    uint32_t s = seed * 31u + 5u;
    int total = n_train + n_val + n_test;
    int64_t shape[3] = { 3, size, size };
    ssl3d_tensor *t = NULL;
    if (ssl3d_tensor_create(ctx, SSL3D_F32, 3, shape, &t) != SSL3D_OK) { fclose(f); return -1; }
    float *v = ssl3d_tensor_host_data(t);
    int rc = 0;
    for (int i = 0; i < total && !rc; i++) {
        int y = i % classes, q = size / 3;
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < size; h++)
                for (int w = 0; w < size; w++) {
                    float val = 0.1f + 0.1f * (float)(tf_rand(&s) % 100) / 100.0f;
                    int tl = h < q + 1 && w < q + 1, br = h >= size - q - 1 && w >= size - q - 1;
                    if ((y == 0 && tl) || (y == 1 && br) || (y == 2 && (tl || br))) val = 0.9f;
                    v[(c * size + h) * size + w] = val;
                }
        snprintf(p, sizeof p, "%s/img_%03d.png", dir, i);
        if (ssl3d_png_write(ctx, p, t, 8) != SSL3D_OK) rc = -1;
        const char *split = i < n_train ? "train" : i < n_train + n_val ? "val" : "test";
        fprintf(f, "img_%03d.png,%d,%s\n", i, y, split);
    }
    ssl3d_tensor_release(t);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* CSV set of 3D NIfTI volumes (8^3, one channel): a bright cube in the low (label 0) or
 * high (label 1) corner, over noise. */
static inline int tf_make_cls3d_set(const char *dir, int n_train, int n_val, int n_test) {
    char p[1024];
    snprintf(p, sizeof p, "%s/labels.csv", dir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fprintf(f, "file,label,split\n");
    float v[512];
    uint32_t s = 12345u;
    for (int c = 0; c < n_train + n_val + n_test; c++) {
        int label = c % 2, o = label ? 4 : 0;
        for (int i = 0; i < 512; i++) v[i] = 0.1f * (float)(tf_rand(&s) % 100) / 100.0f;
        for (int z = o; z < o + 3; z++)
            for (int y = o; y < o + 3; y++)
                for (int x = o; x < o + 3; x++) v[(z * 8 + y) * 8 + x] = 1.0f;
        int64_t dims[4] = { 3, 8, 8, 8 };
        snprintf(p, sizeof p, "%s/v%03d.nii.gz", dir, c);
        if (tn_write(p, 1, dims, DT_FLOAT32, v, &TF_GEOM)) { fclose(f); return -1; }
        fprintf(f, "v%03d.nii.gz,%d,%s\n", c, label, c < n_train ? "train" : c < n_train + n_val ? "val" : "test");
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* Copy every tensor of a module out (numel*4 bytes each, concatenated). */
static inline float *tf_module_values(const ssl3d_module *m, int64_t *n_out) {
    int64_t n = 0;
    for (int32_t i = 0; i < ssl3d_module_tensor_count(m); i++) n += ssl3d_tensor_numel(ssl3d_module_tensor(m, i));
    float *v = malloc((size_t)(n ? n : 1) * 4);
    int64_t k = 0;
    for (int32_t i = 0; i < ssl3d_module_tensor_count(m); i++) {
        ssl3d_tensor *t = ssl3d_module_tensor(m, i);
        memcpy(v + k, ssl3d_tensor_host_data(t), (size_t)ssl3d_tensor_numel(t) * 4);
        k += ssl3d_tensor_numel(t);
    }
    *n_out = n;
    return v;
}
/* Load the manifest dir/file: "dataset.json" of tf_make_seg_set, "labels.csv" of
 * tf_make_cls_set and tf_make_cls3d_set. */
static inline ssl3d_status tf_load_manifest(ssl3d_ctx *ctx, const char *dir, const char *file, ssl3d_manifest **man) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return ssl3d_manifest_load(ctx, p, 0, man);
}

/* The data sets of the bit-for-bit fine-tuning comparisons (test_finetune_host_data.c,
 * test_backend_conformance.c), under th_tmpdir(): seg/ (5 MSD cases), cls2/ (3-class 2D
 * PNGs, 12 train / 4 val / 6 test) and cls3/ (2-class 3D NIfTI, 8 / 4 / 4). ctx writes the
 * PNGs. Returns 0 on success. */
typedef struct tf_sets { char seg[300], cls2[300], cls3[300]; } tf_sets;

static inline int tf_make_sets(ssl3d_ctx *ctx, tf_sets *s) {
    const char *dir = th_tmpdir();
    char p[1024];
    snprintf(s->seg, sizeof s->seg, "%s/seg", dir);
    snprintf(s->cls2, sizeof s->cls2, "%s/cls2", dir);
    snprintf(s->cls3, sizeof s->cls3, "%s/cls3", dir);
    snprintf(p, sizeof p, "mkdir -p '%s' '%s'", s->cls2, s->cls3);
    if (system(p) != 0) return -1;
    if (tf_make_seg_set(s->seg, 5, 11) != 0) return -1;
    if (tf_make_cls_set(ctx, s->cls2, 12, 3, 12, 4, 6, 2) != 0) return -1;
    return tf_make_cls3d_set(s->cls3, 8, 4, 4);
}

/* The manifest of s for a model of kind / dims: seg/dataset.json, cls2/ or cls3/labels.csv. */
static inline void tf_sets_manifest(const tf_sets *s, int32_t kind, int32_t dims, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", kind == SSL3D_FT_SEGMENT ? s->seg : dims == 2 ? s->cls2 : s->cls3,
             kind == SSL3D_FT_SEGMENT ? "dataset.json" : "labels.csv");
}
#endif
