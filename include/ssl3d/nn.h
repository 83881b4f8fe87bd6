/*
 * ssl3d/nn.h — modules: the U-Net encoder shared by every proxy task and by fine-tuning,
 * the U-Net decoder, and MLP heads. Included by <ssl3d.h>.
 *
 * A module is one opaque handle type, `ssl3d_module`, whatever its kind. It owns named
 * tensors — trainable parameters and buffers (batch-norm running statistics) — that a
 * checkpoint saves by name and an optimiser receives as a list. Tensor names are stable
 * (docs/checkpoints.md), e.g. "down0.conv1.weight", "down0.norm1.running_mean".
 */
#ifndef SSL3D_NN_H
#define SSL3D_NN_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ssl3d_module ssl3d_module;

typedef enum ssl3d_module_kind {
    SSL3D_MODULE_ENCODER = 0,   /* U-Net down path + bottleneck */
    SSL3D_MODULE_DECODER = 1,   /* U-Net up path + 1x1 output conv */
    SSL3D_MODULE_MLP = 2        /* linear -> ReLU -> linear (or a single linear) */
} ssl3d_module_kind;

typedef enum ssl3d_norm_kind {
    SSL3D_NORM_BATCH = 0,       /* batch norm, running statistics in evaluation (default) */
    SSL3D_NORM_GROUP = 1,       /* group norm, 8 groups (or fewer when channels < 8) */
    SSL3D_NORM_INSTANCE = 2,    /* instance norm (group norm with one channel per group) */
    SSL3D_NORM_NONE = 3
} ssl3d_norm_kind;

/* ---- common to every module */

/* Release a module and its tensors' references. NULL is accepted. */
SSL3D_API void ssl3d_module_release(ssl3d_module *m);
SSL3D_API int32_t ssl3d_module_kind_of(const ssl3d_module *m);
/* Number of named tensors (parameters and buffers). */
SSL3D_API int32_t ssl3d_module_tensor_count(const ssl3d_module *m);
/* Tensor i (borrowed: valid while the module lives), its name, and whether it is a
 * trainable parameter (1) or a buffer (0). NULL / "" / 0 when i is out of range. */
SSL3D_API ssl3d_tensor *ssl3d_module_tensor(const ssl3d_module *m, int32_t i);
SSL3D_API const char *ssl3d_module_tensor_name(const ssl3d_module *m, int32_t i);
SSL3D_API int32_t ssl3d_module_tensor_trainable(const ssl3d_module *m, int32_t i);
/* Write the trainable parameters (borrowed pointers) into params[0..cap); *count receives
 * how many there are (may exceed cap: then call again with a larger array). */
SSL3D_API ssl3d_status ssl3d_module_params(ssl3d_ctx *ctx, const ssl3d_module *m,
                                           ssl3d_tensor **params, int32_t cap, int32_t *count);
/* Total number of trainable scalars. */
SSL3D_API int64_t ssl3d_module_param_numel(const ssl3d_module *m);
/* Zero every parameter gradient. */
SSL3D_API ssl3d_status ssl3d_module_zero_grad(ssl3d_ctx *ctx, ssl3d_module *m);

/* ---- encoder: `levels` of [conv3 -> norm -> ReLU -> conv3 -> norm -> ReLU] each followed by
 * max-pool 2, filters f*2^l, then a bottleneck block of 2*f*2^(levels-1) filters. */

/* dims 2 or 3; in_channels >= 1; base_filters f >= 1 (paper: 16 in 3D, 32 in 2D);
 * levels >= 1; norm an ssl3d_norm_kind. Weights are drawn from the context RNG. */
SSL3D_API ssl3d_status ssl3d_encoder_create(ssl3d_ctx *ctx, int32_t dims, int32_t in_channels,
                                            int32_t base_filters, int32_t levels, int32_t norm,
                                            ssl3d_module **out);
/* Channels of the bottleneck output (2*f*2^(levels-1)). */
SSL3D_API int32_t ssl3d_encoder_out_channels(const ssl3d_module *enc);
SSL3D_API int32_t ssl3d_encoder_levels(const ssl3d_module *enc);
/* x (N,Cin,D,H,W) (3D) or (N,Cin,H,W) (2D), spatial sizes divisible by 2^levels for the
 * decoder to line up (not required for the encoder alone) -> bottleneck
 * (N, 2f2^(L-1), S/2^L). If `skips` is not NULL it receives `levels` new references: the
 * output of each level's block before pooling, (N, f2^l, S/2^l), level 0 first.
 * training selects batch statistics (and updates running ones) vs running statistics. */
SSL3D_API ssl3d_status ssl3d_encoder_forward(ssl3d_ctx *ctx, ssl3d_module *enc, ssl3d_tensor *x,
                                             int32_t training, ssl3d_tensor **bottleneck,
                                             ssl3d_tensor **skips);

/* ---- decoder: for each level from deepest: transposed conv 2 stride 2 -> concat skip ->
 * conv block; then a 1x1 conv to `classes` logits. Built to match `encoder`. */
SSL3D_API ssl3d_status ssl3d_decoder_create(ssl3d_ctx *ctx, const ssl3d_module *encoder,
                                            int32_t classes, ssl3d_module **out);
/* bottleneck and skips as returned by ssl3d_encoder_forward -> logits (N,classes,S). */
SSL3D_API ssl3d_status ssl3d_decoder_forward(ssl3d_ctx *ctx, ssl3d_module *dec,
                                             ssl3d_tensor *bottleneck, ssl3d_tensor *const *skips,
                                             int32_t training, ssl3d_tensor **logits);

/* ---- MLP head: in -> hidden -> ReLU -> out (hidden > 0), or in -> out (hidden == 0). */
SSL3D_API ssl3d_status ssl3d_mlp_create(ssl3d_ctx *ctx, int32_t in_features, int32_t hidden,
                                        int32_t out_features, ssl3d_module **out);
/* x (N,in) -> y (N,out). */
SSL3D_API ssl3d_status ssl3d_mlp_forward(ssl3d_ctx *ctx, ssl3d_module *mlp, ssl3d_tensor *x,
                                         ssl3d_tensor **y);
SSL3D_API int32_t ssl3d_mlp_in_features(const ssl3d_module *mlp);
SSL3D_API int32_t ssl3d_mlp_out_features(const ssl3d_module *mlp);

#ifdef __cplusplus
}
#endif
#endif /* SSL3D_NN_H */
