/*
 * ssl3d/layers.h — the non-convolution layers: normalisation, activations, dropout,
 * linear, elementwise add/mul, concat/narrow/reshape, row L2 normalisation and a GRU.
 * Included by <ssl3d.h>; do not include directly.
 *
 * Every op below is differentiable: when an input requires a gradient (and recording
 * is on) the op records itself on the context's tape and ssl3d_backward() accumulates
 * gradients into its inputs. Image tensors are (N,C,H,W) in 2D and (N,C,D,H,W) in 3D;
 * the norms accept any (N,C,...) tensor of >= 2 dims (statistics over N and the
 * trailing dims), the per-element ops any shape.
 *
 * Parameters. The norms come in two forms that compute the same thing:
 *  - functional ops (ssl3d_batch_norm, ssl3d_group_norm) that take gamma/beta (and the
 *    running buffers) as tensors owned by the caller;
 *  - handles (ssl3d_batchnorm, ssl3d_groupnorm) that create and own those tensors and
 *    call the functional op. Layers with parameters (batch norm, group norm, GRU)
 *    expose them through one accessor pattern, for checkpoints and optimisers:
 *        int32_t       ssl3d_X_tensor_count(h);
 *        ssl3d_tensor *ssl3d_X_tensor(h, i);          borrowed; NULL if i out of range
 *        const char   *ssl3d_X_tensor_name(h, i);     PyTorch state-dict name, or NULL
 *        int32_t       ssl3d_X_tensor_trainable(h, i) 1 parameter, 0 buffer
 *    The tensors are borrowed (valid while the handle lives; ssl3d_tensor_retain to
 *    keep one longer). Load values with ssl3d_tensor_write; freeze a parameter with
 *    ssl3d_tensor_set_requires_grad(ctx, t, 0).
 * ssl3d_linear takes its weight and bias tensors from the caller.
 */
#ifndef SSL3D_LAYERS_H
#define SSL3D_LAYERS_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ batch norm */

/* Functional batch norm. x (N,C,...) (>= 2 dims; e.g. (N,C,H,W), (N,C,D,H,W), (N,C)),
 * gamma (C), beta (C), running_mean (C), running_var (C) -> y, same shape as x.
 * training != 0: normalise with the batch mean and biased variance over N and the
 *   trailing dims (needs N*spatial >= 2), then, unless running_mean/running_var are
 *   NULL, update them in place (not recorded) as PyTorch does:
 *     running = (1 - momentum) * running + momentum * batch_stat,
 *   with the unbiased variance for running_var.
 * training == 0: normalise with running_mean/running_var (both required): an affine
 *   op, differentiable in x, gamma and beta.
 * y = (x - mean) / sqrt(var + eps) * gamma + beta. momentum in [0,1], eps > 0. */
SSL3D_API ssl3d_status ssl3d_batch_norm(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *gamma,
                                        ssl3d_tensor *beta, ssl3d_tensor *running_mean,
                                        ssl3d_tensor *running_var, int32_t training,
                                        float momentum, float eps, ssl3d_tensor **y);

/* Batch norm layer owning gamma ("weight", ones, trainable), beta ("bias", zeros,
 * trainable), "running_mean" (zeros) and "running_var" (ones) — tensors 0..3 in this
 * order, each of shape (C). PyTorch's defaults are momentum 0.1, eps 1e-5. */
typedef struct ssl3d_batchnorm ssl3d_batchnorm;
SSL3D_API ssl3d_status ssl3d_batchnorm_create(ssl3d_ctx *ctx, int32_t channels, float momentum,
                                              float eps, ssl3d_batchnorm **out);
/* Releases the handle's references to its tensors. NULL is accepted. */
SSL3D_API void ssl3d_batchnorm_release(ssl3d_batchnorm *bn);
/* x (N,C,...) with C = channels -> y. See ssl3d_batch_norm for `training`. */
SSL3D_API ssl3d_status ssl3d_batchnorm_forward(ssl3d_ctx *ctx, ssl3d_batchnorm *bn, ssl3d_tensor *x,
                                               int32_t training, ssl3d_tensor **y);
