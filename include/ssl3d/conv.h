/*
 * ssl3d/conv.h — convolution, transposed convolution and pooling. Included by <ssl3d.h>.
 *
 * Image tensors are (N,C,H,W) in 2D and (N,C,D,H,W) in 3D; every op here infers its
 * dimensionality from x (4 dims -> 2D, 5 dims -> 3D). All ops are differentiable and
 * record themselves on the context's tape when an input requires a gradient.
 * Output tensors are new references owned by the caller (ssl3d_tensor_release).
 */
#ifndef SSL3D_CONV_H
#define SSL3D_CONV_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Cross-correlation (PyTorch Conv2d / Conv3d, no dilation, no groups).
 *   x (N,Cin,H,W)            w (Cout,Cin,kh,kw)         -> y (N,Cout,Ho,Wo)
 *   x (N,Cin,D,H,W)          w (Cout,Cin,kd,kh,kw)      -> y (N,Cout,Do,Ho,Wo)
 *   b (Cout) or NULL (no bias).
 * Every output extent is So = (S + 2*pad - k) / stride + 1 (floor) and must be >= 1.
 * stride is 1 or 2 (all axes); 0 <= pad < k for every kernel extent k (zero padding);
 * kernel extents are any size >= 1 (1x1, 3x3x3, ...; need not be cubic).
 * Gradients flow to x, w and b. Errors: SSL3D_ERR_INVALID_ARG (NULL, stride/pad out
 * of range), SSL3D_ERR_DTYPE (int32 tensors), SSL3D_ERR_SHAPE (ranks, channel mismatch,
 * output smaller than 1). */
SSL3D_API ssl3d_status ssl3d_conv(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *w,
                                  ssl3d_tensor *b, int32_t stride, int32_t pad,
                                  ssl3d_tensor **out);

/* Transposed convolution with kernel 2 and stride 2 (PyTorch ConvTranspose2d/3d with
 * kernel_size=2, stride=2), doubling every spatial extent:
 *   x (N,Cin,H,W)    w (Cin,Cout,2,2)     -> y (N,Cout,2H,2W)
 *   x (N,Cin,D,H,W)  w (Cin,Cout,2,2,2)   -> y (N,Cout,2D,2H,2W)
 *   b (Cout) or NULL. Gradients flow to x, w and b. */
SSL3D_API ssl3d_status ssl3d_conv_transpose(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor *w,
                                            ssl3d_tensor *b, ssl3d_tensor **out);

/* Max pooling, window 2, stride 2, on every spatial axis (PyTorch MaxPool2d/3d(2)):
 *   x (N,C,H,W) -> y (N,C,H/2,W/2);  x (N,C,D,H,W) -> y (N,C,D/2,H/2,W/2)
 * with floor division (odd trailing rows are dropped); every spatial extent must be
 * >= 2. The gradient goes to the first maximal element of each window; NaN inputs
 * propagate. */
SSL3D_API ssl3d_status ssl3d_maxpool2(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **out);

/* Global average pooling over all spatial positions:
 *   x (N,C,H,W) or (N,C,D,H,W) -> y (N,C). Differentiable. */
SSL3D_API ssl3d_status ssl3d_global_avgpool(ssl3d_ctx *ctx, ssl3d_tensor *x, ssl3d_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
