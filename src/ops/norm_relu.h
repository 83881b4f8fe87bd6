/* Norm followed by ReLU as one op (src/ops/norm.c): y = relu(ssl3d_batch_norm(x, ...)) and
 * y = relu(ssl3d_group_norm(x, ...)) with the same arguments, checks and results, in one
 * pass over the activation and one tape node. The norm's output is never materialised
 * (one activation less per layer kept for backward), and the backward masks dy by y > 0
 * inside the norm's gradient kernel instead of writing a ReLU gradient buffer. Falls back
 * to the two ops when the backend lacks the fused slots or batch-norm statistics are
 * synchronised across ranks. Used by the U-Net blocks (src/nn/block.c). */
#ifndef SSL3D_NORM_RELU_H
#define SSL3D_NORM_RELU_H
#include "ssl3d.h"

ssl3d_status ssl3d_batch_norm_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *gamma, ssl3d_tensor *beta,
                                   ssl3d_tensor *running_mean, ssl3d_tensor *running_var, int32_t training,
                                   float momentum, float eps, ssl3d_tensor **y);
ssl3d_status ssl3d_group_norm_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t groups, ssl3d_tensor *gamma,
                                   ssl3d_tensor *beta, float eps, ssl3d_tensor **y);
#endif
