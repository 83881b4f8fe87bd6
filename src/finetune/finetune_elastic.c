/* Elastic deformation of fine-tuning patches: a smooth random displacement field, drawn as
 * uniform noise in [-1, 1] per voxel and component, smoothed by a separable Gaussian of
 * sigma voxels (zero outside the patch, as batchgenerators' gaussian_filter with
 * mode="constant") and scaled so that its largest component over the patch is the drawn
 * magnitude. ft_aug_patch adds it to the output coordinates before the rotation / scaling
 * map, so the whole spatial transform stays one resampling of image and label.
 *
 * The draws come from their own Philox stream (the caller's seed and stream with a tag,
 * the caller's counter as the base), never from the caller's sequence: switching elastic
 * deformation on or off leaves every other draw, and so every run without it, unchanged.
 * Noise element i comes from Philox block i / 4 of that stream, so the field is the same
 * for any thread count. */
#include <math.h>
#include <string.h>
#include "finetune_recipe.h"

/* Tag xor-ed into the caller's stream (top byte unused by the data path's purposes). */
#define FT_ELASTIC_TAG (UINT64_C(0xE1) << 56)

/* Largest kernel radius: 3 sigma of the largest sigma accepted (100 voxels). */
#define FT_ELASTIC_MAX_RAD 300

/* out = x smoothed along internal axis `ax` of the (p0, p1, p2) grid by kernel k[-rad..rad]
 * (k points at the centre tap); taps outside the grid read 0. The grid is seen as
 * (outer, len, inner) about the axis; both loop orders keep the innermost loop on
 * contiguous memory (vectorised), and threads split `outer` only, so every sum has one
 * fixed order whatever the thread count. */
static void smooth_axis(const float *x, float *out, const int64_t p[3], int ax, const float *k, int rad,
                        int threads) {
    const int64_t len = p[ax], inner = ax == 2 ? 1 : ax == 1 ? p[2] : p[1] * p[2];
    const int64_t outer = p[0] * p[1] * p[2] / (len * inner);
    if (inner > 1) {
        #pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t pos = 0; pos < len; pos++) {
                float *y = out + (o * len + pos) * inner;
                const int64_t lo = pos - rad < 0 ? 0 : pos - rad, hi = pos + rad >= len ? len - 1 : pos + rad;
                for (int64_t i = 0; i < inner; i++) y[i] = 0.0f;
                for (int64_t q = lo; q <= hi; q++) {
                    const float w = k[q - pos], *xr = x + (o * len + q) * inner;
                    for (int64_t i = 0; i < inner; i++) y[i] += w * xr[i];
                }
            }
    } else {
        #pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t o = 0; o < outer; o++) {
            float *y = out + o * len;
            const float *xr = x + o * len;
            for (int64_t pos = 0; pos < len; pos++) y[pos] = 0.0f;
            for (int64_t j = -rad; j <= rad; j++) {
                const int64_t lo = j < 0 ? -j : 0, hi = j > 0 ? len - j : len;   /* pos + j in [0, len) */
                const float w = k[j];
                for (int64_t pos = lo; pos < hi; pos++) y[pos] += w * xr[pos + j];
            }
        }
    }
}

int ft_elastic_field(const ft_aug *a, int twod, const ssl3d_rng *r, const int64_t p[3], float *field, float *tmp,
                     int threads) {
    ssl3d_rng e;
    ssl3d_rng_init(&e, r->seed, r->stream ^ FT_ELASTIC_TAG);
    e.counter = r->counter << 32;   /* another base for every state of the caller's stream */
    /* Always three draws, whatever the probability. */
    const int on = ssl3d_rng_uniform(&e) < a->elastic_prob;
    const float mag = a->elastic_alpha * ssl3d_rng_uniform(&e);
    const float sigma = a->elastic_sigma_lo + (a->elastic_sigma_hi - a->elastic_sigma_lo) * ssl3d_rng_uniform(&e);
    if (!on || !(mag > 0.0f) || !(sigma > 0.0f)) return 0;

    const int64_t pv = p[0] * p[1] * p[2];
    const uint64_t base = e.counter;
    memset(field, 0, (size_t)pv * sizeof *field);   /* component 0 stays 0 in 2D */
    /* Noise: element i of the active components is word i % 4 of Philox block base + i / 4. */
    float *noise = field + twod * pv;
    const int64_t nn = (3 - twod) * pv;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < (nn + 3) / 4; b++) {
        uint32_t w[4];
        ssl3d_philox(e.seed, e.stream, base + (uint64_t)b, w);
        for (int64_t i = 4 * b; i < 4 * b + 4 && i < nn; i++)
            noise[i] = (float)(w[i - 4 * b] >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    int rad = (int)ceilf(3.0f * sigma);
    if (rad > FT_ELASTIC_MAX_RAD) rad = FT_ELASTIC_MAX_RAD;
    float kern[2 * FT_ELASTIC_MAX_RAD + 1], ks = 0.0f;
    for (int i = -rad; i <= rad; i++) ks += kern[i + rad] = expf(-0.5f * (float)(i * i) / (sigma * sigma));
    for (int i = 0; i < 2 * rad + 1; i++) kern[i] /= ks;
    for (int c = twod; c < 3; c++) {
        float *f = field + c * pv;
        for (int ax = twod; ax < 3; ax++) {
            if (p[ax] < 2) continue;
            smooth_axis(f, tmp, p, ax, kern + rad, rad, threads);
            memcpy(f, tmp, (size_t)pv * sizeof *f);
        }
    }
    /* Scale: the largest |component| over the patch becomes mag (max is exact, so the
     * scale does not depend on the thread count either). */
    float big = 0.0f;
    for (int64_t v = 0; v < 3 * pv; v++) big = fabsf(field[v]) > big ? fabsf(field[v]) : big;
    if (!(big > 0.0f)) return 0;
    const float f = mag / big;
    for (int64_t v = 0; v < 3 * pv; v++) field[v] *= f;
    return 1;
}
