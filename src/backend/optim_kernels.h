/* Optimiser kernel family of the backend dispatch table (see backend.h). Elementwise
 * updates over one parameter tensor of n elements, plus the reductions used by
 * gradient clipping and the non-finite gradient check. Scalars that depend on the
 * step count (Adam bias corrections) are computed by the caller on the host. */
#ifndef SSL3D_OPTIM_KERNELS_H
#define SSL3D_OPTIM_KERNELS_H
#include "backend.h"

/* Fixed partition of the sum of squares: the result does not depend on the thread count. */
#define SSL3D_OPTIM_CHUNKS 64

struct ssl3d_optim_kernels {
    /* SGD (PyTorch semantics, no dampening): d = g + wd*p; if buf: buf = momentum*buf + d,
     * d = nesterov ? d + momentum*buf : buf; p -= lr*d. buf NULL when momentum is 0. */
    void (*sgd_update)(const ssl3d_kctx *k, float *p, const float *g, float *buf, int64_t n,
                       float lr, float momentum, float wd, int32_t nesterov);
    /* Adam / AdamW. decoupled = 0 (Adam): d = g + wd*p; decoupled = 1 (AdamW):
     * p *= 1 - lr*wd, d = g. Then m = b1*m + (1-b1)*d, v = b2*v + (1-b2)*d^2,
     * p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps), with bc1 = 1-b1^t, bc2 = 1-b2^t. */
    void (*adam_update)(const ssl3d_kctx *k, float *p, const float *g, float *m, float *v,
                        int64_t n, float lr, float b1, float b2, float eps, float wd,
                        int32_t decoupled, float bc1, float bc2);
    /* sum of x^2 in double, chunked (SSL3D_OPTIM_CHUNKS) for determinism. */
    double (*sumsq)(const ssl3d_kctx *k, const float *x, int64_t n);
    /* x *= a. */
    void (*scale)(const ssl3d_kctx *k, float *x, int64_t n, float a);
    /* First index with a NaN or Inf, or -1. */
    int64_t (*first_nonfinite)(const ssl3d_kctx *k, const float *x, int64_t n);
};

extern const struct ssl3d_optim_kernels ssl3d_cpu_optim_kernels;
#endif
