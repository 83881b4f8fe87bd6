/* Where the proxy tasks take their crops: inside the image's foreground box (the non-zero
 * bounding box), centred on a random foreground voxel in training and on the box in
 * evaluation. Zero padding (added by a loader or by the user) and the image border then
 * never enter a crop where the crop fits in the box, so they cannot tell a rotation class
 * or a cell position (docs/tasks.md, "Where crops come from"). */
#include "task_window.h"
#include "../data/data_internal.h"

/* A voxel of x (C, spatial; dims spatial axes) inside [lo, hi) that is non-zero in some
 * channel: uniform draws from r, at most 64 (then the box centre). */
static void fg_voxel(const ssl3d_tensor *x, int32_t dims, const int64_t *lo, const int64_t *hi, ssl3d_rng *r,
                     int64_t *v) {
    const float *p = ssl3d_f32(x);
    const int64_t C = x->shape[0];
    int64_t S = 1;
    for (int32_t a = 0; a < dims; a++) S *= x->shape[1 + a];
    for (int tries = 0; tries < 64; tries++) {
        int64_t lin = 0;
        for (int32_t a = 0; a < dims; a++) {
            v[a] = lo[a] + (int64_t)ssl3d_rng_below(r, (uint32_t)(hi[a] - lo[a]));
            lin = lin * x->shape[1 + a] + v[a];
        }
        for (int64_t c = 0; c < C; c++)
            if (p[c * S + lin] != 0.0f) return;
    }
    for (int32_t a = 0; a < dims; a++) v[a] = lo[a] + (hi[a] - lo[a]) / 2;
}

void task_fg_window(const ssl3d_tensor *x, int32_t dims, const int64_t *lo, const int64_t *hi, const int64_t *w,
                    int32_t training, ssl3d_rng *r, int64_t *off) {
    int64_t v[3] = { 0, 0, 0 };
    if (training) fg_voxel(x, dims, lo, hi, r, v);
    for (int32_t a = 0; a < dims; a++) {
        const int64_t ext = hi[a] - lo[a];
        if (w[a] > ext) { off[a] = lo[a] - (w[a] - ext) / 2; continue; }   /* overhangs the box evenly */
        const int64_t c = training ? v[a] - w[a] / 2 : lo[a] + (ext - w[a]) / 2;
        off[a] = c < lo[a] ? lo[a] : c > hi[a] - w[a] ? hi[a] - w[a] : c;
    }
}
