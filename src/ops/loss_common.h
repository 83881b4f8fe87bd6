/* Helpers shared by the loss ops (src/ops/loss_*.c): scalar outputs, the upstream
 * gradient, and validation of (logits, labels) pairs. */
#ifndef SSL3D_LOSS_COMMON_H
#define SSL3D_LOSS_COMMON_H
#include "../core/internal.h"
#include "../backend/loss_kernels.h"

/* New one-element float tensor holding `value`. */
ssl3d_status loss_scalar(ssl3d_ctx *ctx, double value, ssl3d_tensor **out);
/* The gradient arriving at a loss node's (one-element) output. */
float loss_upstream(ssl3d_ctx *ctx, const ssl3d_node *n);
/* Multi-index "[1,0,2]" of flat element i of t, into buf. */
const char *loss_index_str(const ssl3d_tensor *t, int64_t i, char *buf, size_t cap);
/* Check logits (N,K,s1..sm) float32, m >= 0, against labels (N,s1..sm) int32 with
 * values in [0,K); writes N, K and S = s1*..*sm. `fn` names the caller in messages. */
ssl3d_status loss_check_class_map(ssl3d_ctx *ctx, const char *fn, const ssl3d_tensor *logits,
                                  const ssl3d_tensor *labels, int check_values, int64_t *N, int64_t *K,
                                  int64_t *S);
/* Check a float (rows, D) matrix argument. */
ssl3d_status loss_check_matrix(ssl3d_ctx *ctx, const char *fn, const ssl3d_tensor *t, const char *what);
/* Check a positive, finite float setting. */
ssl3d_status loss_check_positive(ssl3d_ctx *ctx, const char *fn, const char *what, float v, int allow_zero);
/* w_dice * soft_dice + w_ce * cross_entropy (loss_dice.c). */
ssl3d_status loss_dice_ce_weighted(ssl3d_ctx *ctx, ssl3d_tensor *logits, const ssl3d_tensor *labels, float wd,
                                   float wc, ssl3d_tensor **out);
#endif
