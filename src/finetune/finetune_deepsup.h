/* Deep supervision for segmentation fine-tuning (option deep_supervision=1), as nnU-Net
 * trains its U-Net: besides the full-resolution logits, 1x1 conv heads on the decoder's
 * outputs at levels 1..L-2 (resolution 1/2^l; nnU-Net gives its lowest decoder output,
 * level L-1, weight 0, so it has no head here), each compared with the label map
 * subsampled by 2^l (every 2^l-th voxel). Loss: sum_l w_l (Dice + CE)(output_l, labels_l),
 * w_l proportional to 1/2^l, normalised to sum 1. The heads (m->aux) are training-only:
 * inference uses the full-resolution output, and model files do not hold them (resume
 * files do). */
#ifndef SSL3D_FINETUNE_DEEPSUP_H
#define SSL3D_FINETUNE_DEEPSUP_H
#include "finetune_internal.h"

/* Supervised outputs (full resolution included) of a segmentation model with `levels`
 * levels: levels - 1 (0 when levels < 3: no level to add). */
int32_t ft_ds_outputs(int32_t levels);
/* w[l] = 2^-l / sum_{i<n} 2^-i, l = 0..n-1 (n = 3: 4/7, 2/7, 1/7). */
void ft_ds_weights(int32_t n, double *w);
/* Create the heads of m (m->aux) for deep supervision; an error when m is not a
 * segmentation model of at least 3 levels. ft_ds_release drops them (m->aux = NULL). */
ssl3d_status ft_ds_create(ssl3d_ctx *ctx, ssl3d_ftmodel *m);
void ft_ds_release(ssl3d_ftmodel *m);
/* Label map y (B, S...) int32 in host memory (dctx) -> (B, S/f ...): voxel i*f along
 * every spatial axis (f divides every spatial size). */
ssl3d_status ft_ds_labels(ssl3d_ctx *dctx, const ssl3d_tensor *y, int32_t f, ssl3d_tensor **out);
/* Training forward of a model with heads: outs[0] the full-resolution logits
 * (ssl3d_ftmodel_forward), outs[l] (N, K, S/2^l ...) for l = 1..n-1, n = ft_ds_outputs. */
ssl3d_status ft_ds_forward(ssl3d_ctx *ctx, ssl3d_ftmodel *m, ssl3d_tensor *x, int32_t training, int32_t encoder_training,
                           ssl3d_tensor **outs);
/* sum_l w[l] ssl3d_dice_ce(outs[l], labels[l]), l < n; differentiable; loss shape (1). */
ssl3d_status ft_ds_loss(ssl3d_ctx *ctx, int32_t n, ssl3d_tensor *const *outs, ssl3d_tensor *const *labels,
                        const double *w, ssl3d_tensor **loss);
#endif
