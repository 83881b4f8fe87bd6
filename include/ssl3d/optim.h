/*
 * ssl3d/optim.h — optimisers (SGD, Adam, AdamW), parameter groups, gradient clipping
 * and learning-rate schedules. Included by <ssl3d.h>.
 *
 * Typical step:
 *     ssl3d_optim_zero_grad(ctx, opt);
 *     ... forward, loss, ssl3d_backward(ctx, loss) ...
 *     ssl3d_optim_clip_grad_norm(ctx, opt, 1.0f, &norm);     (optional)
 *     ssl3d_optim_apply_schedule(ctx, opt, sched);           (optional)
 *     ssl3d_optim_step(ctx, opt);
 *
 * Checkpoints: an optimiser's state is a list of named tensors (ssl3d_optim_state_at):
 * write them out with the parameters; to resume, create an optimiser with the same
 * settings, add the same parameters in the same order and groups, and copy the saved
 * values into the tensors of the same names (ssl3d_optim_state_find +
 * ssl3d_tensor_write). Training then continues bitwise as if uninterrupted.
 */
#ifndef SSL3D_OPTIM_H
#define SSL3D_OPTIM_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- optimisers */

typedef struct ssl3d_optim ssl3d_optim;

typedef enum ssl3d_optim_kind {
    SSL3D_OPTIM_SGD = 0,
    SSL3D_OPTIM_ADAM = 1,
    SSL3D_OPTIM_ADAMW = 2
} ssl3d_optim_kind;

/* SGD with optional momentum (PyTorch semantics, no dampening):
 *   d = g + weight_decay*p;  buf = momentum*buf + d;  d = nesterov ? d + momentum*buf : buf;
 *   p -= lr*d.
 * lr >= 0, 0 <= momentum < 1, weight_decay >= 0; nesterov (0/1) needs momentum > 0. */
SSL3D_API ssl3d_status ssl3d_optim_create_sgd(ssl3d_ctx *ctx, float lr, float momentum,
                                              float weight_decay, int32_t nesterov,
                                              ssl3d_optim **out);
/* Adam with L2 weight decay added to the gradient (d = g + weight_decay*p):
 *   m = b1*m + (1-b1)*d;  v = b2*v + (1-b2)*d^2;  t = this parameter's step count;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * 0 <= beta1, beta2 < 1, eps > 0. (PyTorch defaults: 1e-3, 0.9, 0.999, 1e-8, 0.) */
SSL3D_API ssl3d_status ssl3d_optim_create_adam(ssl3d_ctx *ctx, float lr, float beta1,
                                               float beta2, float eps, float weight_decay,
                                               ssl3d_optim **out);
/* AdamW: decoupled weight decay, p *= 1 - lr*weight_decay, then the Adam update with
 * d = g. */
SSL3D_API ssl3d_status ssl3d_optim_create_adamw(ssl3d_ctx *ctx, float lr, float beta1,
                                                float beta2, float eps, float weight_decay,
                                                ssl3d_optim **out);
/* Release the optimiser, its state and its references to the parameters; NULL ok. */
SSL3D_API void ssl3d_optim_release(ssl3d_optim *opt);
/* ssl3d_optim_kind of the handle, or -1 for NULL. */
SSL3D_API int32_t ssl3d_optim_kind_of(const ssl3d_optim *opt);

/* Add n float32 parameters to group `group` (any id >= 0; groups are created on first
 * use). The optimiser retains them. A tensor already in the optimiser, or given twice,
 * is SSL3D_ERR_INVALID_ARG; on any error nothing is added. Parameter i (in order of
 * addition, from 0) names its state tensors. */
SSL3D_API ssl3d_status ssl3d_optim_add_params(ssl3d_ctx *ctx, ssl3d_optim *opt,
                                              ssl3d_tensor *const *params, int32_t n,
                                              int32_t group);
/* Number of parameters added (0 for NULL). */
SSL3D_API int32_t ssl3d_optim_num_params(const ssl3d_optim *opt);

/* One update of every parameter of every non-frozen group from its gradient.
 * Parameters that have not received a gradient yet are skipped (their state does not
 * advance). First checks every gradient to be used: a NaN or Inf anywhere returns
 * SSL3D_ERR_NUMERIC naming the parameter and element, and changes nothing (no
 * parameter, moment or step counter). Gradients are left as they are. */
SSL3D_API ssl3d_status ssl3d_optim_step(ssl3d_ctx *ctx, ssl3d_optim *opt);
/* Zero the gradients of all parameters (frozen groups included). */
SSL3D_API ssl3d_status ssl3d_optim_zero_grad(ssl3d_ctx *ctx, ssl3d_optim *opt);

/* Freeze (1) or unfreeze (0) a group: frozen parameters are neither updated nor is
 * their state (moments, per-parameter step) advanced; unfreezing resumes from the
 * state they had. A group that has no parameters yet is created. */
SSL3D_API ssl3d_status ssl3d_optim_set_group_frozen(ssl3d_ctx *ctx, ssl3d_optim *opt,
                                                    int32_t group, int32_t frozen);
/* 1 frozen, 0 not, -1 for NULL or a group never named. */
SSL3D_API int32_t ssl3d_optim_group_frozen(const ssl3d_optim *opt, int32_t group);
/* Per-group multiplier of the learning rate (default 1; e.g. a smaller rate for a
 * pretrained encoder). scale >= 0. */
SSL3D_API ssl3d_status ssl3d_optim_set_group_lr_scale(ssl3d_ctx *ctx, ssl3d_optim *opt,
                                                      int32_t group, float scale);

