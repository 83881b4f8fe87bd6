/* CPU pooling: max pool 2x2(x2) stride 2 with saved argmax, global average pool.
 * Both parallelise over (n,c) planes; pooling windows never overlap, so the backward
 * passes write disjoint elements and need no reduction. */
#include "cpu_conv_impl.h"

/* x (NC,D,H,W) -> y (NC,Do,Ho,Wo), Do = D/2 in 3D (D and Do = 1 in 2D), Ho = H/2, Wo = W/2.
 * The first maximum of each window wins; a NaN wins over numbers (it propagates). */
void cpu_maxpool2_forward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3],
                          const float *x, float *y, int32_t *argmax) {
    const int64_t kd = dims == 3 ? 2 : 1;
    const int64_t D = in[0], H = in[1], W = in[2];
    const int64_t Do = D / kd, Ho = H / 2, Wo = W / 2;
    const int64_t ivol = D * H * W, ovol = Do * Ho * Wo;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        const float *xc = x + c * ivol;
        float *yc = y + c * ovol;
        int32_t *ac = argmax + c * ovol;
        for (int64_t od = 0; od < Do; od++)
        for (int64_t oh = 0; oh < Ho; oh++)
        for (int64_t ow = 0; ow < Wo; ow++) {
            int64_t bi = ((od * kd) * H + 2 * oh) * W + 2 * ow;
            float best = xc[bi];
            for (int64_t a = 0; a < kd; a++)
            for (int64_t b = 0; b < 2; b++)
            for (int64_t e = 0; e < 2; e++) {
                int64_t i = ((od * kd + a) * H + 2 * oh + b) * W + 2 * ow + e;
                float v = xc[i];
                if (v > best || (v != v && best == best)) { best = v; bi = i; }
            }
            int64_t o = (od * Ho + oh) * Wo + ow;
            yc[o] = best;
            ac[o] = (int32_t)bi;
        }
    }
}

void cpu_maxpool2_backward(const ssl3d_kctx *k, int32_t dims, int64_t nc, const int64_t in[3],
                           const float *dy, const int32_t *argmax, float *dx) {
    const int64_t kd = dims == 3 ? 2 : 1;
    const int64_t ivol = in[0] * in[1] * in[2], ovol = (in[0] / kd) * (in[1] / 2) * (in[2] / 2);
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        const float *dyc = dy + c * ovol;
        const int32_t *ac = argmax + c * ovol;
        float *dxc = dx + c * ivol;
        for (int64_t o = 0; o < ovol; o++) dxc[ac[o]] += dyc[o];
    }
}

/* y (NC) = mean over s of x (NC,s); double accumulation, sequential per plane. */
void cpu_global_avgpool_forward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *x, float *y) {
    #pragma omp parallel for num_threads(k->threads) if (nc * s > 65536) schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        const float *xc = x + c * s;
        double acc = 0.0;
        for (int64_t i = 0; i < s; i++) acc += xc[i];
        y[c] = (float)(acc / (double)s);
    }
}

void cpu_global_avgpool_backward(const ssl3d_kctx *k, int64_t nc, int64_t s, const float *dy, float *dx) {
    #pragma omp parallel for num_threads(k->threads) if (nc * s > 65536) schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        const float g = dy[c] / (float)s;
        float *dxc = dx + c * s;
        for (int64_t i = 0; i < s; i++) dxc[i] += g;
    }
}
