/* The U-Net conv block [conv3 -> norm -> ReLU] x 2, shared by encoder and decoder, and the
 * norm layer choice. Tensors are registered in the owning module under `prefix`. */
#ifndef SSL3D_NN_BLOCK_H
#define SSL3D_NN_BLOCK_H
#include "module.h"

typedef struct nn_norm {
    int32_t kind, groups;
    ssl3d_tensor *gamma, *beta, *running_mean, *running_var;  /* running_* only for batch */
} nn_norm;

typedef struct nn_conv {
    ssl3d_tensor *w, *b;
} nn_conv;

typedef struct nn_block {
    nn_conv c1, c2;
    nn_norm n1, n2;
} nn_block;

/* Conv weight (cout, cin, k^dims) and bias, PyTorch default init, as "<prefix>.weight/bias". */
ssl3d_status nn_conv_init(ssl3d_module *m, nn_conv *c, int32_t cin, int32_t cout, int32_t k,
                          const char *prefix);
ssl3d_status nn_norm_init(ssl3d_module *m, nn_norm *n, int32_t kind, int32_t channels, const char *prefix);
ssl3d_status nn_block_init(ssl3d_module *m, nn_block *b, int32_t cin, int32_t cout, int32_t norm,
                           const char *prefix);
/* x -> y; each intermediate released as soon as the next op has consumed it. */
ssl3d_status nn_norm_forward(ssl3d_ctx *ctx, const nn_norm *n, ssl3d_tensor *x, int32_t training,
                             ssl3d_tensor **y);
ssl3d_status nn_block_forward(ssl3d_ctx *ctx, const nn_block *b, ssl3d_tensor *x, int32_t training,
                              ssl3d_tensor **y);
#endif
