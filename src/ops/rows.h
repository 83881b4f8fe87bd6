/* Differentiable row-table ops of the contrastive tasks (task_cpc.c, task_exemplar.c),
 * on any backend: the kernels are the dispatch table's rows family (rows_kernels.h).
 * Index lists come from the host (the tasks draw them there); the ops check them, upload
 * them and, for the backward pass, the inverse maps that make the scatter-adds
 * deterministic. Internal, not part of the ABI. */
#ifndef SSL3D_OPS_ROWS_H
#define SSL3D_OPS_ROWS_H
#include "../core/internal.h"

/* y[r,:] = x[idx[r],:] for x (M,D) float32 and idx[0..R) in [0,M) (rows may repeat);
 * y gets shape[0..ndim) (numel R*D, e.g. (R,D) or (N,T,D)). Differentiable in x. `fn`
 * names the caller in errors. */
ssl3d_status ssl3d_rows_gather(ssl3d_ctx *ctx, ssl3d_tensor *x, const int32_t *idx, int64_t R, int32_t ndim,
                               const int64_t *shape, const char *fn, ssl3d_tensor **y);

/* s (R,C): s[r,c] = p[q[r],:] . z[cand[r*C+c],:] * inv_t for p (P,D) and z (M,D) float32,
 * q[0..R) distinct rows of p, cand[0..R*C) rows of z. Differentiable in p and z. */
ssl3d_status ssl3d_rows_scores(ssl3d_ctx *ctx, ssl3d_tensor *p, ssl3d_tensor *z, const int32_t *q,
                               const int32_t *cand, int64_t R, int64_t C, float inv_t, const char *fn,
                               ssl3d_tensor **s);
#endif
