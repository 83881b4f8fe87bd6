/* Private helpers of the CPU data path (src/data, src/tasks/sample_*): a view of one
 * image or label as a 3-d grid of C channels (2D is D = 1), and the copy / resampling
 * kernels every transform is built from. Element size is always 4 bytes, so pure copies
 * (flip, rot90, crop, pad) treat float32 and int32 alike. */
#ifndef SSL3D_DATA_INTERNAL_H
#define SSL3D_DATA_INTERNAL_H
#include <stdint.h>
#include "../core/internal.h"

/* One image (C,D,H,W) or label (1,D,H,W) seen as C channels of a D x H x W grid. */
typedef struct ssl3d_vol {
    void *p;          /* host data, 4-byte elements */
    int32_t dims;     /* 2 or 3 */
    int32_t is_label; /* int32 label map: nearest-neighbour only */
    int64_t c;        /* channels (1 for labels) */
    int64_t n[3];     /* spatial size D, H, W (D = 1 in 2D) */
} ssl3d_vol;

static inline int64_t vol_spatial(const ssl3d_vol *v) { return v->n[0] * v->n[1] * v->n[2]; }

/* Check that t is a host-memory image or label of this ctx and describe it. */
ssl3d_status vol_of(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *fn, const char *what,
                    ssl3d_vol *v);
/* Same, but only float32 images. */
ssl3d_status vol_of_image(ssl3d_ctx *ctx, const ssl3d_tensor *t, const char *fn,
                          const char *what, ssl3d_vol *v);
/* New tensor of the same kind (dtype, channels, dims) as `like` with spatial size n[3]
 * (n[0] = 1 in 2D), plus its view. */
ssl3d_status vol_new(ssl3d_ctx *ctx, const ssl3d_vol *like, const int64_t n[3],
                     ssl3d_tensor **out, ssl3d_vol *v);
/* Spatial axis a (0..dims-1) of the public API -> internal axis 0..2. */
static inline int vol_axis(const ssl3d_vol *v, int a) { return a + 3 - v->dims; }

/* ---- kernels (src/data/permute.c, crop.c, resample.c) */

/* out[o] = in[p(o)] where output axis o reads input axis src[o], reversed when flip[o]:
 * covers flips, rot90 and transposes. out spatial size must be in->n[src[o]]. */
void vol_permute(const ssl3d_vol *in, const int src[3], const int flip[3], ssl3d_vol *out,
                 int threads);
/* Permutation that is numpy.rot90(k) in the plane of internal axes (a, b). */
void rot90_perm(int k, int a, int b, int src[3], int flip[3]);
/* out[o] = in[o + off] where inside, else fill bits (float or int32 as the vol). */
void vol_window(const ssl3d_vol *in, const int64_t off[3], ssl3d_vol *out, float fill,
                int threads);

/* Affine resampling: out voxel o (internal d,h,w coordinates) samples in at
 * A * o + t. Linear (trilinear; bilinear in 2D, where A's row and column 0 must be the
 * identity) for images, nearest for labels. border 0: outside -> 0; border 1: clamp
 * coordinates to the edge. */
void vol_affine(const ssl3d_vol *in, ssl3d_vol *out, const double A[3][3], const double t[3],
                int border, int threads);
/* The same with a displacement field: out voxel o samples in at A (o + d(o)) + t, outside
 * -> 0. disp: (3, out spatial) floats, component c along internal axis c, in output
 * voxels (2D: component 0 must be 0). */
void vol_warp(const ssl3d_vol *in, ssl3d_vol *out, const double A[3][3], const double t[3], const float *disp,
              int threads);

/* Affine helpers (resample.c). cos/sin exact at multiples of 90 degrees. */
void rot_cos_sin(double degrees, double *c, double *s);
/* M = M * R^-1 for a rotation by `degrees` from internal axis a towards b (inverse map). */
void affine_rotate(double M[3][3], double degrees, int a, int b);
/* t such that in = M (o - c_out) + c_in (centres (n - 1) / 2). */
void affine_center(const double M[3][3], const ssl3d_vol *in, const ssl3d_vol *out, double t[3]);

/* In place x = x * contrast + brightness (+ N(0, std^2), element i from Philox element i
 * of (seed, stream)) (intensity.c). */
void intensity_apply(float *x, int64_t n, float contrast, float brightness, float std, uint64_t seed,
                     uint64_t stream, int threads);

/* The augmentation draw of data.h, as the affine of its geometric part and the intensity
 * parameters; shared by ssl3d_augment_apply and the Exemplar builder. */
struct ssl3d_augment {
    float flip_prob, rot90_prob, rotate_prob, max_degrees;
    float zoom_lo, zoom_hi;
    float c_lo, c_hi, b_lo, b_hi, noise_std;
};
void augment_defaults(struct ssl3d_augment *a);

/* Stream ids: one Philox stream per (purpose, sample index). */
enum {
    SSL3D_STREAM_AUGMENT = 1, SSL3D_STREAM_NOISE = 2, SSL3D_STREAM_ROTATION = 3,
    SSL3D_STREAM_GRID = 4, SSL3D_STREAM_RPL = 5, SSL3D_STREAM_JIGSAW = 6,
    SSL3D_STREAM_PERMS = 7, SSL3D_STREAM_CPC = 8
};
static inline uint64_t data_stream(int purpose, uint64_t index) {
    return ((uint64_t)purpose << 56) ^ (index & UINT64_C(0x00FFFFFFFFFFFFFF));
}
#endif
