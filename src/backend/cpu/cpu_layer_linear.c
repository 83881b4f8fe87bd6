/* CPU linear (OpenBLAS SGEMM) and row L2 normalisation kernels. */
#include <math.h>
#include "cpu_blas.h"
#include "cpu_layer_impl.h"

/* y (M,Out) = x (M,In) w^T + b. cpu_sgemm() applies the context's thread count. */
void cpu_linear_forward(const ssl3d_kctx *k, const float *x, const float *w, const float *b,
                        float *y, int64_t M, int64_t In, int64_t Out) {
    cpu_sgemm(k, CblasNoTrans, CblasTrans, M, Out, In, 1.0f, x, In, w, In, 0.0f, y, Out);
    if (!b) return;
    #pragma omp parallel for num_threads(k->threads) schedule(static) if (M * Out > 65536)
    for (int64_t m = 0; m < M; m++) {
        float *yr = y + m * Out;
        #pragma omp simd
        for (int64_t j = 0; j < Out; j++) yr[j] += b[j];
    }
}

/* dx (M,In) += dy (M,Out) w (Out,In);  dw (Out,In) += dy^T x;  db[j] += sum_m dy[m][j]
 * (one thread per output column, sequential over m, double accumulator). */
void cpu_linear_backward(const ssl3d_kctx *k, const float *x, const float *w, const float *dy,
                         int64_t M, int64_t In, int64_t Out, float *dx, float *dw, float *db) {
    if (dx) cpu_sgemm(k, CblasNoTrans, CblasNoTrans, M, In, Out, 1.0f, dy, Out, w, In, 1.0f, dx, In);
    if (dw) cpu_sgemm(k, CblasTrans, CblasNoTrans, Out, In, M, 1.0f, dy, Out, x, In, 1.0f, dw, In);
    if (db) {
        #pragma omp parallel for num_threads(k->threads) schedule(static) if (M * Out > 65536)
        for (int64_t j = 0; j < Out; j++) {
            double s = 0.0;
            for (int64_t m = 0; m < M; m++) s += dy[m * Out + j];
            db[j] += (float)s;
        }
    }
}

/* y = x / max(||x||, eps) per row (as torch.nn.functional.normalize); norm = ||x||. */
void cpu_l2norm_forward(const ssl3d_kctx *k, const float *x, float *y, float *norm, int64_t M,
                        int64_t D, float eps) {
    #pragma omp parallel for num_threads(k->threads) schedule(static) if (M * D > 16384)
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + m * D;
        float *yr = y + m * D;
        double ss = 0.0;
        for (int64_t j = 0; j < D; j++) ss += (double)xr[j] * xr[j];
        const double nr = sqrt(ss);
        norm[m] = (float)nr;
        const float inv = (float)(1.0 / (nr > eps ? nr : (double)eps));
        #pragma omp simd
        for (int64_t j = 0; j < D; j++) yr[j] = xr[j] * inv;
    }
}

/* Where ||x|| > eps: dx += (dy - y (y.dy)) / ||x||; otherwise y = x/eps, dx += dy/eps. */
void cpu_l2norm_backward(const ssl3d_kctx *k, const float *y, const float *norm, const float *dy,
                         float *dx, int64_t M, int64_t D, float eps) {
    #pragma omp parallel for num_threads(k->threads) schedule(static) if (M * D > 16384)
    for (int64_t m = 0; m < M; m++) {
        const float *yr = y + m * D, *gr = dy + m * D;
        float *dr = dx + m * D;
        if (norm[m] > eps) {
            double s = 0.0;
            for (int64_t j = 0; j < D; j++) s += (double)yr[j] * gr[j];
            const float inv = 1.0f / norm[m], p = (float)s;
            #pragma omp simd
            for (int64_t j = 0; j < D; j++) dr[j] += (gr[j] - yr[j] * p) * inv;
        } else {
            const float inv = 1.0f / eps;
            #pragma omp simd
            for (int64_t j = 0; j < D; j++) dr[j] += gr[j] * inv;
        }
    }
}
