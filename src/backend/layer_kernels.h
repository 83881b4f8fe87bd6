/* layer kernel family of the backend dispatch table (see backend.h): norms,
 * activations, dropout, linear (GEMM), elementwise add/mul, block copies (concat,
 * narrow) and row L2 normalisation.
 *
 * Shapes: spatial kernels see an image tensor as (N,C,S) where S is the product of the
 * spatial dims (S = D*H*W in 3D, H*W in 2D, 1 for (N,C)); one implementation serves
 * 2D and 3D. Every *_backward ACCUMULATES (+=) into the gradient buffers it is given;
 * a NULL gradient pointer means "not wanted" and is skipped. Per-channel and per-group
 * statistics are reduced in a fixed order (double accumulators), so results do not
 * depend on the thread count. */
#ifndef SSL3D_LAYER_KERNELS_H
#define SSL3D_LAYER_KERNELS_H
#include "backend.h"

/* Activation kinds for activation_forward / activation_backward. */
enum ssl3d_act_kind {
    SSL3D_ACT_RELU = 0,
    SSL3D_ACT_LEAKY_RELU = 1,   /* slope for x < 0 */
    SSL3D_ACT_SIGMOID = 2,
    SSL3D_ACT_TANH = 3
};

struct ssl3d_layer_kernels {
    /* ---- batch norm, x (N,C,S), statistics per channel over N*S elements.
     * Per-channel mean and biased variance of x. */
    void (*batchnorm_stats)(const ssl3d_kctx *k, const float *x, int64_t N, int64_t C, int64_t S,
                            float *mean, float *var);
    /* y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]. */
    void (*batchnorm_forward)(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                              int64_t S, const float *mean, const float *invstd, const float *gamma,
                              const float *beta);
    /* training != 0: statistics came from this batch, so dx includes their
     * dependence on x; training == 0: mean/invstd are constants (affine op).
     * dx (N,C,S), dgamma (C), dbeta (C): each may be NULL. */
    void (*batchnorm_backward)(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N,
                               int64_t C, int64_t S, const float *mean, const float *invstd,
                               const float *gamma, int32_t training, float *dx, float *dgamma,
                               float *dbeta);

    /* ---- group norm, x (N,C,S), G groups of C/G channels; statistics per (n, g).
     * Writes mean, invstd (N*G) for backward. */
    void (*groupnorm_forward)(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                              int64_t S, int64_t G, float eps, const float *gamma,
                              const float *beta, float *mean, float *invstd);
    void (*groupnorm_backward)(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N,
                               int64_t C, int64_t S, int64_t G, const float *mean,
                               const float *invstd, const float *gamma, float *dx, float *dgamma,
                               float *dbeta);

    /* ---- norm + ReLU fused (optional: NULL makes the ops run the norm and the ReLU
     * kernels one after the other). Forward: y = relu(norm(x)), arguments as the norm's.
     * Backward: the norm's backward with dy replaced by (y > 0 ? dy : 0), y the fused
     * output; x is the norm's input. Results must equal the unfused kernels'. */
    void (*batchnorm_relu_forward)(const ssl3d_kctx *k, const float *x, float *y, int64_t N,
                                   int64_t C, int64_t S, const float *mean, const float *invstd,
                                   const float *gamma, const float *beta);
    void (*batchnorm_relu_backward)(const ssl3d_kctx *k, const float *x, const float *y,
                                    const float *dy, int64_t N, int64_t C, int64_t S,
                                    const float *mean, const float *invstd, const float *gamma,
                                    int32_t training, float *dx, float *dgamma, float *dbeta);
    void (*groupnorm_relu_forward)(const ssl3d_kctx *k, const float *x, float *y, int64_t N,
                                   int64_t C, int64_t S, int64_t G, float eps, const float *gamma,
                                   const float *beta, float *mean, float *invstd);
    void (*groupnorm_relu_backward)(const ssl3d_kctx *k, const float *x, const float *y,
                                    const float *dy, int64_t N, int64_t C, int64_t S, int64_t G,
                                    const float *mean, const float *invstd, const float *gamma,
                                    float *dx, float *dgamma, float *dbeta);

    /* ---- activations (ssl3d_act_kind), n elements, any shape. Backward reads x and y. */
    void (*activation_forward)(const ssl3d_kctx *k, int32_t kind, float slope, const float *x,
                               float *y, int64_t n);
    void (*activation_backward)(const ssl3d_kctx *k, int32_t kind, float slope, const float *x,
                                const float *y, const float *dy, float *dx, int64_t n);

    /* ---- inverted dropout: element i is dropped iff a Philox draw for (seed, stream, i)
     * is < p; kept elements are scaled by 1/(1-p). The mask is not stored: backward
     * draws it again from the same (seed, stream). */
    void (*dropout_forward)(const ssl3d_kctx *k, const float *x, float *y, int64_t n, float p,
                            uint64_t seed, uint64_t stream);
    void (*dropout_backward)(const ssl3d_kctx *k, const float *dy, float *dx, int64_t n, float p,
                             uint64_t seed, uint64_t stream);

    /* ---- linear: y (M,Out) = x (M,In) w^T (Out,In) + b (Out, may be NULL). */
    void (*linear_forward)(const ssl3d_kctx *k, const float *x, const float *w, const float *b,
                           float *y, int64_t M, int64_t In, int64_t Out);
    /* dx (M,In) += dy w; dw (Out,In) += dy^T x; db (Out) += sum_m dy. Each may be NULL. */
    void (*linear_backward)(const ssl3d_kctx *k, const float *x, const float *w, const float *dy,
                            int64_t M, int64_t In, int64_t Out, float *dx, float *dw, float *db);

    /* ---- elementwise, a viewed as (N,C,S). add: y = a + b where b has the size of a
     * (per_channel == 0) or one value per channel (per_channel != 0, b (C)). */
    void (*add_forward)(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t N,
                        int64_t C, int64_t S, int32_t per_channel);
    /* da += dy; db += dy (same size) or db[c] += sum over (n, s) of dy (per channel). */
    void (*add_backward)(const ssl3d_kctx *k, const float *dy, int64_t N, int64_t C, int64_t S,
                         int32_t per_channel, float *da, float *db);
    void (*mul_forward)(const ssl3d_kctx *k, const float *a, const float *b, float *y, int64_t n);
    /* da += dy * b; db += dy * a. */
    void (*mul_backward)(const ssl3d_kctx *k, const float *a, const float *b, const float *dy,
                         float *da, float *db, int64_t n);

    /* ---- strided block copy (concat, narrow and their gradients): for r < rows,
     * dst[r*dst_stride + j] (=, or += when accumulate) src[r*src_stride + j], j < len. */
    void (*block_copy)(const ssl3d_kctx *k, const float *src, int64_t src_stride, float *dst,
                       int64_t dst_stride, int64_t rows, int64_t len, int32_t accumulate);

    /* ---- L2 normalisation of rows: y (M,D) = x / max(||x||, eps); norm (M) saved. */
    void (*l2norm_forward)(const ssl3d_kctx *k, const float *x, float *y, float *norm, int64_t M,
                           int64_t D, float eps);
    void (*l2norm_backward)(const ssl3d_kctx *k, const float *y, const float *norm, const float *dy,
                            float *dx, int64_t M, int64_t D, float eps);
};

extern const struct ssl3d_layer_kernels ssl3d_cpu_layer_kernels;
#endif