SSL3D_API int32_t ssl3d_batchnorm_channels(const ssl3d_batchnorm *bn);
SSL3D_API int32_t ssl3d_batchnorm_tensor_count(const ssl3d_batchnorm *bn);
SSL3D_API ssl3d_tensor *ssl3d_batchnorm_tensor(const ssl3d_batchnorm *bn, int32_t i);
SSL3D_API const char *ssl3d_batchnorm_tensor_name(const ssl3d_batchnorm *bn, int32_t i);
SSL3D_API int32_t ssl3d_batchnorm_tensor_trainable(const ssl3d_batchnorm *bn, int32_t i);

/* ================================================================ group / instance norm */

/* Functional group norm. x (N,C,...) (>= 2 dims), C divisible by `groups`; statistics
 * (mean, biased variance) per sample and group of C/groups channels over the channels
 * and trailing dims; gamma (C), beta (C) -> y, same shape.
 * y = (x - mean) / sqrt(var + eps) * gamma + beta. Instance norm is groups = C. */
SSL3D_API ssl3d_status ssl3d_group_norm(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t groups,
                                        ssl3d_tensor *gamma, ssl3d_tensor *beta, float eps,
                                        ssl3d_tensor **y);

/* Group norm layer owning gamma ("weight", ones) and beta ("bias", zeros), shape (C),
 * both trainable. No running statistics (train and eval behave the same). */
typedef struct ssl3d_groupnorm ssl3d_groupnorm;
SSL3D_API ssl3d_status ssl3d_groupnorm_create(ssl3d_ctx *ctx, int32_t groups, int32_t channels,
                                              float eps, ssl3d_groupnorm **out);
/* Instance norm with affine parameters: a group norm with groups = channels. */
SSL3D_API ssl3d_status ssl3d_instancenorm_create(ssl3d_ctx *ctx, int32_t channels, float eps,
                                                 ssl3d_groupnorm **out);
SSL3D_API void ssl3d_groupnorm_release(ssl3d_groupnorm *gn);
/* x (N,C,...) with C = channels -> y. */
SSL3D_API ssl3d_status ssl3d_groupnorm_forward(ssl3d_ctx *ctx, ssl3d_groupnorm *gn, ssl3d_tensor *x,
                                               ssl3d_tensor **y);
SSL3D_API int32_t ssl3d_groupnorm_groups(const ssl3d_groupnorm *gn);
SSL3D_API int32_t ssl3d_groupnorm_channels(const ssl3d_groupnorm *gn);
SSL3D_API int32_t ssl3d_groupnorm_tensor_count(const ssl3d_groupnorm *gn);
SSL3D_API ssl3d_tensor *ssl3d_groupnorm_tensor(const ssl3d_groupnorm *gn, int32_t i);
SSL3D_API const char *ssl3d_groupnorm_tensor_name(const ssl3d_groupnorm *gn, int32_t i);
SSL3D_API int32_t ssl3d_groupnorm_tensor_trainable(const ssl3d_groupnorm *gn, int32_t i);

/* ================================================================ activations */

/* y = f(x), same shape as x (any shape). */
SSL3D_API ssl3d_status ssl3d_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y);
/* y = x for x > 0, slope * x otherwise (PyTorch default slope 0.01). */
SSL3D_API ssl3d_status ssl3d_leaky_relu(ssl3d_ctx *ctx, ssl3d_tensor *x, float slope, ssl3d_tensor **y);
SSL3D_API ssl3d_status ssl3d_sigmoid(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y);
SSL3D_API ssl3d_status ssl3d_tanh(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y);

/* ================================================================ dropout */

/* Inverted dropout, any shape: each element is zeroed with probability p (0 <= p <= 1)
 * and the others are scaled by 1/(1-p). The mask comes from the context RNG (a fresh
 * stream per call, one counter-based draw per element): the same seed gives the same
 * mask for any thread count. When training == 0 or p == 0, y is x itself (one more
 * reference to the same tensor, to be released as usual). */
SSL3D_API ssl3d_status ssl3d_dropout(ssl3d_ctx *ctx, ssl3d_tensor *x, float p, int32_t training,
                                     ssl3d_tensor **y);

/* ================================================================ linear */

/* y = x w^T + b. x (N,in) (or (..., in): leading dims are batch dims), w (out,in),
 * b (out) or NULL -> y (N,out) (or (..., out)). Gradients for x, w and b. */
SSL3D_API ssl3d_status ssl3d_linear(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *w, ssl3d_tensor *b,
                                    ssl3d_tensor **y);

/* ================================================================ elementwise */

