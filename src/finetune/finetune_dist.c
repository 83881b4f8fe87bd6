/* Data-parallel fine-tuning (finetune_dist.h). Every rank builds the same global batch
 * from the shared seed and keeps its own contiguous share (rank r of N: items
 * [r B/N, (r+1) B/N)), so N ranks see exactly the patches that one process with batch B
 * sees. Building the whole batch costs each rank B patch copies instead of B/N; at the
 * fine-tuning batch sizes (2-64) that is small next to one forward/backward pass.
 * Validation is split by cases: each rank evaluates a contiguous share of the validation
 * volumes and the per-case results are gathered, so N ranks do 1/N of the work each. */
#include <string.h>
#include "finetune_dist.h"

ssl3d_status ft_dist_begin(ssl3d_ctx *ctx, ssl3d_ftmodel *m, int32_t batch) {
    const int32_t size = ssl3d_ctx_comm_size(ctx);
    if (size <= 1) return SSL3D_OK;
    if (batch % size)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "ssl3d_ft_train: batch=%d does not split evenly over "
                               "%d ranks (use a multiple of %d)", (int)batch, (int)size, (int)size);
    ssl3d_module *mods[3] = { m->encoder, m->head, m->aux };
    return ssl3d_comm_broadcast_modules(ctx, mods, m->aux ? 3 : 2, 0);
}

/* Rows [first, first + count) of t along dim 0, as a new tensor. */
static ssl3d_status rows(ssl3d_ctx *ctx, const ssl3d_tensor *t, int64_t first, int64_t count, ssl3d_tensor **out) {
    int64_t shape[SSL3D_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    const int64_t row = t->numel / t->shape[0];
    shape[0] = count;
    SSL3D_CHECK(ssl3d_tensor_new_uninit(ctx, t->dtype, t->ndim, shape, out));
    ctx->be->copy(ctx->be_state, (*out)->data, (const char *)t->data + first * row * 4, (size_t)(count * row) * 4);
    return SSL3D_OK;
}

ssl3d_status ft_dist_shard_one(ssl3d_ctx *ctx, ssl3d_tensor **t) {
    const int32_t size = ssl3d_ctx_comm_size(ctx);
    if (size <= 1) return SSL3D_OK;
    int64_t first = 0, count = 0;
    SSL3D_CHECK(ssl3d_comm_shard((*t)->shape[0], ssl3d_ctx_comm_rank(ctx), size, &first, &count));
    ssl3d_tensor *s = NULL;
    SSL3D_CHECK(rows(ctx, *t, first, count, &s));
    ssl3d_tensor_release(*t);
    *t = s;
    return SSL3D_OK;
}

ssl3d_status ft_dist_shard(ssl3d_ctx *ctx, ssl3d_tensor **xb, ssl3d_tensor **yb) {
    const int32_t size = ssl3d_ctx_comm_size(ctx);
    if (size <= 1) return SSL3D_OK;
    int64_t first = 0, count = 0;
    SSL3D_CHECK(ssl3d_comm_shard((*xb)->shape[0], ssl3d_ctx_comm_rank(ctx), size, &first, &count));
    ssl3d_tensor *x = NULL, *y = NULL;
    SSL3D_CHECK(rows(ctx, *xb, first, count, &x));
    ssl3d_status st = rows(ctx, *yb, first, count, &y);
    if (st != SSL3D_OK) { ssl3d_tensor_release(x); return st; }
    ssl3d_tensor_release(*xb);
    ssl3d_tensor_release(*yb);
    *xb = x;
    *yb = y;
    return SSL3D_OK;
}

ssl3d_status ft_dist_average_grads(ssl3d_ctx *ctx, ssl3d_ftmodel *m) {
    ssl3d_module *mods[3] = { m->encoder, m->head, m->aux };   /* deep-supervision heads are parameters too */
    return ssl3d_comm_average_module_grads(ctx, mods, m->aux ? 3 : 2, NULL, 0);
}

double ft_dist_mean(ssl3d_ctx *ctx, double v, ssl3d_status *st) {
    float f = (float)v;
    if (*st != SSL3D_OK || ssl3d_ctx_comm_size(ctx) <= 1) return v;
    *st = ssl3d_comm_allreduce_sum(ctx, &f, 1);
    return (double)f / ssl3d_ctx_comm_size(ctx);
}

void ft_dist_share(const ssl3d_ctx *ctx, int64_t n, int64_t *first, int64_t *count) {
    *first = 0;
    *count = n;
    if (ssl3d_ctx_comm_size(ctx) > 1) ssl3d_comm_shard(n, ssl3d_ctx_comm_rank(ctx), ssl3d_ctx_comm_size(ctx), first, count);
}

ssl3d_status ft_dist_gather(ssl3d_ctx *ctx, void *buf, int64_t n, size_t item_bytes) {
    const int32_t size = ssl3d_ctx_comm_size(ctx);
    for (int32_t r = 0; r < size && size > 1; r++) {
        int64_t first = 0, count = 0;
        ssl3d_comm_shard(n, r, size, &first, &count);
        SSL3D_CHECK(ssl3d_comm_broadcast(ctx, (char *)buf + (size_t)first * item_bytes, count * (int64_t)item_bytes, r));
    }
    return SSL3D_OK;
}