/* Base learning rate (>= 0, finite). */
SSL3D_API ssl3d_status ssl3d_optim_set_lr(ssl3d_ctx *ctx, ssl3d_optim *opt, float lr);
/* Current base learning rate (NaN for NULL). */
SSL3D_API float ssl3d_optim_lr(const ssl3d_optim *opt);

/* ---------------------------------------------------------------- clipping */

/* Scale the gradients of tensors[0..n) so that their global L2 norm is at most
 * max_norm (> 0): total = sqrt(sum of all squared gradient elements), summed in double
 * in a fixed order (thread-count independent); if total > max_norm every gradient is
 * multiplied by max_norm / (total + 1e-6). Tensors without a gradient count as zero.
 * *total_norm (may be NULL) receives the norm before clipping. A non-finite norm
 * returns SSL3D_ERR_NUMERIC and leaves the gradients untouched. */
SSL3D_API ssl3d_status ssl3d_clip_grad_norm(ssl3d_ctx *ctx, ssl3d_tensor *const *tensors,
                                            int32_t n, float max_norm, float *total_norm);
/* The same over the optimiser's parameters in non-frozen groups. */
SSL3D_API ssl3d_status ssl3d_optim_clip_grad_norm(ssl3d_ctx *ctx, ssl3d_optim *opt,
                                                  float max_norm, float *total_norm);

/* ---------------------------------------------------------------- state (checkpoints) */

/* Number of successful ssl3d_optim_step calls (0 for NULL), counting steps where
 * every group was frozen. Schedules read it (ssl3d_optim_apply_schedule). */
SSL3D_API int64_t ssl3d_optim_step_count(const ssl3d_optim *opt);
/* Set it, 0 <= step <= INT32_MAX (it is also the state tensor "optim.step"). */
SSL3D_API ssl3d_status ssl3d_optim_set_step_count(ssl3d_ctx *ctx, ssl3d_optim *opt, int64_t step);

/* Number of state tensors. The list, in order:
 *   "optim.step"            int32 (1)   optimiser step count
 *   per parameter i, in order of addition:
 *     SGD with momentum:    "sgd.momentum.<i>"  float32, shape of parameter i
 *     Adam / AdamW:         "adam.m.<i>", "adam.v.<i>"  float32, shape of parameter i,
 *                           "adam.step.<i>"      int32 (1), that parameter's step count
 * All start at zero. */
SSL3D_API int32_t ssl3d_optim_num_state(const ssl3d_optim *opt);
/* State tensor `index` (0 <= index < num_state) and its name. Both are BORROWED: valid
 * until the optimiser is released or parameters are added; do not release. Either
 * out-pointer may be NULL. */
SSL3D_API ssl3d_status ssl3d_optim_state_at(ssl3d_ctx *ctx, const ssl3d_optim *opt, int32_t index,
                                            const char **name, ssl3d_tensor **tensor);
/* State tensor called `name` (borrowed), or SSL3D_ERR_NOT_FOUND. */
SSL3D_API ssl3d_status ssl3d_optim_state_find(ssl3d_ctx *ctx, const ssl3d_optim *opt,
                                              const char *name, ssl3d_tensor **tensor);

/* ---------------------------------------------------------------- LR schedules */

/* A learning-rate schedule: a pure function of the step number s = 0, 1, 2, ...
 * (the step about to be taken). Every kind starts with `warmup` >= 0 steps of linear
 * warm-up, lr(s) = base_lr * (s+1) / warmup for s < warmup; then, with t = s - warmup:
 *   constant:  base_lr
 *   step:      base_lr * gamma^floor(t / step_size)
 *   cosine:    min_lr + (base_lr - min_lr) * (1 + cos(pi * t / T)) / 2 for t < T,
 *              min_lr from then on, with T = total_steps - warmup (> 0).
 *   poly:      base_lr * (1 - t / T)^power for t < T, 0 from then on (nnU-Net: power
 *              0.9, no warm-up).
 * Negative s reads as 0. */
typedef struct ssl3d_lr_schedule ssl3d_lr_schedule;

SSL3D_API ssl3d_status ssl3d_lr_schedule_create_constant(ssl3d_ctx *ctx, float base_lr,
                                                         int64_t warmup,
                                                         ssl3d_lr_schedule **out);
/* step_size >= 1, gamma > 0. */
SSL3D_API ssl3d_status ssl3d_lr_schedule_create_step(ssl3d_ctx *ctx, float base_lr, int64_t warmup,
                                                     int64_t step_size, float gamma,
                                                     ssl3d_lr_schedule **out);
/* total_steps > warmup, 0 <= min_lr. */
SSL3D_API ssl3d_status ssl3d_lr_schedule_create_cosine(ssl3d_ctx *ctx, float base_lr,
                                                       int64_t warmup, int64_t total_steps,
                                                       float min_lr, ssl3d_lr_schedule **out);
/* total_steps > warmup, power > 0. */
SSL3D_API ssl3d_status ssl3d_lr_schedule_create_poly(ssl3d_ctx *ctx, float base_lr,
                                                     int64_t warmup, int64_t total_steps,
                                                     float power, ssl3d_lr_schedule **out);
SSL3D_API void ssl3d_lr_schedule_release(ssl3d_lr_schedule *sched);
/* Learning rate at step s (NaN for NULL). */
SSL3D_API float ssl3d_lr_at(const ssl3d_lr_schedule *sched, int64_t step);
/* ssl3d_optim_set_lr(opt, ssl3d_lr_at(sched, ssl3d_optim_step_count(opt))): call
 * before each ssl3d_optim_step; resumes correctly after restoring "optim.step". */
SSL3D_API ssl3d_status ssl3d_optim_apply_schedule(ssl3d_ctx *ctx, ssl3d_optim *opt,
                                                  const ssl3d_lr_schedule *sched);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_OPTIM_H */