/* y = a + b. b has the shape of a, or is a per-channel vector: b (C) with
 * C = a's dim 1, added to every (n, ·, spatial) of a (N,C,...) (a bias). */
SSL3D_API ssl3d_status ssl3d_add(ssl3d_ctx *ctx, ssl3d_tensor *a, ssl3d_tensor *b, ssl3d_tensor **y);
/* y = a * b, elementwise; a and b have the same shape (a may be b). */
SSL3D_API ssl3d_status ssl3d_mul(ssl3d_ctx *ctx, ssl3d_tensor *a, ssl3d_tensor *b, ssl3d_tensor **y);

/* ================================================================ shape */

/* Concatenate n >= 1 tensors along `axis` (0 <= axis < ndim; U-Net skips use axis 1).
 * All have the same ndim and equal sizes on every other axis. */
SSL3D_API ssl3d_status ssl3d_concat(ssl3d_ctx *ctx, ssl3d_tensor *const *tensors, int32_t n,
                                    int32_t axis, ssl3d_tensor **y);
/* y = x[..., start:start+length, ...] along `axis` (a copy), e.g. axis 0 splits a
 * batch of patch embeddings back per sample. 0 <= start, length >= 1,
 * start + length <= x's size on axis. */
SSL3D_API ssl3d_status ssl3d_narrow(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t axis, int64_t start,
                                    int64_t length, ssl3d_tensor **y);
/* y = x with a new shape of the same numel (a copy). At most one entry of `shape` may
 * be -1 and is then inferred. x may be float32 (differentiable) or int32 (label maps;
 * copied, not recorded). */
SSL3D_API ssl3d_status ssl3d_reshape(ssl3d_ctx *ctx, ssl3d_tensor *x, int32_t ndim, const int64_t *shape,
                                     ssl3d_tensor **y);
/* x (N, ...) -> y (N, product of the other dims). */
SSL3D_API ssl3d_status ssl3d_flatten(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **y);

/* ================================================================ L2 normalisation */

/* Each row of x (N,D) divided by max(||row||_2, eps) (torch.nn.functional.normalize;
 * eps > 0, e.g. 1e-12). x may have more dims: rows are then over the last dim. */
SSL3D_API ssl3d_status ssl3d_l2_normalize(ssl3d_ctx *ctx, ssl3d_tensor *x, float eps, ssl3d_tensor **y);

/* ================================================================ GRU */

/* One-layer GRU with PyTorch's equations and parameter layout (gates r, z, n):
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * Tensors (all trainable): "weight_ih_l0" (3H,I), "weight_hh_l0" (3H,H),
 * "bias_ih_l0" (3H), "bias_hh_l0" (3H), initialised U(-1/sqrt(H), 1/sqrt(H)) from
 * the context RNG. The forward is a composition of the differentiable ops above,
 * unrolled over time, so weights receive the sum of their per-step gradients. */
typedef struct ssl3d_gru ssl3d_gru;
SSL3D_API ssl3d_status ssl3d_gru_create(ssl3d_ctx *ctx, int32_t input_size, int32_t hidden_size,
                                        ssl3d_gru **out);
SSL3D_API void ssl3d_gru_release(ssl3d_gru *g);
/* x_seq (N,T,I), h0 (N,H) or NULL (zeros) -> h_last (N,H), the hidden state after step
 * T; h_all (N,T,H), every step's hidden state, if the pointer is not NULL. */
SSL3D_API ssl3d_status ssl3d_gru_forward(ssl3d_ctx *ctx, ssl3d_gru *g, ssl3d_tensor *x_seq,
                                         ssl3d_tensor *h0, ssl3d_tensor **h_last,
                                         ssl3d_tensor **h_all);
SSL3D_API int32_t ssl3d_gru_input_size(const ssl3d_gru *g);
SSL3D_API int32_t ssl3d_gru_hidden_size(const ssl3d_gru *g);
SSL3D_API int32_t ssl3d_gru_tensor_count(const ssl3d_gru *g);
SSL3D_API ssl3d_tensor *ssl3d_gru_tensor(const ssl3d_gru *g, int32_t i);
SSL3D_API const char *ssl3d_gru_tensor_name(const ssl3d_gru *g, int32_t i);
SSL3D_API int32_t ssl3d_gru_tensor_trainable(const ssl3d_gru *g, int32_t i);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_LAYERS_H */
