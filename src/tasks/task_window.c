/* Where the proxy tasks take their crops: inside the image's crop region, centred on a
 * random foreground voxel in training and on the region in evaluation. The region is the
 * foreground box (the non-zero bounding box, by default), so that zero padding (added by a
 * loader or by the user) and the image border never enter a crop where the crop fits in
 * the box; or, with region=inner, the largest square / cube of foreground voxels, so that
 * the outline of an object on a non-zero background (a fundus disc) does not enter either
 * (docs/tasks.md, "Where crops come from"). All five tasks take their region from
 * task_crop_region, so they cannot disagree on it. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "task_window.h"
#include "../data/data_internal.h"

static int64_t spatial_count(const ssl3d_tensor *x, int32_t dims) {
    int64_t S = 1;
    for (int32_t a = 0; a < dims; a++) S *= x->shape[1 + a];
    return S;
}

int64_t task_fg_mask(const ssl3d_tensor *x, int32_t dims, double level, uint8_t *mask) {
    const float *p = ssl3d_f32(x);
    const int64_t C = x->shape[0], S = spatial_count(x, dims);
    memset(mask, 0, (size_t)S);
    for (int64_t c = 0; c < C; c++) {
        const float *pc = p + c * S;
        if (level <= 0) {
            const uint32_t *bits = (const uint32_t *)pc;   /* as ssl3d_nonzero_bbox: -0.0 is zero */
            for (int64_t i = 0; i < S; i++) mask[i] |= (bits[i] & 0x7fffffffu) != 0;
            continue;
        }
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < S; i++)
            if (pc[i] != 0.0f) { lo = pc[i] < lo ? pc[i] : lo; hi = pc[i] > hi ? pc[i] : hi; }
        if (!(lo <= hi)) continue;   /* no non-zero (comparable) value in this channel */
        const double thr = (double)lo + level * ((double)hi - (double)lo);
        for (int64_t i = 0; i < S; i++) mask[i] |= pc[i] != 0.0f && (double)pc[i] > thr;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < S; i++) n += mask[i];
    return n;
}

/* Bounding box [lo, hi) of the set voxels of mask (n[0] x n[1] x n[2]); hi[0] == 0 when
 * none is set. */
static void mask_bbox(const uint8_t *mask, const int64_t *n, int64_t *lo, int64_t *hi) {
    for (int a = 0; a < 3; a++) { lo[a] = n[a]; hi[a] = 0; }
    for (int64_t i = 0; i < n[0]; i++)
        for (int64_t j = 0; j < n[1]; j++)
            for (int64_t k = 0; k < n[2]; k++) {
                if (!mask[(i * n[1] + j) * n[2] + k]) continue;
                const int64_t v[3] = { i, j, k };
                for (int a = 0; a < 3; a++) {
                    if (v[a] < lo[a]) lo[a] = v[a];
                    if (v[a] + 1 > hi[a]) hi[a] = v[a] + 1;
                }
            }
}

int64_t task_inner_box(const uint8_t *mask, int32_t dims, const int64_t *n, int64_t *lo, int64_t *hi) {
    const int64_t plane = n[1] * n[2];
    /* The mask's bounding box, doubled centre: the tie-break's reference point. */
    int64_t bl[3], bh[3];
    mask_bbox(mask, n, bl, bh);
    for (int a = 0; a < 3; a++) lo[a] = hi[a] = 0;
    if (bh[0] == 0) return 0;
    /* side of the current plane (axis 0 = i) and of the one before: 2 planes of int32. */
    int32_t *planes = malloc((size_t)(2 * plane) * sizeof *planes);
    if (!planes) return -1;
    /* side(v): the largest all-foreground square / cube whose last voxel (largest index on
     * every axis) is v. A cube of side m ends at v iff v is foreground and each of the
     * neighbours v - e (e a non-empty subset of the axes' unit steps) ends one of side
     * m - 1: together with v those cubes cover the cube of side m. */
    int64_t best = 0, best_d = 0, best_v[3] = { 0, 0, 0 };
    for (int64_t i = 0; i < n[0]; i++) {
        int32_t *cur = planes + (i % 2) * plane, *prev = planes + ((i + 1) % 2) * plane;
        for (int64_t j = 0; j < n[1]; j++)
            for (int64_t k = 0; k < n[2]; k++) {
                const int64_t at = j * n[2] + k, v[3] = { i, j, k };
                if (!mask[i * plane + at]) { cur[at] = 0; continue; }
                int32_t m = INT32_MAX;
                for (int e = 1; e < 8 && m > 0; e++) {   /* bit 2: axis 0, bit 1: axis 1, bit 0: axis 2 */
                    if (dims == 2 && (e & 4)) continue;
                    if (((e & 4) && i == 0) || ((e & 2) && j == 0) || ((e & 1) && k == 0)) { m = 0; break; }
                    const int32_t s = ((e & 4) ? prev : cur)[at - ((e & 2) ? n[2] : 0) - (e & 1)];
                    if (s < m) m = s;
                }
                cur[at] = m + 1;
                if (cur[at] < best) continue;
                int64_t d = 0;   /* squared distance of the doubled centres */
                for (int a = 3 - dims; a < 3; a++) {
                    const int64_t c = 2 * v[a] - cur[at] + 1 - (bl[a] + bh[a] - 1);
                    d += c * c;
                }
                if (cur[at] > best || d < best_d) {
                    best = cur[at]; best_d = d;
                    for (int a = 0; a < 3; a++) best_v[a] = v[a];
                }
            }
    }
    free(planes);
    for (int a = 0; a < 3; a++) {
        const int64_t s = a < 3 - dims ? 1 : best;   /* 2D: axis 0 is the unit axis */
        hi[a] = best_v[a] + 1;
        lo[a] = hi[a] - s;
    }
    return best;
}

