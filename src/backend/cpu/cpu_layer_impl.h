/* Private: the CPU layer kernels, implemented across cpu_layer*.c and gathered into
 * ssl3d_cpu_layer_kernels in cpu_layer.c. Signatures are those of layer_kernels.h. */
#ifndef SSL3D_CPU_LAYER_IMPL_H
#define SSL3D_CPU_LAYER_IMPL_H
#include "../layer_kernels.h"

/* Elements summed in float before folding into a double accumulator: long enough for
 * the float SIMD loop to pay off, short enough that float rounding stays negligible. */
#define CPU_LAYER_CHUNK 1024

/* cpu_layer_norm.c */
void cpu_batchnorm_stats(const ssl3d_kctx *k, const float *x, int64_t N, int64_t C, int64_t S,
                         float *mean, float *var);
void cpu_batchnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                           int64_t S, const float *mean, const float *invstd, const float *gamma,
                           const float *beta);
void cpu_batchnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N,
                            int64_t C, int64_t S, const float *mean, const float *invstd,
                            const float *gamma, int32_t training, float *dx, float *dgamma,
                            float *dbeta);
void cpu_groupnorm_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                           int64_t S, int64_t G, float eps, const float *gamma, const float *beta,
                           float *mean, float *invstd);
void cpu_groupnorm_backward(const ssl3d_kctx *k, const float *x, const float *dy, int64_t N,
                            int64_t C, int64_t S, int64_t G, const float *mean,
                            const float *invstd, const float *gamma, float *dx, float *dgamma,
                            float *dbeta);

void cpu_batchnorm_relu_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                                int64_t S, const float *mean, const float *invstd, const float *gamma,
                                const float *beta);
void cpu_batchnorm_relu_backward(const ssl3d_kctx *k, const float *x, const float *y, const float *dy,
                                 int64_t N, int64_t C, int64_t S, const float *mean, const float *invstd,
                                 const float *gamma, int32_t training, float *dx, float *dgamma,
                                 float *dbeta);
void cpu_groupnorm_relu_forward(const ssl3d_kctx *k, const float *x, float *y, int64_t N, int64_t C,
                                int64_t S, int64_t G, float eps, const float *gamma, const float *beta,
                                float *mean, float *invstd);
void cpu_groupnorm_relu_backward(const ssl3d_kctx *k, const float *x, const float *y, const float *dy,
                                 int64_t N, int64_t C, int64_t S, int64_t G, const float *mean,
                                 const float *invstd, const float *gamma, float *dx, float *dgamma,
                                 float *dbeta);

/* cpu_layer_linear.c */
void cpu_linear_forward(const ssl3d_kctx *k, const float *x, const float *w, const float *b,
                        float *y, int64_t M, int64_t In, int64_t Out);
void cpu_linear_backward(const ssl3d_kctx *k, const float *x, const float *w, const float *dy,
                         int64_t M, int64_t In, int64_t Out, float *dx, float *dw, float *db);
void cpu_l2norm_forward(const ssl3d_kctx *k, const float *x, float *y, float *norm, int64_t M,
                        int64_t D, float eps);
void cpu_l2norm_backward(const ssl3d_kctx *k, const float *y, const float *norm, const float *dy,
                         float *dx, int64_t M, int64_t D, float eps);

#endif
