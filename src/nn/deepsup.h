/* Deep supervision for the U-Net decoder (nnU-Net, Isensee et al. 2021): training-only
 * 1x1 convolution heads on the decoder's lower-resolution outputs. Private to the
 * library (fine-tuning uses it); the heads are a module of their own so that the
 * decoder's tensor list, and with it every model file, stays as it is. */
#ifndef SSL3D_NN_DEEPSUP_H
#define SSL3D_NN_DEEPSUP_H
#include "module.h"

/* Module kind of the heads (private: never returned by a public constructor). */
#define NN_MODULE_DS_HEADS 100

/* ssl3d_decoder_forward that also returns the decoder's output features at levels
 * 1..n_feats (feats[l-1]: (N, filters(l), S/2^l ...), the input of the next up-conv;
 * retained, the caller releases them). n_feats <= levels - 1; 0 is the plain forward. */
ssl3d_status nn_decoder_forward_feats(ssl3d_ctx *ctx, ssl3d_module *dec, ssl3d_tensor *bottleneck,
                                      ssl3d_tensor *const *skips, int32_t training, int32_t n_feats,
                                      ssl3d_tensor **feats, ssl3d_tensor **logits);

/* Heads "ds<l>.weight" (classes, filters(l), 1^dims) and "ds<l>.bias" (classes) for
 * levels l = 1..n (PyTorch default init), on the encoder's filter widths. */
ssl3d_status nn_ds_heads_create(ssl3d_ctx *ctx, const ssl3d_module *encoder, int32_t classes, int32_t n,
                                ssl3d_module **out);
int32_t nn_ds_heads_count(const ssl3d_module *heads);
/* Logits of head l (1..n) on feature f: (N, filters(l), ...) -> (N, classes, ...). */
ssl3d_status nn_ds_head_forward(ssl3d_ctx *ctx, const ssl3d_module *heads, int32_t l, ssl3d_tensor *f,
                                ssl3d_tensor **logits);
#endif
