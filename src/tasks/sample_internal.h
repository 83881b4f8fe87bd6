/* Private helpers of the sample builders (src/tasks/sample_*.c): the n^dims grid of
 * cells shared by RPL and Jigsaw, and cube-patch copies. */
#ifndef SSL3D_SAMPLE_INTERNAL_H
#define SSL3D_SAMPLE_INTERNAL_H
#include "../data/data_internal.h"

#define SSL3D_GRID_MAX_CELLS 4096

typedef struct sample_grid {
    int32_t n;            /* cells per axis */
    int32_t cells;        /* n^dims */
    int64_t cell, p;      /* cell side, patch side (cell - jitter) */
    int64_t origin[SSL3D_GRID_MAX_CELLS][3];  /* patch origins, internal axes */
} sample_grid;

/* A new grid in *g (malloc'd; the caller frees it, also on error): validate (n, cell,
 * jitter) against v and draw the patch origins of every cell in raster order from r,
 * which starts the grid stream of (seed, index) (no draws in eval mode; the caller goes
 * on drawing from r). `fn` names the caller for errors. */
ssl3d_status grid_new(ssl3d_ctx *ctx, const ssl3d_vol *v, int32_t n, int64_t cell, int64_t jitter, int32_t eval,
                      uint64_t seed, uint64_t index, const char *fn, sample_grid **g, ssl3d_rng *r);
/* New float tensor (K, C, p,p,p) / (K, C, p,p) for patches of side p of v. */
ssl3d_status patches_new(ssl3d_ctx *ctx, const ssl3d_vol *v, int64_t K, int64_t p, ssl3d_tensor **out);
/* Copy the cube of side p at internal origin o of v into slot `slot` of out. */
void patch_copy(const ssl3d_vol *v, const int64_t o[3], int64_t p, ssl3d_tensor *out, int64_t slot);
/* SSL3D_OK when perms is an int32 (P, n) tensor whose rows are permutations of 0..n-1. */
ssl3d_status perms_validate(ssl3d_ctx *ctx, const ssl3d_tensor *perms, const char *fn);
#endif
