/* Jigsaw puzzle: the grid patches shuffled by one permutation of the set. */
#include "sample_internal.h"
#include "ssl3d/tasks.h"

ssl3d_status ssl3d_jigsaw_sample(ssl3d_ctx *ctx, const ssl3d_tensor *x, const ssl3d_tensor *perms, int32_t n,
                                 int64_t cell, int64_t jitter, int32_t eval, uint64_t seed, uint64_t index,
                                 ssl3d_tensor **out, int32_t *label) {
    SSL3D_CHECK_CTX(ctx);
    const char *fn = "ssl3d_jigsaw_sample";
    ssl3d_vol v;
    SSL3D_CHECK(vol_of_image(ctx, x, fn, "x", &v));
    SSL3D_CHECK_ARG(ctx, out && label, "%s: out and label must not be NULL", fn);
    SSL3D_CHECK(ssl3d_check_i32(ctx, perms, fn, "perms"));
    SSL3D_CHECK_ARG(ctx, n >= 2 && n <= 4, "%s: grid n = %d outside [2, 4]", fn, (int)n);
    const int64_t cells = v.dims == 3 ? n * n * n : n * n;
    char s[96];
    SSL3D_CHECK_SHAPE(ctx, perms->ndim == 2 && perms->shape[1] == cells,
                      "%s: perms %s must be (P, %lld) for a %d^%d grid", fn, ssl3d_shape_str(perms, s, sizeof s),
                      (long long)cells, (int)n, v.dims);
    sample_grid *g = NULL;
    ssl3d_rng r;
    ssl3d_tensor *t = NULL;
    ssl3d_status st = grid_new(ctx, &v, n, cell, jitter, eval, seed, index, fn, &g, &r);
    int32_t pi = 0;
    const int32_t *perm = NULL;
    if (st == SSL3D_OK) {
        pi = (int32_t)ssl3d_rng_below(&r, (uint32_t)perms->shape[0]);
        perm = ssl3d_i32(perms) + (int64_t)pi * cells;
        uint64_t seen = 0;   /* the chosen row must be a permutation (sets may come from files) */
        for (int64_t j = 0; j < cells && st == SSL3D_OK; j++) {
            if (perm[j] < 0 || perm[j] >= cells || (seen >> perm[j]) & 1u)
                st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: row %d of perms is not a permutation", fn, (int)pi);
            else seen |= UINT64_C(1) << perm[j];
        }
    }
    if (st == SSL3D_OK) st = patches_new(ctx, &v, cells, g->p, &t);
    if (st == SSL3D_OK) {
        /* Output slot j holds cell perm[j]. */
        #pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t j = 0; j < cells; j++) patch_copy(&v, g->origin[perm[j]], g->p, t, j);
        *out = t;
        *label = pi;
    }
    free(g);
    return st;
}
