/* Training-time augmentation of fine-tuning patches: one spatial draw (an optional elastic
 * displacement field, then mirror, rotation, scaling) samples the patch straight from the
 * whole volume — the image with linear interpolation, the label map with nearest
 * neighbour, through the same map, so both stay aligned voxel for voxel — then intensity
 * transforms of the image (noise, blur, brightness, contrast, gamma) in nnU-Net's order.
 * Sampling the patch from the volume (rather than rotating a cropped patch) keeps real
 * context in the corners. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "finetune_recipe.h"
#include "../data/data_internal.h"

static float uni(ssl3d_rng *r, float lo, float hi) { return lo + (hi - lo) * ssl3d_rng_uniform(r); }

/* Separable Gaussian blur of one (p0,p1,p2) channel in place; borders replicate. Axes
 * from `first` (1 for 2D slices). */
static void blur_channel(float *x, const int64_t p[3], int first, float sigma, float *tmp) {
    int rad = (int)ceilf(3.0f * sigma);
    if (rad < 1) return;
    if (rad > 15) rad = 15;
    float k[31], ks = 0;
    for (int i = -rad; i <= rad; i++) ks += k[i + rad] = expf(-0.5f * (float)(i * i) / (sigma * sigma));
    for (int i = 0; i < 2 * rad + 1; i++) k[i] /= ks;
    const int64_t stride[3] = { p[1] * p[2], p[2], 1 }, n = p[0] * p[1] * p[2];
    for (int ax = first; ax < 3; ax++) {
        if (p[ax] < 2) continue;
        for (int64_t v = 0; v < n; v++) {
            int64_t pos = (v / stride[ax]) % p[ax], base = v - pos * stride[ax];
            float s = 0;
            for (int i = -rad; i <= rad; i++) {
                int64_t q = pos + i;
                q = q < 0 ? 0 : q >= p[ax] ? p[ax] - 1 : q;
                s += k[i + rad] * x[base + q * stride[ax]];
            }
            tmp[v] = s;
        }
        memcpy(x, tmp, (size_t)n * sizeof *x);
    }
}

static void moments(const float *x, int64_t n, double *mean, double *sd, float *mn, float *mx) {
    double s = 0, q = 0;
    float lo = x[0], hi = x[0];
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    double m = s / (double)n;
    for (int64_t i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m);
    *mean = m; *sd = sqrt(q / (double)n); *mn = lo; *mx = hi;
}

/* Gamma on [min, max] with the mean and sd restored (batchgenerators' retain_stats);
 * inverted: applied to -x. */
static void gamma_channel(float *x, int64_t n, float g, int invert) {
    const float sgn = invert ? -1.0f : 1.0f;
    for (int64_t i = 0; i < n; i++) x[i] *= sgn;
    double mean, sd, m2, sd2;
    float mn, mx, a, b;
    moments(x, n, &mean, &sd, &mn, &mx);
    const float range = mx - mn;
    if (range > 0) {
        for (int64_t i = 0; i < n; i++) x[i] = powf((x[i] - mn) / range, g) * range + mn;
        moments(x, n, &m2, &sd2, &a, &b);
        const double f = sd2 > 0 ? sd / sd2 : 1.0;
        for (int64_t i = 0; i < n; i++) x[i] = (float)((x[i] - m2) * f + mean);
    }
    for (int64_t i = 0; i < n; i++) x[i] *= sgn;
}

