/* Private declarations shared by the cpu_loss*.c files: the kernels that live outside
 * cpu_loss.c (which holds the table) and the fixed-chunk helper. */
#ifndef SSL3D_CPU_LOSS_IMPL_H
#define SSL3D_CPU_LOSS_IMPL_H
#include "../loss_kernels.h"

/* Bounds [lo, hi) of chunk c of SSL3D_LOSS_CHUNKS over n items. */
static inline int64_t cpu_loss_chunk_lo(int64_t n, int c) { return n * c / SSL3D_LOSS_CHUNKS; }

double cpu_loss_simce_forward(const ssl3d_kctx *k, const float *q, int64_t N, const float *keys, int64_t M,
                              int64_t D, float inv_temp, const int32_t *pos, int32_t mask_diag, float *probs);
void cpu_loss_simce_backward(const ssl3d_kctx *k, float *probs, const int32_t *pos, int64_t N, int64_t M,
                             int64_t D, float inv_temp, float scale, const float *q, const float *keys,
                             float *dq, float *dkeys);
double cpu_loss_triplet_forward(const ssl3d_kctx *k, const float *a, const float *p, const float *n,
                                int64_t N, int64_t D, float margin);
void cpu_loss_triplet_backward(const ssl3d_kctx *k, const float *a, const float *p, const float *n,
                               int64_t N, int64_t D, float margin, float scale, float *da, float *dp,
                               float *dn);
double cpu_loss_triplet_hard_forward(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D,
                                     float margin, int32_t *neg);
void cpu_loss_triplet_hard_backward(const ssl3d_kctx *k, const float *z, int64_t N, int64_t D, float margin,
                                    const int32_t *neg, float scale, float *dz);
void cpu_loss_dice_stats(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                         int64_t K, int64_t S, double *work, double *stats);
void cpu_loss_dice_backward(const ssl3d_kctx *k, const float *logits, const int32_t *labels, int64_t N,
                            int64_t K, int64_t S, const double *stats, float eps, float scale,
                            float *dlogits);
#endif
