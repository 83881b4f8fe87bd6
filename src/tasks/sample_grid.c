/* The n^dims grid of cells with jittered patch crops (RPL and Jigsaw). */
#include <stdlib.h>
#include <string.h>
#include "sample_internal.h"
#include "ssl3d/tasks.h"

ssl3d_status grid_new(ssl3d_ctx *ctx, const ssl3d_vol *v, int32_t n, int64_t cell, int64_t jitter, int32_t eval,
                      uint64_t seed, uint64_t index, const char *fn, sample_grid **out, ssl3d_rng *r) {
    ssl3d_rng_init(r, seed, data_stream(SSL3D_STREAM_GRID, index));
    sample_grid *g = *out = malloc(sizeof *g);
    if (!g) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    SSL3D_CHECK_ARG(ctx, n >= 1 && n <= 16, "%s: grid n = %d outside [1, 16]", fn, (int)n);
    int64_t smin = INT64_MAX;
    for (int a = 3 - v->dims; a < 3; a++) smin = v->n[a] < smin ? v->n[a] : smin;
    if (cell <= 0) cell = smin / n;
    SSL3D_CHECK_SHAPE(ctx, cell >= 1 && n * cell <= smin,
                      "%s: a %d-cell grid of cells of side %lld does not fit the smallest spatial size %lld", fn,
                      (int)n, (long long)cell, (long long)smin);
    SSL3D_CHECK_ARG(ctx, jitter >= 0 && jitter < cell, "%s: jitter %lld outside [0, cell = %lld)", fn,
                    (long long)jitter, (long long)cell);
    g->n = n;
    g->cells = v->dims == 3 ? n * n * n : n * n;
    g->cell = cell;
    g->p = cell - jitter;
    int64_t base[3];
    for (int a = 0; a < 3; a++) base[a] = a < 3 - v->dims ? 0 : (v->n[a] - n * cell) / 2;
    for (int32_t q = 0; q < g->cells; q++) {
        int64_t idx[3] = { 0, 0, 0 };   /* cell coordinates, internal axes */
        int64_t rest = q;
        for (int a = 2; a >= 3 - v->dims; a--) { idx[a] = rest % n; rest /= n; }
        for (int a = 0; a < 3; a++) {
            if (a < 3 - v->dims) { g->origin[q][a] = 0; continue; }
            int64_t j = eval ? jitter / 2 : (int64_t)ssl3d_rng_below(r, (uint32_t)jitter + 1u);
            g->origin[q][a] = base[a] + idx[a] * cell + j;
        }
    }
    return SSL3D_OK;
}

ssl3d_status patches_new(ssl3d_ctx *ctx, const ssl3d_vol *v, int64_t K, int64_t p, ssl3d_tensor **out) {
    int64_t shape[5] = { K, v->c, p, p, p };
    return ssl3d_tensor_new_uninit(ctx, SSL3D_F32, v->dims + 2, shape, out);   /* every patch is copied in full */
}

void patch_copy(const ssl3d_vol *v, const int64_t o[3], int64_t p, ssl3d_tensor *out, int64_t slot) {
    const int64_t p0 = v->dims == 3 ? p : 1;
    const int64_t S = vol_spatial(v), P = p0 * p * p;
    const float *x = v->p;
    float *y = ssl3d_f32(out) + slot * v->c * P;
    for (int64_t c = 0; c < v->c; c++)
        for (int64_t i = 0; i < p0; i++)
            for (int64_t j = 0; j < p; j++)
                memcpy(y + c * P + (i * p + j) * p,
                       x + c * S + ((o[0] + i) * v->n[1] + o[1] + j) * v->n[2] + o[2], (size_t)p * 4u);
}

ssl3d_status ssl3d_grid_patches(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t n, int64_t cell, int64_t jitter,
                                int32_t eval, uint64_t seed, uint64_t index, ssl3d_tensor **out, int64_t *origins) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_grid_patches";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of_image(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    sample_grid *g = NULL;
    ssl3d_rng r;
    ssl3d_tensor *t = NULL;
    ssl3d_status st = grid_new(ctx, &v, n, cell, jitter, eval, seed, index, fn, &g, &r);
    if (st == SSL3D_OK) st = patches_new(ctx, &v, g->cells, g->p, &t);
    if (st == SSL3D_OK) {
        #pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int32_t q = 0; q < g->cells; q++) patch_copy(&v, g->origin[q], g->p, t, q);
        if (origins)
            for (int32_t q = 0; q < g->cells; q++)
                for (int a = 0; a < v.dims; a++) origins[q * v.dims + a] = g->origin[q][vol_axis(&v, a)];
        *out = t;
    }
    free(g);
    return st;
}
