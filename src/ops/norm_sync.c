/* Synchronised batch norm (norm_sync.h).
 *
 * Forward: each rank has the mean m_r and biased variance v_r of its M_r values per
 * channel; the global mean is sum(M_r m_r) / M and the global variance the pooled
 * sum(M_r (v_r + (m_r - mean)^2)) / M (two allreduces, no E[x^2] - mean^2 cancellation).
 * Backward: with xhat = (x - mean) * invstd and g = dL/dy of this rank's own loss,
 *   dx = gamma invstd (g - sum(g) / M - xhat sum(g xhat) / M),
 * where the sums run over the global batch (one allreduce of 2C values): the gradient of
 * the sum of every rank's loss, which ssl3d_comm_average_grads then divides by the rank
 * count. gamma and beta receive this rank's own sums (averaged with the other parameter
 * gradients). The element loop needs the tensors in host memory (the CPU backend); a device
 * backend gets SSL3D_ERR_UNSUPPORTED. */
#include <math.h>
#include <string.h>
#include "norm_sync.h"
#include "../backend/layer_kernels.h"

int bn_sync_active(const ssl3d_ctx *ctx, int32_t training) {
    return training && ctx->sync_batch_norm && ctx->comm_size > 1;
}

ssl3d_status bn_sync_stats(ssl3d_ctx *ctx, float *mean, float *var, int64_t C, int64_t *count) {
    float *buf = malloc((size_t)(C + 1) * sizeof *buf);
    if (!buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_batch_norm: out of memory");
    const double m_r = (double)*count;
    for (int64_t c = 0; c < C; c++) buf[c] = (float)(m_r * mean[c]);
    buf[C] = (float)m_r;
    ssl3d_status st = ssl3d_comm_allreduce_sum(ctx, buf, C + 1);
    const double M = st == SSL3D_OK ? (double)llround(buf[C]) : 1.0;
    for (int64_t c = 0; st == SSL3D_OK && c < C; c++) {
        const double gm = buf[c] / M, d = mean[c] - gm;
        mean[c] = (float)gm;
        buf[c] = (float)(m_r * (var[c] + d * d));
    }
    if (st == SSL3D_OK) st = ssl3d_comm_allreduce_sum(ctx, buf, C);
    for (int64_t c = 0; st == SSL3D_OK && c < C; c++) var[c] = (float)(buf[c] / M);
    if (st == SSL3D_OK) *count = (int64_t)M;
    free(buf);
    return st;
}

ssl3d_status bn_sync_backward(ssl3d_ctx *ctx, ssl3d_node *n) {
    ssl3d_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    const int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C);
    const double M = (double)n->iarg[1];
    const float *xv = ssl3d_tensor_host_data(x), *gv = ssl3d_tensor_host_data(gamma), *dy = n->out->grad;
    if (!xv || !gv)
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "batch_norm backward: synchronised batch norm needs "
                               "host-memory tensors (the CPU backend)");
    float *dx = NULL, *dg = NULL, *db = NULL;
    if (x->requires_grad && !(dx = ssl3d_grad_of(ctx, x))) return SSL3D_ERR_NOMEM;
    if (gamma->requires_grad && !(dg = ssl3d_grad_of(ctx, gamma))) return SSL3D_ERR_NOMEM;
    if (beta->requires_grad && !(db = ssl3d_grad_of(ctx, beta))) return SSL3D_ERR_NOMEM;
    const float *mean = n->saved, *invstd = (const float *)n->saved + C;
    /* sums[0..C): sum(g xhat), sums[C..2C): sum(g) over this rank's values (the kernel
     * without dx computes exactly these, accumulating into zeroed buffers). */
    float *sums = calloc((size_t)(2 * C), sizeof *sums);
    if (!sums) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "batch_norm backward: out of memory");
    ssl3d_kctx k = ssl3d_kctx_of(ctx);
    ctx->be->layer->batchnorm_backward(&k, xv, dy, N, C, S, mean, invstd, gv, 1, NULL, sums, sums + C);
    for (int64_t c = 0; c < C; c++) {
        if (dg) dg[c] += sums[c];
        if (db) db[c] += sums[C + c];
    }
    ssl3d_status st = dx ? ssl3d_comm_allreduce_sum(ctx, sums, 2 * C) : SSL3D_OK;
    for (int64_t c = 0; dx && st == SSL3D_OK && c < C; c++) {
        const float is = invstd[c], mu = mean[c], g = gv[c] * is;
        const float mdy = (float)(sums[C + c] / M), proj = (float)(sums[c] / M * is);
        for (int64_t b = 0; b < N; b++) {
            const float *xp = xv + (b * C + c) * S, *dp = dy + (b * C + c) * S;
            float *gp = dx + (b * C + c) * S;
            for (int64_t i = 0; i < S; i++) gp[i] += g * (dp[i] - mdy - (xp[i] - mu) * proj);
        }
    }
    free(sums);
    return st;
}