void ft_aug_patch(const ft_aug *a, int twod, ssl3d_rng *r, const float *src, const int32_t *lab, int64_t C,
                  const int64_t S[3], const int64_t off[3], const int64_t p[3], float *dst, int32_t *ldst,
                  float *scratch, int threads) {
    /* The draw: always the same number of values, so one probability never shifts the
     * draws of the others. */
    int flip[3];
    for (int ax = 0; ax < 3; ax++) flip[ax] = ssl3d_rng_uniform(r) < a->mirror && !(twod && ax == 0);
    const int rot_on = ssl3d_rng_uniform(r) < a->rot_prob;
    double ang[3];
    for (int ax = 0; ax < 3; ax++) ang[ax] = uni(r, -a->rot_deg, a->rot_deg);
    const int scale_on = ssl3d_rng_uniform(r) < a->scale_prob;
    const float scale = uni(r, a->scale_lo, a->scale_hi);
    const int noise_on = ssl3d_rng_uniform(r) < a->noise_prob;
    const float noise_sd = uni(r, 0.0f, a->noise_std);
    const int blur_on = ssl3d_rng_uniform(r) < a->blur_prob;
    const float sigma = uni(r, a->blur_lo, a->blur_hi);
    const int bright_on = ssl3d_rng_uniform(r) < a->bright_prob;
    const float bright = uni(r, a->bright_lo, a->bright_hi);
    const int contrast_on = ssl3d_rng_uniform(r) < a->contrast_prob;
    const float contrast = uni(r, a->contrast_lo, a->contrast_hi);
    const int gamma_on = ssl3d_rng_uniform(r) < a->gamma_prob;
    const int gamma_inv = ssl3d_rng_uniform(r) < a->gamma_invert;
    const float gamma = uni(r, a->gamma_lo, a->gamma_hi);

    /* Output voxel o samples the source at c + M (o - pc): M = R * scale * F. */
    double M[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, t[3], pc[3], c[3];
    if (rot_on) {
        static const int planes[3][2] = { { 1, 2 }, { 0, 2 }, { 0, 1 } };
        for (int k = 0; k < (twod ? 1 : 3); k++)
            if (ang[k] != 0.0) affine_rotate(M, ang[k], planes[k][0], planes[k][1]);
    }
    if (scale_on)
        for (int i = twod; i < 3; i++)
            for (int j = twod; j < 3; j++) M[i][j] *= scale;
    for (int ax = 0; ax < 3; ax++)
        if (flip[ax]) for (int i = 0; i < 3; i++) M[i][ax] = -M[i][ax];
    for (int ax = 0; ax < 3; ax++) { pc[ax] = 0.5 * (double)(p[ax] - 1); c[ax] = (double)off[ax] + pc[ax]; }
    for (int i = 0; i < 3; i++) t[i] = c[i] - (M[i][0] * pc[0] + M[i][1] * pc[1] + M[i][2] * pc[2]);

    /* Elastic: source = c + M (o - pc + d(o)), the field in patch voxels before the
     * rotation / scaling (batchgenerators' order); its draws leave r untouched. */
    const int64_t pv = p[0] * p[1] * p[2];
    const float *disp = ft_elastic_field(a, twod, r, p, scratch, scratch + 3 * pv, threads) ? scratch : NULL;

    ssl3d_vol in = { (void *)(uintptr_t)src, 3, 0, C, { S[0], S[1], S[2] } };
    ssl3d_vol out = { dst, 3, 0, C, { p[0], p[1], p[2] } };
    if (disp) vol_warp(&in, &out, M, t, disp, threads);
    else vol_affine(&in, &out, M, t, 0, threads);
    if (lab && ldst) {
        ssl3d_vol lin = { (void *)(uintptr_t)lab, 3, 1, 1, { S[0], S[1], S[2] } };
        ssl3d_vol lout = { ldst, 3, 1, 1, { p[0], p[1], p[2] } };
        if (disp) vol_warp(&lin, &lout, M, t, disp, threads);
        else vol_affine(&lin, &lout, M, t, 0, threads);
    }

    for (int64_t ch = 0; ch < C; ch++) {
        float *x = dst + ch * pv;
        if (noise_on)
            for (int64_t i = 0; i < pv; i++) x[i] += noise_sd * ssl3d_rng_normal(r);
        if (blur_on) blur_channel(x, p, twod, sigma, scratch);
        if (bright_on)
            for (int64_t i = 0; i < pv; i++) x[i] *= bright;
        if (contrast_on) {
            double mean, sd;
            float mn, mx;
            moments(x, pv, &mean, &sd, &mn, &mx);
            for (int64_t i = 0; i < pv; i++) {
                float v = (float)((x[i] - mean) * contrast + mean);
                x[i] = v < mn ? mn : v > mx ? mx : v;
            }
        }
        if (gamma_on) gamma_channel(x, pv, gamma, gamma_inv);
    }
}
