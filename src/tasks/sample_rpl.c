/* Relative patch location: (centre patch, query patch) of the n^dims grid, label = the
 * query's position among the non-centre cells in raster order. */
#include "sample_internal.h"
#include "ssl3d/tasks.h"

int32_t ssl3d_rpl_classes(int32_t dims, int32_t n) {
    if ((dims != 2 && dims != 3) || n < 3 || n > 15 || n % 2 == 0) return 0;
    return (dims == 3 ? n * n * n : n * n) - 1;
}

ssl3d_status ssl3d_rpl_sample(ssl3d_ctx *ctx, const ssl3d_tensor *x, int32_t n, int64_t cell, int64_t jitter,
                              int32_t eval, uint64_t seed, uint64_t index, ssl3d_tensor **out, int32_t *label) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_rpl_sample";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of_image(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out && label, "%s: out and label must not be NULL", fn);
    SSL3D_CHECK_ARG(ctx, ssl3d_rpl_classes(v.dims, n) > 0, "%s: grid n = %d must be odd, 3..15", fn, (int)n);
    sample_grid *g = NULL;
    ssl3d_rng r;
    ssl3d_tensor *t = NULL;
    ssl3d_status st = grid_new(ctx, &v, n, cell, jitter, eval, seed, index, fn, &g, &r);
    if (st == SSL3D_OK) st = patches_new(ctx, &v, 2, g->p, &t);
    if (st == SSL3D_OK) {
        const int32_t centre = g->cells / 2;              /* (n/2, n/2, n/2) in raster order */
        const int32_t lab = (int32_t)ssl3d_rng_below(&r, (uint32_t)(g->cells - 1));
        const int32_t q = lab < centre ? lab : lab + 1;   /* raster index of the query cell */
        patch_copy(&v, g->origin[centre], g->p, t, 0);
        patch_copy(&v, g->origin[q], g->p, t, 1);
        *out = t;
        *label = lab;
    }
    free(g);
    return st;
}