ssl3d_status task_crop_region(ssl3d_ctx *ctx, const ssl3d_task *t, const ssl3d_tensor *x, int32_t image,
                              task_region *out) {
    memset(out, 0, sizeof *out);
    const int32_t inner = task_opt_int(t, "region") == TASK_REGION_INNER;
    const double level = task_opt(t, "fg_level");
    if (!inner && level == 0) return ssl3d_nonzero_bbox(ctx, x, out->lo, out->hi);   /* the default, unchanged */
    const int32_t dims = t->dims;
    const int64_t S = spatial_count(x, dims);
    uint8_t *mask = malloc((size_t)S);
    if (!mask)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward: images[%d]: out of memory", (int)image);
    int64_t n[3] = { 1, 1, 1 }, lo[3], hi[3];
    for (int32_t a = 0; a < dims; a++) n[3 - dims + a] = x->shape[1 + a];
    if (task_fg_mask(x, dims, level, mask) == 0) {   /* no foreground: the whole image, as before */
        free(mask);
        for (int32_t a = 0; a < dims; a++) { out->lo[a] = 0; out->hi[a] = x->shape[1 + a]; }
        return SSL3D_OK;
    }
    if (inner) {
        if (task_inner_box(mask, dims, n, lo, hi) < 0) {
            free(mask);
            return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_task_forward: images[%d]: out of memory", (int)image);
        }
    } else {
        mask_bbox(mask, n, lo, hi);
    }
    for (int32_t a = 0; a < dims; a++) { out->lo[a] = lo[3 - dims + a]; out->hi[a] = hi[3 - dims + a]; }
    out->mask = mask;
    return SSL3D_OK;
}

void task_region_free(task_region *r) {
    free(r->mask);
    r->mask = NULL;
}

ssl3d_status task_region_require(ssl3d_ctx *ctx, const ssl3d_task *t, const task_region *r, int32_t image,
                                 int64_t need, const char *what) {
    int64_t small = INT64_MAX;
    for (int32_t a = 0; a < t->dims; a++)
        if (r->hi[a] - r->lo[a] < small) small = r->hi[a] - r->lo[a];
    if (small >= need) return SSL3D_OK;
    const int32_t inner = task_opt_int(t, "region") == TASK_REGION_INNER;
    const double level = task_opt(t, "fg_level");
    char rule[96];
    if (inner) snprintf(rule, sizeof rule, "region=inner, fg_level=%g: the largest all-foreground %s", level,
                        t->dims == 3 ? "cube" : "square");
    else if (level > 0) snprintf(rule, sizeof rule, "region=box, fg_level=%g: the foreground box", level);
    else snprintf(rule, sizeof rule, "region=box: the foreground box, the non-zero bounding box");
    return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_task_forward: images[%d]: its crop region (%s) has a "
                           "side of %lld voxels, too small for %s (%lld) of task %s", (int)image, rule,
                           (long long)small, what, (long long)need, t->vt->name);
}

/* A voxel of x (C, spatial; dims spatial axes) inside the region that is foreground (its
 * mask, else non-zero in some channel): uniform draws from r, at most 64 (then the
 * region's centre). */
static void fg_voxel(const ssl3d_tensor *x, int32_t dims, const task_region *rg, ssl3d_rng *r, int64_t *v) {
    const float *p = ssl3d_f32(x);
    const int64_t C = x->shape[0], S = spatial_count(x, dims);
    for (int tries = 0; tries < 64; tries++) {
        int64_t lin = 0;
        for (int32_t a = 0; a < dims; a++) {
            v[a] = rg->lo[a] + (int64_t)ssl3d_rng_below(r, (uint32_t)(rg->hi[a] - rg->lo[a]));
            lin = lin * x->shape[1 + a] + v[a];
        }
        if (rg->mask) {
            if (rg->mask[lin]) return;
            continue;
        }
        for (int64_t c = 0; c < C; c++)
            if (p[c * S + lin] != 0.0f) return;
    }
    for (int32_t a = 0; a < dims; a++) v[a] = rg->lo[a] + (rg->hi[a] - rg->lo[a]) / 2;
}

void task_fg_window(const ssl3d_tensor *x, int32_t dims, const task_region *r, const int64_t *w, int32_t training,
                    ssl3d_rng *rng, int64_t *off) {
    int64_t v[3] = { 0, 0, 0 };
    const int64_t *lo = r->lo, *hi = r->hi;
    if (training) fg_voxel(x, dims, r, rng, v);
    for (int32_t a = 0; a < dims; a++) {
        const int64_t ext = hi[a] - lo[a];
        if (w[a] > ext) { off[a] = lo[a] - (w[a] - ext) / 2; continue; }   /* overhangs the region evenly */
        const int64_t c = training ? v[a] - w[a] / 2 : lo[a] + (ext - w[a]) / 2;
        off[a] = c < lo[a] ? lo[a] : c > hi[a] - w[a] ? hi[a] - w[a] : c;
    }
}
